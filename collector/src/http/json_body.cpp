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
    if (rules.on_reject)
      rules.on_reject(st == body_status::too_large     ? "payload_too_large"
                      : st == body_status::over_budget ? "overloaded"
                      : st == body_status::timed_out   ? "body_timeout"
                                                       : "bad_body");
    write_body_error(res, st, rules.max_bytes);
    return false;
  }
  if (auto f = parse_json_object(text, rules, out)) {
    write_failure(res, *f);
    return false;
  }
  return true;
}

namespace {

bool nested_deeper_than(std::string_view text, std::size_t max_depth) noexcept {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace

std::size_t estimated_tree_bytes(std::string_view text) noexcept {
  // One pass over the text, no allocation: every value is a 16-byte node; an object member adds its map node
  // and key string (~64 bytes); a string adds its std::string (32 bytes) and its heap text past the small
  // buffer. Array slack is not counted (the limit below leaves room for it).
  std::size_t bytes = 0;
  bool in_string = false;
  std::size_t string_len = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
        ++string_len;
      } else if (c == '"') {
        in_string = false;
        bytes += 48 + (string_len > 15 ? string_len + 1 : 0);
      } else {
        ++string_len;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        string_len = 0;
        break;
      case ':':
        bytes += 64;  // the member's map node (its key string was counted as a string)
        break;
      case ',':
      case '[':
      case '{':
        bytes += 16;  // roughly one more value
        break;
      default:
        break;
    }
  }
  return bytes;
}

std::optional<failure> parse_json_object(std::string_view text, const json_body_rules& rules,
                                         nlohmann::json& out) {
  // A body of tiny values ("request":[0,0,0,...]) becomes a tree 10-30 times its size; refused before any
  // of it is built, so one request's memory stays a small multiple of its body.
  if (estimated_tree_bytes(text) > max_tree_expansion * text.size() + tree_allowance_bytes &&
      !nested_deeper_than(text, ingest::default_max_depth)) {  // too deep: the parser says so, cheaply
    if (rules.on_reject) rules.on_reject("too_many_values");
    return failure{413,
                   "too_many_values",
                   "the JSON body has too many small values for its size (it would take more than " +
                       std::to_string(max_tree_expansion) +
                       " times its size in memory); send fewer, larger values or split it",
                   std::string(rules.field),
                   {}};
  }
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
