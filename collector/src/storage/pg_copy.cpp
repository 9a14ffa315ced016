#include "storage/pg_copy.hpp"

#include <algorithm>
#include <cstring>
#include <deque>
#include <vector>

namespace llmtrace::storage::pg {
namespace {

// tsvector limits (PostgreSQL's ts_type.h): positions per lexeme, and the last position.
constexpr std::size_t k_max_positions = 256;
constexpr uint16_t k_max_position = 16383;

struct occurrence {
  std::string_view lexeme;  // into the literal, or into `unescaped` when the literal escaped a byte
  uint64_t head = 0;        // the lexeme's first 8 bytes, big-endian, zero-padded: most compare on it alone
  uint16_t pos = 0;
};

uint64_t head_of(std::string_view s) {
  uint64_t h = 0;
  for (std::size_t k = 0; k < 8; ++k) h = (h << 8) | (k < s.size() ? static_cast<unsigned char>(s[k]) : 0u);
  return h;
}

// Bytewise order (a prefix first), as the server sorts lexemes. A lexeme has no NUL byte, so equal heads
// mean equal strings when both are at most 8 bytes long.
int compare_lexemes(const occurrence& a, const occurrence& b) {
  if (a.head != b.head) return a.head < b.head ? -1 : 1;
  if (a.lexeme.size() <= 8 && b.lexeme.size() <= 8) return 0;
  return a.lexeme.substr(std::min<std::size_t>(8, a.lexeme.size()))
      .compare(b.lexeme.substr(std::min<std::size_t>(8, b.lexeme.size())));
}

// Reads the literal's 'lexeme':position items (quote doubled, backslash escapes the next byte). Tokens are
// letters and digits, so escapes are rare: only a lexeme that has one is copied (into `unescaped`, whose
// strings do not move: a deque).
bool parse_literal(std::string_view s, std::vector<occurrence>& out, std::deque<std::string>& unescaped) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    if (s[i] != '\'') return false;
    const std::size_t start = ++i;
    std::string* copy = nullptr;
    for (;;) {
      if (i >= s.size()) return false;
      const char ch = s[i];
      if (ch != '\\' && ch != '\'') {
        if (copy) copy->push_back(ch);
        ++i;
        continue;
      }
      if (ch == '\'' && (i + 1 >= s.size() || s[i + 1] != '\'')) break;  // the closing quote
      if (i + 1 >= s.size()) return false;
      if (!copy) copy = &unescaped.emplace_back(s.substr(start, i - start));
      copy->push_back(s[i + 1]);
      i += 2;
    }
    occurrence o;
    o.lexeme = copy ? std::string_view(*copy) : s.substr(start, i - start);
    o.head = head_of(o.lexeme);
    ++i;  // the closing quote
    if (o.lexeme.empty() || i >= s.size() || s[i] != ':') return false;
    ++i;
    uint32_t pos = 0;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && pos <= k_max_position)
      pos = pos * 10 + (s[i++] - '0');
    if (i == digits || pos == 0 || pos > k_max_position) return false;
    o.pos = static_cast<uint16_t>(pos);
    out.push_back(o);
  }
  return true;
}

}  // namespace

binary_copy::binary_copy() {
  static const char k_header[] = "PGCOPY\n\377\r\n";  // 11 bytes with the NUL, then flags and extension
  buf_.append(k_header, 11);
  be32(0);
  be32(0);
}

void binary_copy::be16(uint16_t v) {
  buf_.push_back(static_cast<char>(v >> 8));
  buf_.push_back(static_cast<char>(v & 0xff));
}

void binary_copy::be32(uint32_t v) {
  be16(static_cast<uint16_t>(v >> 16));
  be16(static_cast<uint16_t>(v & 0xffff));
}

void binary_copy::be64(uint64_t v) {
  be32(static_cast<uint32_t>(v >> 32));
  be32(static_cast<uint32_t>(v & 0xffffffffu));
}

void binary_copy::row(int16_t fields) {
  be16(static_cast<uint16_t>(fields));
}

void binary_copy::null() {
  be32(0xffffffffu);  // length -1
}

void binary_copy::text(std::string_view v) {
  be32(static_cast<uint32_t>(v.size()));
  buf_.append(v.data(), v.size());
}

void binary_copy::text_or_null(std::string_view v) {
  if (v.empty()) {
    null();
  } else {
    text(v);
  }
}

void binary_copy::int2(int16_t v) {
  be32(2);
  be16(static_cast<uint16_t>(v));
}

void binary_copy::int8(int64_t v) {
  be32(8);
  be64(static_cast<uint64_t>(v));
}

void binary_copy::int8(const std::optional<int64_t>& v) {
  if (v) {
    int8(*v);
  } else {
    null();
  }
}

void binary_copy::float8(const std::optional<double>& v) {
  if (!v) return null();
  uint64_t bits = 0;
  std::memcpy(&bits, &*v, sizeof bits);
  be32(8);
  be64(bits);
}

bool binary_copy::tsvector(std::string_view literal) {
  thread_local std::vector<occurrence> occ;  // reused: a batch converts hundreds of these
  thread_local std::deque<std::string> unescaped;
  occ.clear();
  unescaped.clear();
  if (!parse_literal(literal, occ, unescaped)) return false;
  // The server's order (compare_lexemes), a lexeme's positions rising.
  std::sort(occ.begin(), occ.end(), [](const occurrence& a, const occurrence& b) {
    const int c = compare_lexemes(a, b);
    return c < 0 || (c == 0 && a.pos < b.pos);
  });
  const std::size_t length_at = buf_.size();
  be32(0);  // the value's length, set below
  const std::size_t count_at = buf_.size();
  be32(0);  // the number of lexemes, set below
  uint32_t lexemes = 0;
  for (std::size_t i = 0; i < occ.size();) {
    const occurrence& first = occ[i];
    const std::string_view lexeme = first.lexeme;
    buf_.append(lexeme.data(), lexeme.size());
    buf_.push_back('\0');
    const std::size_t npos_at = buf_.size();
    be16(0);
    // Unique positions, at most 256 (as the server's text input keeps them).
    uint16_t n = 0, last = 0;
    for (; i < occ.size() && compare_lexemes(occ[i], first) == 0; ++i) {
      if (occ[i].pos > last && n < k_max_positions) {
        be16(occ[i].pos);
        last = occ[i].pos;
        ++n;
      }
    }
    buf_[npos_at] = static_cast<char>(n >> 8);
    buf_[npos_at + 1] = static_cast<char>(n & 0xff);
    ++lexemes;
  }
  const uint32_t length = static_cast<uint32_t>(buf_.size() - count_at);
  for (int k = 0; k < 4; ++k) {
    buf_[length_at + k] = static_cast<char>(length >> (24 - 8 * k));
    buf_[count_at + k] = static_cast<char>(lexemes >> (24 - 8 * k));
  }
  return true;
}

std::string binary_copy::take() {
  be16(0xffff);  // trailer: field count -1
  return std::move(buf_);
}

}  // namespace llmtrace::storage::pg
