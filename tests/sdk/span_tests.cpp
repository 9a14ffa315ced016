// Span tests: the records a span tree renders (ids in the OpenTelemetry text form, parent links, one trace id
// per tree, start <= end, kinds, one record per span), through a real client whose exporter keeps batches in
// memory (the real collector test is in tests/bindings).
#include <chrono>
#include <map>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "client_access.hpp"
#include "fake_servers.hpp"
#include "llmtrace/llmtrace.hpp"
#include "memory_exporter.hpp"
#include "record_json.hpp"

namespace {

using namespace std::chrono_literals;
using nlohmann::json;

llmtrace::client memory_client(std::shared_ptr<llmtrace::detail::memory_store> store) {
  return llmtrace::detail_access::make(
      llmtrace::options{}, [store] { return std::make_unique<llmtrace::detail::memory_exporter>(store); });
}

std::map<std::string, json> by_name(const std::vector<std::string>& recs) {
  std::map<std::string, json> m;
  for (const auto& r : recs) {
    json j = json::parse(r);
    m[j.at("name").get<std::string>()] = j;
  }
  return m;
}

bool is_hex(const json& v, std::size_t n) {
  static const std::regex hex("^[0-9a-f]+$");
  if (!v.is_string()) return false;
  const auto& s = v.get_ref<const std::string&>();
  return s.size() == n && std::regex_match(s, hex) && s.find_first_not_of('0') != std::string::npos;
}

}  // namespace

TEST_CASE("span: an agent -> llm -> tool tree renders ids, parent links, one trace id, kinds and times") {
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::client c = memory_client(store);
  std::string agent_id, trace_id, session_id;
  {
    llmtrace::span agent = c.start_span("plan", llmtrace::kind::agent);
    agent_id = agent.id();
    trace_id = agent.trace_id();
    session_id = agent.session_id();
    CHECK(agent.parent_id().empty());
    CHECK(agent.turn_number() == 1);  // a generated session: the tree is its first turn
    auto llm = agent.child("chat");
    auto tool = llm.child("search", llmtrace::kind::tool);
    std::this_thread::sleep_for(5ms);
    CHECK(tool.end(R"({"q":"x"})", R"({"hits":[]})") == llmtrace::trace_result::ok);
    CHECK(llm.end(R"({"model":"m","messages":[]})", R"({"choices":[]})") == llmtrace::trace_result::ok);
    CHECK(llm.end() == llmtrace::trace_result::ok);  // a second end sends nothing
    CHECK(llm.ended());
    CHECK(agent.end() == llmtrace::trace_result::ok);
  }
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  const auto recs = store->records();
  REQUIRE(recs.size() == 3);  // one record per span
  auto m = by_name(recs);
  const json &a = m.at("plan"), &l = m.at("chat"), &t = m.at("search");
  for (const json* j : {&a, &l, &t}) {
    CHECK(is_hex((*j)["id"], 16));
    CHECK((*j)["trace_id"] == trace_id);
    CHECK(is_hex((*j)["trace_id"], 32));
    CHECK((*j)["session_id"] == session_id);
    CHECK((*j)["turn_number"] == 1);
    CHECK((*j)["status"] == "success");
    const std::string s = (*j)["started_at"], e = (*j)["ended_at"];
    CHECK(s.size() == 24);
    CHECK(s <= e);  // same-length RFC 3339 texts order like the times
    CHECK((*j)["latency_ms"].get<double>() >= 0);
  }
  CHECK(a["id"] == agent_id);
  CHECK_FALSE(a.contains("parent_id"));
  CHECK(l["parent_id"] == agent_id);
  CHECK(t["parent_id"] == l["id"]);
  CHECK(a["kind"] == "agent");
  CHECK(l["kind"] == "llm");  // written for spans even though it is the default
  CHECK(t["kind"] == "tool");
  CHECK(l["request"]["model"] == "m");
  CHECK(t["response"] == json::parse(R"({"hits":[]})"));
  CHECK(t["latency_ms"].get<double>() >= 4.0);
  // The parent started before its children and ended after them.
  CHECK(a["started_at"].get<std::string>() <= l["started_at"].get<std::string>());
  CHECK(a["ended_at"].get<std::string>() >= t["ended_at"].get<std::string>());
  CHECK(a["id"] != l["id"]);
  CHECK(l["id"] != t["id"]);
}

