#include "http/json_text.hpp"

#include <nlohmann/json.hpp>

namespace llmtrace::http {

void append_json_string(std::string& out, std::string_view s) {
  if (json_text::append_string_if_valid(out, s)) return;
  // Ill-formed UTF-8 (rare): exactly dump_json()'s replacement.
  out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace llmtrace::http
