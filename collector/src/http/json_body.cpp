#include "http/json_body.hpp"

#include <httplib.h>

#include "http/body.hpp"
#include "http/errors.hpp"
#include "ingest/json_parse.hpp"

namespace llmtrace::http {

bool read_json_object(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, const json_body_rules& rules, std::string& text,
                      nlohmann::json& out) {
  auto st = read_body(req, reader, rules.max_bytes, text, res);
  if (st != body_status::ok) {
    if (rules.on_reject) rules.on_reject(st == body_status::too_large ? "payload_too_large" : "bad_body");
    write_body_error(res, st, rules.max_bytes);
    return false;
  }
  if (auto f = parse_json_object(text, rules, out)) {
    write_failure(res, *f);
    return false;
  }
  return true;
}

std::optional<failure> parse_json_object(std::string_view text, const json_body_rules& rules,
                                         nlohmann::json& out) {
  auto parsed = ingest::parse_json_limited(text);
  if (!parsed.ok) {
    const char* code = parsed.too_deep ? "too_deep" : "invalid_json";
    if (rules.on_reject) rules.on_reject(code);
    return failure{400, code, "invalid JSON body: " + parsed.message, std::string(rules.field), {}};
  }
  if (!parsed.value.is_object()) {
    if (rules.on_reject) rules.on_reject("invalid_body");
    return failure{400,
                   std::string(rules.not_object_code),
                   std::string(rules.not_object),
                   std::string(rules.not_object_field.empty() ? rules.field : rules.not_object_field),
                   {}};
  }
  out = std::move(parsed.value);
  return std::nullopt;
}

}  // namespace llmtrace::http
