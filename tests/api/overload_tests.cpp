// Overload and store failure paths: ingest admission limit, store_busy / store_unavailable -> 503.
#include <doctest/doctest.h>

#include <sqlite3.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "ingest/ingest_service.hpp"
#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::test_collector;
using llmtrace::testing::wait_until;
using json = nlohmann::json;

namespace {

// A store whose every call fails as the configured exception.
template <class Error>
class failing_store : public storage::store {
 public:
  void write(const std::function<void(storage::write_tx&)>&) override { fail(); }
  bool rename_session(const std::string&, const std::string&, int64_t) override { fail(); }
  bool delete_session(const std::string&) override { fail(); }
  bool delete_record(const std::string&) override { fail(); }
  storage::page<model::session> list_sessions(const storage::page_request&) override { fail(); }
  std::optional<model::session> get_session(const std::string&) override { fail(); }
  storage::page<model::record> list_records(const std::string&, const storage::page_request&) override {
    fail();
  }
  std::optional<model::record> get_record(const std::string&) override { fail(); }
  storage::page<model::record> search(const storage::search_query&) override { fail(); }
  storage::store_stats stats() override { fail(); }
  void for_each_record(const std::string&, const std::function<bool(const model::record&)>&) override {
    fail();
  }
  std::optional<model::score> add_score(const model::score&) override { fail(); }
  std::vector<model::score> list_scores(model::score_target, const std::vector<std::string>&) override {
    fail();
  }
  std::vector<storage::timeseries_row> timeseries(const storage::timeseries_query&) override { fail(); }
  std::vector<std::string> oldest_sessions(int64_t, int) override { fail(); }
  int64_t used_bytes() override { fail(); }
  std::vector<model::record> records_after(int64_t&, int) override { fail(); }

 private:
  [[noreturn]] static void fail() { throw Error("simulated store failure"); }
};

template <class Error>
void check_store_failure(const std::string& code, const std::string& retry_after) {
  config cfg;
  cfg.port = 0;
  collector_server server(cfg, std::make_unique<failing_store<Error>>());
  int port = server.bind();
  std::thread t([&] { server.run(); });
  REQUIRE(wait_until([&] { return server.is_running(); }));
  httplib::Client c("127.0.0.1", port);
  std::vector<std::function<httplib::Result()>> calls = {
      [&] { return c.Post("/api/trace", R"({"session_id":"x"})", "application/json"); },
      [&] { return c.Post("/api/traces", R"({"traces":[{"session_id":"x"}]})", "application/json"); },
      [&] { return c.Get("/api/sessions"); },
      [&] { return c.Get("/api/records/abc"); },
      [&] { return c.Get("/api/search?q=a"); },
      [&] { return c.Get("/api/stats"); }};
  for (const auto& call : calls) {
    auto r = call();
    REQUIRE(r);
    INFO(r->body);
    CHECK(r->status == 503);
    CHECK(r->get_header_value("Retry-After") == retry_after);
    CHECK(json::parse(r->body)["error"]["code"] == code);
  }
  CHECK(c.Get("/healthz")->status == 200);
  server.stop();
  t.join();
}

}  // namespace

TEST_CASE("overload: ingest beyond the admission limit gets 503 with Retry-After") {
  test_collector tc([](config& c) { c.max_ingest_inflight = 1; });
  // Hold the only ingest slot: a request whose body is in, waiting for the write lock another connection
  // holds (the slot is taken after the body is read, so an unfinished body would hold nothing).
  sqlite3* db = nullptr;
  REQUIRE(sqlite3_open(tc.cfg().db_path.c_str(), &db) == SQLITE_OK);
  REQUIRE(sqlite3_exec(db, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) == SQLITE_OK);
  auto holder = tc.client();
  int held_status = 0;
  std::thread t([&] {
    auto r = holder->Post("/api/trace", R"({"session_id":"held"})", "application/json");
    held_status = r ? r->status : -1;
  });
  REQUIRE(wait_until([&] { return tc.server().ingest().inflight().load() == 1; }));
  auto c = tc.client();
  auto r = c->Post("/api/trace", R"({"session_id":"x"})", "application/json");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->get_header_value("Retry-After") == "1");
  CHECK(json::parse(r->body)["error"]["code"] == "overloaded");
  CHECK(c->Get("/api/sessions")->status == 200);  // reads are not limited

  sqlite3_exec(db, "COMMIT", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  t.join();
  CHECK(held_status == 201);
  REQUIRE(wait_until([&] { return tc.server().ingest().inflight().load() == 0; }));
  CHECK(c->Post("/api/trace", R"({"session_id":"x"})", "application/json")->status == 201);
}

TEST_CASE("overload: store_busy is 503 + Retry-After 1, store_unavailable is 503 with a message") {
  check_store_failure<storage::store_busy>("store_busy", "1");
  check_store_failure<storage::store_unavailable>("store_unavailable", "5");
}
