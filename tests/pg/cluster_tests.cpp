// Several real llmtrace-collector processes on one PostgreSQL database (the CTest run's throwaway server,
// a fresh schema per test): every ingest rule holds across collectors (atomic next turn, pending->final
// merge, idempotent ids), a record ingested through one collector reaches another's event stream, schema
// migration is safe when collectors start at once, and a collector killed with SIGKILL leaves the others
// serving.
#include <doctest/doctest.h>

#include <atomic>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "reliability/rel_support.hpp"
#include "support/pg_server.hpp"

namespace {

using llmtrace::reliability::collector_process;
using llmtrace::reliability::process_options;
using llmtrace::testing::temp_dir;
using json = nlohmann::json;

// N collectors on one fresh schema, started at the same time.
struct cluster {
  temp_dir dir;
  std::string url;
  std::vector<std::unique_ptr<collector_process>> nodes;

  explicit cluster(int n) {
    const auto& server = llmtrace::testing::test_pg_server();
    REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
    url = llmtrace::testing::fresh_pg_url();
    for (int i = 0; i < n; ++i) {
      process_options o;
      o.db_path = url;
      o.log_path = dir.file("collector" + std::to_string(i) + ".log");
      o.args = {"--heartbeat-ms", "500"};
      nodes.push_back(std::make_unique<collector_process>(o));
    }
    // Started together: each migrates (or finds the schema current) on its own.
    std::vector<std::thread> starts;
    std::vector<int> ok(n, 0);
    for (int i = 0; i < n; ++i) starts.emplace_back([&, i] { ok[i] = nodes[i]->start() ? 1 : 0; });
    for (auto& t : starts) t.join();
    for (int i = 0; i < n; ++i) REQUIRE_MESSAGE(ok[i] == 1, nodes[i]->log());
  }
  collector_process& operator[](int i) { return *nodes[i]; }
};

json post_traces(collector_process& c, const json& traces) {
  for (int attempt = 0; attempt < 50; ++attempt) {
    auto cl = c.client();
    auto r = cl->Post("/api/traces", json{{"traces", traces}}.dump(), "application/json");
    REQUIRE(r);
    if (r->status == 503) {  // busy: the client retries, as the SDK does
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    REQUIRE_MESSAGE(r->status == 200, r->body);
    return json::parse(r->body);
  }
  FAIL("still 503 after 50 attempts");
  return {};
}

json get_json(collector_process& c, const std::string& path) {
  auto r = c.client()->Get(path);
  REQUIRE(r);
  REQUIRE_MESSAGE(r->status == 200, path << ": " << r->body);
  return json::parse(r->body);
}

json trace(const std::string& session, const std::string& text) {
  return json{
      {"session_id", session},
      {"request",
       {{"model", "gpt-4o-mini"}, {"messages", json::array({{{"role", "user"}, {"content", text}}})}}},
      {"response", {{"choices", json::array({{{"message", {{"role", "assistant"}, {"content", "ok"}}}}})}}}};
}

}  // namespace

TEST_CASE("three collectors writing one session at once: turns 1..N, no gap, no duplicate") {
  cluster c(3);
  constexpr int k_threads = 6;
  constexpr int k_per_thread = 15;
  std::vector<std::thread> writers;
  for (int t = 0; t < k_threads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < k_per_thread; ++i) {
        // Batches of two, half of them naming a second session too (locks taken in sorted order).
        json batch = json::array({trace("shared", "w" + std::to_string(t) + " i" + std::to_string(i))});
        if (i % 2) batch.push_back(trace("other-" + std::to_string(t % 2), "x"));
        post_traces(c[(t + i) % 3], batch);
      }
    });
  }
  for (auto& w : writers) w.join();
  const int total = k_threads * k_per_thread;
  auto page = get_json(c[1], "/api/sessions/shared/records?size=200");
  REQUIRE(page["items"].size() == static_cast<size_t>(total));
  std::set<int64_t> turns;
  for (auto& r : page["items"]) turns.insert(r["turn_number"].get<int64_t>());
  CHECK(turns.size() == static_cast<size_t>(total));
  CHECK(*turns.begin() == 1);
  CHECK(*turns.rbegin() == total);
  auto s = get_json(c[2], "/api/sessions/shared");
  CHECK(s["record_count"] == total);
  CHECK(s["turn_count"] == total);
  auto stats = get_json(c[0], "/api/stats");
  CHECK(stats["records"] == total + k_threads * (k_per_thread / 2));
}

TEST_CASE("pending through one collector, final through another: one record, merged") {
  cluster c(2);
  json pending = trace("m", "question");
  pending["id"] = "call-1";
  pending["status"] = "pending";
  pending.erase("response");
  auto a = post_traces(c[0], json::array({pending}));
  CHECK(a["results"][0]["status"] == "created");
  json final_ = trace("m", "question");
  final_["id"] = "call-1";
  final_["status"] = "success";
  auto b = post_traces(c[1], json::array({final_}));
  CHECK(b["results"][0]["status"] == "updated");
  auto rec = get_json(c[0], "/api/records/call-1");
  CHECK(rec["status"] == "success");
  CHECK(rec["turn_number"] == 1);
  auto stats = get_json(c[1], "/api/stats");
  CHECK(stats["records"] == 1);
  CHECK(stats["pending"] == 0);
  // A late pending through the first collector never overwrites the final status.
  post_traces(c[0], json::array({pending}));
  CHECK(get_json(c[1], "/api/records/call-1")["status"] == "success");
}

