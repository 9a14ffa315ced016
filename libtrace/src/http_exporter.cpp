#include "http_exporter.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace llmtrace::detail {
namespace {

// The collector answers {"accepted": N} or {"rejected": N}; anything else means the whole batch went in.
uint64_t rejected_of(const std::string& body, uint64_t n) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("accepted") && j["accepted"].is_number_unsigned())
    return n - std::min<uint64_t>(n, j["accepted"].get<uint64_t>());
  if (j.is_object() && j.contains("rejected") && j["rejected"].is_number_unsigned())
    return std::min<uint64_t>(n, j["rejected"].get<uint64_t>());
  return 0;
}

}  // namespace

http_exporter::http_exporter(const options& opts)
    : transport_(opts, "/api/traces", {"collector", "records", &rejected_of}, 0x243F6A8885A308D3ull) {}

void http_exporter::shutdown(steady_clock::time_point) noexcept {
  // Called once the deadline has passed: abandon the in-flight request by closing its socket.
  transport_.shutdown();
}

export_outcome http_exporter::export_batch(std::span<const std::string_view> records,
                                           export_context& ctx) noexcept {
  try {
    std::size_t bytes = 16;
    for (auto r : records) bytes += r.size() + 1;
    std::string body;
    body.reserve(bytes);
    body += "{\"traces\":[";
    for (std::size_t i = 0; i < records.size(); ++i) {
      if (i) body += ',';
      body += records[i];
    }
    body += "]}";
    return transport_.post(body, records.size(), ctx);
  } catch (...) {
    ctx.warn(warn_kind::internal, "exporter error");
    return {};
  }
}

}  // namespace llmtrace::detail
