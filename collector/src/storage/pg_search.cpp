#include "storage/pg_search.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <functional>
#include <initializer_list>
#include <optional>
#include <string>
#include <vector>

#include "json_text/json_text.hpp"
#include "storage/fts_text.hpp"
#include "storage/pg_summary.hpp"
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
  // A term given twice ("error error") is one condition: written once, a query of one word is planned and
  // answered as one (a common word's GIN sample), not as the intersection of a posting list with itself.
  std::vector<std::string> terms;
  for (const auto& w : fts_query_words(text, all_prefix)) {
    auto words = tokens(fts_index_text(w.text));
    if (words.empty()) continue;
    std::string term = "(";
    for (size_t k = 0; k < words.size(); ++k) {
      if (k) term += " <-> ";
      quote_lexeme(words[k], term);
      if (w.prefix && k + 1 == words.size()) term += ":*";
    }
    term += ')';
    if (std::find(terms.begin(), terms.end(), term) == terms.end()) terms.push_back(std::move(term));
  }
  std::string out;
  for (const auto& t : terms) {
    if (!out.empty()) out += " & ";
    out += t;
  }
  return out;
}

namespace {

// Runs SQL text that restores settings the pooled connection must not keep. It starts with RESET
// statement_timeout, so the rest runs unbounded even when the search's budget is nearly spent (the next
// budgeted statement sets what is left again, see time_budget::arm); the text is one implicit transaction,
// so a try cut short by the timeout changed nothing and is simply run again.
void restore(connection& c, const std::string& sql) noexcept {
  for (int attempt = 0; attempt < 3; ++attempt) {
    try {
      if (!c.ok()) return;  // the pool drops a lost connection
      c.exec(sql);
      return;
    } catch (...) {
    }
  }
}

// The search's time budget (search_query::budget_ms) over all of its statements: what is left of it becomes
// the server's statement_timeout, so the server cancels a statement past the deadline (SQLSTATE 57014,
// mapped to search_too_costly by search()) and later statements get only the rest. The timeout is set with
// the search's planner settings (one round trip, see settings) and set again before a statement only when
// the one set could take the search past its deadline by more than a twentieth of the budget: a search of a
// few statements and tens of milliseconds makes no round trip for its timeout, and one that is stopped is
// stopped within 5% of its budget. The timeout is reset before the search returns (errors included), so
// other statements on the pooled connection run unbounded.
class time_budget {
 public:
  time_budget(connection& c, int budget_ms) : c_(c), budget_ms_(budget_ms) {
    if (budget_ms > 0) deadline_ = std::chrono::steady_clock::now() + std::chrono::milliseconds(budget_ms);
  }
  ~time_budget() {
    if (set_) restore(c_, "RESET statement_timeout");
  }
  time_budget(const time_budget&) = delete;
  time_budget& operator=(const time_budget&) = delete;

  bool bounded() const { return budget_ms_ > 0; }
  // Before a statement of the search: sets the timeout to what is left (at least 1 ms: 0 would mean none)
  // unless the one set is close enough to it.
  void arm() {
    const std::string set = set_text();
    if (!set.empty()) c_.exec(set);
  }
  // The SQL text that arm() would run (empty when none is needed), for a caller that sends it with other
  // statements; the timeout counts as set from here.
  std::string set_text() {
    if (!bounded()) return {};
    const int64_t left =
        std::chrono::ceil<std::chrono::milliseconds>(deadline_ - std::chrono::steady_clock::now()).count();
    if (left <= 0) throw costly();
    if (set_ && set_ms_ <= left + budget_ms_ / 20) return {};
    set_ = true;
    set_ms_ = left;
    return "SET statement_timeout = " + std::to_string(left);
  }
  // The planner settings' restore() reset the timeout too.
  void cleared() { set_ = false; }
  search_too_costly costly() const {
    return search_too_costly("the search took longer than " + std::to_string(budget_ms_) +
                             " ms and was stopped; use fewer or longer words");
  }

