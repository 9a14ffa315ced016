#include "json_text/json_text.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace llmtrace::json_text {
namespace {

constexpr char k_hex[] = "0123456789abcdef";

using byte = unsigned char;

int hex_value(byte c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Four hex digits at p (the caller checked p + 4 <= end), or -1.
int read_hex4(const byte* p) noexcept {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Advances p past bytes that need no closer look inside a string (anything but a quote, a backslash, a
// control byte or a non-ASCII byte): message text is long plain runs, so 16 bytes at a time with SSE2,
// 8 (SWAR) elsewhere, then one by one.
const byte* skip_plain(const byte* p, const byte* e) noexcept {
#if defined(__SSE2__)
  const __m128i quote = _mm_set1_epi8('"');
  const __m128i backslash = _mm_set1_epi8('\\');
  const __m128i space = _mm_set1_epi8(0x20);
  while (e - p >= 16) {
    const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
    // Signed compare: bytes >= 0x80 are negative, so "below 0x20" also catches every non-ASCII byte.
    const __m128i special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)),
                                         _mm_cmplt_epi8(x, space));
    const int mask = _mm_movemask_epi8(special);
    if (mask != 0) return p + __builtin_ctz(static_cast<unsigned>(mask));
    p += 16;
  }
#endif
  constexpr uint64_t ones = 0x0101010101010101u;
  constexpr uint64_t high = 0x8080808080808080u;
  while (e - p >= 8) {
    uint64_t x;
    std::memcpy(&x, p, sizeof x);
    auto has_zero = [&](uint64_t v) { return (v - ones) & ~v & high; };
    if (((x & high) | has_zero(x ^ (ones * '"')) | has_zero(x ^ (ones * '\\')) |
         ((x - ones * 0x20) & ~x & high)) != 0)
      break;
    p += 8;
  }
  while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
  return p;
}

// p at the opening quote; on success p is past the closing quote.
bool scan_string(const byte*& p, const byte* e) noexcept {
  ++p;
  while (p < e) {
    p = skip_plain(p, e);
    if (p >= e) break;
    const byte c = *p;
    if (c == '"') {
      ++p;
      return true;
    }
    if (c < 0x20) return false;
    if (c == '\\') {
      if (p + 1 >= e) return false;
      switch (p[1]) {
        case '"':
        case '\\':
        case '/':
        case 'b':
        case 'f':
        case 'n':
        case 'r':
        case 't':
          p += 2;
          continue;
        case 'u': {
          if (e - p < 6) return false;
          const int u = read_hex4(p + 2);
          if (u < 0) return false;
          p += 6;
          if (u >= 0xDC00 && u <= 0xDFFF) return false;  // a low surrogate alone
          if (u >= 0xD800 && u <= 0xDBFF) {              // must pair with a low surrogate
            if (e - p < 6 || p[0] != '\\' || p[1] != 'u') return false;
            const int lo = read_hex4(p + 2);
            if (lo < 0xDC00 || lo > 0xDFFF) return false;
            p += 6;
          }
          continue;
        }
        default:
          return false;
      }
    }
    const std::size_t n = utf8_sequence(reinterpret_cast<const char*>(p), static_cast<std::size_t>(e - p));
    if (n == 0) return false;
    p += n;
  }
  return false;
}

bool scan_number(const byte*& p, const byte* e) noexcept {
  auto digit = [&] { return p < e && *p >= '0' && *p <= '9'; };
  if (p < e && *p == '-') ++p;
  if (!digit()) return false;
  if (*p == '0') {
    ++p;
  } else {
    while (digit()) ++p;
  }
  if (p < e && *p == '.') {
    ++p;
    if (!digit()) return false;
    while (digit()) ++p;
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    if (p < e && (*p == '+' || *p == '-')) ++p;
    if (!digit()) return false;
    while (digit()) ++p;
  }
  return true;
}

bool scan_literal(const byte*& p, const byte* e, const char* word, std::size_t n) noexcept {
  if (static_cast<std::size_t>(e - p) < n || std::memcmp(p, word, n) != 0) return false;
  p += n;
  return true;
}

// Byte classes for escaping: 0 plain ASCII, 1 short escape (\" \\ \n ...), 2 \u00XX, 3 non-ASCII.
struct escape_table {
  byte cls[256];
  constexpr escape_table() : cls() {
    for (int c = 0; c < 256; ++c) cls[c] = c < 0x20 ? 2 : (c >= 0x80 ? 3 : 0);
    for (const char c : {'"', '\\', '\n', '\r', '\t', '\b', '\f'}) cls[static_cast<byte>(c)] = 1;
  }
};
constexpr escape_table k_escape{};

char short_escape(byte c) noexcept {
  switch (c) {
    case '\n':
      return 'n';
    case '\r':
      return 'r';
    case '\t':
      return 't';
    case '\b':
      return 'b';
    case '\f':
      return 'f';
    default:
      return static_cast<char>(c);  // '"' and '\\'
  }
}

}  // namespace

