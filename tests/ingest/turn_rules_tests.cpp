// Ingest rules, turns: the next turn is max + 1 of the session's top-level records, assigned atomically under
// concurrent writers; replays and children join the turn of the record they point at.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::report;
using llmtrace::testing::subject;
using model::record_status;

TEST_CASE("turn: turn 0 takes max + 1 of the top-level records, ignoring replays and children") {
  for_each_store([](subject& s) {
    CHECK(s.write(report("s")).record.turn_number == 1);
    CHECK(s.write(report("s")).record.turn_number == 2);
    CHECK(s.write(report("s", 7)).record.turn_number == 7);
    auto replay = report("s", 9);
    replay.replay_of = "whatever";
    s.write(replay);
    auto child = report("s", 10);
    child.parent_id = "p";
    s.write(child);
    CHECK(s.write(report("s")).record.turn_number == 8);
    CHECK(s.store->get_session("s")->turn_count == 6);
    // Another session counts from 1.
    CHECK(s.write(report("t")).record.turn_number == 1);
  });
}

TEST_CASE("turn: 8 threads x 50 writes into one session get turns 1..400 exactly") {
  for_each_store([](subject& s) {
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < 50; ++i) {
          try {
            s.ingest.write({report("shared")});
          } catch (...) {
            ++failures;
          }
        }
      });
    }
    for (auto& t : threads) t.join();
    CHECK(failures == 0);
    std::vector<int64_t> turns;
    s.store->for_each_record("shared", [&](const model::record& r) {
      turns.push_back(r.turn_number);
      return true;
    });
    REQUIRE(turns.size() == 400);
    int wrong = 0;
    for (size_t i = 0; i < turns.size(); ++i) wrong += turns[i] == static_cast<int64_t>(i + 1) ? 0 : 1;
    CHECK(wrong == 0);
    auto sess = s.store->get_session("shared");
    REQUIRE(sess);
    CHECK(sess->turn_count == 400);
    CHECK(sess->record_count == 400);
  });
}

TEST_CASE("turn: a replay or child without session or turn joins its original's session and turn") {
  for_each_store([](subject& s) {
    s.write(report("s"));
    auto original = s.write(report("s")).record;
    s.write(report("s"));
    CHECK(original.turn_number == 2);

    model::record_write replay;
    replay.replay_of = original.id;
    auto r = s.write(replay);
    CHECK(!r.session_created);
    CHECK(r.record.session_id == "s");
    CHECK(r.record.turn_number == 2);
    CHECK(r.record.replay_of == original.id);

    auto child = report("s");  // a session but no turn: still the parent's turn
    child.parent_id = original.id;
    auto c = s.write(child);
    CHECK(c.record.turn_number == 2);

    // The next top-level record still takes max + 1.
    CHECK(s.write(report("s")).record.turn_number == 4);

    // An unknown original falls back to the ordinary rules.
    model::record_write orphan;
    orphan.replay_of = "no-such-record";
    auto o = s.write(orphan);
    CHECK(o.session_created);
    CHECK(o.record.turn_number == 1);

    std::vector<std::string> ids;
    for (const auto& rec : s.store->list_records("s", {1, 50, {}}).items) ids.push_back(rec.id);
    REQUIRE(ids.size() == 6);
    CHECK(ids[1] == original.id);
    CHECK(ids[2] == r.record.id);
    CHECK(ids[3] == c.record.id);
    CHECK(s.store->get_session("s")->turn_count == 4);
  });
}

TEST_CASE("turn: an explicit turn on an update moves the record within its session") {
  for_each_store([](subject& s) {
    auto a = report("s", 1, record_status::pending);
    a.id = "moving";
    s.write(a);
    s.write(report("s", 2));
    auto b = report("s", 5);
    b.id = "moving";
    auto r = s.write(b);
    CHECK(r.record.turn_number == 5);
    CHECK(s.store->get_record("moving")->turn_number == 5);
    auto sess = s.store->get_session("s");
    CHECK(sess->turn_count == 2);  // turns 2 and 5; turn 1 is empty now
    CHECK(sess->record_count == 2);
    CHECK(s.write(report("s")).record.turn_number == 6);
  });
}
