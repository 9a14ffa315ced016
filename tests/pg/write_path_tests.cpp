// The PostgreSQL write path's binary forms: the tsvector a batch COPYs in binary (storage/pg_copy) must be
// the value the server makes of pg_search's text literal, for every shape of text (quotes, backslashes,
// CJK, diacritics, a word repeated past 256 positions, a text past the last position 16383), and phrase
// search (which reads the positions) must answer as before.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "ingest/write_rules.hpp"
#include "model/time.hpp"
#include "pg/pg_store_util.hpp"
#include "storage/fts_text.hpp"
#include "storage/pg_connection.hpp"
#include "storage/pg_copy.hpp"
#include "storage/pg_search.hpp"
#include "storage/store.hpp"
#include "support/pg_server.hpp"

namespace {

using namespace llmtrace;

using testing::fresh_url;
using testing::open_store;
using testing::text_write;

}  // namespace

TEST_CASE("pg write path: the binary tsvector of a COPYed record is the server's parse of the literal") {
  const std::string url = fresh_url();
  auto store = open_store(url);

  std::string repeated, long_text;
  for (int i = 0; i < 300; ++i) repeated += "again and ";
  for (int i = 0; i < 17000; ++i) long_text += "w" + std::to_string(i % 500) + " ";
  const std::vector<std::string> texts = {
      "the quick brown fox jumps over the lazy dog",
      "It's a \"quoted\" phrase with 'apostrophes' and back\\slash \\\\ and a''b",
      "请问北京今天的天气怎么样？東京の天気は晴れです。",
      "Café au lait, résumé and naïve façade; ÆØÅ æøå ß Ωμέγα Привет",
      "zeta alpha zeta beta alpha zeta 42 4.2 x_y a-b",
      repeated,
      long_text,
      "brown quick fox",
  };
  std::vector<model::record_write> batch;
  for (std::size_t i = 0; i < texts.size(); ++i)
    batch.push_back(text_write("r" + std::to_string(i), texts[i]));
  ingest::write_batch(*store, batch);

  storage::pg::connection c(url);
  for (std::size_t i = 0; i < texts.size(); ++i) {
    CAPTURE(i);
    const std::string literal = storage::pg::tsvector_literal(storage::fts_index_text(texts[i]));
    auto r = c.run(
        "SELECT t.search_vec = $2::tsvector, t.search_vec::text = $2::tsvector::text, length(t.search_vec) "
        "FROM records r JOIN record_terms t USING (rid) WHERE r.id = $1",
        {"r" + std::to_string(i), literal});
    REQUIRE(r.rows() == 1);
    CHECK(r.text(0, 0) == "t");
    CHECK(r.text(0, 1) == "t");
    CHECK(r.i64(0, 2) > 0);
  }

  // Positions are there: a phrase matches in its order only.
  storage::search_query q;
  q.text = "quick-brown";
  auto page = store->search(q);
  REQUIRE(page.items.size() == 1);
  CHECK(page.items[0].id == "r0");
  q.text = "brown quick";
  CHECK(store->search(q).total == 2);
}

TEST_CASE("pg search: a term given twice is one condition, so a word repeated is searched as that word") {
  CHECK(storage::pg::tsquery_literal("error error") == "('error')");
  CHECK(storage::pg::tsquery_literal("Error ERROR error") == "('error')");
  CHECK(storage::pg::tsquery_literal("error timeout error") == "('error') & ('timeout')");
  // Different terms stay: a prefix beside its whole word, a phrase beside one of its words.
  CHECK(storage::pg::tsquery_literal("err err*") == "('err') & ('err':*)");
  CHECK(storage::pg::tsquery_literal("quick-brown quick") == "('quick' <-> 'brown') & ('quick')");

  auto store = open_store(fresh_url());
  std::vector<model::record_write> batch = {text_write("r0", "quick brown fox"),
                                            text_write("r1", "quick dog"), text_write("r2", "slow fox")};
  ingest::write_batch(*store, batch);
  storage::search_query q;
  q.text = "quick quick";
  auto page = store->search(q);
  CHECK(page.total == 2);
  REQUIRE(page.items.size() == 2);
  CHECK(page.items[0].id == "r1");
  CHECK(page.items[1].id == "r0");
}

