#include "record_json.hpp"

#include <atomic>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <thread>

namespace llmtrace::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

struct dec_pairs {
  char pairs[200];
  constexpr dec_pairs() : pairs() {
    for (int i = 0; i < 100; ++i) {
      pairs[2 * i] = static_cast<char>('0' + i / 10);
      pairs[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
  }
};
constexpr dec_pairs kDec2{};

// Length of a valid UTF-8 sequence starting at p (1..4), or 0 when invalid.
std::size_t utf8_len(const unsigned char* p, std::size_t n) noexcept {
  unsigned char c = p[0];
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return (n >= 2 && (p[1] & 0xC0) == 0x80) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80) return 0;
    if (c == 0xE0 && p[1] < 0xA0) return 0;   // overlong
    if (c == 0xED && p[1] >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80) return 0;
    if (c == 0xF0 && p[1] < 0x90) return 0;
    if (c == 0xF4 && p[1] >= 0x90) return 0;
    return 4;
  }
  return 0;
}

// Writes v as a JSON number at o (at most kMaxDouble bytes) with three decimals, exactly as "%.3f" would
// (correctly rounded, ties to even), without snprintf or to_chars' general machinery: latencies are the only
// doubles on the hot path and they fit the fast path below. Magnitudes whose fixed form would be long use
// the shortest round-trip form instead, so the output stays bounded.
constexpr std::size_t kMaxDouble = 40;
char* write_double(char* o, double v) noexcept {
  if (!(v == v) || v > 1e300 || v < -1e300) {  // NaN / inf are not JSON
    std::memcpy(o, "null", 4);
    return o + 4;
  }
  if (std::signbit(v)) {
    *o++ = '-';
    v = -v;
  }
  if (v < 4294967296.0) {
    // m = v * 1000 rounded; below 2^42 every half-integer is representable, so m's own fraction decides
    // the rounding, except at an exact .5 where the product's rounding error (fma) breaks the tie.
    const double m = v * 1000.0;
    uint64_t t = static_cast<uint64_t>(m);
    const double frac = m - static_cast<double>(t);
    if (frac > 0.5) {
      ++t;
    } else if (frac == 0.5) {
      const double err = std::fma(v, 1000.0, -m);
      if (err > 0 || (err == 0 && (t & 1))) ++t;
    }
    const uint64_t ip = t / 1000;
    const unsigned fp = static_cast<unsigned>(t % 1000);
    o = std::to_chars(o, o + 20, ip).ptr;
    *o++ = '.';
    *o++ = static_cast<char>('0' + fp / 100);
    std::memcpy(o, kDec2.pairs + 2 * (fp % 100), 2);
    return o + 2;
  }
  const auto r = v < 1e15 ? std::to_chars(o, o + kMaxDouble, v, std::chars_format::fixed, 3)
                          : std::to_chars(o, o + kMaxDouble, v);
  return r.ec == std::errc() ? r.ptr : o;  // cannot fail within kMaxDouble bytes
}

// Days since 1970-01-01 to civil date (Howard Hinnant's algorithm).
void civil_from_days(int64_t z, int64_t& y, unsigned& m, unsigned& d) noexcept {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += (m <= 2);
}

struct hex_pairs {
  char pairs[512];
  constexpr hex_pairs() : pairs() {
    for (int i = 0; i < 256; ++i) {
      pairs[2 * i] = kHex[i >> 4];
      pairs[2 * i + 1] = kHex[i & 0xF];
    }
  }
};
constexpr hex_pairs kHexPairs{};

std::atomic<uint64_t> g_fork_generation{0};

struct id_rng {
  uint64_t s = 0;
  uint64_t generation = ~0ull;
  uint64_t next() noexcept {  // splitmix64
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
};

}  // namespace

