// The PostgreSQL store on its own (the rule suite runs on it through tests/ingest/store_kinds.hpp): the
// password of a URL never reaches a message, several stores migrating one fresh schema at once, and search
// answering exactly as the SQLite store does (same records, same order, same totals; CJK included).
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "ingest/copy.hpp"
#include "ingest/write_rules.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"
#include "support/pg_server.hpp"
#include "support/test_support.hpp"

namespace {

using namespace llmtrace;

std::unique_ptr<storage::store> open_pg(const std::string& url) {
  storage::pg_options o;
  o.url = url;
  o.connections = 3;
  o.listen = false;
  return storage::open_pg_store(o);
}

model::record_write text_write(const std::string& session, const std::string& text,
                               const std::string& m = "") {
  model::record_write w;
  w.session_id = session;
  w.status = model::record_status::success;
  w.request_json = R"({"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]})";
  w.search_text = text;
  if (!m.empty()) w.model = m;
  w.received_at_ms = model::now_ms();
  return w;
}

}  // namespace

TEST_CASE("a database URL's password is redacted and never appears in an error") {
  CHECK(storage::redact_db_url("postgresql://u:s3cret@h:5432/db") == "postgresql://u:***@h:5432/db");
  CHECK(storage::redact_db_url("postgres://u@h/db?password=s3cret&sslmode=require") ==
        "postgres://u@h/db?password=***&sslmode=require");
  CHECK(storage::redact_db_url("host=h password=s3cret dbname=x") == "host=h password=*** dbname=x");
  CHECK(storage::redact_db_url("./llmtrace.db") == "./llmtrace.db");
  CHECK(storage::is_pg_url("postgresql://h/db"));
  CHECK(storage::is_pg_url("postgres://h/db"));
  CHECK_FALSE(storage::is_pg_url("./postgres.db"));

  // A port nobody listens on, then the test server with a wrong password: the message says why, not the
  // secret.
  const int port = testing::free_port();
  try {
    open_pg("postgresql://llmtrace:Sup3rS3cret@127.0.0.1:" + std::to_string(port) + "/db");
    FAIL("opened a database on a closed port");
  } catch (const std::exception& e) {
    const std::string m = e.what();
    CHECK(m.find("Sup3rS3cret") == std::string::npos);
    CHECK(m.find("cannot") != std::string::npos);
  }
}