TEST_CASE("pg write path: the binary tsvector lists each lexeme once, in the server's byte order") {
  std::string text = "zebra zeb zebras ab abc abcdefgh abcdefghi abcdefgh zebra 東京 天气 Ωμέγα a a a";
  for (int i = 0; i < 300; ++i) text += " abc";
  const std::string literal = storage::pg::tsvector_literal(storage::fts_index_text(text));
  storage::pg::binary_copy out;
  REQUIRE(out.tsvector(literal));
  CHECK_FALSE(storage::pg::binary_copy().tsvector("'unterminated:1"));
  const std::string bytes = out.take();
  auto be = [&](std::size_t at, int n) {
    uint32_t v = 0;
    for (int k = 0; k < n; ++k) v = (v << 8) | static_cast<unsigned char>(bytes.at(at + k));
    return v;
  };
  std::size_t at = 19;  // the COPY header
  const uint32_t length = be(at, 4);
  CHECK(length + 19 + 4 + 2 == bytes.size());
  const uint32_t lexemes = be(at + 4, 4);
  at += 8;
  std::vector<std::string> seen;
  for (uint32_t i = 0; i < lexemes; ++i) {
    const std::size_t end = bytes.find('\0', at);
    REQUIRE(end != std::string::npos);
    seen.push_back(bytes.substr(at, end - at));
    at = end + 1;
    const uint32_t npos = be(at, 2);
    at += 2;
    CHECK(npos >= 1);
    CHECK(npos <= 256);
    uint32_t last = 0;
    for (uint32_t k = 0; k < npos; ++k, at += 2) {
      CHECK(be(at, 2) > last);
      last = be(at, 2);
    }
  }
  CHECK(at + 2 == bytes.size());
  for (std::size_t i = 1; i < seen.size(); ++i) CHECK(seen[i - 1] < seen[i]);
  CHECK(std::find(seen.begin(), seen.end(), "abcdefgh") != seen.end());
  CHECK(std::find(seen.begin(), seen.end(), "abcdefghi") != seen.end());
  CHECK(std::find(seen.begin(), seen.end(), "zeb") != seen.end());
}

TEST_CASE("pg write path: rids past record_terms' last partition get theirs made, by two stores at once") {
  // Schema v6 partitions record_terms by rid, 131,072 a partition; a new schema has the first two. The
  // sequence is moved to just short of the second's end, and two stores write at once across it: the first
  // batch of each needs the third partition (its rids, and half a partition ahead), which one store makes
  // while the other waits for it on the advisory lock and then finds it.
  const std::string url = fresh_url();
  auto a = open_store(url);
  auto b = open_store(url);
  storage::pg::connection c(url);
  c.run("SELECT setval('records_rid_seq', 262144 - 300)");
  CHECK(c.run("SELECT COUNT(*) FROM pg_partition_tree('record_terms') WHERE isleaf").i64(0, 0) == 2);
  std::atomic<int> failures{0};
  auto writer = [&](storage::store& s, const std::string& prefix) {
    for (int k = 0; k < 6; ++k) {
      std::vector<model::record_write> batch;
      for (int i = 0; i < 200; ++i)
        batch.push_back(text_write(prefix + std::to_string(k * 200 + i), "crossing words " + prefix));
      try {
        ingest::write_batch(s, batch);
      } catch (...) {
        ++failures;
      }
    }
  };
  std::thread ta([&] { writer(*a, "a"); });
  std::thread tb([&] { writer(*b, "b"); });
  ta.join();
  tb.join();
  CHECK(failures.load() == 0);
  auto r = c.run("SELECT COUNT(*), COUNT(DISTINCT tableoid), MAX(rid) FROM record_terms");
  CHECK(r.i64(0, 0) == 2400);
  CHECK(r.i64(0, 1) == 2);  // the second partition's last rids and the third's first
  CHECK(r.i64(0, 2) > 262144);
  CHECK(c.run("SELECT COUNT(*) FROM pg_partition_tree('record_terms') WHERE isleaf").i64(0, 0) == 3);
  storage::search_query q;
  q.text = "crossing";
  q.budget_ms = 0;
  CHECK(a->search(q).total == 2400);
  q.text = "crossing b";
  CHECK(b->search(q).total == 1200);
}

TEST_CASE("pg write path: record_terms rows stay narrow (the tsvector out of line), new and replaced alike") {
  // Schema v4 keeps the tsvector out of line so that a search checks its matches' visibility on narrow rows
  // (storage/pg_schema.cpp): ~1 KB tsvectors inline would fill ~8 rows a page instead of ~100.
  const std::string url = fresh_url();
  auto store = open_store(url);
  const int n = 400;
  auto text_of = [](int i) {
    std::string t = "first";
    for (int k = 0; k < 110; ++k) t += " w" + std::to_string((i * 131 + k * 17) % 5000);
    return t;
  };
  std::vector<model::record_write> batch;
  for (int i = 0; i < n; ++i) batch.push_back(text_write("n" + std::to_string(i), text_of(i)));
  ingest::write_batch(*store, batch);
  // The same ids again with text that holds the old: each record's row is replaced by one of about the same
  // size (the new text replaces the old in the index, as SQLite's merge does).
  batch.clear();
  for (int i = 0; i < n; i += 2) batch.push_back(text_write("n" + std::to_string(i), text_of(i) + " second"));
  ingest::write_batch(*store, batch);

  storage::pg::connection c(url);
  auto r = c.run(
      "SELECT COUNT(*), MIN(octet_length(search_vec::text)), (SELECT SUM(pg_relation_size(relid)) FROM "
      "pg_partition_tree('record_terms')) FROM "
      "record_terms");
  REQUIRE(r.i64(0, 0) == n);
  CHECK(r.i64(0, 1) > 1000);  // each tsvector is ~1 KB or more
  const int64_t bytes = r.i64(0, 2);
  MESSAGE("record_terms heap: " << bytes << " bytes for " << n << " rows");
  CHECK(bytes <= n * 200);  // inline, it would take ~1.2 KB a row
  storage::search_query q;
  q.text = "second";
  CHECK(store->search(q).total == n / 2);
  q.text = "first";
  CHECK(store->search(q).total == n);
}