namespace {

// Byte classes for escaping: 0 plain ASCII, 1 short escape (\" \\ \n ...), 2 \u00XX, 3 non-ASCII (validate).
struct escape_table {
  unsigned char cls[256];
  constexpr escape_table() : cls() {
    for (int c = 0; c < 256; ++c) cls[c] = c < 0x20 ? 2 : (c >= 0x80 ? 3 : 0);
    cls[static_cast<unsigned char>('"')] = 1;
    cls[static_cast<unsigned char>('\\')] = 1;
    cls[static_cast<unsigned char>('\n')] = 1;
    cls[static_cast<unsigned char>('\r')] = 1;
    cls[static_cast<unsigned char>('\t')] = 1;
    cls[static_cast<unsigned char>('\b')] = 1;
    cls[static_cast<unsigned char>('\f')] = 1;
  }
};
constexpr escape_table kEscape{};

// True when none of the 8 bytes at p is '"', '\\', a control character or non-ASCII (SWAR; a false "no"
// only sends the caller to its byte-by-byte path).
inline bool plain8(const unsigned char* p) noexcept {
  uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  auto has_zero = [&](uint64_t v) { return (v - ones) & ~v; };
  const uint64_t special =
      ((x - 0x20 * ones) & ~x) | has_zero(x ^ (0x22 * ones)) | has_zero(x ^ (0x5C * ones)) | x;
  return (special & high) == 0;
}

// Exact length of s once escaped (without quotes).
std::size_t escaped_len(std::string_view s) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t i = 0;
  while (i + 8 <= n && plain8(p + i)) i += 8;  // the common case: plain ASCII all the way
  while (i < n && kEscape.cls[p[i]] == 0) ++i;
  if (i == n) return n;
  std::size_t len = i;
  while (i < n) {
    switch (kEscape.cls[p[i]]) {
      case 0:
        ++len;
        ++i;
        break;
      case 1:
        len += 2;
        ++i;
        break;
      case 2:
        len += 6;
        ++i;
        break;
      default: {
        std::size_t k = utf8_len(p + i, n - i);
        if (k) {
          len += k;
          i += k;
        } else {
          len += 6;
          ++i;
        }
      }
    }
  }
  return len;
}

