#include "api/render.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <httplib.h>

#include "api/errors.hpp"
#include "model/time.hpp"

namespace llmtrace::api {
namespace {

using json = nlohmann::json;

json opt_time(const std::optional<int64_t>& ms) {
  return ms ? json(model::format_rfc3339_ms(*ms)) : json(nullptr);
}
json opt_int(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_string(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
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

struct scanned {
  bool ok = false;
  std::string_view value;  // the text without surrounding whitespace
  bool inner_space = false;
};

// Strict RFC 8259 check of one JSON value (what nlohmann's parser accepts, UTF-8 included), without building
// anything. Nesting deeper than 256 is reported as not ok: the caller then takes the nlohmann path.
scanned scan_json(std::string_view text) {
  scanned out;
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

// Copies well-formed JSON without the whitespace between tokens (strings are copied as they are).
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

// --- scalars ---

// A string literal, without strlen.
template <std::size_t N>
void put(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// As nlohmann dumps a double: shortest round-trip digits, ".0" on integral values, null when not finite.
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    put(out, "null");
    return;
  }
  char buf[64];
  const double a = std::fabs(v);
  const bool fixed = a == 0 || (a >= 1e-5 && a < 1e15);
  auto r = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                 : std::to_chars(buf, buf + sizeof buf, v);
  if (r.ec != std::errc{}) {
    out += dump_json(json(v));
    return;
  }
  out.append(buf, r.ptr);
  if (std::find_if(buf, r.ptr, [](char c) { return c == '.' || c == 'e' || c == 'E'; }) == r.ptr)
    put(out, ".0");
}

void append_2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// "2026-11-26T06:32:05.123Z", quoted; the same text as model::format_rfc3339_ms, without snprintf.
void append_time(std::string& out, int64_t ms) {
  constexpr int64_t max_ms = 253402300799999;  // 9999-12-31T23:59:59.999Z
  if (ms < 0 || ms > max_ms) {
    append_json_string(out, model::format_rfc3339_ms(ms));
    return;
  }
  using namespace std::chrono;
  const int64_t day_count = ms / 86'400'000;
  const int64_t rem = ms % 86'400'000;
  const year_month_day ymd{sys_days{std::chrono::days{day_count}}};
  const auto y = static_cast<unsigned>(static_cast<int>(ymd.year()));
  char b[26] = {'"'};
  append_2(b + 1, y / 100);
  append_2(b + 3, y % 100);
  b[5] = '-';
  append_2(b + 6, static_cast<unsigned>(ymd.month()));
  b[8] = '-';
  append_2(b + 9, static_cast<unsigned>(ymd.day()));
  b[11] = 'T';
  append_2(b + 12, static_cast<unsigned>(rem / 3'600'000));
  b[14] = ':';
  append_2(b + 15, static_cast<unsigned>(rem / 60'000 % 60));
  b[17] = ':';
  append_2(b + 18, static_cast<unsigned>(rem / 1000 % 60));
  b[20] = '.';
  const auto milli = static_cast<unsigned>(rem % 1000);
  b[21] = static_cast<char>('0' + milli / 100);
  append_2(b + 22, milli % 100);
  b[24] = 'Z';
  b[25] = '"';
  out.append(b, sizeof b);
}

void append_opt_time(std::string& out, const std::optional<int64_t>& ms) {
  if (ms)
    append_time(out, *ms);
  else
    put(out, "null");
}

void append_opt_int(std::string& out, const std::optional<int64_t>& v) {
  if (v)
    append_int(out, *v);
  else
    put(out, "null");
}

void append_opt_string(std::string& out, const std::string& s) {
  if (s.empty())
    put(out, "null");
  else
    append_json_string(out, s);
}

void append_usage(std::string& out, const model::token_usage& u) {
  put(out, "{\"completion_tokens\":");
  append_opt_int(out, u.completion_tokens);
  put(out, ",\"prompt_tokens\":");
  append_opt_int(out, u.prompt_tokens);
  put(out, ",\"total_tokens\":");
  append_opt_int(out, u.total_tokens);
  out += '}';
}

}  // namespace

json stored_json(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return text;
  return j;
}

json to_json(const model::token_usage& u) {
  return {{"prompt_tokens", opt_int(u.prompt_tokens)},
          {"completion_tokens", opt_int(u.completion_tokens)},
          {"total_tokens", opt_int(u.total_tokens)}};
}

json to_json(const model::record& r) {
  json metadata = stored_json(r.metadata_json);
  if (!metadata.is_object()) metadata = json::object();
  return {{"id", r.id},
          {"session_id", r.session_id},
          {"turn_number", r.turn_number},
          {"request", stored_json(r.request_json)},
          {"response", stored_json(r.response_json)},
          {"status", model::to_string(r.status)},
          {"error_message", r.error_message},
          {"metadata", std::move(metadata)},
          {"created_at", model::format_rfc3339_ms(r.created_at_ms)},
          {"updated_at", model::format_rfc3339_ms(r.updated_at_ms)},
          {"started_at", opt_time(r.started_at_ms)},
          {"ended_at", opt_time(r.ended_at_ms)},
          {"latency_ms", r.latency_ms ? json(*r.latency_ms) : json(nullptr)},
          {"model", opt_string(r.model)},
          {"usage", to_json(r.usage)},
          {"replay_of", opt_string(r.replay_of)},
          {"parent_id", opt_string(r.parent_id)}};
}

json to_json(const model::session& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"created_at", model::format_rfc3339_ms(s.created_at_ms)},
          {"updated_at", model::format_rfc3339_ms(s.updated_at_ms)},
          {"record_count", s.record_count},
          {"turn_count", s.turn_count},
          {"error_count", s.error_count},
          {"total_tokens", s.total_tokens}};
}

json to_json(const storage::store_stats& s) {
  return {{"sessions", s.sessions},
          {"records", s.records},
          {"errors", s.errors},
          {"pending", s.pending},
          {"prompt_tokens", s.prompt_tokens},
          {"completion_tokens", s.completion_tokens},
          {"total_tokens", s.total_tokens},
          {"db_size_bytes", s.db_size_bytes}};
}

void append_stored_json(std::string& out, std::string_view text, bool as_object) {
  if (text.empty()) {
    out += as_object ? "{}" : "null";
    return;
  }
  const scanned s = scan_json(text);
  if (!s.ok) {
    // Not what ingest stores (or nested past the scanner's depth): exactly the DOM path's answer.
    json j = stored_json(std::string(text));
    if (as_object && !j.is_object())
      put(out, "{}");
    else
      out += dump_json(j);
    return;
  }
  if (as_object && s.value.front() != '{') {
    put(out, "{}");
    return;
  }
  if (s.inner_space)
    append_minified(out, s.value);
  else
    out.append(s.value);
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
        out += dump_json(json(std::string(s)));
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

void append_json(std::string& out, const model::record& r, std::string_view change) {
  // Keys in the order nlohmann's (sorted) objects dump them, so both renderings are the same text.
  out += '{';
  if (!change.empty()) {
    put(out, "\"change\":");
    append_json_string(out, change);
    out += ',';
  }
  put(out, "\"created_at\":");
  append_time(out, r.created_at_ms);
  put(out, ",\"ended_at\":");
  append_opt_time(out, r.ended_at_ms);
  put(out, ",\"error_message\":");
  append_json_string(out, r.error_message);
  put(out, ",\"id\":");
  append_json_string(out, r.id);
  put(out, ",\"latency_ms\":");
  if (r.latency_ms)
    append_double(out, *r.latency_ms);
  else
    put(out, "null");
  put(out, ",\"metadata\":");
  append_stored_json(out, r.metadata_json, true);
  put(out, ",\"model\":");
  append_opt_string(out, r.model);
  put(out, ",\"parent_id\":");
  append_opt_string(out, r.parent_id);
  put(out, ",\"replay_of\":");
  append_opt_string(out, r.replay_of);
  put(out, ",\"request\":");
  append_stored_json(out, r.request_json);
  put(out, ",\"response\":");
  append_stored_json(out, r.response_json);
  put(out, ",\"session_id\":");
  append_json_string(out, r.session_id);
  put(out, ",\"started_at\":");
  append_opt_time(out, r.started_at_ms);
  put(out, ",\"status\":\"");
  out += model::to_string(r.status);
  put(out, "\",\"turn_number\":");
  append_int(out, r.turn_number);
  put(out, ",\"updated_at\":");
  append_time(out, r.updated_at_ms);
  put(out, ",\"usage\":");
  append_usage(out, r.usage);
  out += '}';
}

void append_json(std::string& out, const model::session& s) {
  put(out, "{\"created_at\":");
  append_time(out, s.created_at_ms);
  put(out, ",\"error_count\":");
  append_int(out, s.error_count);
  put(out, ",\"id\":");
  append_json_string(out, s.id);
  put(out, ",\"name\":");
  append_json_string(out, s.name);
  put(out, ",\"record_count\":");
  append_int(out, s.record_count);
  put(out, ",\"total_tokens\":");
  append_int(out, s.total_tokens);
  put(out, ",\"turn_count\":");
  append_int(out, s.turn_count);
  put(out, ",\"updated_at\":");
  append_time(out, s.updated_at_ms);
  out += '}';
}

std::string render_json(const model::record& r) {
  std::string out;
  out.reserve(reserve_size(r));
  append_json(out, r);
  return out;
}

std::string render_json(const model::session& s) {
  std::string out;
  out.reserve(256);
  append_json(out, s);
  return out;
}

void write_json_text(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.headers.erase("Content-Type");
  // cpp-httplib 0.11 compresses every application/json body on the fly, with brotli at quality 11 whenever
  // the client offers `br` (every browser does): ~2 s for a 200-record page and ~4 s for a 1 MB record on a
  // loaded 2-core machine, which is most of the UI's wait. It sends a sized content provider as is, so large
  // bodies take that path; small ones keep the old one (compressing them is cheap).
  constexpr std::size_t k_send_as_is_from = 16 * 1024;
  if (body.size() >= k_send_as_is_from) {
    auto shared = std::make_shared<const std::string>(std::move(body));
    res.set_content_provider(shared->size(), "application/json",
                             [shared](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               if (offset >= shared->size()) return true;
                               return sink.write(shared->data() + offset,
                                                 std::min(length, shared->size() - offset));
                             });
    return;
  }
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

}  // namespace llmtrace::api
