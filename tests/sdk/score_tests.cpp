// client::score against a real collector (in-process, free loopback port, SQLite temp file): a thumbs-down
// with a comment, a number and a label are stored and read back in the target's `scores`; an unknown id is
// not_found (404); a bad value is rejected (400, field named); the API key is sent; a collector that is not
// there is unreachable; a disabled or shut-down client sends nothing.
#include <doctest/doctest.h>

#include <cmath>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "llmtrace/llmtrace.hpp"
#include "support/test_support.hpp"

using llmtrace::score_status;
using llmtrace::score_target;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

// The `scores` a GET of a record or session shows.
json scores_at(httplib::Client& http, const std::string& path) {
  auto r = http.Get(path);
  REQUIRE(r);
  INFO(path, " -> ", r->body);
  REQUIRE(r->status == 200);
  return json::parse(r->body).at("scores");
}

llmtrace::options options_for(const std::string& endpoint, const std::string& key = {}) {
  llmtrace::options o;
  o.endpoint = endpoint;
  o.api_key = key;
  o.on_warning = [](std::string_view) {};
  return o;
}

// A stored record with a known id in session `sid`.
void store_record(llmtrace::client& c, const std::string& id, const std::string& sid) {
  llmtrace::record r;
  r.id = id;
  r.session_id = sid;
  r.turn_number = 1;
  r.request_json = R"({"model":"m","messages":[{"role":"user","content":"refund?"}]})";
  REQUIRE(c.trace(r) == llmtrace::trace_result::ok);
  REQUIRE(c.flush() == llmtrace::flush_result::ok);
  REQUIRE(c.stats().sent == 1);
}

}  // namespace

TEST_CASE("score: thumbs down with a comment, a number and a label are stored on the record and session") {
  test_collector col;
  auto http = col.client();
  llmtrace::client c(options_for(col.base_url()));
  const std::string rid = llmtrace::new_id();
  store_record(c, rid, "score-sess");

  auto thumbs = c.score(score_target::record, rid, "thumbs", false, "wrong refund amount");
  INFO(thumbs.message);
  REQUIRE(thumbs);
  CHECK(thumbs.http_status == 201);
  CHECK(thumbs.message.empty());
  const json stored = json::parse(thumbs.score_json);
  CHECK(stored["target_id"] == rid);
  CHECK(stored["value"] == false);
  CHECK(c.score(score_target::record, rid, "label", "hallucination").status == score_status::ok);
  CHECK(c.score(score_target::session, "score-sess", "quality", 0.75).status == score_status::ok);
  CHECK(c.score(score_target::session, "score-sess", "stars", 4).status == score_status::ok);
  llmtrace::options gz = options_for(col.base_url());
  gz.gzip = true;  // the body is compressed like the client's batches
  llmtrace::client zipped(gz);
  CHECK(zipped.score(score_target::session, "score-sess", "gzip", true).status == score_status::ok);

  const json rec = scores_at(*http, "/api/records/" + rid);
  REQUIRE(rec.size() == 2);
  CHECK(rec[0]["name"] == "thumbs");
  CHECK(rec[0]["value"] == false);
  CHECK(rec[0]["comment"] == "wrong refund amount");
  CHECK(rec[1]["value"] == "hallucination");
  CHECK(rec[1]["comment"].is_null());
  const json sess = scores_at(*http, "/api/sessions/score-sess");
  REQUIRE(sess.size() == 3);
  CHECK(sess[0]["value"] == 0.75);
  CHECK(sess[1]["value"] == 4);
  CHECK(sess[2]["name"] == "gzip");
}

TEST_CASE("score: an unknown record or session is not_found (404), an id with '/' stays one path segment") {
  test_collector col;
  llmtrace::client c(options_for(col.base_url()));
  auto r = c.score(score_target::record, "no-such-record", "thumbs", true);
  CHECK(r.status == score_status::not_found);
  CHECK(r.http_status == 404);
  CHECK(r.field == "id");
  CHECK(r.message.find("no-such-record") != std::string::npos);
  CHECK(c.score(score_target::session, "no-such-session", "thumbs", true).status == score_status::not_found);
  // Encoded as %2F: the collector's route sees one (unknown) id instead of another route.
  auto slash = c.score(score_target::record, "a/../../sessions/x", "thumbs", true);
  CHECK(slash.status == score_status::not_found);
  CHECK(slash.http_status == 404);
}

TEST_CASE("score: a bad value or name is rejected by the collector with 400 and the field") {
  test_collector col;
  llmtrace::client c(options_for(col.base_url()));
  const std::string rid = llmtrace::new_id();
  store_record(c, rid, "score-bad");
  const std::string long_label(2000, 'x');  // the collector takes labels up to 1024 bytes
  auto v = c.score(score_target::record, rid, "label", long_label);
  CHECK(v.status == score_status::rejected);
  CHECK(v.http_status == 400);
  CHECK(v.field == "value");
  CHECK(v.message.find("HTTP 400") != std::string::npos);
  auto n = c.score(score_target::record, rid, std::string(300, 'n'), true);
  CHECK(n.status == score_status::rejected);
  CHECK(n.field == "name");
  // Refused before sending: nothing the collector could store.
  CHECK(c.score(score_target::record, rid, "x", std::nan("")).status == score_status::invalid);
  CHECK(c.score(score_target::record, rid, "", true).status == score_status::invalid);
  CHECK(c.score(score_target::record, "", "x", true).status == score_status::invalid);
  auto http = col.client();
  CHECK(scores_at(*http, "/api/records/" + rid).empty());
}

TEST_CASE("score: the client's API key is sent, a wrong key is rejected with 401") {
  test_collector col([](llmtrace::config& cfg) { cfg.api_key = "sekrit"; });
  llmtrace::client good(options_for(col.base_url(), "sekrit"));
  const std::string rid = llmtrace::new_id();
  store_record(good, rid, "score-key");
  CHECK(good.score(score_target::record, rid, "thumbs", true).status == score_status::ok);
  llmtrace::client bad(options_for(col.base_url(), "wrong"));
  auto r = bad.score(score_target::record, rid, "thumbs", true);
  CHECK(r.status == score_status::rejected);
  CHECK(r.http_status == 401);
  auto http = col.client();
  CHECK(scores_at(*http, "/api/records/" + rid).size() == 1);
}

TEST_CASE("score: no collector is unreachable, disabled and shut-down clients send nothing") {
  const std::string nowhere = "http://127.0.0.1:" + std::to_string(llmtrace::testing::free_port());
  llmtrace::options o = options_for(nowhere);
  o.connect_timeout = std::chrono::milliseconds(500);
  llmtrace::client c(o);
  auto r = c.score(score_target::record, "r1", "thumbs", true);
  CHECK(r.status == score_status::unreachable);
  CHECK(r.http_status == 0);
  CHECK(r.message.find("cannot reach") != std::string::npos);
  CHECK(std::string(llmtrace::to_string(r.status)) == "unreachable");

  test_collector col;
  llmtrace::client live(options_for(col.base_url()));
  const std::string rid = llmtrace::new_id();
  store_record(live, rid, "score-off");
  llmtrace::options off = options_for(col.base_url());
  off.disabled = true;
  llmtrace::client disabled(off);
  CHECK(disabled.score(score_target::record, rid, "thumbs", true).status == score_status::disabled);
  live.shutdown();
  CHECK(live.score(score_target::record, rid, "thumbs", true).status == score_status::stopped);
  auto http = col.client();
  CHECK(scores_at(*http, "/api/records/" + rid).empty());
}
