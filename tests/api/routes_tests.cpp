// The collector over real HTTP: ingest rules, every query/control endpoint, auth and the Host guard.
#include <doctest/doctest.h>

#include <zlib.h>

#include <set>
#include <thread>

#include <nlohmann/json.hpp>

#include "model/time.hpp"
#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

json post_json(httplib::Client& c, const std::string& path, const json& body, int expect_status) {
  auto r = c.Post(path.c_str(), body.dump(), "application/json");
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == expect_status);
  return json::parse(r->body);
}

json get_json(httplib::Client& c, const std::string& path, int expect_status = 200) {
  auto r = c.Get(path.c_str());
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == expect_status);
  return json::parse(r->body);
}

std::string gzip(const std::string& in) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(in.size()) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

TEST_CASE("api: healthz answers ok with the version") {
  test_collector tc;
  auto c = tc.client();
  auto j = get_json(*c, "/healthz");
  CHECK(j["status"] == "ok");
  CHECK(j["version"] == LLMTRACE_VERSION);
}

TEST_CASE("ingest: pending then success is one record") {
  test_collector tc;
  auto c = tc.client();
  json req = {{"model", "gpt-4o"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  auto first =
      post_json(*c, "/api/trace",
                {{"session_id", "seed"}, {"turn_number", 1}, {"request", req}, {"status", "pending"}}, 201);
  CHECK(first["status"] == "pending");
  CHECK(first["request"]["model"] == "gpt-4o");  // a JSON value, not a string
  auto second = post_json(*c, "/api/trace",
                          {{"session_id", "seed"},
                           {"turn_number", 1},
                           {"request", req},
                           {"response", {{"choices", {{{"message", {{"content", "hello"}}}}}}}},
                           {"status", "success"}},
                          200);
  CHECK(second["id"] == first["id"]);
  CHECK(second["status"] == "success");
  auto list = get_json(*c, "/api/sessions/seed/records");
  REQUIRE(list["items"].size() == 1);
  CHECK(list["total"] == 1);
  CHECK(list["items"][0]["status"] == "success");
  CHECK(list["items"][0]["response"]["choices"][0]["message"]["content"] == "hello");

  // A late pending never overwrites the final status.
  auto late =
      post_json(*c, "/api/trace", {{"id", first["id"]}, {"session_id", "seed"}, {"status", "pending"}}, 200);
  CHECK(late["status"] == "success");
}

TEST_CASE("ingest: no session id creates a named session; no turn takes the next turn") {
  test_collector tc;
  auto c = tc.client();
  auto r = post_json(*c, "/api/trace", {{"request", {{"prompt", "x"}}}}, 201);
  std::string sid = r["session_id"];
  CHECK_FALSE(sid.empty());
  CHECK(r["turn_number"] == 1);
  auto s = get_json(*c, "/api/sessions/" + sid);
  std::string name = s["name"];
  CHECK(name.rfind("对话-", 0) == 0);
  CHECK(name.size() == std::string("对话-").size() + 19);
  auto r2 = post_json(*c, "/api/trace", {{"session_id", sid}}, 201);
  CHECK(r2["turn_number"] == 2);
  auto r3 = post_json(*c, "/api/trace", {{"session_id", sid}, {"turn_number", 0}}, 201);
  CHECK(r3["turn_number"] == 3);
}

TEST_CASE("ingest: 8 threads into one session get turns 1..N with no gap or duplicate") {
  test_collector tc;
  constexpr int threads = 8, per_thread = 12;
  std::vector<std::thread> workers;
  std::atomic<int> failures{0};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&] {
      auto c = tc.client();
      for (int i = 0; i < per_thread; ++i) {
        auto r =
            c->Post("/api/trace", R"({"session_id":"busy","request":{"prompt":"p"}})", "application/json");
        if (!r || r->status != 201) failures++;
      }
    });
  }
  for (auto& w : workers) w.join();
  CHECK(failures == 0);
  auto c = tc.client();
  std::set<int64_t> turns;
  for (int page = 1; page <= 2; ++page) {
    auto list = get_json(*c, "/api/sessions/busy/records?size=50&page=" + std::to_string(page));
    for (const auto& item : list["items"]) turns.insert(item["turn_number"].get<int64_t>());
  }
  CHECK(turns.size() == threads * per_thread);
  CHECK(*turns.begin() == 1);
  CHECK(*turns.rbegin() == threads * per_thread);
}

