// Status names as they appear in the API and in the database.
#include "model/record.hpp"

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

}  // namespace llmtrace::model
