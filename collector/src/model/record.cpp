// Status and kind names as they appear in the API and in the database.
#include "model/record.hpp"

#include <iterator>

namespace llmtrace::model {

std::string_view to_string(record_status s) noexcept {
  switch (s) {
    case record_status::pending:
      return "pending";
    case record_status::success:
      return "success";
    case record_status::error:
      return "error";
  }
  return "pending";
}

std::optional<record_status> parse_status(std::string_view s) noexcept {
  if (s == "pending") return record_status::pending;
  if (s == "success") return record_status::success;
  if (s == "error") return record_status::error;
  return std::nullopt;
}

namespace {
constexpr std::string_view k_kind_names[] = {"llm",       "agent", "tool", "retrieval",
                                             "embedding", "chain", "other"};
}  // namespace

std::string_view to_string(record_kind k) noexcept {
  const auto i = static_cast<std::size_t>(k);
  return i < std::size(k_kind_names) ? k_kind_names[i] : "other";
}

std::optional<record_kind> parse_kind(std::string_view s) noexcept {
  for (std::size_t i = 0; i < std::size(k_kind_names); ++i)
    if (k_kind_names[i] == s) return static_cast<record_kind>(i);
  return std::nullopt;
}

}  // namespace llmtrace::model
