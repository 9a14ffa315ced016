#include "warnings.hpp"

#include <chrono>
#include <cstdio>
#include <iterator>

#include "enum_names.hpp"

namespace llmtrace::detail {
namespace {

constexpr const char* k_warn_names[] = {"queue_full", "http_status", "connection",
                                        "rejected",   "invalid",     "internal"};
static_assert(std::size(k_warn_names) == static_cast<std::size_t>(warn_kind::count_));

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
    const std::string line = std::string("llmtrace: ") + name_of(k, k_warn_names, "internal") + ": " + msg;
    if (sink_)
      sink_(line);
    else
      std::fprintf(stderr, "%s\n", line.c_str());
  } catch (...) {
  }
}

}  // namespace llmtrace::detail