TEST_CASE("ingest: batch reports per item and retrying the same ids never duplicates") {
  test_collector tc;
  auto c = tc.client();
  json batch = {{"traces",
                 {{{"id", "r-1"}, {"session_id", "b"}, {"request", {{"model", "m"}}}},
                  {{"id", "r-2"}, {"session_id", "b"}, {"turn_number", -3}},
                  {{"id", "r-3"}, {"session_id", "b"}, {"status", "weird"}},
                  {{"id", "r-4"}, {"session_id", "b"}, {"response", {{"usage", {{"total_tokens", 9}}}}}}}}};
  auto r = post_json(*c, "/api/traces", batch, 200);
  CHECK(r["accepted"] == 2);
  CHECK(r["rejected"] == 2);
  REQUIRE(r["results"].size() == 4);
  CHECK(r["results"][0]["index"] == 0);
  CHECK(r["results"][0]["id"] == "r-1");
  CHECK(r["results"][0]["status"] == "created");
  CHECK(r["results"][0]["session_id"] == "b");
  CHECK(r["results"][1]["error"]["field"] == "turn_number");
  CHECK(r["results"][2]["error"]["field"] == "status");
  CHECK_FALSE(r["results"][1]["error"]["message"].get<std::string>().empty());
  auto again = post_json(*c, "/api/traces", batch, 200);
  CHECK(again["results"][0]["status"] != "created");
  CHECK(get_json(*c, "/api/sessions/b/records")["total"] == 2);
  CHECK(get_json(*c, "/api/records/r-4")["usage"]["total_tokens"] == 9);
}

TEST_CASE("ingest: batch body must be an object with a traces array") {
  test_collector tc;
  auto c = tc.client();
  for (std::string body : {"[]", "{}", R"({"traces":{}})", R"({"traces":"x"})", "3"}) {
    auto r = c->Post("/api/traces", body, "application/json");
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, body);
    CHECK(json::parse(r->body)["error"]["message"].is_string());
  }
  auto empty = post_json(*c, "/api/traces", {{"traces", json::array()}}, 200);
  CHECK(empty["accepted"] == 0);
}

TEST_CASE("ingest: gzip request bodies are accepted") {
  test_collector tc;
  auto c = tc.client();
  json batch = {{"traces", {{{"session_id", "gz"}, {"request", {{"prompt", std::string(5000, 'a')}}}}}}};
  httplib::Headers h = {{"Content-Encoding", "gzip"}};
  auto r = c->Post("/api/traces", h, gzip(batch.dump()), "application/json");
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["accepted"] == 1);
}

TEST_CASE("api: sessions list envelope, paging, newest activity first") {
  test_collector tc;
  auto c = tc.client();
  for (auto sid : {"s-a", "s-b", "s-c"}) post_json(*c, "/api/trace", {{"session_id", sid}}, 201);
  // Activity is stamped in milliseconds: let the clock tick past s-c's stamp, or s-a's update may tie with it
  // (ties go to the newer session).
  for (const int64_t t0 = llmtrace::model::now_ms(); llmtrace::model::now_ms() == t0;)
    std::this_thread::yield();
  post_json(*c, "/api/trace", {{"session_id", "s-a"}}, 201);  // s-a is now the most recent
  auto p1 = get_json(*c, "/api/sessions?page=1&size=2");
  CHECK(p1["page"] == 1);
  CHECK(p1["size"] == 2);
  CHECK(p1["total"] == 3);
  REQUIRE(p1["items"].size() == 2);
  CHECK(p1["items"][0]["id"] == "s-a");
  CHECK(p1["items"][0]["record_count"] == 2);
  CHECK(p1["items"][0]["turn_count"] == 2);
  CHECK(p1["items"][0].contains("error_count"));
  CHECK(p1["items"][0].contains("total_tokens"));
  auto p2 = get_json(*c, "/api/sessions?page=2&size=2");
  CHECK(p2["items"].size() == 1);
  for (std::string bad :
       {"page=0", "page=-1", "size=0", "size=201", "size=1000000000", "page=abc", "size=1.5"}) {
    auto r = c->Get(("/api/sessions?" + bad).c_str());
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 400, bad);
    auto e = json::parse(r->body)["error"];
    CHECK(e["field"] == bad.substr(0, bad.find('=')));
  }
}

TEST_CASE("api: session get, rename, delete and 404s") {
  test_collector tc;
  auto c = tc.client();
  auto rec = post_json(*c, "/api/trace", {{"session_id", "ren"}}, 201);
  CHECK(get_json(*c, "/api/sessions/nope", 404)["error"]["code"] == "not_found");
  auto r = c->Patch("/api/sessions/ren", R"({"name":"My chat"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(json::parse(r->body)["name"] == "My chat");
  CHECK(get_json(*c, "/api/sessions/ren")["name"] == "My chat");
  for (std::string bad : std::vector<std::string>{R"({"name":""})", R"({"name":5})", "{}", "[1]", "nope",
                                                  R"({"name":")" + std::string(201, 'x') + "\"}"}) {
    auto b = c->Patch("/api/sessions/ren", bad, "application/json");
    REQUIRE(b);
    CHECK_MESSAGE(b->status == 400, bad);
  }
  auto missing = c->Patch("/api/sessions/nope", R"({"name":"x"})", "application/json");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  auto d = c->Delete("/api/sessions/ren");
  REQUIRE(d);
  CHECK(d->status == 200);
  get_json(*c, "/api/sessions/ren", 404);
  get_json(*c, "/api/records/" + rec["id"].get<std::string>(), 404);
  auto again = c->Delete("/api/sessions/ren");
  REQUIRE(again);
  CHECK(again->status == 404);
}

