// CJK segmentation by code point ranges: cheap (one pass, no dictionary) and symmetric between indexing and
// querying, which is all substring-style matching needs.
#include "storage/fts_text.hpp"

#include <algorithm>
#include <cstdint>

namespace llmtrace::storage {
namespace {

bool is_cjk(char32_t cp) {
  return (cp >= 0x3040 && cp <= 0x30FF) ||  // Hiragana, Katakana
         (cp >= 0x3400 && cp <= 0x4DBF) ||  // CJK Extension A
         (cp >= 0x4E00 && cp <= 0x9FFF) ||  // CJK Unified Ideographs
         (cp >= 0xF900 && cp <= 0xFAFF) ||  // CJK Compatibility Ideographs
         (cp >= 0x20000 && cp <= 0x3FFFF);  // CJK Extensions B..
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
    char32_t cp = 0;
    const size_t len = fts_decode(text, i, cp);
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

size_t fts_decode(std::string_view s, size_t i, char32_t& cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  const size_t len = (b0 & 0xE0) == 0xC0 ? 2 : (b0 & 0xF0) == 0xE0 ? 3 : (b0 & 0xF8) == 0xF0 ? 4 : 0;
  cp = 0xFFFD;
  if (len == 0 || i + len > s.size()) return 1;
  char32_t v = b0 & (len == 2 ? 0x1F : len == 3 ? 0x0F : 0x07);
  for (size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 1;
    v = (v << 6) | (b & 0x3F);
  }
  cp = v;
  return len;
}

std::vector<fts_query_word> fts_query_words(std::string_view text, bool all_prefix) {
  std::vector<fts_query_word> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && static_cast<unsigned char>(text[i]) <= ' ') ++i;
    size_t j = i;
    while (j < text.size() && static_cast<unsigned char>(text[j]) > ' ') ++j;
    if (j > i) {
      fts_query_word w{text.substr(i, j - i), all_prefix};
      while (!w.text.empty() && w.text.back() == '*') {
        w.text.remove_suffix(1);
        w.prefix = true;
      }
      out.push_back(w);
    }
    i = j;
  }
  return out;
}

std::string fts_match_query(std::string_view text, bool all_prefix) {
  std::string out;
  // A trailing '*' asks for a prefix match; plain words match whole tokens, which FTS5 answers from one
  // doclist (a prefix over a common stem merges many, which is slow on large databases).
  for (const auto& w : fts_query_words(text, all_prefix)) {
    bool has_word = false;
    for (char c : w.text) {
      const auto u = static_cast<unsigned char>(c);
      if (u >= 0x80 || (u >= '0' && u <= '9') || (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z')) {
        has_word = true;
        break;
      }
    }
    if (!has_word) continue;
    std::string seg = fts_index_text(w.text);
    while (!seg.empty() && seg.back() == ' ') seg.pop_back();
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : seg) {
      if (c == '"') out += '"';  // FTS5 escapes a quote inside a string by doubling it
      out += c;
    }
    out += w.prefix ? "\"*" : "\"";
  }
  return out;
}

bool fts_prefix_retry_allowed(std::string_view text) {
  const auto words = fts_query_words(text, false);
  if (words.empty() || words.size() > static_cast<std::size_t>(k_max_prefix_terms)) return false;
  for (const auto& w : words)
    if (w.text.size() < 2) return false;
  return true;
}

}  // namespace llmtrace::storage
