// Insight over real HTTP: cost at ingest (prefixed/dated names, unknown null, the client's cost wins, sums),
// latency of the seed's pending-then-final flow, the scores API and its search filter, and
// GET /api/stats/timeseries (values and bad input).
#include <doctest/doctest.h>

#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/time.hpp"
#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::temp_dir;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

json post(httplib::Client& c, const std::string& path, const json& body, int expect_status) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  REQUIRE(r);
  INFO(path << " " << r->body);
  CHECK(r->status == expect_status);
  return json::parse(r->body);
}

json get(httplib::Client& c, const std::string& path, int expect_status = 200) {
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  INFO(path << " " << r->body);
  CHECK(r->status == expect_status);
  return json::parse(r->body);
}

json chat_trace(const std::string& session, const std::string& model, int prompt, int completion) {
  return {{"session_id", session},
          {"request", {{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}},
          {"response",
           {{"model", model},
            {"choices", {{{"message", {{"role", "assistant"}, {"content", "hello"}}}}}},
            {"usage", {{"prompt_tokens", prompt}, {"completion_tokens", completion}}}}},
          {"status", "success"}};
}

}  // namespace

TEST_CASE("cost: priced at ingest for prefixed and dated model names; unknown is null; sessions sum") {
  test_collector tc;
  auto c = tc.client();
  auto dated = post(*c, "/api/trace", chat_trace("cost", "gpt-4o-mini-2024-07-18", 1000, 500), 201);
  CHECK(dated["cost_usd"].get<double>() == doctest::Approx((1000 * 0.15 + 500 * 0.60) / 1e6));
  auto prefixed = post(*c, "/api/trace", chat_trace("cost", "openai/gpt-4o", 1000, 1000), 201);
  CHECK(prefixed["cost_usd"].get<double>() == doctest::Approx((1000 * 2.5 + 1000 * 10.0) / 1e6));
  auto claude = post(*c, "/api/trace", chat_trace("cost", "claude-3-5-sonnet-20241022", 1000000, 0), 201);
  CHECK(claude["cost_usd"].get<double>() == doctest::Approx(3.0));
  auto unknown = post(*c, "/api/trace", chat_trace("cost", "my-private-model", 1000, 1000), 201);
  CHECK(unknown["cost_usd"].is_null());
  // Cached prompt tokens (usage.prompt_tokens_details.cached_tokens) at the cached price.
  json cached = chat_trace("cost", "gpt-4o", 1000, 0);
  cached["response"]["usage"]["prompt_tokens_details"] = {{"cached_tokens", 800}};
  auto cr = post(*c, "/api/trace", cached, 201);
  CHECK(cr["cost_usd"].get<double>() == doctest::Approx((200 * 2.5 + 800 * 1.25) / 1e6));

  const double sum = dated["cost_usd"].get<double>() + prefixed["cost_usd"].get<double>() + 3.0 +
                     cr["cost_usd"].get<double>();
  CHECK(get(*c, "/api/sessions/cost")["cost_usd"].get<double>() == doctest::Approx(sum));
  CHECK(get(*c, "/api/stats")["cost_usd"].get<double>() == doctest::Approx(sum));
  // Export carries it too.
  auto ex = c->Get("/api/sessions/cost/export");
  REQUIRE(ex);
  CHECK(ex->body.find("\"cost_usd\":null") != std::string::npos);
  // /metrics counts the known cost.
  auto m = c->Get("/metrics");
  REQUIRE(m);
  auto at = m->body.find("\nllmtrace_cost_usd_total ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(m->body.substr(at + 25)) == doctest::Approx(sum).epsilon(1e-6));
}

TEST_CASE("cost: the client's cost_usd wins over the price table") {
  test_collector tc;
  auto c = tc.client();
  json t = chat_trace("client-cost", "gpt-4o", 1000, 1000);
  t["cost_usd"] = 0.5;
  CHECK(post(*c, "/api/trace", t, 201)["cost_usd"].get<double>() == doctest::Approx(0.5));
}

TEST_CASE("cost: --prices adds and overrides entries") {
  temp_dir files;
  const std::string path = files.file("prices.json");
  {
    std::ofstream out(path);
    out << R"({"models": {"gpt-4o": {"input": 100, "output": 0}, "house-model": {"input": 1, "output": 1}}})";
  }
  test_collector tc([&](config& cfg) { cfg.prices_file = path; });
  auto c = tc.client();
  CHECK(post(*c, "/api/trace", chat_trace("p", "gpt-4o-2024-08-06", 1000, 1000), 201)["cost_usd"]
            .get<double>() == doctest::Approx(0.1));
  CHECK(post(*c, "/api/trace", chat_trace("p", "house-model-v3", 500000, 500000), 201)["cost_usd"]
            .get<double>() == doctest::Approx(1.0));
}

TEST_CASE("latency: the seed's pending then success 300 ms later, with no timestamps, is about 300 ms") {
  test_collector tc;
  auto c = tc.client();
  json req = {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  post(*c, "/api/trace",
       {{"session_id", "seed"}, {"turn_number", 1}, {"request", req}, {"status", "pending"}}, 201);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto done = post(*c, "/api/trace",
                   {{"session_id", "seed"},
                    {"turn_number", 1},
                    {"request", req},
                    {"response", {{"choices", {{{"message", {{"content", "hello"}}}}}}}},
                    {"status", "success"}},
                   200);
  REQUIRE(done["latency_ms"].is_number());
  CHECK(done["latency_ms"].get<double>() >= 290);
  CHECK(done["latency_ms"].get<double>() < 2000);
}

TEST_CASE("scores: on records and sessions, listed with them, live, and filterable in search") {
  test_collector tc;
  auto c = tc.client();
  auto r1 = post(*c, "/api/trace", chat_trace("sc", "gpt-4o", 10, 10), 201);
  auto r2 = post(*c, "/api/trace", chat_trace("sc", "gpt-4o", 10, 10), 201);
  const std::string id1 = r1["id"], id2 = r2["id"];

  auto s1 = post(*c, "/api/records/" + id1 + "/scores",
                 {{"name", "thumbs"}, {"value", false}, {"comment", "wrong refund amount"}}, 201);
  CHECK(s1["target"] == "record");
  CHECK(s1["target_id"] == id1);
  CHECK(s1["session_id"] == "sc");
  CHECK(s1["value"] == false);
  CHECK(s1["comment"] == "wrong refund amount");
  CHECK(s1["id"].is_string());
  CHECK(model::parse_rfc3339_ms(s1["created_at"].get<std::string>()));
  post(*c, "/api/records/" + id1 + "/scores", {{"name", "accuracy"}, {"value", 1}}, 201);
  auto s3 = post(*c, "/api/records/" + id2 + "/scores", {{"name", "thumbs"}, {"value", true}}, 201);
  CHECK(s3["comment"].is_null());
  auto ss = post(*c, "/api/sessions/sc/scores", {{"name", "label"}, {"value", "good session"}}, 201);
  CHECK(ss["target"] == "session");

  auto rec = get(*c, "/api/records/" + id1);
  REQUIRE(rec["scores"].size() == 2);
  CHECK(rec["scores"][0]["name"] == "thumbs");  // oldest first
  CHECK(rec["scores"][1]["value"] == 1.0);
  auto page = get(*c, "/api/sessions/sc/records");
  REQUIRE(page["items"].size() == 2);
  for (const auto& item : page["items"]) CHECK(item["scores"].size() == (item["id"] == id1 ? 2u : 1u));
  auto sess = get(*c, "/api/sessions/sc");
  REQUIRE(sess["scores"].size() == 1);
  CHECK(sess["scores"][0]["value"] == "good session");
  CHECK(get(*c, "/api/sessions")["items"][0]["scores"].size() == 1);

  // Search: by name, by name:value (bool, number equal as 1 and 1.0, string).
  auto by_name = get(*c, "/api/search?score=thumbs");
  CHECK(by_name["total"] == 2);
  auto down = get(*c, "/api/search?score=thumbs:false");
  REQUIRE(down["items"].size() == 1);
  CHECK(down["total"] == 1);
  CHECK(down["items"][0]["id"] == id1);
  CHECK(down["items"][0]["scores"].size() == 2);
  CHECK(get(*c, "/api/search?score=accuracy:1.0")["total"] == 1);
  CHECK(get(*c, "/api/search?score=accuracy:2")["total"] == 0);
  CHECK(get(*c, "/api/search?score=none")["total"] == 0);
  CHECK(get(*c, "/api/search?score=thumbs:true&status=success")["total"] == 1);
  // A session score does not make its records match.
  CHECK(get(*c, "/api/search?score=label")["total"] == 0);
  get(*c, "/api/search?score=", 400);
  get(*c, "/api/search?score=:x", 400);
}

TEST_CASE("scores: bad input is a 4xx naming the field; unknown ids 404") {
  test_collector tc;
  auto c = tc.client();
  const std::string id = post(*c, "/api/trace", chat_trace("bad", "gpt-4o", 1, 1), 201)["id"];
  const std::string path = "/api/records/" + id + "/scores";
  auto field = [&](const json& body) { return post(*c, path, body, 400)["error"]["field"]; };
  CHECK(field({{"value", 1}}) == "name");
  CHECK(field({{"name", 5}, {"value", 1}}) == "name");
  CHECK(field({{"name", ""}, {"value", 1}}) == "name");
  CHECK(field({{"name", std::string(10 * 1024, 'n')}, {"value", 1}}) == "name");
  CHECK(field({{"name", "x"}}) == "value");
  CHECK(field({{"name", "x"}, {"value", nullptr}}) == "value");
  CHECK(field({{"name", "x"}, {"value", json::object()}}) == "value");
  CHECK(field({{"name", "x"}, {"value", json::array({1})}}) == "value");
  CHECK(field({{"name", "x"}, {"value", std::string(1025, 'v')}}) == "value");
  CHECK(field({{"name", "x"}, {"value", 1}, {"comment", 3}}) == "comment");
  CHECK(field({{"name", "x"}, {"value", 1}, {"comment", std::string(4097, 'c')}}) == "comment");
  auto r = c->Post(path.c_str(), "[1]", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  r = c->Post(path.c_str(), "{not json", "application/json");
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(post(*c, "/api/records/nope/scores", {{"name", "x"}, {"value", 1}}, 404)["error"]["field"] == "id");
  post(*c, "/api/sessions/nope/scores", {{"name", "x"}, {"value", 1}}, 404);
  CHECK(get(*c, "/api/records/" + id)["scores"].empty());  // nothing stored by the rejections
}

TEST_CASE("timeseries: calls, errors, latency percentiles, tokens and cost per bucket, by model") {
  test_collector tc;
  auto c = tc.client();
  const int64_t t0 = (model::now_ms() / 60000 - 10) * 60000;  // 10 minutes ago, minute-aligned
  // Minute 0: three gpt-4o calls (latency 100, 200, 300; one error); minute 2: one claude call.
  for (int i = 0; i < 3; ++i) {
    json t = chat_trace("ts", "gpt-4o", 100, 10);
    t["started_at"] = t0 + i * 1000;
    t["ended_at"] = t0 + i * 1000 + (i + 1) * 100;
    if (i == 2) {
      t["status"] = "error";
      t["error_message"] = "boom";
    }
    post(*c, "/api/trace", t, 201);
  }
  json t = chat_trace("ts", "claude-3-5-sonnet-20241022", 1000, 0);
  t["started_at"] = t0 + 120000;
  t["ended_at"] = t0 + 120000 + 50;
  post(*c, "/api/trace", t, 201);

  // The buckets follow created_at (arrival), so ask for one 1 h bucket around now: one row. (Records that
  // reply in the millisecond they arrived have created_at == now, which a bucket ending at `now` leaves out.)
  const int64_t now = model::now_ms();
  const int64_t from = now - 3600000 + 60000, to = now + 60000;
  auto all = get(
      *c, "/api/stats/timeseries?from=" + std::to_string(from) + "&to=" + std::to_string(to) + "&bucket=1h");
  CHECK(all["bucket_ms"] == 3600000);
  CHECK(all["group_by"].is_null());
  REQUIRE(all["items"].size() == 1);
  const auto& row = all["items"][0];
  CHECK(row["calls"] == 4);
  CHECK(row["errors"] == 1);
  CHECK(row["prompt_tokens"] == 1300);
  CHECK(row["completion_tokens"] == 30);
  CHECK(row["total_tokens"] == 1330);
  CHECK(row["cost_usd"].get<double>() ==
        doctest::Approx(3 * (100 * 2.5 + 10 * 10.0) / 1e6 + 1000 * 3.0 / 1e6));
  CHECK(row["latency_p50_ms"].get<double>() == doctest::Approx(100).epsilon(0.05));
  CHECK(row["latency_p95_ms"].get<double>() == doctest::Approx(300).epsilon(0.05));
  CHECK_FALSE(row.contains("model"));

  auto by_model = get(*c, "/api/stats/timeseries?from=" + model::format_rfc3339_ms(from) +
                              "&to=" + model::format_rfc3339_ms(to) + "&bucket=60m&group_by=model");
  CHECK(by_model["group_by"] == "model");
  REQUIRE(by_model["items"].size() == 2);
  CHECK(by_model["items"][0]["model"] == "claude-3-5-sonnet-20241022");
  CHECK(by_model["items"][0]["calls"] == 1);
  CHECK(by_model["items"][1]["model"] == "gpt-4o");
  CHECK(by_model["items"][1]["calls"] == 3);

  // Defaults: the last 24 h.
  auto def = get(*c, "/api/stats/timeseries");
  int64_t calls = 0;
  for (const auto& it : def["items"]) calls += it["calls"].get<int64_t>();
  CHECK(calls == 4);
  // The default `from` is the start of the minute 24 h before `to` (so the store's per-minute rollup
  // answers).
  auto from_ms = model::parse_rfc3339_ms(def["from"].get<std::string>());
  auto to_ms = model::parse_rfc3339_ms(def["to"].get<std::string>());
  REQUIRE(from_ms);
  REQUIRE(to_ms);
  CHECK(*from_ms % 60000 == 0);
  CHECK(*to_ms - *from_ms >= 24 * 3600000);
  CHECK(*to_ms - *from_ms < 24 * 3600000 + 60000);
  // The same records through the rollup (a whole-minute from, whole-minute buckets, a partial last minute)
  // and through the record scan (a from 1 ms later: the same records, since none is that old).
  const int64_t aligned = (now - 3600000) / 60000 * 60000;
  auto rolled = get(*c, "/api/stats/timeseries?from=" + std::to_string(aligned) +
                            "&to=" + std::to_string(now + 1000) + "&bucket=2h");
  auto scanned = get(*c, "/api/stats/timeseries?from=" + std::to_string(aligned + 1) +
                             "&to=" + std::to_string(now + 1000) + "&bucket=2h");
  REQUIRE(rolled["items"].size() == 1);
  REQUIRE(scanned["items"].size() == 1);
  for (const char* k : {"calls", "errors", "prompt_tokens", "completion_tokens", "total_tokens"})
    CHECK(rolled["items"][0][k] == scanned["items"][0][k]);
  CHECK(rolled["items"][0]["cost_usd"].get<double>() ==
        doctest::Approx(scanned["items"][0]["cost_usd"].get<double>()));
  CHECK(rolled["items"][0]["latency_p50_ms"].get<double>() ==
        doctest::Approx(scanned["items"][0]["latency_p50_ms"].get<double>()).epsilon(1.0 / 32));
  CHECK(rolled["items"][0]["latency_p95_ms"].get<double>() ==
        doctest::Approx(scanned["items"][0]["latency_p95_ms"].get<double>()).epsilon(1.0 / 32));
  // An empty range answers no rows.
  CHECK(get(*c, "/api/stats/timeseries?from=1000&to=2000&bucket=1s")["items"].empty());
}

TEST_CASE("timeseries: the answer is byte for byte the nlohmann dump of its own value") {
  // The route writes its text directly (http::object_writer); parsing it and dumping it again must give the
  // same bytes: keys in nlohmann's order, doubles in nlohmann's digits and notation, nulls where unset.
  test_collector tc;
  auto c = tc.client();
  for (int i = 0; i < 7; ++i) {
    json t = chat_trace("ts-bytes", i % 2 ? "gpt-4o" : "unpriced-model", 17 * i + 3, 11 * i + 1);
    t["latency_ms"] = 0.125 + i * 97.3;
    // Sums between 1e-5 and 1e-4: nlohmann writes them with an exponent ("2.4e-05"), std::to_chars does not.
    t["cost_usd"] = 3e-6;
    post(*c, "/api/trace", t, 201);
  }
  json no_latency = chat_trace("ts-bytes", "gpt-4o-mini", 1, 1);
  no_latency["cost_usd"] = 3e-6;
  post(*c, "/api/trace", no_latency, 201);
  const int64_t now = model::now_ms();
  const int64_t aligned = (now - 3600000) / 60000 * 60000;
  for (const std::string& q :
       {"from=" + std::to_string(aligned) + "&to=" + std::to_string(now + 1000) + "&bucket=1m",
        "from=" + std::to_string(aligned) + "&to=" + std::to_string(now + 1000) + "&bucket=1m&group_by=model",
        "from=" + std::to_string(aligned + 1) + "&to=" + std::to_string(now + 1000) +
            "&bucket=7s&group_by=model",
        std::string("from=-5000&to=1000&bucket=1s"), std::string("")}) {
    auto r = c->Get(("/api/stats/timeseries?" + q).c_str());
    REQUIRE(r);
    INFO(q << " " << r->body.substr(0, 400));
    CHECK(r->status == 200);
    CHECK(r->body == json::parse(r->body).dump());
  }
}

TEST_CASE("timeseries: bad input is a 400 naming the parameter") {
  test_collector tc;
  auto c = tc.client();
  auto field = [&](const std::string& q) {
    return get(*c, "/api/stats/timeseries?" + q, 400)["error"]["field"];
  };
  CHECK(field("from=2000&to=1000") == "from");
  CHECK(field("from=0&to=1000&bucket=0") == "bucket");
  CHECK(field("from=0&to=1000&bucket=0s") == "bucket");
  CHECK(field("from=0&to=86400000&bucket=1s") == "bucket");  // 86,400 points
  CHECK(field("from=0&to=1000&bucket=soon") == "bucket");
  CHECK(field("from=0&to=1000&bucket=-5") == "bucket");
  CHECK(field("from=yesterday") == "from");
  CHECK(field("to=2026-13-45T00:00:00Z") == "to");
  CHECK(field("group_by=user") == "group_by");
  // 10,000 points exactly is allowed.
  get(*c, "/api/stats/timeseries?from=0&to=10000000&bucket=1s", 200);
}
