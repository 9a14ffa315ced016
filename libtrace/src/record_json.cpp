#include "record_json.hpp"

#include <atomic>
#include <cstdio>
#include <cstring>
#include <random>
#include <thread>

namespace llmtrace::detail {
namespace {

constexpr char kHex[] = "0123456789abcdef";

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

void append_int(std::string& out, int64_t v) {
  char tmp[24];
  char* e = tmp + sizeof(tmp);
  char* p = e;
  uint64_t u = v < 0 ? 0 - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  do {
    *--p = static_cast<char>('0' + u % 10);
    u /= 10;
  } while (u);
  if (v < 0) *--p = '-';
  out.append(p, static_cast<std::size_t>(e - p));
}

void append_double(std::string& out, double v) {
  if (!(v == v) || v > 1e300 || v < -1e300) {  // NaN / inf are not JSON
    out += "null";
    return;
  }
  char tmp[40];
  int n = std::snprintf(tmp, sizeof(tmp), "%.3f", v);
  out.append(tmp, n > 0 ? static_cast<std::size_t>(n) : 0);
}

void append_raw_or_null(std::string& out, std::string_view json) {
  if (json.empty())
    out += "null";
  else
    out.append(json);
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

void append_json_string(std::string& out, std::string_view s) {
  out.push_back('"');
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const std::size_t n = s.size();
  std::size_t run = 0;  // start of the pending run of bytes that need no escaping
  std::size_t i = 0;
  while (i < n) {
    unsigned char c = p[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      std::size_t len = utf8_len(p + i, n - i);
      if (len) {
        i += len;
        continue;
      }
      out.append(s.data() + run, i - run);
      out += "\\ufffd";
      ++i;
      run = i;
      continue;
    }
    out.append(s.data() + run, i - run);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default: {
        char esc[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
        out.append(esc, 6);
      }
    }
    ++i;
    run = i;
  }
  out.append(s.data() + run, n - run);
  out.push_back('"');
}

void append_rfc3339(std::string& out, std::chrono::system_clock::time_point t) {
  using namespace std::chrono;
  const int64_t ms = duration_cast<milliseconds>(t.time_since_epoch()).count();
  int64_t days = ms >= 0 ? ms / 86400000 : (ms - 86399999) / 86400000;
  int64_t rem = ms - days * 86400000;
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  const unsigned hh = static_cast<unsigned>(rem / 3600000);
  const unsigned mi = static_cast<unsigned>(rem / 60000 % 60);
  const unsigned ss = static_cast<unsigned>(rem / 1000 % 60);
  const unsigned mss = static_cast<unsigned>(rem % 1000);
  char buf[32];
  int n = std::snprintf(buf, sizeof(buf), "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", static_cast<long long>(y), mo, d,
                        hh, mi, ss, mss);
  out.append(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

void append_record(std::string& out, const record& r, std::string_view id) {
  out.reserve(out.size() + 160 + id.size() + r.session_id.size() + r.request_json.size() + r.response_json.size() +
              r.error_message.size() + r.metadata_json.size() + r.model.size() + r.parent_id.size());
  out += "{\"id\":";
  append_json_string(out, id);
  if (!r.session_id.empty()) {
    out += ",\"session_id\":";
    append_json_string(out, r.session_id);
  }
  if (r.turn_number > 0) {
    out += ",\"turn_number\":";
    append_int(out, r.turn_number);
  }
  out += ",\"request\":";
  append_raw_or_null(out, r.request_json);
  out += ",\"response\":";
  append_raw_or_null(out, r.response_json);
  out += ",\"status\":";
  switch (r.status) {
    case status::pending: out += "\"pending\""; break;
    case status::success: out += "\"success\""; break;
    case status::error: out += "\"error\""; break;
  }
  if (!r.error_message.empty()) {
    out += ",\"error_message\":";
    append_json_string(out, r.error_message);
  }
  if (!r.metadata_json.empty()) {
    out += ",\"metadata\":";
    out.append(r.metadata_json);
  }
  if (!r.model.empty()) {
    out += ",\"model\":";
    append_json_string(out, r.model);
  }
  if (r.started_at) {
    out += ",\"started_at\":\"";
    append_rfc3339(out, *r.started_at);
    out += '"';
  }
  if (r.ended_at) {
    out += ",\"ended_at\":\"";
    append_rfc3339(out, *r.ended_at);
    out += '"';
  }
  if (r.latency_ms) {
    out += ",\"latency_ms\":";
    append_double(out, *r.latency_ms);
  }
  if (!r.parent_id.empty()) {
    out += ",\"parent_id\":";
    append_json_string(out, r.parent_id);
  }
  out += '}';
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

void reseed_ids_after_fork() noexcept { g_fork_generation.fetch_add(1, std::memory_order_relaxed); }

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
  const uint64_t ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  const uint64_t r1 = rng.next();
  const uint64_t r2 = rng.next();
  unsigned char b[16];
  for (int k = 0; k < 6; ++k) b[k] = static_cast<unsigned char>(ms >> (40 - 8 * k));
  b[6] = static_cast<unsigned char>(0x70 | ((r1 >> 8) & 0x0F));
  b[7] = static_cast<unsigned char>(r1);
  b[8] = static_cast<unsigned char>(0x80 | ((r1 >> 16) & 0x3F));
  for (int k = 9; k < 16; ++k) b[k] = static_cast<unsigned char>(r2 >> (8 * (k - 9)));
  char* o = buf;
  for (int k = 0; k < 16; ++k) {
    if (k == 4 || k == 6 || k == 8 || k == 10) *o++ = '-';
    *o++ = kHex[b[k] >> 4];
    *o++ = kHex[b[k] & 0xF];
  }
}

}  // namespace llmtrace::detail