TEST_CASE("api: records get, delete, session records paging and 404s") {
  test_collector tc;
  auto c = tc.client();
  auto a = post_json(*c, "/api/trace", {{"session_id", "rs"}, {"metadata", {{"k", "v"}}}}, 201);
  post_json(*c, "/api/trace", {{"session_id", "rs"}}, 201);
  auto got = get_json(*c, "/api/records/" + a["id"].get<std::string>());
  CHECK(got["metadata"]["k"] == "v");
  for (auto key : {"id", "session_id", "turn_number", "request", "response", "status", "error_message",
                   "metadata", "created_at", "updated_at", "started_at", "ended_at", "latency_ms", "model",
                   "usage", "replay_of", "parent_id"})
    CHECK_MESSAGE(got.contains(key), key);
  CHECK(got["replay_of"].is_null());
  CHECK(got["created_at"].get<std::string>().back() == 'Z');
  auto list = get_json(*c, "/api/sessions/rs/records?size=1&page=2");
  CHECK(list["total"] == 2);
  REQUIRE(list["items"].size() == 1);
  CHECK(list["items"][0]["turn_number"] == 2);
  get_json(*c, "/api/sessions/rs/records?size=501", 400);
  get_json(*c, "/api/sessions/none/records", 404);
  get_json(*c, "/api/records/none", 404);
  auto d = c->Delete(("/api/records/" + a["id"].get<std::string>()).c_str());
  REQUIRE(d);
  CHECK(d->status == 200);
  get_json(*c, "/api/records/" + a["id"].get<std::string>(), 404);
  auto d2 = c->Delete("/api/records/none");
  REQUIRE(d2);
  CHECK(d2->status == 404);
}

TEST_CASE("api: export streams one record JSON per line") {
  test_collector tc;
  auto c = tc.client();
  for (int i = 0; i < 3; ++i)
    post_json(*c, "/api/trace", {{"session_id", "ex"}, {"request", {{"n", i}}}}, 201);
  auto r = c->Get("/api/sessions/ex/export");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(r->get_header_value("Content-Type").find("application/x-ndjson") == 0);
  std::vector<json> lines;
  std::size_t start = 0;
  while (start < r->body.size()) {
    auto nl = r->body.find('\n', start);
    REQUIRE(nl != std::string::npos);
    lines.push_back(json::parse(r->body.substr(start, nl - start)));
    start = nl + 1;
  }
  REQUIRE(lines.size() == 3);
  CHECK(lines[2]["request"]["n"] == 2);
  CHECK(lines[0]["turn_number"] == 1);
  get_json(*c, "/api/sessions/none/export", 404);
}

TEST_CASE("api: search by text and filters") {
  test_collector tc;
  auto c = tc.client();
  post_json(*c, "/api/trace",
            {{"session_id", "q1"},
             {"request",
              {{"model", "alpha-model"}, {"messages", {{{"role", "user"}, {"content", "zebra crossing"}}}}}}},
            201);
  post_json(
      *c, "/api/trace",
      {{"session_id", "q2"},
       {"status", "error"},
       {"error_message", "boom"},
       {"request", {{"model", "beta-model"}, {"messages", {{{"role", "user"}, {"content", "lion king"}}}}}}},
      201);
  auto z = get_json(*c, "/api/search?q=zebra");
  CHECK(z["total"] == 1);
  REQUIRE(z["items"].size() == 1);
  CHECK(z["items"][0]["session_id"] == "q1");
  CHECK(get_json(*c, "/api/search?status=error")["total"] == 1);
  CHECK(get_json(*c, "/api/search?model=beta-model")["items"][0]["session_id"] == "q2");
  CHECK(get_json(*c, "/api/search?session_id=q1")["total"] == 1);
  CHECK(get_json(*c, "/api/search")["total"] == 2);
  CHECK(get_json(*c, "/api/search?status=bogus", 400)["error"]["field"] == "status");
  CHECK(get_json(*c, "/api/search?size=0", 400)["error"]["field"] == "size");
}

