#include "storage/pg_search.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "json_text/json_text.hpp"
#include "storage/fts_text.hpp"
#include "storage/pg_write_tx.hpp"
#include "storage/sqlite_search.hpp"

namespace llmtrace::storage::pg {
namespace {

// Separators as unicode61 sees them, for the ranges that matter in practice: ASCII punctuation and space,
// Latin-1 symbols, general punctuation, CJK symbols and punctuation, full-width punctuation.
bool separator(uint32_t cp) {
  if (cp < 0x80) {
    return !((cp >= '0' && cp <= '9') || (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z'));
  }
  if (cp >= 0x80 && cp <= 0xBF) return cp != 0xAA && cp != 0xB5 && cp != 0xBA;
  if (cp == 0xD7 || cp == 0xF7) return true;
  if (cp >= 0x2000 && cp <= 0x2BFF) return true;  // punctuation, symbols, arrows, math, boxes
  if (cp >= 0x3000 && cp <= 0x303F) return true;
  if (cp >= 0xFE30 && cp <= 0xFE4F) return true;
  if (cp >= 0xFF00 && cp <= 0xFF0F) return true;
  if (cp >= 0xFF1A && cp <= 0xFF20) return true;
  if (cp >= 0xFF3B && cp <= 0xFF40) return true;
  if (cp >= 0xFF5B && cp <= 0xFF65) return true;
  return cp == 0xFFFD || cp == 0xFEFF;
}

// Case folding and diacritic removal for Latin-1 and Latin Extended-A, Greek and Cyrillic case folding.
uint32_t fold(uint32_t cp) {
  if (cp >= 'A' && cp <= 'Z') return cp + 32;
  if (cp < 0xC0) return cp;
  if (cp <= 0xFF) {
    static const char k_base[] =
        "aaaaaaaceeeeiiii"   // C0..CF
        "dnooooo*ouuuuyts"   // D0..DF
        "aaaaaaaceeeeiiii"   // E0..EF
        "dnooooo/ouuuuyty";  // F0..FF
    const char b = k_base[cp - 0xC0];
    if (cp == 0xC6 || cp == 0xE6) return 0xE6;  // æ stays
    if (cp == 0xDE || cp == 0xFE) return 0xFE;  // þ stays
    if (cp == 0xDF) return 0xDF;                // ß stays
    if (cp == 0xD0 || cp == 0xF0) return 0xF0;  // ð stays
    return static_cast<unsigned char>(b);
  }
  if (cp >= 0x100 && cp <= 0x17F) {
    static const char k_ext_a[] =
        "aaaaaaccccccccdd"   // 100..10F
        "ddeeeeeeeeeegggg"   // 110..11F
        "gggghhhhiiiiiiii"   // 120..12F
        "iijjjjkkklllllll"   // 130..13F
        "lllnnnnnnnnnoooo"   // 140..14F
        "oooorrrrrrssssss"   // 150..15F
        "ssttttttuuuuuuuu"   // 160..16F
        "uuuuwwyyyzzzzzzs";  // 170..17F
    const char b = k_ext_a[cp - 0x100];
    if (cp == 0x132 || cp == 0x133 || cp == 0x152 || cp == 0x153 || cp == 0x138 || cp == 0x149 ||
        cp == 0x14A || cp == 0x14B) {
      return cp | 1;  // ligatures and letters without a plain base: lower case only
    }
    return static_cast<unsigned char>(b);
  }
  if (cp >= 0x391 && cp <= 0x3AB && cp != 0x3A2) return cp + 0x20;
  if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
  if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
  return cp;
}

// The tokens of a text, folded, in order.
std::vector<std::string> tokens(std::string_view s) {
  std::vector<std::string> out;
  std::string cur;
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp = 0;
    i += fts_decode(s, i, cp);
    if (separator(cp)) {
      if (!cur.empty()) out.push_back(std::move(cur));
      cur.clear();
    } else {
      json_text::append_utf8(cur, fold(cp));
    }
  }
  if (!cur.empty()) out.push_back(std::move(cur));
  return out;
}

void quote_lexeme(const std::string& t, std::string& out) {
  out += '\'';
  for (char ch : t) {
    if (ch == '\'') out += '\'';
    if (ch == '\\') out += '\\';
    out += ch;
  }
  out += '\'';
}

}  // namespace

std::string tsvector_literal(std::string_view indexed) {
  // tsvector limits: a lexeme under 2 KB, positions up to 16383 (later ones share the last position), and
  // about 1 MB in all; a text past that is indexed up to the limit.
  std::string out;
  int pos = 0;
  for (auto& t : tokens(indexed)) {
    if (t.size() >= 2000) continue;
    if (out.size() > 900 * 1024) break;
    pos = pos < 16383 ? pos + 1 : 16383;
    if (!out.empty()) out += ' ';
    quote_lexeme(t, out);
    out += ':';
    out += std::to_string(pos);
  }
  return out;
}

std::string tsquery_literal(std::string_view text, bool all_prefix) {
  std::string out;
  for (const auto& w : fts_query_words(text, all_prefix)) {
    auto words = tokens(fts_index_text(w.text));
    if (words.empty()) continue;
    if (!out.empty()) out += " & ";
    out += '(';
    for (size_t k = 0; k < words.size(); ++k) {
      if (k) out += " <-> ";
      quote_lexeme(words[k], out);
      if (w.prefix && k + 1 == words.size()) out += ":*";
    }
    out += ')';
  }
  return out;
}

namespace {

// While it lives, the connection's planner does not scan the records table sequentially: for a text search
// that plan tests (and decompresses) every row's tsvector, ~12 us a row, where the GIN index names the
// matching rows directly (counting 10,000 matches of a word in most records: 50 ms against 140-200 ms at
// 100k records; a rare word: 1 ms against 1 s). Reset on the way out, errors included, so the pooled
// connection's other statements keep their plans.
class no_seq_scan {
 public:
  explicit no_seq_scan(connection& c) : c_(c) { c_.exec("SET enable_seqscan = off"); }
  ~no_seq_scan() {
    try {
      if (c_.ok()) c_.exec("RESET enable_seqscan");
    } catch (...) {
    }
  }
  no_seq_scan(const no_seq_scan&) = delete;
  no_seq_scan& operator=(const no_seq_scan&) = delete;

