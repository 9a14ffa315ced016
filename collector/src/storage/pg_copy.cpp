#include "storage/pg_copy.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace llmtrace::storage::pg {
namespace {

// tsvector limits (PostgreSQL's ts_type.h): positions per lexeme, and the last position.
constexpr std::size_t k_max_positions = 256;
constexpr uint16_t k_max_position = 16383;

struct occurrence {
  std::string lexeme;
  uint16_t pos = 0;
};

// Reads the literal's 'lexeme':position items (quote doubled, backslash escapes the next byte).
bool parse_literal(std::string_view s, std::vector<occurrence>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    if (s[i] != '\'') return false;
    ++i;
    occurrence o;
    for (;;) {
      if (i >= s.size()) return false;
      const char ch = s[i++];
      if (ch == '\\') {
        if (i >= s.size()) return false;
        o.lexeme += s[i++];
      } else if (ch == '\'') {
        if (i < s.size() && s[i] == '\'') {
          o.lexeme += '\'';
          ++i;
        } else {
          break;
        }
      } else {
        o.lexeme += ch;
      }
    }
    if (o.lexeme.empty() || i >= s.size() || s[i] != ':') return false;
    ++i;
    uint32_t pos = 0;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && pos <= k_max_position)
      pos = pos * 10 + (s[i++] - '0');
    if (i == digits || pos == 0 || pos > k_max_position) return false;
    o.pos = static_cast<uint16_t>(pos);
    out.push_back(std::move(o));
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
  std::vector<occurrence> occ;
  occ.reserve(literal.size() / 8);
  if (!parse_literal(literal, occ)) return false;
  // The server's order: bytewise, a prefix first (std::string compares chars as unsigned, as memcmp does).
  // Stable, so each lexeme's positions stay in their (rising) literal order.
  std::stable_sort(occ.begin(), occ.end(),
                   [](const occurrence& a, const occurrence& b) { return a.lexeme < b.lexeme; });
  std::string body;
  uint32_t lexemes = 0;
  std::vector<uint16_t> pos;
  for (std::size_t i = 0; i < occ.size();) {
    std::size_t j = i;
    pos.clear();
    for (; j < occ.size() && occ[j].lexeme == occ[i].lexeme; ++j) {
      // Unique positions, at most 256 (as the server's text input keeps them).
      if ((pos.empty() || occ[j].pos > pos.back()) && pos.size() < k_max_positions) pos.push_back(occ[j].pos);
    }
    body += occ[i].lexeme;
    body.push_back('\0');
    body.push_back(static_cast<char>(pos.size() >> 8));
    body.push_back(static_cast<char>(pos.size() & 0xff));
    for (uint16_t p : pos) {
      body.push_back(static_cast<char>(p >> 8));
      body.push_back(static_cast<char>(p & 0xff));
    }
    ++lexemes;
    i = j;
  }
  be32(static_cast<uint32_t>(4 + body.size()));
  be32(lexemes);
  buf_ += body;
  return true;
}

std::string binary_copy::take() {
  be16(0xffff);  // trailer: field count -1
  return std::move(buf_);
}

}  // namespace llmtrace::storage::pg