std::size_t utf8_sequence(const char* text, std::size_t n) noexcept {
  const auto* p = reinterpret_cast<const byte*>(text);
  const byte c = p[0];
  if (c < 0x80) return 1;
  auto cont = [&](std::size_t i, byte lo = 0x80, byte hi = 0xBF) {
    return i < n && p[i] >= lo && p[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

bool utf8_valid(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const byte*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i < n) {
    if (p[i] < 0x80) {
      ++i;
      continue;
    }
    const std::size_t k = utf8_sequence(s.data() + i, n - i);
    if (!k) return false;
    i += k;
  }
  return true;
}

std::string_view utf8_prefix(std::string_view s, std::size_t max) noexcept {
  if (s.size() <= max) return s;
  std::size_t n = max;
  // s[n] is the first byte left out: while it continues a sequence, the sequence started inside the prefix.
  while (n > 0 && (static_cast<byte>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

namespace {

// Appends s as a string literal in one pass (short strings dominate: no sizing pass): plain runs as
// skip_plain finds them. An ill-formed UTF-8 byte becomes "\ufffd" when replace is set; otherwise out is put
// back as it was and the result is false.
bool append_literal(std::string& out, std::string_view s, bool replace) {
  const std::size_t start = out.size();
  out += '"';
  const auto* p = reinterpret_cast<const byte*>(s.data());
  const auto* e = p + s.size();
  const byte* run = p;
  auto flush = [&] { out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run)); };
  while (p < e) {
    p = skip_plain(p, e);
    if (p >= e) break;
    const byte c = *p;
    switch (k_escape.cls[c]) {
      case 0:
        ++p;
        continue;
      case 1: {
        flush();
        const char esc[2] = {'\\', short_escape(c)};
        out.append(esc, 2);
        break;
      }
      case 2: {
        flush();
        const char esc[6] = {'\\', 'u', '0', '0', k_hex[c >> 4], k_hex[c & 0xF]};
        out.append(esc, 6);
        break;
      }
      default: {
        const std::size_t k =
            utf8_sequence(reinterpret_cast<const char*>(p), static_cast<std::size_t>(e - p));
        if (k) {
          p += k;
          continue;
        }
        if (!replace) {
          out.resize(start);
          return false;
        }
        flush();
        out.append("\\ufffd", 6);
      }
    }
    ++p;
    run = p;
  }
  flush();
  out += '"';
  return true;
}

}  // namespace

std::size_t escaped_size(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const byte*>(s.data());
  const auto* e = p + s.size();
  std::size_t len = 0;
  while (p < e) {
    const byte* q = skip_plain(p, e);
    len += static_cast<std::size_t>(q - p);
    p = q;
    if (p >= e) break;
    switch (k_escape.cls[*p]) {
      case 0:  // skip_plain stops at bytes it cannot classify cheaply; these are plain
        ++len;
        ++p;
        break;
      case 1:
        len += 2;
        ++p;
        break;
      case 2:
        len += 6;
        ++p;
        break;
      default: {
        const std::size_t k =
            utf8_sequence(reinterpret_cast<const char*>(p), static_cast<std::size_t>(e - p));
        len += k ? k : 6;
        p += k ? k : 1;
      }
    }
  }
  return len;
}

char* write_escaped(char* o, std::string_view s, std::size_t size) noexcept {
  if (size == s.size()) {  // nothing to escape: the common case
    std::memcpy(o, s.data(), size);
    return o + size;
  }
  const auto* p = reinterpret_cast<const byte*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    // Plain runs (message text is mostly that) are found 16 bytes at a time and copied in one go.
    const std::size_t run = static_cast<std::size_t>(skip_plain(p + i, p + n) - (p + i));
    if (run) {
      std::memcpy(o, p + i, run);
      o += run;
      i += run;
      if (i >= n) break;
    }
    const byte c = p[i];
    switch (k_escape.cls[c]) {
      case 0:
        *o++ = static_cast<char>(c);
        ++i;
        break;
      case 1:
        *o++ = '\\';
        *o++ = short_escape(c);
        ++i;
        break;
      case 2:
        std::memcpy(o, "\\u00", 4);
        o[4] = k_hex[c >> 4];
        o[5] = k_hex[c & 0xF];
        o += 6;
        ++i;
        break;
      default: {
        const std::size_t k = utf8_sequence(s.data() + i, n - i);
        if (k) {
          std::memcpy(o, p + i, k);
          o += k;
          i += k;
        } else {
          std::memcpy(o, "\\ufffd", 6);
          o += 6;
          ++i;
        }
      }
    }
  }
  return o;
}

void append_string(std::string& out, std::string_view s) {
  append_literal(out, s, /*replace=*/true);
}

bool append_string_if_valid(std::string& out, std::string_view s) {
  return append_literal(out, s, /*replace=*/false);
}

scan_result scan(std::string_view text, const scan_options& options) noexcept {
  scan_result out;
  const auto* p = reinterpret_cast<const byte*>(text.data());
  const auto* e = p + text.size();
  while (p < e && is_ws(static_cast<char>(*p))) ++p;
  const auto* begin = p;
  const std::size_t max_depth = options.max_depth < k_max_scan_depth ? options.max_depth : k_max_scan_depth;
  uint64_t is_object[k_max_scan_depth / 64];  // one bit per open container
  std::size_t depth = 0;
  bool space = false;
  auto skip_ws = [&] {
    const auto* s = p;
    while (p < e && is_ws(static_cast<char>(*p))) ++p;
    if (p != s) space = true;
  };
  auto top_is_object = [&] { return (is_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1u; };
  auto push = [&](bool object) {
    if (depth == max_depth) {
      out.too_deep = true;
      return false;
    }
    const uint64_t bit = uint64_t{1} << (depth % 64);
    if (object)
      is_object[depth / 64] |= bit;
    else
      is_object[depth / 64] &= ~bit;
    ++depth;
    return true;
  };
  // After '{' or ',' inside an object: "key" ws ':' ws.
  auto member_key = [&] {
    const byte* key = p;
    if (p >= e || *p != '"' || !scan_string(p, e)) return false;
    if (depth == 1 && !options.count_key.empty() &&
        static_cast<std::size_t>(p - key) == options.count_key.size() + 2 &&
        std::memcmp(key + 1, options.count_key.data(), options.count_key.size()) == 0)
      ++out.key_count;
    skip_ws();
    if (p >= e || *p != ':') return false;
    ++p;
    skip_ws();
    return true;
  };

  for (;;) {
    // A value.
    if (p >= e) return out;
    switch (*p) {
      case '{':
        if (!push(true)) return out;
        ++p;
        skip_ws();
        if (p < e && *p == '}') {
          ++p;
          --depth;
          break;
        }
        if (!member_key()) return out;
        continue;
      case '[':
        if (!push(false)) return out;
        ++p;
        skip_ws();
        if (p < e && *p == ']') {
          ++p;
          --depth;
          break;
        }
        continue;
      case '"':
        if (!scan_string(p, e)) return out;
        break;
      case 't':
        if (!scan_literal(p, e, "true", 4)) return out;
        break;
      case 'f':
        if (!scan_literal(p, e, "false", 5)) return out;
        break;
      case 'n':
        if (!scan_literal(p, e, "null", 4)) return out;
        break;
      default:
        if (!scan_number(p, e)) return out;
        break;
    }
    // After a value: close containers or move to the next element.
    for (;;) {
      const auto* before_ws = p;
      while (p < e && is_ws(static_cast<char>(*p))) ++p;
      if (depth == 0) {
        if (p != e) return out;  // trailing content
        out.ok = true;
        out.value = std::string_view(reinterpret_cast<const char*>(begin),
                                     static_cast<std::size_t>(before_ws - begin));
        out.inner_space = space;
        return out;
      }
      if (p != before_ws) space = true;
      if (p >= e) return out;
      const bool object = top_is_object();
      if (*p == ',') {
        ++p;
        skip_ws();
        if (object && !member_key()) return out;
        break;  // the next value
      }
      if (*p == (object ? '}' : ']')) {
        ++p;
        --depth;
        continue;
      }
      return out;
    }
  }
}

object_shape object_bounds(std::string_view text) noexcept {
  object_shape s;
  std::size_t b = 0, e = text.size();
  while (b < e && is_ws(text[b])) ++b;
  while (e > b && is_ws(text[e - 1])) --e;
  if (e - b < 2 || text[b] != '{' || text[e - 1] != '}') return s;
  std::size_t k = b + 1;
  while (k < e - 1 && is_ws(text[k])) ++k;
  s.ok = true;
  s.open = b;
  s.close = e - 1;
  s.empty = k == e - 1;
  return s;
}

void append_minified(std::string& out, std::string_view v) {
  bool in_string = false;
  std::size_t run = 0;  // start of the current run to copy
  for (std::size_t i = 0; i < v.size(); ++i) {
    const char c = v[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (is_ws(c)) {
      out.append(v.data() + run, i - run);
      run = i + 1;
    }
  }
  out.append(v.data() + run, v.size() - run);
}

}  // namespace llmtrace::json_text
