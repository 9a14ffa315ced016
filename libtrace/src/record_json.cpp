#include "record_json.hpp"

#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "json_text/json_text.hpp"

namespace llmtrace::detail {
namespace {

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

}  // namespace

namespace {

template <std::size_t N>
char* write_lit(char* o, const char (&lit)[N]) noexcept {
  std::memcpy(o, lit, N - 1);
  return o + N - 1;
}

char* write_raw(char* o, std::string_view s) noexcept {
  std::memcpy(o, s.data(), s.size());
  return o + s.size();
}

// `key` (,"name":" with its opening quote) then v escaped (len = its escaped size) and the closing quote;
// nothing when len is 0 (an empty field is omitted).
template <std::size_t N>
char* write_string_member(char* o, const char (&key)[N], std::string_view v, std::size_t len) noexcept {
  if (!len) return o;
  o = write_lit(o, key);
  o = json_text::write_escaped(o, v, len);
  *o++ = '"';
  return o;
}

}  // namespace

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
  const std::size_t id_len = id_is_safe ? id.size() : json_text::escaped_size(id);
  const std::size_t sess_len = r.session_id.empty() ? 0 : json_text::escaped_size(r.session_id);
  const std::size_t err_len = r.error_message.empty() ? 0 : json_text::escaped_size(r.error_message);
  const std::size_t model_len = r.model.empty() ? 0 : json_text::escaped_size(r.model);
  const std::size_t parent_len = r.parent_id.empty() ? 0 : json_text::escaped_size(r.parent_id);
  const std::size_t trace_len = r.trace_id.empty() ? 0 : json_text::escaped_size(r.trace_id);
  const std::size_t name_len = r.name.empty() ? 0 : json_text::escaped_size(r.name);
  const bool with_kind = r.write_kind || r.kind != kind::llm;
  const std::string_view kind_text = to_string(r.kind);
  const std::size_t req_len = r.request_json.empty() ? 4 : r.request_json.size();
  const std::size_t resp_len = r.response_json.empty() ? 4 : r.response_json.size();
  // Every fixed key and punctuation below fits in 200 bytes; each optional time or number in 48.
  const std::size_t max = 200 + (r.turn_number > 0 ? 24 : 0) + (r.started_at ? 48 : 0) +
                          (r.ended_at ? 48 : 0) + (r.latency_ms ? 48 : 0) + id_len + sess_len + err_len +
                          model_len + parent_len + trace_len + name_len + (with_kind ? 24 : 0) + req_len +
                          resp_len + r.metadata_json.size();
  payload out(max);
  char* const begin = out.data();
  char* o = begin;
  o = write_lit(o, "{\"id\":\"");
  o = json_text::write_escaped(o, id, id_len);
  *o++ = '"';
  o = write_string_member(o, ",\"session_id\":\"", r.session_id, sess_len);
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
  o = write_string_member(o, ",\"error_message\":\"", r.error_message, err_len);
  if (!r.metadata_json.empty()) {
    o = write_lit(o, ",\"metadata\":");
    o = write_raw(o, r.metadata_json);
  }
  o = write_string_member(o, ",\"model\":\"", r.model, model_len);
  o = write_string_member(o, ",\"parent_id\":\"", r.parent_id, parent_len);
  o = write_string_member(o, ",\"trace_id\":\"", r.trace_id, trace_len);
  o = write_string_member(o, ",\"name\":\"", r.name, name_len);
  if (with_kind) {
    o = write_lit(o, ",\"kind\":\"");
    o = write_raw(o, kind_text);
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

}  // namespace llmtrace::detail