 private:
  connection& c_;
  int budget_ms_;
  std::chrono::steady_clock::time_point deadline_{};
  bool set_ = false;
  int64_t set_ms_ = 0;  // the timeout last set
};

// Planner settings for the statements of one search, restored on the way out (errors included) so the pooled
// connection's other statements keep the server's defaults. `set` and `reset` are SQL text run as is; the
// budget's timeout is set with them, in the same round trip.
class settings {
 public:
  settings(connection& c, time_budget& b, const char* set, const char* reset) : c_(c), b_(b), reset_(reset) {
    b_.cleared();  // (set again below whatever was set before)
    const std::string timeout = b_.set_text();
    c_.exec(timeout.empty() ? std::string(set) : std::string(set) + "; " + timeout);
  }
  ~settings() {
    restore(c_, std::string("RESET statement_timeout; ") + reset_);
    b_.cleared();
  }
  settings(const settings&) = delete;
  settings& operator=(const settings&) = delete;

 private:
  connection& c_;
  time_budget& b_;
  const char* reset_;
};

// For every statement of a text search: no sequential scan of the records (it tests and decompresses every
// row's tsvector, ~12 us a row, where the GIN index names the matching rows directly); a plan made for the
// query's own words, never a cached generic one (whose estimate cannot know whether a word is in ten records
// or in most of them); no JIT (a count over a common word is estimated costly enough to be compiled, 60-80 ms
// spent before the first row, on a query of tens of milliseconds); memory for an exact bitmap of a 1M-record
// table (at the default 4 MB the bitmap of a word in most records turns lossy, and every row of a lossy page
// has its tsvector fetched from TOAST and tested again: two common words, 400 ms against 300 ms at 1M); no
// prefetch in the bitmap scans (effective_io_concurrency 0: 99.9% of record_terms' heap pages are read from
// shared buffers in the 1M-record bench, and the prefetch's buffer lookup of each page ahead was ~5% of a
// two-word search's CPU under perf).
constexpr const char* k_text_set =
    "SET enable_seqscan = off; SET plan_cache_mode = force_custom_plan; SET jit = off; "
    "SET work_mem = '32MB'; SET effective_io_concurrency = 0";
constexpr const char* k_text_reset =
    "RESET enable_seqscan; RESET plan_cache_mode; RESET jit; RESET work_mem; RESET effective_io_concurrency";

// The matches of a statement come from the GIN index's bitmap only: without this, a LIMITed statement over a
// word the planner knows to be common walks an index testing each row's tsvector. With k_sample, the bitmap
// holds a random sample of about that many of each word's index entries (gin_fuzzy_search_limit): the
// sample's matching rows are real matches, so a sample of `cap` matching rows proves the capped total without
// reading the word's whole posting list (a word in most of 1M records: 15 against 90 ms).
constexpr const char* k_bitmap_set = "SET enable_indexscan = off";
constexpr const char* k_bitmap_reset = "RESET enable_indexscan";
constexpr const char* k_sample_set = "SET enable_indexscan = off; SET gin_fuzzy_search_limit = 20000";
constexpr const char* k_sample_reset = "RESET enable_indexscan; RESET gin_fuzzy_search_limit";
// The sample is tried for a word the planner expects in at least this many records (its estimate comes from
// the column statistics' most common lexemes, accurate for exactly these words).
constexpr int64_t k_sample_min_estimate = 3 * sqlite::k_search_count_cap;
// Below the cap's estimate a search collects up to this many matches from the GIN bitmap (see search_in).
constexpr int64_t k_collect_max = 3 * sqlite::k_search_count_cap;
// When the matches are more than the cap, the page is looked for among the newest records (1.5 times the
// rows that should hold it, at least 2,000) before the GIN bitmap's matches are: a word in 3% of the records
// has its first page among the newest 2,000, read at ~3.5 us a row, where the bitmap of a common word's
// matches costs tens of ms. A page expected beyond 8,000 rows (~30 ms of walking) goes to the bitmap at once.
constexpr int64_t k_walk_rows = 2000;
constexpr int64_t k_walk_rows_max = 8000;
// Past the walk, the page is looked for among the matches whose rid is among the newest this many (a tenth of
// a smaller table; four times the rows expected to hold the page when that is more): the planner ANDs the GIN
// bitmap with a range of the primary key, so only the matches in the range are visited and sorted. Two words
// in 2% of 1M records, all 18,000 matches sorted: 117 ms; those among the newest 164,000 rids: 17 ms.
constexpr int64_t k_range_rows = 100000;
// A query whose summarized partitions hold the cap's matches (pg_summary.hpp) takes its page from the other
// partitions' matches and the summaries' when the other partitions are expected to hold at most half this
// many (their share of matches in the summaries): collecting them all costs ~2 us a match, ~10 ms at most;
// a walk of the newest records finds the page of a word in 1% of them in ~3,000 rows, ~10 ms.
constexpr int64_t k_rest_page_max = 5000;
// A query of several words that the planner expects in at least half of the records (all of them common:
// "you are") is counted by walking the newest records, testing each tsvector: 10,000 matches within ~13,000
// rows (45 ms at 1M records), where the GIN index would intersect posting lists of ~1M entries (330 ms).
constexpr double k_dense_walk_min = 0.5;

// The planner's estimate of the rows a statement returns (EXPLAIN's top plan node).
int64_t estimated_rows(connection& c, time_budget& b, const std::string& select, const params& p) {
  b.arm();
  auto r = c.run("EXPLAIN (FORMAT JSON) " + select, p);
  if (r.rows() == 0) return 0;
  const std::string plan = r.text(0, 0);
  const auto at = plan.find("\"Plan Rows\":");
  if (at == std::string::npos) return 0;
  return std::strtoll(plan.c_str() + at + 12, nullptr, 10);
}

// One lexeme, no phrase, no prefix: the query a GIN sample answers (a query of several lexemes samples each
// of them, and the sampled intersection is rarely large enough to prove anything).
bool single_lexeme(const std::string& match) {
  return match.find(" & ") == std::string::npos && match.find("<->") == std::string::npos &&
         match.find(":*") == std::string::npos;
}

// The lexemes of a query of plain words ('a' & 'b': no phrase, no prefix), as tsquery_literal wrote them
// unquoted; empty for any other query.
std::vector<std::string> plain_lexemes(const std::string& match) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < match.size()) {
    if (!out.empty()) {
      if (match.compare(i, 3, " & ") != 0) return {};
      i += 3;
    }
    if (match.compare(i, 2, "('") != 0) return {};
    std::string lexeme;
    for (i += 2;; ++i) {
      if (i >= match.size()) return {};
      if (match[i] == '\\' && i + 1 < match.size()) {
        lexeme += match[++i];
      } else if (match[i] == '\'') {
        if (i + 1 < match.size() && match[i + 1] == '\'') {
          lexeme += match[++i];
        } else {
          break;
        }
      } else {
        lexeme += match[i];
      }
    }
    if (match.compare(i, 2, "')") != 0) return {};
    i += 2;
    out.push_back(std::move(lexeme));
  }
  return out;
}

