// PostgreSQL search summaries (storage/pg_summary, schema v7): a summarized partition answers searches of
// plain words exactly as its GIN index does, totals and pages; any change to the partition (a delete, a
// replaced text, a late write) marks its summary stale in the same transaction, so a search never reads a
// summary older than its rows; and a collector builds the summaries in the background by itself.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "ingest/write_rules.hpp"
#include "model/time.hpp"
#include "pg/pg_store_util.hpp"
#include "storage/pg_connection.hpp"
#include "storage/pg_summary.hpp"
#include "storage/store.hpp"
#include "support/pg_server.hpp"

namespace {

using namespace llmtrace;
using storage::pg::k_terms_partition_rids;

using testing::fresh_url;
using testing::open_store;
using testing::text_write;

// Words of a small vocabulary, the first ones common (so pairs and triples of them match many records).
const std::vector<std::string> k_words = {"alpha", "bravo", "charlie", "delta",  "echo", "foxtrot",
                                          "golf",  "hotel", "india",   "juliet", "kilo", "lima"};

std::string text_of(uint64_t& seed) {
  std::string t;
  const int n = 3 + static_cast<int>(seed % 5);
  for (int k = 0; k < n; ++k) {
    seed = seed * 6364136223846793005ull + 1442695040888963407ull;
    const double u = static_cast<double>(seed >> 11) / 9007199254740992.0;
    t += (t.empty() ? "" : " ") +
         k_words[static_cast<std::size_t>(u * u * static_cast<double>(k_words.size()))];
  }
  return t;
}

// Every query's answer (total and the page's ids), for the queries a summary can answer and one it cannot
// (a phrase): one, two and three words, several pages.
using answers = std::vector<std::pair<int64_t, std::vector<std::string>>>;
answers answers_of(storage::store& s) {
  answers out;
  const std::vector<std::string> queries = {
      "alpha",      "bravo charlie", "alpha bravo",   "delta echo golf", "lima",
      "kilo alpha", "nothing",       "alpha nothing", "\"alpha bravo\"", "数",
      "cafe alpha", "sierra alpha",  "数据"};
  for (const auto& text : queries) {
    for (int page = 1; page <= 4; ++page) {
      storage::search_query q;
      q.text = text;
      q.budget_ms = 0;
      q.paging.page = page;
      q.paging.size = 7;
      auto r = s.search(q);
      std::vector<std::string> ids;
      for (const auto& rec : r.items) ids.push_back(rec.id);
      out.emplace_back(r.total, std::move(ids));
    }
  }
  return out;
}

bool ready(storage::pg::connection& c, int64_t part) {
  auto r = c.run("SELECT ready FROM record_terms_summary_state WHERE part = $1", {std::to_string(part)});
  return r.rows() == 1 && r.text(0, 0) == "t";
}

// All summaries stale: the answers then come from the GIN index alone.
answers gin_answers(storage::store& s, storage::pg::connection& c) {
  c.run("UPDATE record_terms_summary_state SET ready = false");
  return answers_of(s);
}

}  // namespace

TEST_CASE("pg search summaries: postings round-trip both forms and intersect in any mix") {
  using storage::pg::encode_postings;
  using storage::pg::intersect_postings;
  std::vector<uint32_t> dense, sparse, odd, top;
  for (uint32_t o = 0; o < static_cast<uint32_t>(k_terms_partition_rids); o += 3)
    dense.push_back(o);  // bitmap
  for (uint32_t o = 5; o < static_cast<uint32_t>(k_terms_partition_rids); o += 97)
    sparse.push_back(o);  // offsets
  for (uint32_t o = 1; o < static_cast<uint32_t>(k_terms_partition_rids); o += 2) odd.push_back(o);  // bitmap
  for (uint32_t o = static_cast<uint32_t>(k_terms_partition_rids) - 70; o < k_terms_partition_rids; ++o)
    top.push_back(o);  // the last offsets of the last word
  REQUIRE(encode_postings(dense).size() == storage::pg::k_postings_bitmap_bytes);
  REQUIRE(encode_postings(sparse).size() == sparse.size() * 4);
  // What intersect_postings must answer: the count, and the highest `newest`, descending.
  auto expect = [](std::vector<std::vector<uint32_t>> lists, std::size_t newest) {
    std::vector<uint32_t> all = lists[0];
    for (std::size_t k = 1; k < lists.size(); ++k) {
      std::vector<uint32_t> both;
      std::set_intersection(all.begin(), all.end(), lists[k].begin(), lists[k].end(),
                            std::back_inserter(both));
      all = both;
    }
    std::vector<uint32_t> high(all.rbegin(),
                               all.rbegin() + static_cast<std::ptrdiff_t>(std::min(newest, all.size())));
    return std::make_pair(static_cast<int64_t>(all.size()), high);
  };
  auto check = [&](std::vector<std::vector<uint32_t>> lists, std::size_t newest) {
    std::vector<std::string> stored;
    for (const auto& l : lists) stored.push_back(encode_postings(l));
    const auto got = intersect_postings(stored, newest);
    const auto want = expect(lists, newest);
    CHECK(got.count == want.first);
    CHECK(got.newest == want.second);
    return want.first;
  };
  CHECK(check({dense}, 50) == static_cast<int64_t>(dense.size()));
  CHECK(check({sparse}, 5000) == static_cast<int64_t>(sparse.size()));
  CHECK(check({dense, odd}, 100) > 0);
  CHECK(check({dense, sparse}, 7) > 0);
  CHECK(check({odd, sparse, dense}, 1000) > 0);
  CHECK(check({top, odd}, 20) == 35);
  CHECK(check({odd, std::vector<uint32_t>(top.begin(), top.end())}, 0) == 35);
  CHECK(check({sparse, {}}, 10) == 0);
  CHECK_THROWS(intersect_postings({std::string("abc")}, 1));
  CHECK(storage::pg::bytea_from_hex("\\x00ff7a") == std::string("\x00\xff\x7a", 3));
}

