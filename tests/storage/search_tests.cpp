// The SQLite search planner through store::search: whole words then prefixes, CJK substrings, filters,
// totals, per-session plans, and how an update changes what a record is found by.
#include <doctest/doctest.h>

#include <string>

#include "storage/fts_text.hpp"

#include "storage/support.hpp"

using namespace llmtrace;
using namespace llmtrace::storage_test;
using model::record_status;
using model::record_write;
using model::write_outcome;

TEST_CASE("search: full text matches message content, newest first") {
  temp_dir dir;
  auto s = open_file(dir);
  auto a = write_one(*s, with_text("s1", "What is the weather in Paris today?")).record;
  auto b = write_one(*s, with_text("s2", "Tell me a joke about cats")).record;
  auto c = write_one(*s, with_text("s1", "Paris weather forecast for tomorrow")).record;

  storage::search_query q;
  q.text = "weather paris";
  auto r = s->search(q);
  CHECK(r.total == 2);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].id == c.id);
  CHECK(r.items[1].id == a.id);

  q.text = "cat*";  // a prefix asked for
  r = s->search(q);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].id == b.id);
  q.text = "CATS";
  CHECK(s->search(q).total == 1);
  q.text = "cat";  // no whole-word hit: retried as a prefix
  CHECK(s->search(q).total == 1);
  auto d = write_one(*s, with_text("s3", "the cat sat")).record;
  q.text = "cat";  // a whole-word hit exists: prefixes are not consulted
  r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == d.id);
  q.text = "ca";
  CHECK(s->search(q).total == 2);
  q.text = "weath par";
  CHECK(s->search(q).total == 2);

  q.text = "giraffe";
  CHECK(s->search(q).total == 0);
}

TEST_CASE("search: punctuation and FTS syntax in the query are never an error") {
  auto s = open_memory();
  auto a = write_one(*s, with_text("s", "C++ \"quoted\" AND OR NOT near(x) col:val * ^start")).record;
  storage::search_query q;
  for (const char* text :
       {"\"",     "\"\"", "*",    "(", ")",  "AND",        "OR NOT", "col:val", "near(x", "C++",
        "^start", "'",    "a\"b", "-", "?!", "\"quoted\"", "{x}",    "NEAR/3",  "x AND",  "  "}) {
    q.text = text;
    CHECK_NOTHROW(s->search(q));
  }
  q.text = "C++";
  CHECK(s->search(q).total == 1);
  q.text = "\"quoted\"";
  CHECK(s->search(q).total == 1);
  q.text = "col:val";
  CHECK(s->search(q).total == 1);
  q.text = "?!";
  CHECK(s->search(q).total == 0);
  (void)a;
}

TEST_CASE("search: filters by status, model and session, with and without text") {
  auto s = open_memory();
  write_one(*s, with_text("s1", "alpha one", "gpt-4o", record_status::success));
  write_one(*s, with_text("s1", "alpha two", "gpt-4o-mini", record_status::error));
  write_one(*s, with_text("s2", "alpha three", "gpt-4o", record_status::error));
  write_one(*s, with_text("s2", "beta four", "gpt-4o", record_status::pending));

  storage::search_query q;
  CHECK(s->search(q).total == 4);  // empty text: filters only
  q.status = record_status::error;
  CHECK(s->search(q).total == 2);
  q.text = "alpha";
  CHECK(s->search(q).total == 2);
  q.model = "gpt-4o";
  auto r = s->search(q);
  CHECK(r.total == 1);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].session_id == "s2");
  q = {};
  q.session_id = "s1";
  CHECK(s->search(q).total == 2);
  q.status = record_status::success;
  CHECK(s->search(q).total == 1);
  q = {};
  q.status = record_status::pending;
  CHECK(s->search(q).total == 1);
  q.status = record_status::success;
  CHECK(s->search(q).total == 1);
  q = {};
  q.model = "gpt-4o";
  CHECK(s->search(q).total == 3);
  q.paging = {2, 2, {}};
  r = s->search(q);
  CHECK(r.total == 3);
  CHECK(r.items.size() == 1);
}

