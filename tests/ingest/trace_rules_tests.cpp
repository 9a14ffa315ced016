// Ingest rules, one trace = one turn (record_write::trace_turn, what OTLP spans are stored with): the span's
// own session hint, else its trace's session, else the trace id; children that arrive before their root are
// moved into the root's session and turn (with both sessions' counters right); re-sends are idempotent; every
// trace of a session opens its own turn.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "ingest/store_kinds.hpp"

using namespace llmtrace;
using llmtrace::testing::for_each_store;
using llmtrace::testing::subject;

namespace {

const std::string k_trace_a = "0af7651916cd43dd8448eb211c80319c";
const std::string k_trace_b = "4bf92f3577b34da6a3ce929d0e0e4736";

// A span as the OTLP route hands it to the ingest service.
model::record_write span(const std::string& trace, const std::string& id, const std::string& parent = {},
                         const std::string& hint = {}) {
  model::record_write w;
  w.trace_turn = true;
  w.trace_id = trace;
  w.id = id;
  if (!parent.empty()) w.parent_id = parent;
  if (!hint.empty()) w.session_id = hint;
  w.name = "span " + id;
  w.kind = parent.empty() ? model::record_kind::agent : model::record_kind::llm;
  w.status = model::record_status::success;
  w.started_at_ms = 1'700'000'000'000;
  w.ended_at_ms = 1'700'000'000'250;
  w.usage.prompt_tokens = 10;
  w.usage.completion_tokens = 5;
  w.usage.total_tokens = 15;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]})";
  w.received_at_ms = model::now_ms();
  return w;
}

std::vector<model::record> records_of(subject& s, const std::string& session) {
  std::vector<model::record> out;
  s.store->for_each_record(session, [&](const model::record& r) {
    out.push_back(r);
    return true;
  });
  return out;
}

}  // namespace

TEST_CASE(
    "trace: children first (no hint), then the root with a session: all in the root's session and turn") {
  for_each_store([](subject& s) {
    auto c1 = s.write(span(k_trace_a, "00000000000000c1", "00000000000000a1"));
    CHECK(c1.record.session_id == k_trace_a);  // no hint yet: the trace id names the session
    CHECK(c1.record.turn_number == 1);
    s.write(span(k_trace_a, "00000000000000c2", "00000000000000a1"));
    CHECK(s.store->get_session(k_trace_a)->record_count == 2);

    auto root = s.write(span(k_trace_a, "00000000000000a1", {}, "conv-1"));
    CHECK(root.record.session_id == "conv-1");
    CHECK(root.record.turn_number == 1);
    REQUIRE(root.moved.size() == 2);
    for (const auto& m : root.moved) {
      CHECK(m.session_id == "conv-1");
      CHECK(m.turn_number == 1);
    }
    // The trace-id session was emptied and is gone; the counters moved with the records.
    CHECK_FALSE(s.store->get_session(k_trace_a));
    auto conv = s.store->get_session("conv-1");
    REQUIRE(conv);
    CHECK(conv->record_count == 3);
    CHECK(conv->turn_count == 1);
    CHECK(conv->total_tokens == 45);
    auto recs = records_of(s, "conv-1");
    REQUIRE(recs.size() == 3);
    for (const auto& r : recs) {
      CHECK(r.trace_id == k_trace_a);
      CHECK(r.turn_number == 1);
    }
    CHECK(s.store->get_record("00000000000000c1")->parent_id == "00000000000000a1");

    // A later child with no hint joins the trace's session and turn.
    auto late = s.write(span(k_trace_a, "00000000000000c3", "00000000000000a1"));
    CHECK(late.record.session_id == "conv-1");
    CHECK(late.record.turn_number == 1);
    CHECK_FALSE(s.store->get_session(k_trace_a));
  });
}

TEST_CASE("trace: one trace over two requests (root first, then children) is one turn") {
  for_each_store([](subject& s) {
    s.write_batch({span(k_trace_a, "00000000000000a1", {}, "conv-2")});
    auto second = s.write_batch({span(k_trace_a, "00000000000000c1", "00000000000000a1"),
                                 span(k_trace_a, "00000000000000c2", "00000000000000c1")});
    for (const auto& r : second) {
      CHECK(r.record.session_id == "conv-2");
      CHECK(r.record.turn_number == 1);
      CHECK(r.outcome == model::write_outcome::created);
    }
    auto conv = s.store->get_session("conv-2");
    CHECK(conv->record_count == 3);
    CHECK(conv->turn_count == 1);
  });
}

TEST_CASE("trace: no hint anywhere: the session is the trace id, one turn") {
  for_each_store([](subject& s) {
    s.write(span(k_trace_b, "00000000000000c1", "00000000000000a1"));
    auto root = s.write(span(k_trace_b, "00000000000000a1"));
    CHECK(root.record.session_id == k_trace_b);
    CHECK(root.record.turn_number == 1);
    CHECK(root.moved.empty());
    CHECK(s.store->get_session(k_trace_b)->record_count == 2);
    CHECK(s.store->get_session(k_trace_b)->turn_count == 1);
  });
}

TEST_CASE("trace: an idempotent re-send updates, never duplicates, and keeps session and turn") {
  for_each_store([](subject& s) {
    const std::vector<model::record_write> req = {span(k_trace_a, "00000000000000c1", "00000000000000a1"),
                                                  span(k_trace_a, "00000000000000a1", {}, "conv-3")};
    auto first = s.write_batch(req);
    auto again = s.write_batch(req);
    REQUIRE(again.size() == 2);
    for (const auto& r : again) {
      CHECK(r.outcome == model::write_outcome::updated);
      CHECK(r.record.session_id == "conv-3");
      CHECK(r.record.turn_number == 1);
    }
    auto conv = s.store->get_session("conv-3");
    CHECK(conv->record_count == 2);
    CHECK(conv->turn_count == 1);
    CHECK(conv->total_tokens == 30);
    CHECK_FALSE(s.store->get_session(k_trace_a));
  });
}

TEST_CASE("trace: several traces in one session take turns 1, 2, 3, whatever order their spans come in") {
  for_each_store([](subject& s) {
    const std::vector<std::string> traces = {k_trace_a, k_trace_b, "11111111111111111111111111111111"};
    int64_t expect = 1;
    for (const auto& t : traces) {
      const std::string root = t.substr(0, 14) + "a1", child = t.substr(0, 14) + "c1";
      s.write(span(t, child, root));  // children first, no hint
      auto r = s.write(span(t, root, {}, "conv-4"));
      CHECK(r.record.turn_number == expect);
      CHECK(s.store->get_record(child)->turn_number == expect);
      CHECK(s.store->get_record(child)->session_id == "conv-4");
      ++expect;
    }
    // A native record after them takes the next turn.
    CHECK(s.write(llmtrace::testing::report("conv-4")).record.turn_number == 4);
    auto conv = s.store->get_session("conv-4");
    CHECK(conv->turn_count == 4);
    CHECK(conv->record_count == 7);
  });
}