TEST_CASE(
    "pg search summaries: a summarized partition answers as its GIN index, and any change makes it stale") {
  const std::string url = fresh_url();
  auto store = open_store(url, false);
  storage::pg::connection c(url);
  std::atomic<bool> stop{false};
  uint64_t seed = 7;

  // 600 records in the first partition; then the sequence past its end and the margin, and 200 more in the
  // second: the first is sealed, the second is not.
  std::vector<model::record_write> batch;
  for (int i = 0; i < 600; ++i) {
    // Some with CJK (a token per character) and a folded diacritic.
    batch.push_back(text_write("a" + std::to_string(i), text_of(seed) + (i % 10 == 3 ? " 数据 Café" : "")));
  }
  ingest::write_batch(*store, batch);
  c.run("SELECT setval('records_rid_seq', $1)",
        {std::to_string(k_terms_partition_rids + storage::pg::k_seal_margin)});
  batch.clear();
  for (int i = 0; i < 200; ++i)  // "sierra" only here: the summarized partition has none
    batch.push_back(text_write("b" + std::to_string(i), text_of(seed) + (i % 7 == 0 ? " sierra" : "")));
  ingest::write_batch(*store, batch);

  const answers gin = answers_of(*store);
  CHECK(gin.front().first > 100);  // "alpha" is common
  CHECK(store->stats().search_summaries_pending == 1);
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  CHECK(storage::pg::summarize_next(c, stop) == -1);  // the second partition is not sealed
  REQUIRE(ready(c, 0));
  CHECK(store->stats().search_summaries_pending == 0);
  CHECK(c.run("SELECT COUNT(*) FROM record_terms_summary WHERE part = 0").i64(0, 0) == 12 + 3);
  CHECK(answers_of(*store) == gin);

  // The summary is what answers: without its postings of "alpha", the first partition has no "alpha".
  c.run("DELETE FROM record_terms_summary WHERE part = 0 AND lexeme = 'alpha'");
  storage::search_query alpha;
  alpha.text = "alpha";
  alpha.budget_ms = 0;
  const int64_t in_second =
      c.run("SELECT COUNT(*) FROM record_terms_p1 WHERE search_vec @@ 'alpha'").i64(0, 0);
  CHECK(store->search(alpha).total == in_second);
  CHECK(in_second < gin.front().first);
  CHECK(gin_answers(*store, c) == gin);
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  CHECK(answers_of(*store) == gin);

  // A delete in the partition: stale in the delete's own transaction; the answers are the index's; rebuilt,
  // the summary answers the same.
  REQUIRE(store->delete_record("a10"));
  CHECK(!ready(c, 0));
  CHECK(store->stats().search_summaries_pending == 1);
  const answers after_delete = answers_of(*store);
  CHECK(after_delete != gin);
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  CHECK(answers_of(*store) == after_delete);

  // A record's text replaced (the same id again): stale, and the new text is found.
  ingest::write_batch(*store, {text_write("a20", "alpha zulu")});
  CHECK(!ready(c, 0));
  storage::search_query zulu;
  zulu.text = "zulu alpha";
  zulu.budget_ms = 0;
  CHECK(store->search(zulu).total == 1);
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  CHECK(store->search(zulu).total == 1);
  const answers after_replace = answers_of(*store);
  CHECK(gin_answers(*store, c) == after_replace);

  // A late write into the sealed partition (a rid taken before its end, written after the summary).
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  c.run(
      "INSERT INTO record_terms (rid, search_vec) SELECT rid + 1000, search_vec FROM record_terms WHERE rid "
      "= "
      "(SELECT MIN(rid) FROM record_terms)");
  CHECK(!ready(c, 0));
  c.run("DELETE FROM record_terms WHERE rid = (SELECT MIN(rid) FROM record_terms) + 1000");
  CHECK(storage::pg::summarize_next(c, stop) == 0);
  CHECK(answers_of(*store) == after_replace);
}

TEST_CASE("pg search summaries: a collector summarizes sealed partitions by itself") {
  const std::string url = fresh_url();
  auto store = open_store(url, true);
  storage::pg::connection c(url);
  uint64_t seed = 11;
  std::vector<model::record_write> batch;
  for (int i = 0; i < 300; ++i) batch.push_back(text_write("a" + std::to_string(i), text_of(seed)));
  ingest::write_batch(*store, batch);
  c.run("SELECT setval('records_rid_seq', $1)",
        {std::to_string(k_terms_partition_rids + storage::pg::k_seal_margin)});
  ingest::write_batch(*store, {text_write("b", "alpha")});
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!ready(c, 0) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  REQUIRE(ready(c, 0));
  storage::search_query q;
  q.text = "alpha";
  q.budget_ms = 0;
  const int64_t all = c.run("SELECT COUNT(*) FROM record_terms WHERE search_vec @@ 'alpha'").i64(0, 0);
  CHECK(all > 50);
  CHECK(store->search(q).total == all);
}
