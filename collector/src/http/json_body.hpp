// The one "read the body, parse it, require a JSON object" step of every route that takes a JSON object
// (ingest, session rename, replay, proxy): the capped read (also for chunked and gzip bodies), the parse with
// the nesting limit, and the 413/400 answers, worded the same everywhere. Thread safety: stateless.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http/body.hpp"  // read_body, and the httplib declarations
#include "http/errors.hpp"

namespace llmtrace::http {

struct json_body_rules {
  std::size_t max_bytes = 0;
  std::string_view field;  // names the body in parse errors (e.g. "body"); empty: null
  std::string_view not_object = "the body must be a JSON object";
  std::string_view not_object_code = "invalid_body";
  std::string_view not_object_field;  // empty: `field`
  // Counts a rejection by reason (payload_too_large, bad_body, too_deep, invalid_json, invalid_body).
  std::function<void(const std::string& reason)> on_reject;
};

// The parsed tree of a body may take at most max_tree_expansion x its size plus tree_allowance_bytes (32 MiB:
// an ordinary batch of many small records builds a tree ~10x its size, which must pass)
// (estimated_tree_bytes); beyond, parse_json_object answers 413 too_many_values without parsing.
inline constexpr std::size_t max_tree_expansion = 2;
inline constexpr std::size_t tree_allowance_bytes = 32u << 20;
std::size_t estimated_tree_bytes(std::string_view text) noexcept;

// Reads the body and parses it as one JSON object. On failure writes the error itself and returns false.
// `text` keeps the bytes as sent (ingest stores request/response/metadata from them without re-serialising).
bool read_json_object(const httplib::Request& req, httplib::Response& res,
                      const httplib::ContentReader& reader, const json_body_rules& rules, std::string& text,
                      nlohmann::json& out);

// The parse-and-require-object half, for a body already read: the 400 to answer, or nullopt with `out` set.
std::optional<failure> parse_json_object(std::string_view text, const json_body_rules& rules,
                                         nlohmann::json& out);

}  // namespace llmtrace::http
