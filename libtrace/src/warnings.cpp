#include "warnings.hpp"

#include <chrono>
#include <cstdio>

namespace llmtrace::detail {
namespace {

const char* warn_name(warn_kind k) noexcept {
  switch (k) {
    case warn_kind::queue_full:
      return "queue_full";
    case warn_kind::http_status:
      return "http_status";
    case warn_kind::connection:
      return "connection";
    case warn_kind::rejected:
      return "rejected";
    case warn_kind::invalid:
      return "invalid";
    default:
      return "internal";
  }
}

}  // namespace

void warner::warn(warn_kind k, const std::string& msg) noexcept {
  try {
    auto& last = last_ms_[static_cast<std::size_t>(k)];
    const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now().time_since_epoch())
                            .count();
    int64_t prev = last.load(std::memory_order_relaxed);
    if (prev != 0 && now - prev < 10000) return;
    if (!last.compare_exchange_strong(prev, now)) return;
    const std::string line = std::string("llmtrace: ") + warn_name(k) + ": " + msg;
    if (sink_)
      sink_(line);
    else
      std::fprintf(stderr, "%s\n", line.c_str());
  } catch (...) {
  }
}

}  // namespace llmtrace::detail