TEST_CASE("the same ids sent to every collector at once are stored once") {
  cluster c(3);
  std::vector<std::thread> senders;
  for (int n = 0; n < 3; ++n) {
    senders.emplace_back([&, n] {
      for (int round = 0; round < 3; ++round) {
        json batch = json::array();
        for (int i = 0; i < 10; ++i) {
          json t = trace("idem", "same " + std::to_string(i));
          t["id"] = "id-" + std::to_string(i);
          batch.push_back(t);
        }
        post_traces(c[n], batch);
      }
    });
  }
  for (auto& s : senders) s.join();
  auto page = get_json(c[0], "/api/sessions/idem/records?size=100");
  CHECK(page["items"].size() == 10);
  CHECK(page["total"] == 10);
  std::set<int64_t> turns;
  for (auto& r : page["items"]) turns.insert(r["turn_number"].get<int64_t>());
  CHECK(turns.size() == 10);
  CHECK(get_json(c[2], "/api/sessions/idem")["record_count"] == 10);
}

TEST_CASE("a record ingested through collector A reaches collector B's event stream within a second") {
  cluster c(2);
  std::mutex mu;
  std::string seen;
  std::atomic<bool> stop{false};
  std::atomic<bool> opened{false};
  std::thread reader([&] {
    auto cl = c[1].client();
    cl->set_read_timeout(5, 0);
    cl->Get("/api/events", [&](const char* data, size_t n) {
      opened = true;
      std::lock_guard<std::mutex> g(mu);
      seen.append(data, n);
      return !stop.load();
    });
  });
  REQUIRE(llmtrace::testing::wait_until([&] { return opened.load(); }, std::chrono::milliseconds(5000)));
  auto arrives_within = [&](const std::string& id, std::chrono::milliseconds bound) {
    return llmtrace::testing::wait_until(
        [&] {
          std::lock_guard<std::mutex> g(mu);
          return seen.find("\"" + id + "\"") != std::string::npos;
        },
        bound);
  };
  // The first record after both collectors started: B LISTENs before it serves (a change committed before
  // its LISTEN would never reach it), so this one arrives too. Its time is not the promise's: it includes
  // each collector opening its first pooled connection (a new server process each, slow on a loaded
  // machine); the clock starts once B's listener has delivered a change.
  json warm = trace("live", "first after start");
  warm["id"] = "warm-up";
  const auto warm_sent = std::chrono::steady_clock::now();
  post_traces(c[0], json::array({warm}));
  REQUIRE(arrives_within("warm-up", std::chrono::milliseconds(5000)));
  const auto warm_took =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - warm_sent);
  // The promise: a record ingested through A is in B's stream within a second of A being sent it.
  std::vector<std::chrono::milliseconds> took;
  bool arrived = true;
  for (const char* id : {"live-0", "live-1"}) {
    json t = trace("live", "across collectors");
    t["id"] = id;
    const auto sent = std::chrono::steady_clock::now();
    post_traces(c[0], json::array({t}));
    arrived = arrived && arrives_within(id, std::chrono::milliseconds(3000));
    took.push_back(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - sent));
  }
  stop = true;
  reader.join();
  REQUIRE(arrived);
  for (auto t : took) CHECK(t < std::chrono::milliseconds(1000));
  MESSAGE("A -> B's stream: first record " << warm_took.count() << " ms, then " << took[0].count() << " ms, "
                                           << took[1].count() << " ms");
  std::string text;
  {
    std::lock_guard<std::mutex> g(mu);
    text = seen;
  }
  CHECK(text.find("event: record") != std::string::npos);
  CHECK(text.find("event: session") != std::string::npos);

  // Resume by Last-Event-ID on B: events after the first one are replayed from B's ring.
  const auto id_pos = text.find("id: ");
  REQUIRE(id_pos != std::string::npos);
  const std::string first_id = text.substr(id_pos + 4, text.find('\n', id_pos) - id_pos - 4);
  json t2 = trace("live", "second");
  t2["id"] = "live-2";
  post_traces(c[0], json::array({t2}));
  REQUIRE(
      llmtrace::testing::wait_until([&] { return get_json(c[1], "/api/sessions/live")["record_count"] == 4; },
                                    std::chrono::milliseconds(3000)));
  std::this_thread::sleep_for(std::chrono::milliseconds(500));  // B's listener publishes after the commit
  std::string resumed;
  auto cl = c[1].client();
  cl->set_read_timeout(2, 0);
  httplib::Headers h = {{"Last-Event-ID", first_id}};
  cl->Get("/api/events", h, [&](const char* data, size_t n) {
    resumed.append(data, n);
    return resumed.find("\"live-2\"") == std::string::npos;
  });
  CHECK(resumed.find("\"live-2\"") != std::string::npos);
  CHECK(resumed.find("id: " + first_id + "\n") == std::string::npos);
}

