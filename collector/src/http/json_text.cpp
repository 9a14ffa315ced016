#include "http/json_text.hpp"

#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <nlohmann/json.hpp>

namespace llmtrace::http {
namespace {

template <std::size_t N>
void put(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

// --- validation of stored JSON text ---

bool is_ws(unsigned char c) {
  return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

int hex_value(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Reads 4 hex digits at p (p + 4 <= e checked by the caller).
int read_hex4(const unsigned char* p) {
  int v = 0;
  for (int i = 0; i < 4; ++i) {
    const int h = hex_value(p[i]);
    if (h < 0) return -1;
    v = v * 16 + h;
  }
  return v;
}

// Length of the well-formed UTF-8 sequence (RFC 3629, as nlohmann checks it) starting at p with lead byte
// >= 0x80, or 0 when it is not one.
std::size_t utf8_sequence(const unsigned char* p, const unsigned char* e) {
  const unsigned char c = *p;
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return p + i < e && p[i] >= lo && p[i] <= hi;
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

// Advances p past bytes that need no closer look inside a string (anything but a quote, a backslash, a
// control byte or a non-ASCII byte): 16 at a time with SSE2, 8 at a time (SWAR) elsewhere, then one by one.
const unsigned char* skip_plain(const unsigned char* p, const unsigned char* e) {
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
#else
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
#endif
  while (p < e && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\') ++p;
  return p;
}

// p at the opening quote; on success p is past the closing quote.
bool scan_string(const unsigned char*& p, const unsigned char* e) {
  ++p;
  while (p < e) {
    p = skip_plain(p, e);
    if (p >= e) break;
    const unsigned char c = *p;
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
          if (p + 6 > e) return false;
          const int u = read_hex4(p + 2);
          if (u < 0) return false;
          p += 6;
          if (u >= 0xDC00 && u <= 0xDFFF) return false;  // a low surrogate alone
          if (u >= 0xD800 && u <= 0xDBFF) {              // must pair with a low surrogate
            if (p + 6 > e || p[0] != '\\' || p[1] != 'u') return false;
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
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(p, e);
      if (n == 0) return false;
      p += n;
      continue;
    }
    ++p;
  }
  return false;
}

bool scan_number(const unsigned char*& p, const unsigned char* e) {
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

bool scan_literal(const unsigned char*& p, const unsigned char* e, const char* word, std::size_t n) {
  if (static_cast<std::size_t>(e - p) < n || std::memcmp(p, word, n) != 0) return false;
  p += n;
  return true;
}

}  // namespace

scanned_json scan_json(std::string_view text) {
  scanned_json out;
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* e = p + text.size();
  while (p < e && is_ws(*p)) ++p;
  const auto* begin = p;
  constexpr int max_depth = 256;
  uint64_t is_object[max_depth / 64] = {};  // one bit per open container
  int depth = 0;
  bool space = false;
  auto skip_ws = [&] {
    const auto* s = p;
    while (p < e && is_ws(*p)) ++p;
    if (p != s) space = true;
  };
  auto top_is_object = [&] { return (is_object[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1u; };
  auto push = [&](bool object) {
    if (depth == max_depth) return false;
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
    if (p >= e || *p != '"' || !scan_string(p, e)) return false;
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
      while (p < e && is_ws(*p)) ++p;
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
    } else if (is_ws(static_cast<unsigned char>(c))) {
      out.append(v.data() + run, i - run);
      run = i + 1;
    }
  }
  out.append(v.data() + run, v.size() - run);
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char hex[] = "0123456789abcdef";
  const std::size_t start = out.size();
  out += '"';
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* e = p + s.size();
  const auto* run = p;
  while (p < e) {
    p = skip_plain(p, e);
    if (p >= e) break;
    const unsigned char c = *p;
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++p;
      continue;
    }
    if (c >= 0x80) {
      const std::size_t n = utf8_sequence(p, e);
      if (n == 0) {
        // Ill-formed UTF-8: let nlohmann replace it exactly as dump_json() does.
        out.resize(start);
        out += nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
        return;
      }
      p += n;
      continue;
    }
    out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
    switch (c) {
      case '"':
        put(out, "\\\"");
        break;
      case '\\':
        put(out, "\\\\");
        break;
      case '\b':
        put(out, "\\b");
        break;
      case '\f':
        put(out, "\\f");
        break;
      case '\n':
        put(out, "\\n");
        break;
      case '\r':
        put(out, "\\r");
        break;
      case '\t':
        put(out, "\\t");
        break;
      default: {
        const char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        out.append(u, sizeof u);
      }
    }
    ++p;
    run = p;
  }
  out.append(reinterpret_cast<const char*>(run), static_cast<std::size_t>(p - run));
  out += '"';
}

}  // namespace llmtrace::http