TEST_CASE("span: every kind is written by name; a plain record omits kind unless it is not llm") {
  const std::pair<llmtrace::kind, const char*> kinds[] = {{llmtrace::kind::llm, "llm"},
                                                          {llmtrace::kind::agent, "agent"},
                                                          {llmtrace::kind::tool, "tool"},
                                                          {llmtrace::kind::retrieval, "retrieval"},
                                                          {llmtrace::kind::embedding, "embedding"},
                                                          {llmtrace::kind::chain, "chain"},
                                                          {llmtrace::kind::other, "other"}};
  for (auto [k, name] : kinds) {
    llmtrace::record r;
    r.kind = k;
    r.name = "n\"q";
    r.trace_id = "t";
    std::string out;
    llmtrace::detail::append_record(out, r, "id-1");
    const json j = json::parse(out);
    CHECK(std::string(llmtrace::to_string(k)) == name);
    if (k == llmtrace::kind::llm)
      CHECK_FALSE(j.contains("kind"));
    else
      CHECK(j["kind"] == name);
    CHECK(j["name"] == "n\"q");
    CHECK(j["trace_id"] == "t");
  }
}

TEST_CASE("span: destroyed without end it is sent once as an error, saying so when unwinding") {
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::client c = memory_client(store);
  { auto s = c.start_span("forgotten", llmtrace::kind::chain); }
  try {
    auto s = c.start_span("thrown", llmtrace::kind::retrieval, "sess-x", 7);
    throw std::runtime_error("index down");
  } catch (const std::exception&) {
  }
  {
    auto s = c.start_span("failed");
    s.fail("rate limited", R"({"model":"m"})");
  }
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  auto m = by_name(store->records());
  REQUIRE(m.size() == 3);
  CHECK(m["forgotten"]["status"] == "error");
  CHECK(m["forgotten"]["error_message"] == "span not ended");
  CHECK(m["thrown"]["error_message"] == "span not ended: exception in flight");
  CHECK(m["thrown"]["session_id"] == "sess-x");
  CHECK(m["thrown"]["turn_number"] == 7);
  CHECK(m["failed"]["status"] == "error");
  CHECK(m["failed"]["error_message"] == "rate limited");
  CHECK(m["failed"]["request"]["model"] == "m");
}

TEST_CASE("span: ended on another thread, concurrently with children started, moves keep one record") {
  auto store = std::make_shared<llmtrace::detail::memory_store>();
  llmtrace::client c = memory_client(store);
  llmtrace::session sess(c, "sess-threads");
  auto root = sess.start_span("root", llmtrace::kind::agent);
  CHECK(root.turn_number() == 1);
  std::vector<std::thread> ts;
  for (int i = 0; i < 4; ++i)
    ts.emplace_back([&root, i] {
      auto ch = root.child("child-" + std::to_string(i), llmtrace::kind::tool);
      std::thread([s = std::move(ch)]() mutable { s.end(); }).join();
    });
  std::thread ender([&root] { root.end(); });
  for (auto& t : ts) t.join();
  ender.join();
  llmtrace::span moved = sess.start_span("moved");
  llmtrace::span target = std::move(moved);
  CHECK(moved.ended());  // inert after the move
  CHECK(moved.end() == llmtrace::trace_result::stopped);
  target.end();
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  auto m = by_name(store->records());
  REQUIRE(m.size() == 6);
  for (int i = 0; i < 4; ++i) {
    const json& ch = m.at("child-" + std::to_string(i));
    CHECK(ch["parent_id"] == root.id());
    CHECK(ch["trace_id"] == root.trace_id());
    CHECK(ch["session_id"] == "sess-threads");
    CHECK(ch["turn_number"] == 1);
  }
  CHECK(m.at("moved")["turn_number"] == 2);
  CHECK(m.at("moved")["trace_id"] != root.trace_id());
}

TEST_CASE("span: a disabled client gives spans whose end reports disabled") {
  llmtrace::client c(llmtrace::options{.disabled = true});
  auto s = c.start_span("x");
  auto ch = s.child("y");
  CHECK(ch.end() == llmtrace::trace_result::disabled);
  CHECK(s.end() == llmtrace::trace_result::disabled);
}
