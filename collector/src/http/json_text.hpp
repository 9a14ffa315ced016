// JSON text without a DOM: a strict validating scan of one JSON value, minifying, and string escaping,
// exactly as nlohmann would accept and dump them. The render writers use these to splice stored JSON
// verbatim. This file is the collector's one seam to JSON text handling: switching to the shared
// common/json_text module is a change here only. Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

namespace llmtrace::http {

struct scanned_json {
  bool ok = false;
  std::string_view value;    // the text without surrounding whitespace
  bool inner_space = false;  // whitespace between tokens (append_minified removes it)
};

// Strict RFC 8259 check of one JSON value (what nlohmann's parser accepts, UTF-8 included), without building
// anything. Nesting deeper than 256 is reported as not ok: the caller then takes the nlohmann path.
scanned_json scan_json(std::string_view text);

// Copies well-formed JSON without the whitespace between tokens (strings are copied as they are).
void append_minified(std::string& out, std::string_view v);

// Appends a JSON string literal (quotes included), escaped as nlohmann's dump (error_handler replace)
// escapes it: ill-formed UTF-8 is replaced, never thrown on.
void append_json_string(std::string& out, std::string_view s);

}  // namespace llmtrace::http