TEST_CASE("kill -9 of one collector leaves the others serving" * doctest::description("reliability")) {
  cluster c(3);
  post_traces(c[0], json::array({trace("k", "before")}));
  c[0].kill9();
  for (int i = 1; i < 3; ++i) {
    auto r = post_traces(c[i], json::array({trace("k", "after " + std::to_string(i))}));
    CHECK(r["accepted"] == 1);
  }
  auto s = get_json(c[2], "/api/sessions/k");
  CHECK(s["record_count"] == 3);
  CHECK(s["turn_count"] == 3);
}

TEST_CASE(
    "PostgreSQL restarting under load: 503 + Retry-After meanwhile, then reconnects and nothing acked is "
    "lost") {
  // A server of this test's own: it is restarted under the collector.
  llmtrace::testing::pg_detail::private_server server;
  REQUIRE_MESSAGE(!server.info.base_url.empty(), server.info.problem);
  temp_dir dir;
  process_options o;
  o.db_path = server.info.base_url;
  o.log_path = dir.file("collector.log");
  collector_process c(o);
  REQUIRE(c.start());

  std::atomic<bool> stop{false};
  std::atomic<int> unavailable{0};
  std::atomic<int> other{0};
  std::vector<std::string> acked;  // the writer's own until joined
  std::atomic<size_t> acked_n{0};
  std::thread writer([&] {
    auto cl = c.client();
    cl->set_read_timeout(10, 0);
    for (int n = 0; !stop; ++n) {
      json t = trace("restart", "n" + std::to_string(n));
      t["id"] = "r-" + std::to_string(n);
      auto r = cl->Post("/api/traces", json{{"traces", json::array({t})}}.dump(), "application/json");
      if (r && r->status == 200) {
        acked.push_back(t["id"]);
        ++acked_n;
      } else if (r && r->status == 503 && r->has_header("Retry-After")) {
        ++unavailable;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      } else {
        ++other;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const size_t before = acked_n.load();
  const std::string restart = server.as_user + server.bin + "/pg_ctl -D " + (server.dir / "data").string() +
                              " -m fast -w restart > /dev/null 2>&1";
  REQUIRE(std::system(restart.c_str()) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  writer.join();
  CHECK(before > 0);
  CHECK(acked.size() > before);  // writes go on after the restart: the pool reconnected
  CHECK(other == 0);             // every failure was a 503 with Retry-After, never a 500 or a hang
  MESSAGE("acked " << acked.size() << ", 503 during the restart: " << unavailable.load());
  auto cl = c.client();
  for (const auto& id : acked) {
    auto r = cl->Get("/api/records/" + id);
    REQUIRE(r);
    CHECK_MESSAGE(r->status == 200, id);
  }
  auto s = get_json(c, "/api/sessions/restart");
  // A 503 whose COMMIT reached the server before the connection died may still have stored its record.
  CHECK(s["record_count"].get<int64_t>() >= static_cast<int64_t>(acked.size()));
}

TEST_CASE("the database URL's password never appears in the log, /api/stats, /metrics or an error") {
  const auto& server = llmtrace::testing::test_pg_server();
  REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
  // The test server trusts loopback logins, so a URL with a password still connects.
  std::string url = llmtrace::testing::fresh_pg_url();
  const std::string secret = "Pw-Secret-4711";
  url.replace(url.find("postgres@"), 9, "postgres:" + secret + "@");
  temp_dir dir;
  process_options o;
  o.db_path = url;
  o.log_path = dir.file("collector.log");
  o.args = {"--log-level", "debug"};
  collector_process c(o);
  REQUIRE(c.start());
  post_traces(c, json::array({trace("pw", "hello")}));
  auto cl = c.client();
  for (const char* path : {"/api/stats", "/metrics", "/api/sessions/pw", "/api/sessions"}) {
    auto r = cl->Get(path);
    REQUIRE(r);
    CHECK(r->body.find(secret) == std::string::npos);
  }
  CHECK(c.terminate() == 0);
  const std::string log = c.log();
  CHECK(log.find("postgres:***@") != std::string::npos);  // the log names the database, redacted
  CHECK(log.find(secret) == std::string::npos);

  // A server that is not there: the error names the database without the password.
  process_options bad;
  bad.db_path = "postgresql://llmtrace:" + secret +
                "@127.0.0.1:" + std::to_string(llmtrace::testing::free_port()) + "/x";
  bad.log_path = dir.file("bad.log");
  collector_process b(bad);
  CHECK_FALSE(b.start(std::chrono::milliseconds(3000)));
  const std::string bad_log = b.log();
  CHECK(bad_log.find("cannot") != std::string::npos);
  CHECK(bad_log.find(secret) == std::string::npos);
}