page<model::record> search_in(connection& c, time_budget& b, const search_query& q, bool has_text,
                              const std::string& match) {
  // Every statement of the search within what is left of its budget.
  auto run = [&](const std::string& sql, const params& p = {}) {
    b.arm();
    return c.run(sql, p);
  };
  page<model::record> out;
  out.page = sqlite::clamp_page(q.paging.page);
  out.size = sqlite::clamp_size(q.paging.size);
  if (has_text && match.empty()) return out;

  // Text alone is answered from record_terms (schema v4: the tsvector beside its rid, a narrow table whose
  // heap pages the matches' visibility is checked on); the records are read for the page only. With other
  // filters the text is a condition on records' rid.
  const bool text_only =
      has_text && !q.status && q.model.empty() && q.session_id.empty() && q.score_name.empty();
  const std::string table = text_only ? "record_terms" : "records";
  const std::string from = " FROM " + table;
  // Parameters are numbered as conditions are added, so each combination of filters is one prepared
  // statement with no placeholder conditions for the planner to keep.
  std::string where;
  params p;
  auto add_cond = [&](const std::string& before, std::string value, const std::string& after) {
    p.emplace_back(std::move(value));
    where += (where.empty() ? " WHERE " : " AND ") + before + "$" + std::to_string(p.size()) + after;
  };
  if (text_only) add_cond("search_vec @@ ", match, "::tsquery");
  if (has_text && !text_only) {
    add_cond("rid IN (SELECT rid FROM record_terms WHERE search_vec @@ ", match, "::tsquery)");
  }
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
  auto param = [&](size_t k) {
    std::string n = "$";
    n += std::to_string(p.size() + k);
    return n;
  };
  const std::string n1 = param(1), n2 = param(2), n3 = param(3);
  const std::string cap = std::to_string(sqlite::k_search_count_cap);
  const std::string size = std::to_string(out.size);
  const std::string offset = std::to_string((out.page - 1) * out.size);
  auto with = [&](std::initializer_list<std::string> extra) {
    params all = p;
    for (const auto& e : extra) all.emplace_back(e);
    return all;
  };
  // The page's records, newest first, from a statement that selects their rids.
  auto read_page = [&](const std::string& rids, const params& all) {
    auto r =
        run("SELECT " + k_record_cols + " FROM records WHERE rid IN (" + rids + ") ORDER BY rid DESC", all);
    for (int i = 0; i < r.rows(); ++i) out.items.push_back(read_record(r, i).record);
  };
  // The page newest first by walking the primary key backwards, testing each row: right when matches are
  // many (a page is found within a few rows), wrong when they are few (the walk crosses the table).
  auto read_walk = [&] {
    auto r = run("SELECT " + k_record_cols + " FROM records" + where + " ORDER BY rid DESC LIMIT " + n1 +
                     " OFFSET " + n2,
                 with({size, offset}));
    for (int i = 0; i < r.rows(); ++i) out.items.push_back(read_record(r, i).record);
  };

  if (has_text) {
    settings text_plan(c, b, k_text_set, k_text_reset);
    // The planner's estimate of the matches (EXPLAIN; once, when needed).
    std::optional<int64_t> estimated;
    auto estimate = [&] {
      if (!estimated) estimated = estimated_rows(c, b, "SELECT" + from + where, p);
      return *estimated;
    };
    // The share of the records the planner expects to match, from its estimate and the table's size (read
    // once, when needed); 0 when the table was never analysed.
    double share = -1;
    double all = 0;  // the table's rows, as the planner knows them
    auto expected_share = [&] {
      if (share >= 0) return share;
      // (record_terms is partitioned, schema v6: autovacuum analyses its partitions, never the parent.)
      const auto n =
          run("SELECT CASE WHEN t.relkind = 'p' THEN (SELECT COALESCE(SUM(GREATEST(c.reltuples, 0)), 0) FROM "
              "pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = t.oid) ELSE "
              "GREATEST(t.reltuples, 0) END::bigint FROM pg_class t WHERE t.oid = '" +
              table + "'::regclass");
      all = n.rows() ? static_cast<double>(n.i64(0, 0)) : 0;
      share = all > 0 ? std::min(1.0, static_cast<double>(estimate()) / all) : 0;
      return share;
    };
    // The newest rows of the table the search reads (as many as the parameter after the filters' says), as
    // `w`, for a walk that tests each of them against the conditions.
    const std::string newest = "(SELECT *" + from + " ORDER BY rid DESC LIMIT " + n1 + ") w";
    // More matches than the cap: the page is looked for among the newest records first (a bounded walk,
    // which meets a common word's matches every few rows), unless the expected share of matches puts the
    // page's end beyond k_walk_rows_max, or the walk finds too few (words common in older records only, or
    // newest records that all repeat a few texts); then among the matches in the newest rids (see
    // k_range_rows), and only when those are too few among all the matches, sorted.
    auto read_many = [&] {
      const double need = static_cast<double>(out.page * out.size);
      const double rows = expected_share() > 0 ? 1.5 * need / expected_share() : 1e18;
      if (rows <= static_cast<double>(k_walk_rows_max)) {
        const int64_t window = std::max(k_walk_rows, static_cast<int64_t>(rows));
        read_page("SELECT rid FROM " + newest + where + " ORDER BY rid DESC LIMIT " + n2 + " OFFSET " + n3,
                  with({std::to_string(window), size, offset}));
        if (static_cast<int64_t>(out.items.size()) == out.size) return;
        out.items.clear();
      }
      settings bitmap(c, b, k_bitmap_set, k_bitmap_reset);
      // The sequence's last value is at or above every rid; the bound is a parameter the planner sees.
      const int64_t span = static_cast<int64_t>(
          std::min(std::max(4 * rows, std::min(static_cast<double>(k_range_rows), all / 10)), 1e15));
      const int64_t top = run("SELECT last_value FROM records_rid_seq").i64(0, 0);
      if (span < top) {
        read_page("SELECT rid" + from + where + " AND rid > " + n1 + " ORDER BY rid DESC LIMIT " + n2 +
                      " OFFSET " + n3,
                  with({std::to_string(top - span), size, offset}));
        if (static_cast<int64_t>(out.items.size()) == out.size) return;
        out.items.clear();
      }
      read_page("SELECT rid" + from + where + " ORDER BY rid DESC LIMIT " + n1 + " OFFSET " + n2,
                with({size, offset}));
    };
    // Text alone, of plain words, once some partition is summarized (pg_summary.hpp): each summarized
    // partition's matches from its postings, the other partitions' (the newest ones, and any whose summary is
    // stale or not built yet) from the GIN index, collected up to what the cap still lacks, or up to what the
    // summaries' share of matches expects of them (k_rest_page_max at most) when the cap is reached; when
    // those are all of their matches, the page is the newest of both. Otherwise (a word common in the newest
    // records too) the page is looked for as below (read_many), the total being the cap.
    auto summarized = [&](const std::vector<std::string>& lexemes) {
      // Every partition, newest first, and for those with a ready summary the query's postings when it has
      // every lexeme of the query (a row each; NULL when one is missing: no match there, and a common word's
      // postings are not read for nothing); and the last rid taken.
      auto s = run(
          "SELECT p.k, st.part IS NOT NULL, CASE WHEN COUNT(s.part) OVER (PARTITION BY p.k) = $2 THEN "
          "s.postings END, (SELECT last_value FROM records_rid_seq) FROM (SELECT substr(c.relname, "
          "15)::bigint AS k FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = "
          "'record_terms'::regclass) p LEFT JOIN record_terms_summary_state st ON st.part = p.k AND st.ready "
          "LEFT JOIN record_terms_summary s ON st.part IS NOT NULL AND s.part = p.k AND s.lexeme = "
          "ANY($1::text[]) ORDER BY p.k DESC",
          {text_array(lexemes), std::to_string(lexemes.size())});
      struct partition {
        int64_t k = 0;
        bool ready = false;
        std::vector<std::string> postings;
      };
      std::vector<partition> parts;
      for (int i = 0; i < s.rows(); ++i) {
        if (parts.empty() || parts.back().k != s.i64(i, 0))
          parts.push_back({s.i64(i, 0), s.text(i, 1) == "t", {}});
        if (!s.null(i, 2)) parts.back().postings.push_back(bytea_from_hex(s.text(i, 2)));
      }
      if (std::none_of(parts.begin(), parts.end(), [](const partition& x) { return x.ready; })) return false;
      const int64_t last_rid = s.i64(0, 3);
      const int64_t need = out.page * out.size;
      std::vector<int64_t> rids;  // the newest `need` matches of each source: the page is among them
      int64_t found = 0;
      double summarized_rids = 0, other_rids = 0;
      std::string rest;  // the other partitions' matches
      for (const auto& x : parts) {
        const int64_t first = x.k * k_terms_partition_rids;
        if (!x.ready) {
          other_rids +=
              static_cast<double>(std::clamp<int64_t>(last_rid + 1 - first, 0, k_terms_partition_rids));
          rest += rest.empty() ? "" : " UNION ALL ";
          rest += "SELECT rid FROM record_terms_p" + std::to_string(x.k) + where;
          continue;
        }
        summarized_rids += static_cast<double>(k_terms_partition_rids);
        if (x.postings.size() != lexemes.size()) continue;
        const auto m = intersect_postings(x.postings, static_cast<std::size_t>(need));
        found += m.count;
        for (uint32_t o : m.newest) rids.push_back(first + o);
      }
      if (!rest.empty()) {
        const double expected = static_cast<double>(found) / summarized_rids * other_rids;
        int64_t limit = std::max<int64_t>(sqlite::k_search_count_cap - found, 0);
        if (expected <= static_cast<double>(k_rest_page_max) / 2)
          limit =
              std::max(limit, std::min(k_rest_page_max, 2 * static_cast<int64_t>(expected) + need + 1000));
        int64_t more = 0;
        if (limit > 0) {
          auto r = run("WITH m AS MATERIALIZED (" + rest +
                           " LIMIT $2) SELECT p.rid, (SELECT COUNT(*) FROM m) FROM (SELECT 1) one LEFT JOIN "
                           "(SELECT rid FROM m ORDER BY rid DESC LIMIT $3) p ON true",
                       {match, std::to_string(limit), std::to_string(need)});
          for (int i = 0; i < r.rows(); ++i) {
            more = r.i64(i, 1);
            if (!r.null(i, 0)) rids.push_back(r.i64(i, 0));
          }
        }
        found += more;
        if (more >= limit) {  // not all of the other partitions' matches: the cap is reached
          out.total = sqlite::k_search_count_cap;
          read_many();
          return true;
        }
      }
      out.total = std::min(found, sqlite::k_search_count_cap);
      std::sort(rids.begin(), rids.end(), std::greater<>());
      const auto skip = static_cast<std::size_t>((out.page - 1) * out.size);
      if (rids.size() <= skip) return true;
      std::string page_rids = "{";
      for (std::size_t i = skip; i < rids.size() && i < skip + static_cast<std::size_t>(out.size); ++i) {
        if (i > skip) page_rids += ',';
        page_rids += std::to_string(rids[i]);
      }
      page_rids += '}';
      read_page("SELECT unnest($1::bigint[])", {page_rids});
      return true;
    };
    if (text_only) {
      const auto lexemes = plain_lexemes(match);
      if (!lexemes.empty() && summarized(lexemes)) return out;
    }
    if (single_lexeme(match) && estimate() >= k_sample_min_estimate) {
      // A common word: a GIN sample of it (see k_sample_set) usually holds `cap` visible matches, which is
      // the total; only when it does not are the matches collected below.
      int64_t sampled = 0;
      {
        settings sample(c, b, k_sample_set, k_sample_reset);  // for this statement only
        sampled = run("SELECT COUNT(*) FROM (SELECT" + from + where + " LIMIT " + n1 + ") t /* sample */",
                      with({cap}))
                      .i64(0, 0);
      }
      if (sampled >= sqlite::k_search_count_cap) {
        out.total = sqlite::k_search_count_cap;
        read_many();
        return out;
      }
    } else if (text_only && estimate() >= k_sample_min_estimate) {
      // Several common words: counted among the newest records when they match at least every other one
      // (see k_dense_walk_min); a walk that finds fewer than the cap leaves it to the GIN bitmap below.
      if (expected_share() >= k_dense_walk_min) {
        const auto window =
            static_cast<int64_t>(1.3 * static_cast<double>(sqlite::k_search_count_cap) / expected_share());
        const int64_t counted =
            run("SELECT COUNT(*) FROM (SELECT FROM " + newest + where + " LIMIT " + n2 + ") t /* dense */",
                with({std::to_string(window), cap}))
                .i64(0, 0);
        if (counted >= sqlite::k_search_count_cap) {
          out.total = sqlite::k_search_count_cap;
          read_many();
          return out;
        }
      }
    }
    // The matches from the GIN bitmap, once, for both the total and the page: the newest of them, sorted
    // here (row ids only, no tsvector tested). One row even when the page is empty (its record columns
    // NULL), for the count. Up to the cap when the planner expects at least that many (the page is then read
    // as read_many reads it, among the newest records when the expected share of matches puts it there:
    // each match past the cap costs a heap visit, ~2-4 us, and a walk of ~3 us a row finds a page of a
    // query in 1% of the records within 3,000 rows); otherwise up to k_collect_max, so that a query the
    // planner underestimated still gets its page from the same bitmap when its matches are not too many.
    const int64_t limit =
        estimate() >= sqlite::k_search_count_cap ? sqlite::k_search_count_cap : k_collect_max;
    int64_t found = 0;
    std::vector<found_record> rows;
    {
      // Text alone needs no k_bitmap_set (a round trip before and after): with no order asked of
      // record_terms, the GIN bitmap is the only plan left for m.
      std::optional<settings> bitmap;
      if (!text_only) bitmap.emplace(c, b, k_bitmap_set, k_bitmap_reset);
      auto r = run("WITH m AS MATERIALIZED (SELECT rid" + from + where + " LIMIT " + n1 +
                       "), p AS (SELECT rid FROM m ORDER BY rid DESC LIMIT " + n2 + " OFFSET " + n3 +
                       ") SELECT r.*, (SELECT COUNT(*) FROM m) FROM (SELECT 1) one LEFT JOIN (SELECT " +
                       k_record_cols + " FROM records WHERE rid IN (SELECT rid FROM p)) r ON true " +
                       "ORDER BY r.rid DESC",
                   with({std::to_string(limit), size, offset}));
      static const int count_col =
          static_cast<int>(std::count(k_record_cols.begin(), k_record_cols.end(), ',')) + 1;
      for (int i = 0; i < r.rows(); ++i) {
        found = r.i64(i, count_col);
        if (!r.null(i, 0)) rows.push_back(read_record(r, i));
      }
    }
    out.total = std::min(found, sqlite::k_search_count_cap);
    if (found < limit) {
      for (auto& f : rows) out.items.push_back(std::move(f.record));
    } else {
      read_many();
    }
    return out;
  }

  const bool counted = !q.model.empty() || !q.score_name.empty();
  if (counted) {
    // Counted first (the answer needs it anyway): past the last match nothing is read.
    out.total =
        run("SELECT COUNT(*) FROM (SELECT 1 FROM records" + where + " LIMIT " + n1 + ") t", with({cap}))
            .i64(0, 0);
    if (out.total < sqlite::k_search_count_cap && out.total <= (out.page - 1) * out.size) return out;
  }
  read_walk();
  if (!counted) {
    // Status and session filters alone are answered from the session counters (as SQLite).
    auto n = q.session_id.empty()
                 ? run("SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
                       "COALESCE(SUM(pending_count), 0) FROM sessions")
                 : run("SELECT COALESCE(SUM(record_count), 0), COALESCE(SUM(error_count), 0), "
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
  time_budget budget(c, q.budget_ms);  // one budget for the exact search and its prefix retry together
  try {
    auto out = search_in(c, budget, q, has_text, exact);
    if (has_text && out.total == 0 && fts_prefix_retry_allowed(q.text)) {
      const std::string prefixed = tsquery_literal(q.text, true);
      if (prefixed != exact) out = search_in(c, budget, q, true, prefixed);
    }
    return out;
  } catch (const pg_error& e) {
    // query_canceled: the server stopped a statement at the budget's statement_timeout.
    if (budget.bounded() && e.sqlstate == "57014" && !e.lost) throw budget.costly();
    throw;
  }
}

}  // namespace llmtrace::storage::pg