TEST_CASE("search: an update whose text contains the old text replaces the indexed text") {
  temp_dir dir;
  auto s = open_file(dir);
  auto p = with_text("s", "question about llamas", "", record_status::pending);
  p.id = "x";
  write_one(*s, p);
  const std::string final_text = "question about llamas answer about alpacas";
  auto f = with_text("s", final_text);
  f.id = "x";
  write_one(*s, f);
  storage::search_query caught_up;  // the index trails the commit: a text search waits for it
  caught_up.text = "alpacas";
  CHECK(s->search(caught_up).total == 1);
  // The index holds the new text once, not the old text and the new one after it.
  CHECK(count_rows(dir.db(), "SELECT COUNT(*) FROM records_fts") == 1);
  {
    SQLite::Database db(dir.db(), SQLite::OPEN_READONLY);
    SQLite::Statement q(db, "SELECT text FROM records_fts");
    REQUIRE(q.executeStep());
    CHECK(q.getColumn(0).getString() == storage::fts_index_text(final_text));
  }
  storage::search_query q;
  // A phrase across where old and new text would meet ("...llamas" + "question...") is gone with the old
  // copy.
  q.text = "llamas-question";
  CHECK(s->search(q).total == 0);
  q.text = "llamas-answer";  // a phrase of the new text
  CHECK(s->search(q).total == 1);
  q.text = "alpacas";
  CHECK(s->search(q).total == 1);
  q.text = "llamas";
  CHECK(s->search(q).total == 1);
}

TEST_CASE("search: an update with only new text keeps the earlier text searchable") {
  auto s = open_memory();
  auto p = with_text("s", "how do penguins sleep", "", record_status::pending);
  p.id = "y";
  write_one(*s, p);
  auto f = with_text("s", "they sleep standing up");
  f.id = "y";
  write_one(*s, f);
  storage::search_query q;
  q.text = "penguins";
  CHECK(s->search(q).total == 1);
  q.text = "standing";
  CHECK(s->search(q).total == 1);
  // Repeating the same report does not grow the indexed text.
  write_one(*s, f);
  CHECK(s->search(q).total == 1);
}

TEST_CASE("search: Chinese text matches by substring") {
  auto s = open_memory();
  auto a = write_one(*s, with_text("s", "今天北京的天气怎么样？")).record;
  write_one(*s, with_text("s", "给我讲一个关于猫的笑话"));
  storage::search_query q;
  q.text = "天气";
  auto r = s->search(q);
  REQUIRE(r.total == 1);
  CHECK(r.items[0].id == a.id);
  q.text = "北京 怎么样";
  CHECK(s->search(q).total == 1);
  q.text = "猫";
  CHECK(s->search(q).total == 1);
  q.text = "天猫";
  CHECK(s->search(q).total == 0);
  q.text = "，。";
  CHECK_NOTHROW(s->search(q));
}

TEST_CASE("search: text within one session only returns that session's matches, newest first") {
  auto s = open_memory();
  auto a1 = write_one(*s, with_text("a", "shared word apple")).record;
  write_one(*s, with_text("b", "shared word apple"));
  auto a2 = write_one(*s, with_text("a", "apple again")).record;
  write_one(*s, with_text("a", "nothing here"));
  storage::search_query q;
  q.text = "apple";
  q.session_id = "a";
  auto r = s->search(q);
  CHECK(r.total == 2);
  REQUIRE(r.items.size() == 2);
  CHECK(r.items[0].id == a2.id);
  CHECK(r.items[1].id == a1.id);
  q.status = record_status::error;
  CHECK(s->search(q).total == 0);
}

TEST_CASE("search: a prefix query within one session") {
  auto s = open_memory();
  write_one(*s, with_text("other", "category theory"));
  auto a = write_one(*s, with_text("mine", "categorical data")).record;
  write_one(*s, with_text("other", "cathedral"));
  write_one(*s, with_text("mine", "dogs only"));
  storage::search_query q;
  q.text = "cat*";
  q.session_id = "mine";
  auto r = s->search(q);
  CHECK(r.total == 1);
  REQUIRE(r.items.size() == 1);
  CHECK(r.items[0].id == a.id);
  q.session_id = "nobody";
  CHECK(s->search(q).total == 0);
  q.session_id.clear();
  CHECK(s->search(q).total == 3);
}
