// CJK segmentation by code point ranges: cheap (one pass, no dictionary) and symmetric between indexing and
// querying, which is all substring-style matching needs.
#include "storage/fts_text.hpp"

#include <algorithm>
#include <cstdint>

namespace llmtrace::storage {
namespace {

bool is_cjk(uint32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||  // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK Extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK Unified Ideographs
         (cp >= 0xF900 && cp <= 0xFAFF) ||  // CJK Compatibility Ideographs
         (cp >= 0x20000 && cp <= 0x3FFFF);  // CJK Extensions B..
}

// Length of the UTF-8 sequence at s[i] and its code point; invalid bytes count as one byte, code point 0.
size_t decode(std::string_view s, size_t i, uint32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  size_t len = 1;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2;
    cp = b0 & 0x1F;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3;
    cp = b0 & 0x0F;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    cp = 0;
    return 1;
  }
  if (i + len > s.size()) {
    cp = 0;
    return 1;
  }
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) {
      cp = 0;
      return 1;
    }
    cp = (cp << 6) | (b & 0x3F);
  }
  return len;
}

}  // namespace

std::string fts_index_text(std::string_view text) {
  // Fast path: pure ASCII has nothing to segment.
  if (std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; })) {
    return std::string(text);
  }
  std::string out;
  out.reserve(text.size() + text.size() / 4);
  size_t i = 0;
  while (i < text.size()) {
    uint32_t cp = 0;
    const size_t len = decode(text, i, cp);
    if (is_cjk(cp)) {
      if (!out.empty() && out.back() != ' ') out += ' ';
      out.append(text.substr(i, len));
      out += ' ';
    } else {
      out.append(text.substr(i, len));
    }
    i += len;
  }
  return out;
}

std::string fts_match_query(std::string_view text, bool all_prefix) {
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && static_cast<unsigned char>(text[i]) <= ' ') ++i;
    size_t j = i;
    while (j < text.size() && static_cast<unsigned char>(text[j]) > ' ') ++j;
    if (j > i) {
      std::string_view tok = text.substr(i, j - i);
      // A trailing '*' asks for a prefix match; plain words match whole tokens, which FTS5 answers from one
      // doclist (a prefix over a common stem merges many, which is slow on large databases).
      bool prefix = all_prefix;
      while (!tok.empty() && tok.back() == '*') {
        tok.remove_suffix(1);
        prefix = true;
      }
      bool has_word = false;
      for (char c : tok) {
        const auto u = static_cast<unsigned char>(c);
        if (u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) {
          has_word = true;
          break;
        }
      }
      if (has_word) {
        std::string seg = fts_index_text(tok);
        while (!seg.empty() && seg.back() == ' ') seg.pop_back();
        if (!out.empty()) out += ' ';
        out += '"';
        for (char c : seg) {
          if (c == '"') out += '"';  // FTS5 escapes a quote inside a string by doubling it
          out += c;
        }
        out += prefix ? "\"*" : "\"";
      }
    }
    i = j;
  }
  return out;
}

}  // namespace llmtrace::storage
