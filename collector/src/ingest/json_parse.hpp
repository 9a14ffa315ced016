// Bounded JSON parsing for untrusted bodies: one pass that builds the tree and stops at a nesting limit,
// malformed text, or numbers out of range (1e999) with a message that says where. Never throws for bad
// input. nlohmann's copy and dump recurse, so the depth limit is what keeps them safe.
// Thread safety: pure function.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace llmtrace::ingest {

inline constexpr std::size_t default_max_depth = 64;

struct json_parse_result {
  bool ok = false;
  nlohmann::json value;
  std::string message;  // when !ok: what and where ("... at byte 17")
  bool too_deep = false;
};

json_parse_result parse_json_limited(std::string_view text, std::size_t max_depth = default_max_depth);

// The same through nlohmann's own parser only (parse_json_limited falls back to it for every input its fast
// path does not accept, so errors are always nlohmann's). For tests that compare the two.
json_parse_result parse_json_reference(std::string_view text, std::size_t max_depth = default_max_depth);

}  // namespace llmtrace::ingest