// Writes s escaped (without quotes) at o; `len` is escaped_len(s).
char* write_escaped(char* o, std::string_view s, std::size_t len) noexcept {
  if (len == s.size()) {  // nothing to escape: the common case
    std::memcpy(o, s.data(), len);
    return o + len;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char c = p[i];
    switch (kEscape.cls[c]) {
      case 0:
        *o++ = static_cast<char>(c);
        ++i;
        break;
      case 1:
        *o++ = '\\';
        *o++ = c == '"'    ? '"'
               : c == '\\' ? '\\'
               : c == '\n' ? 'n'
               : c == '\r' ? 'r'
               : c == '\t' ? 't'
               : c == '\b' ? 'b'
                           : 'f';
        ++i;
        break;
      case 2:
        *o++ = '\\';
        *o++ = 'u';
        *o++ = '0';
        *o++ = '0';
        *o++ = kHex[c >> 4];
        *o++ = kHex[c & 0xF];
        ++i;
        break;
      default: {
        std::size_t k = utf8_len(p + i, n - i);
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

template <std::size_t N>
char* write_lit(char* o, const char (&lit)[N]) noexcept {
  std::memcpy(o, lit, N - 1);
  return o + N - 1;
}

char* write_raw(char* o, std::string_view s) noexcept {
  std::memcpy(o, s.data(), s.size());
  return o + s.size();
}

}  // namespace

void append_json_string(std::string& out, std::string_view s) {
  const std::size_t len = escaped_len(s);
  const std::size_t at = out.size();
  out.resize(at + len + 2);
  char* o = out.data() + at;
  *o++ = '"';
  o = write_escaped(o, s, len);
  *o = '"';
}

namespace {
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars) at o, without snprintf. Years outside 0..9999 are clamped: RFC 3339
// has four-digit years only.
constexpr std::size_t kRfc3339Len = 24;
char* write_rfc3339(char* o, std::chrono::system_clock::time_point t) noexcept {
  using namespace std::chrono;
  const int64_t ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
  int64_t rem = ms - days * 86400000;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  if (y < 0) y = 0;
  if (y > 9999) y = 9999;
  const unsigned yy = static_cast<unsigned>(y);
  const unsigned hh = static_cast<unsigned>(rem / 3600000);
  const unsigned mi = static_cast<unsigned>(rem / 60000 % 60);
  const unsigned ss = static_cast<unsigned>(rem / 1000 % 60);
  const unsigned mss = static_cast<unsigned>(rem % 1000);
  auto two = [&](unsigned v) {
    std::memcpy(o, kDec2.pairs + 2 * v, 2);
    o += 2;
  };
  two(yy / 100);
  two(yy % 100);
  *o++ = '-';
  two(mo);
  *o++ = '-';
  two(d);
  *o++ = 'T';
  two(hh);
  *o++ = ':';
  two(mi);
  *o++ = ':';
  two(ss);
  *o++ = '.';
  *o++ = static_cast<char>('0' + mss / 100);
  two(mss % 100);
  *o++ = 'Z';
  return o;
}
}  // namespace

void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t) {
  char buf[kRfc3339Len];
  const char* e = write_rfc3339(buf, t);
  out.append(buf, static_cast<std::size_t>(e - buf));
}

payload make_record(const record& r, std::string_view id, bool id_is_safe) {
  // One exact-size allocation and straight memcpy's: this runs on the caller's thread for every trace().
  const std::size_t id_len = id_is_safe ? id.size() : escaped_len(id);
  const std::size_t sess_len = r.session_id.empty() ? 0 : escaped_len(r.session_id);
  const std::size_t err_len = r.error_message.empty() ? 0 : escaped_len(r.error_message);
  const std::size_t model_len = r.model.empty() ? 0 : escaped_len(r.model);
  const std::size_t parent_len = r.parent_id.empty() ? 0 : escaped_len(r.parent_id);
  const std::size_t req_len = r.request_json.empty() ? 4 : r.request_json.size();
  const std::size_t resp_len = r.response_json.empty() ? 4 : r.response_json.size();
  // Every fixed key and punctuation below fits in 200 bytes; each optional time or number in 48.
  const std::size_t max = 200 + (r.turn_number > 0 ? 24 : 0) + (r.started_at ? 48 : 0) +
                          (r.ended_at ? 48 : 0) + (r.latency_ms ? 48 : 0) + id_len + sess_len + err_len +
                          model_len + parent_len + req_len + resp_len + r.metadata_json.size();
  payload out(max);
  char* const begin = out.data();
  char* o = begin;
  o = write_lit(o, "{\"id\":\"");
  o = write_escaped(o, id, id_len);
  *o++ = '"';
  if (sess_len) {
    o = write_lit(o, ",\"session_id\":\"");
    o = write_escaped(o, r.session_id, sess_len);
    *o++ = '"';
  }
  if (r.turn_number > 0) {
    o = write_lit(o, ",\"turn_number\":");
    char tmp[24];
    char* e = tmp + sizeof(tmp);
    char* q = e;
    uint64_t u = static_cast<uint64_t>(r.turn_number);
    do {
      *--q = static_cast<char>('0' + u % 10);
      u /= 10;
    } while (u);
    o = write_raw(o, std::string_view(q, static_cast<std::size_t>(e - q)));
  }
  o = write_lit(o, ",\"request\":");
  o = r.request_json.empty() ? write_lit(o, "null") : write_raw(o, r.request_json);
  o = write_lit(o, ",\"response\":");
  o = r.response_json.empty() ? write_lit(o, "null") : write_raw(o, r.response_json);
  switch (r.status) {
    case status::pending:
      o = write_lit(o, ",\"status\":\"pending\"");
      break;
    case status::success:
      o = write_lit(o, ",\"status\":\"success\"");
      break;
    case status::error:
      o = write_lit(o, ",\"status\":\"error\"");
      break;
  }
  if (err_len) {
    o = write_lit(o, ",\"error_message\":\"");
    o = write_escaped(o, r.error_message, err_len);
    *o++ = '"';
  }
  if (!r.metadata_json.empty()) {
    o = write_lit(o, ",\"metadata\":");
    o = write_raw(o, r.metadata_json);
  }
  if (model_len) {
    o = write_lit(o, ",\"model\":\"");
    o = write_escaped(o, r.model, model_len);
    *o++ = '"';
  }
  if (parent_len) {
    o = write_lit(o, ",\"parent_id\":\"");
    o = write_escaped(o, r.parent_id, parent_len);
    *o++ = '"';
  }
  if (r.started_at) {
    o = write_lit(o, ",\"started_at\":\"");
    o = write_rfc3339(o, *r.started_at);
    *o++ = '"';
  }
  if (r.ended_at) {
    o = write_lit(o, ",\"ended_at\":\"");
    o = write_rfc3339(o, *r.ended_at);
    *o++ = '"';
  }
  if (r.latency_ms) {
    o = write_lit(o, ",\"latency_ms\":");
    o = write_double(o, *r.latency_ms);
  }
  *o++ = '}';
  out.set_size(static_cast<std::size_t>(o - begin));
  return out;
}

void append_record(std::string& out, const record& r, std::string_view id) {
  const payload p = make_record(r, id);
  out.append(p.view());
}

bool scan_object(std::string_view json, bool& has_id) noexcept {
  has_id = false;
  std::size_t i = 0;
  const std::size_t n = json.size();
  auto skip_ws = [&] {
    while (i < n && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r')) ++i;
  };
  skip_ws();
  if (i >= n || json[i] != '{') return false;
  int depth = 0;
  bool expect_key = false;  // at depth 1, right after '{' or ','
  char stack[256];
  for (; i < n; ++i) {
    char c = json[i];
    if (c == '"') {
      std::size_t start = ++i;
      while (i < n && json[i] != '"') {
        if (static_cast<unsigned char>(json[i]) < 0x20) return false;
        if (json[i] == '\\') ++i;
        ++i;
      }
      if (i >= n) return false;
      if (depth == 1 && expect_key) {
        if (json.substr(start, i - start) == "id") has_id = true;
        expect_key = false;
      }
      continue;
    }
    switch (c) {
      case '{':
      case '[':
        if (depth >= static_cast<int>(sizeof(stack))) return false;
        stack[depth++] = c;
        expect_key = (c == '{' && depth == 1);
        break;
      case '}':
      case ']':
        if (depth == 0 || stack[depth - 1] != (c == '}' ? '{' : '[')) return false;
        --depth;
        if (depth == 0) {
          ++i;
          skip_ws();
          return i == n;
        }
        break;
      case ',':
        if (depth == 1) expect_key = true;
        break;
      default:
        break;
    }
  }
  return false;
}

bool valid_json(std::string_view text, std::size_t max_depth) noexcept {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  std::size_t i = 0;
  char stack[256];
  if (max_depth > sizeof(stack)) max_depth = sizeof(stack);
  std::size_t depth = 0;
  auto digit = [&](std::size_t k) { return k < n && p[k] >= '0' && p[k] <= '9'; };
  auto ws = [&] {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r')) ++i;
  };
  auto str = [&]() -> bool {  // at the opening quote
    ++i;
    while (i < n) {
      // Message text is long runs of plain ASCII: skip 8 bytes at a time while none is special.
      while (n - i >= 8 && plain8(p + i)) i += 8;
      if (i >= n) break;
      const unsigned char c = p[i];
      if (c == '"') {
        ++i;
        return true;
      }
      if (c < 0x20) return false;
      if (c == '\\') {
        if (++i >= n) return false;
        const unsigned char e = p[i];
        if (e == 'u') {
          if (n - i < 5) return false;
          for (int k = 1; k <= 4; ++k)
            if (!std::isxdigit(p[i + k])) return false;
          i += 5;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
                   e == 't') {
          ++i;
        } else {
          return false;
        }
        continue;
      }
      if (c < 0x80) {
        ++i;
        continue;
      }
      const std::size_t k = utf8_len(p + i, n - i);
      if (!k) return false;
      i += k;
    }
    return false;
  };
  auto key = [&]() -> bool {  // "key" ws : ws
    if (i >= n || p[i] != '"' || !str()) return false;
    ws();
    if (i >= n || p[i] != ':') return false;
    ++i;
    ws();
    return true;
  };
  auto literal = [&](std::string_view w) {
    if (n - i < w.size() || std::memcmp(p + i, w.data(), w.size()) != 0) return false;
    i += w.size();
    return true;
  };
  ws();
  for (;;) {
    // A value.
    if (i >= n) return false;
    const unsigned char c = p[i];
    if (c == '{' || c == '[') {
      if (depth >= max_depth) return false;
      stack[depth++] = static_cast<char>(c);
      ++i;
      ws();
      const char close = c == '{' ? '}' : ']';
      if (i < n && p[i] == close) {
        ++i;
        --depth;
      } else {
        if (c == '{' && !key()) return false;
        continue;  // the first member's value
      }
    } else if (c == '"') {
      if (!str()) return false;
    } else if (c == 't') {
      if (!literal("true")) return false;
    } else if (c == 'f') {
      if (!literal("false")) return false;
    } else if (c == 'n') {
      if (!literal("null")) return false;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      if (p[i] == '-') ++i;
      if (i < n && p[i] == '0')
        ++i;
      else if (digit(i))
        while (digit(i)) ++i;
      else
        return false;
      if (i < n && p[i] == '.') {
        ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
      }
      if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        ++i;
        if (i < n && (p[i] == '+' || p[i] == '-')) ++i;
        if (!digit(i)) return false;
        while (digit(i)) ++i;
      }
    } else {
      return false;
    }
    // After a value: close containers, or a separator and the next value.
    for (;;) {
      ws();
      if (depth == 0) return i == n;
      if (i >= n) return false;
      const char top = stack[depth - 1];
      if (p[i] == ',') {
        ++i;
        ws();
        if (top == '{' && !key()) return false;
        break;
      }
      if (p[i] == (top == '{' ? '}' : ']')) {
        ++i;
        --depth;
        continue;
      }
      return false;
    }
  }
}

void reseed_ids_after_fork() noexcept {
  g_fork_generation.fetch_add(1, std::memory_order_relaxed);
}

void write_uuid_v7(char* buf) noexcept {
  thread_local id_rng rng;
  const uint64_t gen = g_fork_generation.load(std::memory_order_relaxed);
  if (rng.generation != gen) {
    uint64_t seed = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    seed ^= std::hash<std::thread::id>{}(std::this_thread::get_id()) * 0x9E3779B97F4A7C15ull;
    seed ^= reinterpret_cast<uintptr_t>(&rng);
    try {
      std::random_device rd;
      seed ^= (static_cast<uint64_t>(rd()) << 32) ^ rd();
    } catch (...) {
    }
    rng.s = seed;
    rng.generation = gen;
  }
  // The coarse clock (a few ms of resolution) costs a few ns instead of ~20; ids only need ms ordering.
  timespec ts{};
  clock_gettime(CLOCK_REALTIME_COARSE, &ts);
  const uint64_t ms = static_cast<uint64_t>(ts.tv_sec) * 1000u + static_cast<uint64_t>(ts.tv_nsec) / 1000000u;
  const uint64_t r1 = rng.next();
  const uint64_t r2 = rng.next();
  unsigned char b[16];
#pragma GCC unroll 6
  for (int k = 0; k < 6; ++k) b[k] = static_cast<unsigned char>(ms >> (40 - 8 * k));
  b[6] = static_cast<unsigned char>(0x70 | ((r1 >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(r1);
  b[8] = static_cast<unsigned char>(0x80 | ((r1 >> 16) & 0x3F));
#pragma GCC unroll 7
  for (int k = 9; k < 16; ++k) b[k] = static_cast<unsigned char>(r2 >> (8 * (k - 9)));
  // Two hex digits per byte from a table, at fixed offsets of the 8-4-4-4-12 layout.
  static constexpr unsigned char kOffsets[16] = {0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34};
#pragma GCC unroll 16
  for (int k = 0; k < 16; ++k) std::memcpy(buf + kOffsets[k], kHexPairs.pairs + 2 * b[k], 2);
  buf[8] = buf[13] = buf[18] = buf[23] = '-';
}

}  // namespace llmtrace::detail