TEST_CASE("several stores opening one new schema at once migrate it exactly once") {
  const auto& server = testing::test_pg_server();
  REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
  const std::string url = testing::fresh_pg_url();
  std::vector<std::thread> ts;
  std::vector<std::unique_ptr<storage::store>> stores(4);
  std::vector<std::string> errors(4);
  for (int i = 0; i < 4; ++i) {
    ts.emplace_back([&, i] {
      try {
        stores[i] = open_pg(url);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : ts) t.join();
  for (int i = 0; i < 4; ++i) REQUIRE_MESSAGE(stores[i], errors[i]);
  ingest::write_batch(*stores[0], {text_write("m", "hello")});
  CHECK(stores[3]->stats().records == 1);
}

TEST_CASE("search on PostgreSQL answers as on SQLite (words, prefixes, phrases, CJK, filters, totals)") {
  const auto& server = testing::test_pg_server();
  REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
  testing::temp_dir dir;
  storage::sqlite_options so;
  so.path = dir.file("s.db");
  auto lite = storage::open_sqlite_store(so);
  auto pg = open_pg(testing::fresh_pg_url());
  const std::vector<std::pair<std::string, std::string>> texts = {
      {"a", "What is the weather in Paris today?"},
      {"a", "The WEATHER report: sunny, 25°C."},
      {"b", "请问北京今天的天气怎么样？"},
      {"b", "東京の天気は晴れです。"},
      {"c", "Café au lait, résumé and naïve façade"},
      {"c", "gpt-4o-mini answered the user_id question"},
      {"a", "refund policy for order #12345"},
      {"b", "天气预报说明天下雨"},
      {"c", "weathering the storm; weatherproof"},
      {"a", "It's a \"quoted\" phrase with 'apostrophes' and back\\slash"},
  };
  for (size_t i = 0; i < texts.size(); ++i) {
    auto w = text_write(texts[i].first, texts[i].second, i % 2 ? "m-odd" : "m-even");
    if (i == 3) w.status = model::record_status::error;
    ingest::write_batch(*lite, {w});
    ingest::write_batch(*pg, {w});
  }
  auto ids = [](storage::store& s, const storage::search_query& q) {
    auto p = s.search(q);
    std::vector<std::string> out;
    for (auto& r : p.items) out.push_back(r.session_id + ":" + std::to_string(r.turn_number));
    out.push_back("total=" + std::to_string(p.total));
    return out;
  };
  for (const char* text : {"weather",
                           "WEATHER",
                           "weath",
                           "weath*",
                           "paris weather",
                           "天气",
                           "北京 天气",
                           "天",
                           "東京",
                           "晴れ",
                           "cafe",
                           "résumé",
                           "naive",
                           "gpt-4o-mini",
                           "4o",
                           "user_id",
                           "user",
                           "#12345",
                           "12345",
                           "\"quoted\"",
                           "apostrophes",
                           "slash",
                           "'",
                           "***",
                           "nothing-here",
                           "storm; weatherproof",
                           "下雨"}) {
    storage::search_query q;
    q.text = text;
    q.paging.size = 50;
    CHECK_MESSAGE(ids(*lite, q) == ids(*pg, q), "query: " << text);
    q.model = "m-odd";
    CHECK_MESSAGE(ids(*lite, q) == ids(*pg, q), "query+model: " << text);
    q.model.clear();
    q.session_id = "b";
    CHECK_MESSAGE(ids(*lite, q) == ids(*pg, q), "query+session: " << text);
  }
  storage::search_query q;
  q.status = model::record_status::error;
  CHECK(ids(*lite, q) == ids(*pg, q));
  q.status.reset();
  q.paging.size = 3;
  q.paging.page = 2;
  CHECK(ids(*lite, q) == ids(*pg, q));
}

namespace {

// Every answer of the read API a client could compare, as text.
std::string api_answers(storage::store& s) {
  std::string out;
  auto st = s.stats();
  out += "stats " + std::to_string(st.sessions) + " " + std::to_string(st.records) + " " +
         std::to_string(st.errors) + " " + std::to_string(st.pending) + " " +
         std::to_string(st.total_tokens) + "\n";
  storage::page_request pr;
  pr.size = 7;
  for (pr.page = 1;; ++pr.page) {
    auto page = s.list_sessions(pr);
    if (page.items.empty()) break;
    for (auto& x : page.items) {
      out += "session " + x.id + " " + x.name + " " + std::to_string(x.created_at_ms) + " " +
             std::to_string(x.updated_at_ms) + " " + std::to_string(x.record_count) + " " +
             std::to_string(x.turn_count) + " " + std::to_string(x.error_count) + " " +
             std::to_string(x.total_tokens) + "\n";
      storage::page_request rp;
      rp.size = 1000;
      std::vector<std::string> ids;
      for (auto& r : s.list_records(x.id, rp).items) {
        ids.push_back(r.id);
        out += " record " + r.id + " t" + std::to_string(r.turn_number) + " " +
               std::string(model::to_string(r.status)) + " " + r.request_json + " " + r.response_json + " " +
               r.replay_of + " " + r.model + " " + std::to_string(r.created_at_ms) + "\n";
      }
      for (auto& sc : s.list_scores(model::score_target::record, ids))
        out += " score " + sc.id + " " + sc.target_id + " " + sc.name + " " + sc.value_json + "\n";
      for (auto& sc : s.list_scores(model::score_target::session, {x.id}))
        out += " sscore " + sc.id + " " + sc.name + " " + sc.value_json + "\n";
    }
  }
  for (const char* text : {"hello", "天气", "refund", "hel"}) {
    storage::search_query q;
    q.text = text;
    q.paging.size = 30;
    auto page = s.search(q);
    out += std::string("search ") + text + " " + std::to_string(page.total) + ":";
    for (auto& r : page.items) out += " " + r.id;
    out += "\n";
  }
  storage::search_query all;
  all.paging.size = 50;
  for (auto& r : s.search(all).items) out += " " + r.id;
  return out;
}

model::record_write chat(const std::string& session, const std::string& text) {
  auto w = text_write(session, "");
  w.request_json =
      nlohmann::json({{"model", "gpt-4o-mini"},
                      {"messages", nlohmann::json::array({{{"role", "user"}, {"content", text}}})}})
          .dump();
  w.search_text = text;
  return w;
}

}  // namespace

TEST_CASE("copy round-trips SQLite -> PostgreSQL -> SQLite with identical API answers, and is idempotent") {
  const auto& server = testing::test_pg_server();
  REQUIRE_MESSAGE(!server.base_url.empty(), server.problem);
  testing::temp_dir dir;
  storage::sqlite_options so;
  so.path = dir.file("src.db");
  auto src = storage::open_sqlite_store(so);
  const char* texts[] = {"hello world", "请问北京今天的天气怎么样", "refund my order", "hello again", "help"};
  std::vector<std::string> first_ids;
  for (int s = 0; s < 12; ++s) {
    std::vector<model::record_write> batch;
    for (int i = 0; i < 25; ++i) {
      auto w = chat("sess-" + std::to_string(s), texts[(s + i) % 5]);
      if (i % 7 == 3) w.status = model::record_status::error;
      if (i % 11 == 5) w.status = model::record_status::pending;
      w.usage.prompt_tokens = i;
      w.usage.completion_tokens = 2;
      batch.push_back(w);
    }
    auto res = ingest::write_batch(*src, batch);
    first_ids.push_back(res[0].record.id);
    // A replay of the first record, created later but listed in its turn.
    auto replay = chat("sess-" + std::to_string(s), "replayed hello");
    replay.replay_of = res[0].record.id;
    ingest::write_batch(*src, {replay});
  }
  src->rename_session("sess-3", "Renamed 会话", model::now_ms() + 5000);
  model::score sc;
  sc.id = "score-1";
  sc.target = model::score_target::record;
  sc.target_id = first_ids[2];
  sc.name = "helpful";
  sc.value_json = "1";
  sc.created_at_ms = model::now_ms();
  REQUIRE(src->add_score(sc));
  sc.id = "score-2";
  sc.target = model::score_target::session;
  sc.target_id = "sess-4";
  sc.value_json = "\"good\"";
  REQUIRE(src->add_score(sc));
  {  // an empty session
    auto w = chat("empty", "x");
    auto r = ingest::write_batch(*src, {w});
    src->delete_record(r[0].record.id);
  }

  auto pg = open_pg(testing::fresh_pg_url());
  ingest::copy_progress p;
  int calls = 0;
  CHECK(ingest::copy_store(
            *src, *pg, [&](const ingest::copy_progress&) { ++calls; }, p) == "");
  CHECK(calls > 0);
  CHECK(p.records_copied == 12 * 26);
  CHECK(p.scores_copied == 2);
  const std::string expected = api_answers(*src);
  CHECK(api_answers(*pg) == expected);

  // Run again: nothing new, nothing duplicated.
  CHECK(ingest::copy_store(*src, *pg, {}, p) == "");
  CHECK(p.records_copied == 0);
  CHECK(p.scores_copied == 0);
  CHECK(api_answers(*pg) == expected);

  so.path = dir.file("back.db");
  auto back = storage::open_sqlite_store(so);
  CHECK(ingest::copy_store(*pg, *back, {}, p) == "");
  CHECK(api_answers(*back) == expected);
}
