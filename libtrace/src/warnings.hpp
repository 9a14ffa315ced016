// Rate-limited warnings of the SDK (never a record's content): at most one line per kind every 10 s, to
// options::on_warning or stderr. Threading: warn() may be called from any thread; it never throws.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace llmtrace::detail {

enum class warn_kind { queue_full, http_status, connection, rejected, invalid, internal, count_ };

class warner {
 public:
  explicit warner(std::function<void(std::string_view)> sink) : sink_(std::move(sink)) {}
  void warn(warn_kind k, const std::string& msg) noexcept;

 private:
  std::function<void(std::string_view)> sink_;
  std::array<std::atomic<int64_t>, static_cast<std::size_t>(warn_kind::count_)> last_ms_{};
};

}  // namespace llmtrace::detail
