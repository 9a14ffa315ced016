// json_text: the one home of JSON *text* handling shared by the SDK and the collector: a strict RFC 8259 scan
// (validate without building a tree), string escaping, UTF-8 checking, cutting at a code-point boundary and
// encoding, and minifying. It never allocates except to grow a caller's std::string, and depends on the
// standard library only. Threading: pure functions, safe from any thread.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace llmtrace::json_text {

// JSON's four whitespace bytes.
constexpr bool is_ws(char c) noexcept {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

// ---- UTF-8 (RFC 3629, exactly the sequences nlohmann accepts: no overlongs, no surrogates, <= U+10FFFF)

// Length (1..4) of the well-formed UTF-8 sequence at p (n bytes readable, n >= 1), or 0 when ill-formed.
std::size_t utf8_sequence(const char* p, std::size_t n) noexcept;
// True when all of s is well-formed UTF-8.
bool utf8_valid(std::string_view s) noexcept;
// The longest prefix of s of at most max bytes that does not split a multi-byte sequence (a cut never
// creates ill-formed UTF-8 out of well-formed input).
std::string_view utf8_prefix(std::string_view s, std::size_t max) noexcept;
// Appends the code point cp (at most U+10FFFF) as its 1 to 4 UTF-8 bytes. It writes what it is given: a
// caller that must not emit a surrogate (a lone \uD800, say) refuses it first.
void append_utf8(std::string& out, char32_t cp);

// ---- escaping

// Size of s written as the inside of a JSON string literal (no quotes). Ill-formed UTF-8 bytes count as
// "\ufffd" each, so the result is always valid JSON.
std::size_t escaped_size(std::string_view s) noexcept;
// Writes s escaped at out (which has room for `size` = escaped_size(s) bytes); returns the end.
char* write_escaped(char* out, std::string_view s, std::size_t size) noexcept;
// Appends s as a JSON string literal with its quotes.
void append_string(std::string& out, std::string_view s);
// The same for well-formed UTF-8 only: when s has an ill-formed byte, returns false and leaves out as it was
// (for callers that replace ill-formed text their own way). Both are one pass over s.
bool append_string_if_valid(std::string& out, std::string_view s);

// ---- scanning

struct scan_options {
  std::size_t max_depth = 256;   // containers nested deeper fail the scan (capped at k_max_scan_depth)
  std::string_view count_key{};  // when set: count top-level object members whose raw key text equals it
};
inline constexpr std::size_t k_max_scan_depth = 1024;

struct scan_result {
  bool ok = false;            // one well-formed JSON value, nothing but whitespace around it
  bool too_deep = false;      // failed only because nesting passed max_depth
  std::string_view value{};   // the value without surrounding whitespace (when ok)
  bool inner_space = false;   // whitespace between tokens inside the value (append_minified would shrink it)
  std::size_t key_count = 0;  // top-level members named options.count_key (when the value is an object)
};

// Strict RFC 8259 check of one JSON value, UTF-8 and \u surrogate pairs included, as nlohmann's parser
// decides it, without building anything.
scan_result scan(std::string_view text, const scan_options& options = {}) noexcept;
inline bool valid(std::string_view text, std::size_t max_depth = 256) noexcept {
  return scan(text, scan_options{max_depth, {}}).ok;
}

// Cheap shape check for hot paths, O(whitespace): the first non-space byte is '{' and the last is '}'.
// It says nothing about what lies between (scan() does).
struct object_shape {
  bool ok = false;
  std::size_t open = 0;   // offset of '{'
  std::size_t close = 0;  // offset of the final '}'
  bool empty = false;     // nothing but whitespace between the braces
};
object_shape object_bounds(std::string_view text) noexcept;

// ---- minifying

// Appends a well-formed JSON text without whitespace between tokens (strings are copied as they are).
void append_minified(std::string& out, std::string_view json);

}  // namespace llmtrace::json_text