 private:
  connection& c_;
};

page<model::record> search_in(connection& c, const search_query& q, bool has_text, const std::string& match) {
  page<model::record> out;
  out.page = sqlite::clamp_page(q.paging.page);
  out.size = sqlite::clamp_size(q.paging.size);
  if (has_text && match.empty()) return out;

  // Parameters are numbered as conditions are added, so each combination of filters is one prepared
  // statement with no placeholder conditions for the planner to keep.
  std::string where;
  params p;
  auto add_cond = [&](const std::string& before, std::string value, const std::string& after) {
    p.emplace_back(std::move(value));
    where += (where.empty() ? " WHERE " : " AND ") + before + "$" + std::to_string(p.size()) + after;
  };
  if (has_text) add_cond("search_vec @@ ", match, "::tsquery");
  if (q.status) add_cond("status = ", std::string(model::to_string(*q.status)), "");
  if (!q.model.empty()) add_cond("model = ", q.model, "");
  if (!q.session_id.empty()) add_cond("session_id = ", q.session_id, "");
  if (!q.score_name.empty()) {
    // As SQLite: the ids of the records with such a score (the API canonicalises the value text).
    add_cond("id IN (SELECT target_id FROM scores WHERE target = 'record' AND name = ", q.score_name,
             q.score_value ? "" : ")");
    if (q.score_value) add_cond("value = ", *q.score_value, ")");
  }
  // (Appended, not "$" + to_string(): GCC 12 warns -Wrestrict on that in Release builds, PR 105329.)
  std::string n1 = "$", n2 = "$";
  n1 += std::to_string(p.size() + 1);
  n2 += std::to_string(p.size() + 2);
  const bool counted = has_text || !q.model.empty() || !q.score_name.empty();
  std::optional<no_seq_scan> index_only;
  if (has_text) index_only.emplace(c);
  if (counted) {
    // Counted first (the answer needs it anyway), because it picks the plan below. With few matches the
    // planner still expects hundreds and walks the primary key backwards testing every row's tsvector.
    params pc = p;
    pc.emplace_back(std::to_string(sqlite::k_search_count_cap));
    auto n = c.run("SELECT COUNT(*) FROM (SELECT 1 FROM records" + where + " LIMIT " + n1 + ") t", pc);
    out.total = n.i64(0, 0);
    if (out.total < sqlite::k_search_count_cap && out.total <= (out.page - 1) * out.size) {
      return out;  // past the last match: nothing to read
    }
  }
  {
    // An exact count (under the cap) of text matches: `rid + 0` keeps the primary key from supplying the
    // order, so the matches come from the GIN index (at most 10,000 rows read, no tsvector tested) and are
    // sorted. More: the backward walk of the primary key meets a match every few rows and stops after a
    // page, while the index would have to name them all. (The planner's estimate cannot choose: it expects
    // hundreds of matches for a word with ten and walks the whole table for it.)
    const bool gin_first = has_text && out.total < sqlite::k_search_count_cap;
    params pl = p;
    pl.emplace_back(std::to_string(out.size));
    pl.emplace_back(std::to_string((out.page - 1) * out.size));
    auto r = c.run("SELECT " + k_record_cols + " FROM records" + where + " ORDER BY rid" +
                       (gin_first ? " + 0" : "") + " DESC LIMIT " + n1 + " OFFSET " + n2,
                   pl);
    for (int i = 0; i < r.rows(); ++i) out.items.push_back(read_record(r, i).record);
  }
  if (!counted) {
    // Status and session filters alone are answered from the session counters (as SQLite).
    auto n = q.session_id.empty()
                 ? c.run(
                       "SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
                       "COALESCE(SUM(pending_count), 0) FROM sessions")
                 : c.run(
                       "SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
                       "COALESCE(SUM(pending_count), 0) FROM sessions WHERE id = $1",
                       {q.session_id});
    const int64_t all = n.i64(0, 0);
    const int64_t errors = n.i64(0, 1);
    const int64_t pending = n.i64(0, 2);
    if (!q.status) {
      out.total = all;
    } else if (*q.status == model::record_status::error) {
      out.total = errors;
    } else if (*q.status == model::record_status::pending) {
      out.total = pending;
    } else {
      out.total = all - errors - pending;
    }
  }
  return out;
}

}  // namespace

page<model::record> search(connection& c, const search_query& q) {
  const bool has_text = q.text.find_first_not_of(" \t\r\n") != std::string::npos;
  const std::string exact = has_text ? tsquery_literal(q.text) : std::string();
  auto out = search_in(c, q, has_text, exact);
  if (has_text && out.total == 0) {
    const std::string prefixed = tsquery_literal(q.text, true);
    if (prefixed != exact) out = search_in(c, q, true, prefixed);
  }
  return out;
}

}  // namespace llmtrace::storage::pg
