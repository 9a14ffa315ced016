// An independent UTF-8 check for tests and fuzz targets: is this text what a browser, JSON.parse or FTS5 will
// accept as UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF)? Written apart from
// the product's json_text::utf8_valid on purpose, so that a test of the product's output does not ask the
// product's own checker. Header-only, standard library only (fuzz/ builds it with clang, outside the CMake
// project). Thread safety: a pure function.
#pragma once

#include <cstddef>
#include <string_view>

namespace llmtrace::testing {

inline bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    // How many continuation bytes follow a lead byte, and the range the first of them must fall in (the
    // narrower ranges exclude overlong forms, UTF-16 surrogates and code points past U+10FFFF).
    std::size_t n = 0;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c < 0x80) {
      n = 0;
    } else if (c >= 0xc2 && c <= 0xdf) {
      n = 1;
    } else if (c >= 0xe0 && c <= 0xef) {
      n = 2;
      if (c == 0xe0) lo = 0xa0;
      if (c == 0xed) hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      n = 3;
      if (c == 0xf0) lo = 0x90;
      if (c == 0xf4) hi = 0x8f;
    } else {
      return false;
    }
    if (s.size() - i <= n && n > 0) return false;  // cut short
    for (std::size_t k = 1; k <= n; ++k) {
      const auto b = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (b < lo || b > hi) : (b & 0xc0) != 0x80) return false;
    }
    i += n + 1;
  }
  return true;
}

}  // namespace llmtrace::testing