TEST_CASE("api: stats and metrics") {
  test_collector tc;
  auto c = tc.client();
  post_json(*c, "/api/trace", {{"response", {{"usage", {{"prompt_tokens", 2}, {"completion_tokens", 3}}}}}},
            201);
  c->Post("/api/trace", "{bad", "application/json");
  auto s = get_json(*c, "/api/stats");
  CHECK(s["records"] == 1);
  CHECK(s["sessions"] == 1);
  CHECK(s["total_tokens"] == 5);
  auto m = c->Get("/metrics");
  REQUIRE(m);
  CHECK(m->status == 200);
  CHECK(m->get_header_value("Content-Type").find("text/plain") == 0);
  CHECK(m->body.find("llmtrace_ingest_records_total{outcome=\"created\"} 1") != std::string::npos);
  CHECK(m->body.find("llmtrace_ingest_rejected_total{reason=\"invalid_json\"} 1") != std::string::npos);
  CHECK(m->body.find("llmtrace_http_request_duration_seconds_bucket{method=\"POST\",route=\"/api/trace\"") !=
        std::string::npos);
  CHECK(m->body.find("llmtrace_records 1") != std::string::npos);
  CHECK(m->body.find("llmtrace_event_streams_open 0") != std::string::npos);
}

TEST_CASE("auth: with a key every /api route needs the bearer token; healthz and metrics do not") {
  test_collector tc([](config& c) { c.api_key = "s3cret"; });
  auto anon = tc.client(false);
  for (auto path :
       {"/api/sessions", "/api/stats", "/api/search", "/api/records/x", "/api/events", "/v1/models"}) {
    auto r = anon->Get(path);
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 401, path);
    CHECK(json::parse(r->body)["error"]["code"] == "unauthorized");
  }
  auto post = anon->Post("/api/trace", R"({"session_id":"x"})", "application/json");
  REQUIRE(post);
  CHECK(post->status == 401);
  httplib::Client wrong("127.0.0.1", tc.port());
  wrong.set_bearer_token_auth("s3cret-not");
  auto w = wrong.Get("/api/sessions");
  REQUIRE(w);
  CHECK(w->status == 401);
  CHECK(anon->Get("/healthz")->status == 200);
  CHECK(anon->Get("/metrics")->status == 200);
  // access_token works only for the event stream (EventSource cannot set headers).
  CHECK(anon->Get("/api/sessions?access_token=s3cret")->status == 401);
  auto c = tc.client();
  post_json(*c, "/api/trace", {{"session_id", "x"}}, 201);
  CHECK(get_json(*c, "/api/sessions")["total"] == 1);
}

TEST_CASE("security: unknown Host headers are refused, loopback names accepted") {
  test_collector tc([](config& c) { c.allowed_hosts = {"trace.example"}; });
  auto c = tc.client();
  auto port = std::to_string(tc.port());
  for (std::string host :
       std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.1.evil.example"}) {
    auto r = c->Get("/api/sessions", {{"Host", host}});
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 421, host);
  }
  for (std::string host : std::vector<std::string>{"localhost:" + port, "127.0.0.1:" + port, "[::1]:" + port,
                                                   "trace.example", "LOCALHOST"}) {
    auto r = c->Get("/api/sessions", {{"Host", host}});
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 200, host);
  }
  auto r = c->Get("/api/sessions", {{"Origin", "http://evil.example"}});
  REQUIRE(r);
  CHECK_FALSE(r->has_header("Access-Control-Allow-Origin"));
}

TEST_CASE("ingest: the batch reply is the JSON nlohmann would write, ids with quotes and UTF-8 included") {
  test_collector tc;
  auto c = tc.client();
  const std::string body =
      R"({"traces":[{"id":"q\"uo\\te","session_id":"s-\u00e9","request": {"model" : "m",  "n":1.50}},)"
      R"({"id":"bad","turn_number":-1},{"session_id":"plain","metadata":{"k" : [1, 2]}}]})";
  auto r = c->Post("/api/traces", body, "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  const json reply = json::parse(r->body);
  CHECK(reply.dump() == r->body);  // same bytes as a dump: key order, escaping, numbers
  CHECK(reply["accepted"] == 2);
  CHECK(reply["rejected"] == 1);
  CHECK(reply["results"][0]["id"] == "q\"uo\\te");
  CHECK(reply["results"][0]["session_id"] == "s-\xc3\xa9");
  CHECK(reply["results"][1]["error"]["field"] == "turn_number");
  CHECK(reply["results"][2]["turn_number"] == 1);
  // Stored as sent: the record's request keeps the client's number text and comes back as the same value.
  auto rec = get_json(*c, "/api/records/" + reply["results"][2]["id"].get<std::string>());
  CHECK(rec["metadata"]["k"] == json::array({1, 2}));
  auto first = c->Get("/api/sessions/s-%C3%A9/records");
  REQUIRE(first);
  REQUIRE(first->status == 200);
  const json items = json::parse(first->body)["items"];
  REQUIRE(items.size() == 1);
  CHECK(items[0]["request"]["model"] == "m");
  CHECK(items[0]["request"]["n"] == 1.5);
}
