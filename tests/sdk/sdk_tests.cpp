// The C++ SDK against fake collectors over real loopback HTTP: batching, retries by the OTLP rules, bounded
// memory with drops counted, shutdown deadlines, the RAII call helper, sessions, ids, env and fork safety.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <regex>
#include <set>
#include <stdexcept>

#include <doctest/doctest.h>

extern char** environ;

#include "fake_servers.hpp"
#include "llmtrace/llmtrace.hpp"

using namespace std::chrono_literals;
using llmtrace::test::fake_collector;
using llmtrace::test::script_server;
using llmtrace::test::scripted;
using llmtrace::test::wait_for;

namespace {

llmtrace::options fast_options(const std::string& endpoint) {
  llmtrace::options o;
  o.endpoint = endpoint;
  o.flush_interval = 20ms;
  o.initial_backoff = 10ms;
  o.max_backoff = 50ms;
  o.connect_timeout = 500ms;
  o.request_timeout = 2000ms;
  o.on_warning = [](std::string_view) {};  // keep test output clean
  return o;
}

std::string request_json(int i) {
  return R"({"model":"gpt-test","messages":[{"role":"user","content":"hello )" + std::to_string(i) +
         R"("}]})";
}

}  // namespace

TEST_CASE("batch: records arrive once with their fields") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  for (int i = 0; i < 10; ++i)
    CHECK(c.trace("s-1", i + 1, request_json(i), R"({"choices":[]})", llmtrace::status::success, "",
                  R"({"k":"v"})") == llmtrace::trace_result::ok);
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.record_count() == 10);
  CHECK(fc.duplicates() == 0);
  auto recs = fc.records();
  std::set<int64_t> turns;
  for (auto& r : recs) {
    CHECK(r["session_id"] == "s-1");
    CHECK(r["status"] == "success");
    CHECK(r["request"]["model"] == "gpt-test");
    CHECK(r["metadata"]["k"] == "v");
    CHECK(r["id"].get<std::string>().size() == 36);
    turns.insert(r["turn_number"].get<int64_t>());
  }
  CHECK(turns.size() == 10);
  auto s = c.stats();
  CHECK(s.enqueued == 10);
  CHECK(s.sent == 10);
  CHECK(s.failed == 0);
  CHECK(s.dropped == 0);
  CHECK(s.queue_bytes == 0);
}

TEST_CASE("batch: split by max_batch_records and max_batch_bytes") {
  fake_collector fc;
  auto o = fast_options(fc.endpoint());
  o.max_batch_records = 100;
  o.flush_interval = 10s;  // only explicit flushes and full batches send
  {
    llmtrace::client c(o);
    for (int i = 0; i < 1000; ++i) c.trace("s", 0, request_json(i), "null");
    CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  }
  CHECK(fc.record_count() == 1000);
  for (auto n : fc.batch_sizes()) CHECK(n <= 100);
  CHECK(fc.batch_sizes().size() >= 10);

  fake_collector fc2;
  auto o2 = fast_options(fc2.endpoint());
  o2.max_batch_bytes = 4096;
  llmtrace::client c2(o2);
  const std::string big(1000, 'x');
  for (int i = 0; i < 40; ++i) c2.trace("s", 0, "{\"p\":\"" + big + "\"}", "null");
  CHECK(c2.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc2.record_count() == 40);
  for (auto n : fc2.batch_sizes()) CHECK(n <= 4);
}

TEST_CASE("batch: gzip body and bearer api key") {
  fake_collector fc;
  auto o = fast_options(fc.endpoint());
  o.gzip = true;
  o.api_key = "sekret";
  llmtrace::client c(o);
  for (int i = 0; i < 50; ++i) c.trace("s", 0, request_json(i), "null");
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.record_count() == 50);
  auto hs = fc.headers();
  REQUIRE(!hs.empty());
  for (auto& h : hs) {
    auto ce = h.find("Content-Encoding");
    REQUIRE(ce != h.end());
    CHECK(ce->second == "gzip");
    auto auth = h.find("Authorization");
    REQUIRE(auth != h.end());
    CHECK(auth->second == "Bearer sekret");
  }
}

TEST_CASE("json: strings are escaped and invalid UTF-8 replaced") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  const std::string nasty = std::string("quote\" back\\ nl\n tab\t ctl\x01 utf8 \xC3\xA9 bad \xFF end");
  llmtrace::record r;
  r.session_id = "s \"q\"";
  r.request_json = "{}";
  r.status = llmtrace::status::error;
  r.error_message = nasty;
  r.model = "m\n";
  r.latency_ms = 12.5;
  r.started_at = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  CHECK(c.trace(r) == llmtrace::trace_result::ok);
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  auto recs = fc.records();
  REQUIRE(recs.size() == 1);
  CHECK(recs[0]["session_id"] == "s \"q\"");
  CHECK(recs[0]["error_message"] ==
        std::string("quote\" back\\ nl\n tab\t ctl\x01 utf8 \xC3\xA9 bad \xEF\xBF\xBD end"));
  CHECK(recs[0]["model"] == "m\n");
  CHECK(recs[0]["status"] == "error");
  CHECK(recs[0]["latency_ms"].get<double>() == doctest::Approx(12.5));
  CHECK(recs[0]["started_at"] == "2023-11-14T22:13:20.123Z");
  CHECK(recs[0]["response"].is_null());
}

TEST_CASE("retry: 429 with Retry-After, 503, 504, 502 and a reset are retried until success") {
  script_server ss({scripted::answer(429, "1"), scripted::answer(503), scripted::answer(504),
                    scripted::answer(502), scripted::close_connection()});
  auto o = fast_options(ss.endpoint());
  o.max_retries = 10;
  o.max_backoff = 2000ms;  // Retry-After is capped by max_backoff
  llmtrace::client c(o);
  for (int i = 0; i < 5; ++i) c.trace("s", 0, request_json(i), "null");
  CHECK(c.flush(10s) == llmtrace::flush_result::ok);
  CHECK(ss.requests() == 6);
  CHECK(ss.records_accepted() == 5);
  auto s = c.stats();
  CHECK(s.retried == 5);
  CHECK(s.sent == 5);
  CHECK(s.failed == 0);
  auto times = ss.request_times();
  REQUIRE(times.size() >= 2);
  CHECK(times[1] - times[0] >= 900ms);  // honoured Retry-After: 1
}

TEST_CASE("retry: Retry-After as an HTTP date is honoured") {
  // A date in the past means "now".
  script_server ss({scripted::answer(503, "Wed, 21 Oct 2015 07:28:00 GMT")});
  llmtrace::client c(fast_options(ss.endpoint()));
  c.trace("s", 0, "{}", "null");
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(ss.requests() == 2);
  CHECK(c.stats().sent == 1);
}

TEST_CASE("retry: 400, 401, 413 and 500 are not retried, the batch is counted failed") {
  script_server ss(
      {scripted::answer(400), scripted::answer(500), scripted::answer(401), scripted::answer(413)});
  auto o = fast_options(ss.endpoint());
  o.max_retries = 10;
  std::vector<std::string> warnings;
  std::mutex wmu;
  o.on_warning = [&](std::string_view w) {
    std::lock_guard lk(wmu);
    warnings.emplace_back(w);
  };
  llmtrace::client c(o);
  for (int round = 0; round < 4; ++round) {
    c.trace("s", 0, R"({"secret":"do-not-log"})", "null");
    c.trace("s", 0, R"({"secret":"do-not-log"})", "null");
    CHECK(c.flush(5s) == llmtrace::flush_result::ok);
    CHECK(ss.requests() == static_cast<std::size_t>(round + 1));
  }
  auto s = c.stats();
  CHECK(s.failed == 8);
  CHECK(s.retried == 0);
  CHECK(s.sent == 0);
  std::lock_guard lk(wmu);
  CHECK(warnings.size() == 1);  // rate limited: one per kind per 10 s
  for (auto& w : warnings) CHECK(w.find("do-not-log") == std::string::npos);
}

TEST_CASE("retry: gives up after max_retries") {
  script_server ss(std::vector<scripted>(10, scripted::answer(503)));
  auto o = fast_options(ss.endpoint());
  o.max_retries = 2;
  llmtrace::client c(o);
  c.trace("s", 0, "{}", "null");
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(ss.requests() == 3);
  auto s = c.stats();
  CHECK(s.retried == 2);
  CHECK(s.failed == 1);
}

TEST_CASE("retry: a 200 partial success is not retried, rejected items count as failed") {
  fake_collector fc;
  fc.reject_when([](const nlohmann::json& t) { return t.value("turn_number", 0) == 2; });
  llmtrace::client c(fast_options(fc.endpoint()));
  for (int i = 1; i <= 3; ++i) c.trace("s", i, "{}", "null");
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.requests() == 1);
  auto s = c.stats();
  CHECK(s.sent == 2);
  CHECK(s.failed == 1);
  CHECK(s.retried == 0);
}

TEST_CASE("shutdown: returns within the deadline against a listener that never answers") {
  script_server ss({scripted::never_answer()});
  auto o = fast_options(ss.endpoint());
  o.request_timeout = 30s;  // the deadline, not the read timeout, must end it
  llmtrace::client c(o);
  c.trace("s", 0, "{}", "null");
  REQUIRE(wait_for([&] { return ss.requests() == 1; }));
  const auto t0 = std::chrono::steady_clock::now();
  const auto r = c.shutdown(2s);
  const auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r == llmtrace::flush_result::timeout);
  CHECK(took < 2500ms);
  CHECK(c.stats().discarded == 1);
  CHECK(c.trace("s", 0, "{}", "null") == llmtrace::trace_result::stopped);
}

TEST_CASE("shutdown: flush times out while the collector hangs, then shutdown is bounded") {
  script_server ss({scripted::never_answer()});
  auto o = fast_options(ss.endpoint());
  o.request_timeout = 30s;
  o.exit_flush_deadline = 300ms;
  auto t0 = std::chrono::steady_clock::now();
  {
    llmtrace::client c(o);
    c.trace("s", 0, "{}", "null");
    CHECK(c.flush(200ms) == llmtrace::flush_result::timeout);
  }  // destructor: bounded by exit_flush_deadline
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
}

TEST_CASE(
    "queue: collector down, 100k traces stay within budget; started mid-way, queued records arrive once") {
  const int port = llmtrace::test::free_port();
  auto o = fast_options("http://127.0.0.1:" + std::to_string(port));
  o.queue_limit_bytes = 2u << 20;
  o.max_retries = 100000;  // keep retrying until the collector appears
  o.max_backoff = 50ms;
  o.connect_timeout = 200ms;
  llmtrace::client c(o);
  const int calls = 100000;
  const std::string req =
      R"({"model":"m","messages":[{"role":"user","content":"0123456789012345678901234567890123456789"}]})";
  uint64_t max_bytes = 0;
  int ok = 0;
  std::unique_ptr<fake_collector> fc;
  for (int i = 0; i < calls; ++i) {
    ok += c.trace("down", 0, req, "null") == llmtrace::trace_result::ok ? 1 : 0;
    if (i % 64 == 0) max_bytes = std::max(max_bytes, c.stats().queue_bytes);
    if (i == calls / 2) {
      auto s = c.stats();
      CHECK(s.dropped > 0);
      CHECK(s.sent == 0);
      fc = std::make_unique<fake_collector>(port);  // the collector comes up mid-way
      REQUIRE(fc->port() == port);
    }
  }
  auto s = c.stats();
  CHECK(s.enqueued + s.dropped == static_cast<uint64_t>(calls));
  CHECK(s.enqueued == static_cast<uint64_t>(ok));
  CHECK(max_bytes <= o.queue_limit_bytes);
  CHECK(s.queue_bytes <= o.queue_limit_bytes);

  CHECK(c.flush(20s) == llmtrace::flush_result::ok);
  s = c.stats();
  CHECK(fc->unique_ids() == s.enqueued);
  CHECK(fc->duplicates() == 0);
  CHECK(s.sent == s.enqueued);
  CHECK(s.failed == 0);
  CHECK(s.queue_bytes == 0);
}

TEST_CASE("overflow: block policy waits for room up to its bound, then drops") {
  script_server ss({scripted::never_answer()});
  auto o = fast_options(ss.endpoint());
  o.queue_limit_bytes = 4096;
  o.overflow = llmtrace::overflow_policy::block;
  o.block_timeout = 5ms;
  o.exit_flush_deadline = 200ms;
  llmtrace::client c(o);
  for (int i = 0; i < 40; ++i) c.trace("s", 0, request_json(i), "null");
  auto s = c.stats();
  CHECK(s.enqueued + s.dropped == 40);
  CHECK(s.dropped > 0);
  CHECK(s.queue_bytes <= 4096);
}

TEST_CASE("call: pending then success share an id, latency and times are stamped") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  std::string id;
  {
    auto call = c.start_call("sess", R"({"model":"m"})", 3, "m");
    id = call.id();
    std::this_thread::sleep_for(5ms);
    call.finish(R"({"choices":[{"message":{"content":"hi"}}]})");
    CHECK(call.done());
  }
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  auto recs = fc.records();
  REQUIRE(recs.size() == 2);
  CHECK(recs[0]["id"] == id);
  CHECK(recs[1]["id"] == id);
  CHECK(recs[0]["status"] == "pending");
  CHECK(recs[0]["turn_number"] == 3);
  CHECK(recs[1]["status"] == "success");
  CHECK(recs[1]["model"] == "m");
  CHECK(recs[1]["latency_ms"].get<double>() >= 4.0);
  CHECK(recs[1].contains("started_at"));
  CHECK(recs[1].contains("ended_at"));
  CHECK(recs[1]["response"]["choices"][0]["message"]["content"] == "hi");
}

TEST_CASE("call: fail, abandonment and an exception in flight record errors") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  {
    auto a = c.start_call("sess", "{}");
    a.fail("upstream 500");
  }
  { auto b = c.start_call("sess", "{}"); }
  try {
    auto d = c.start_call("sess", "{}");
    throw std::runtime_error("boom");
  } catch (const std::exception&) {
  }
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  std::vector<std::string> messages;
  for (auto& r : fc.records())
    if (r["status"] == "error") messages.push_back(r["error_message"]);
  REQUIRE(messages.size() == 3);
  CHECK(messages[0] == "upstream 500");
  CHECK(messages[1] == "abandoned");
  CHECK(messages[2].find("abandoned") == 0);
  CHECK(messages[2].find("exception") != std::string::npos);
}

TEST_CASE("session: owns an id and numbers turns 1, 2, 3 across threads") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  llmtrace::session s(c);
  CHECK(s.id().size() == 36);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] {
      for (int i = 0; i < 25; ++i) s.start_call("{}").finish("{}");
    });
  for (auto& t : ts) t.join();
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  std::set<int64_t> turns;
  for (auto& r : fc.records()) {
    CHECK(r["session_id"] == s.id());
    turns.insert(r["turn_number"].get<int64_t>());
  }
  CHECK(turns.size() == 100);
  CHECK(*turns.begin() == 1);
  CHECK(*turns.rbegin() == 100);
  llmtrace::session named(c, "my-session");
  CHECK(named.id() == "my-session");
}

TEST_CASE("ids: UUIDv7, unique and time-ordered") {
  const std::regex re("^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$");
  std::set<std::string> seen;
  std::string prev;
  for (int i = 0; i < 2000; ++i) {
    auto id = llmtrace::new_id();
    CHECK(std::regex_match(id, re));
    CHECK(seen.insert(id).second);
    CHECK(id.substr(0, 13) >= prev.substr(0, std::min<std::size_t>(13, prev.size())));  // ms prefix ordered
    prev = id;
  }
}

TEST_CASE("env: from_env reads endpoint, key and LLMTRACE_DISABLED") {
  ::setenv("LLMTRACE_ENDPOINT", "http://127.0.0.1:9", 1);
  ::setenv("LLMTRACE_API_KEY", "k1", 1);
  ::setenv("LLMTRACE_DISABLED", "1", 1);
  auto o = llmtrace::options::from_env();
  ::unsetenv("LLMTRACE_ENDPOINT");
  ::unsetenv("LLMTRACE_API_KEY");
  ::unsetenv("LLMTRACE_DISABLED");
  CHECK(o.endpoint == "http://127.0.0.1:9");
  CHECK(o.api_key == "k1");
  CHECK(o.disabled);
  llmtrace::client c(o);
  CHECK(c.disabled());
  CHECK(c.trace("s", 0, "{}", "null") == llmtrace::trace_result::disabled);
  CHECK(c.trace_json("{}") == llmtrace::trace_result::disabled);
  CHECK(c.stats().enqueued == 0);
  CHECK(c.flush(1s) == llmtrace::flush_result::disabled);
  CHECK(llmtrace::options::from_env().endpoint == "http://127.0.0.1:8080");
}

TEST_CASE("client: moves keep working and a moved-from client is inert") {
  fake_collector fc;
  llmtrace::client a(fast_options(fc.endpoint()));
  auto call = a.start_call("s", "{}");
  llmtrace::client b(std::move(a));
  CHECK(a.trace("s", 0, "{}", "null") == llmtrace::trace_result::stopped);
  CHECK(b.trace("s", 0, "{}", "null") == llmtrace::trace_result::ok);
  call.finish("{}");
  CHECK(b.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.record_count() == 3);
}

TEST_CASE("fork: the child neither resends the parent's queue nor deadlocks") {
  fake_collector fc;
  auto o = fast_options(fc.endpoint());
  o.flush_interval = 60s;  // hold the parent's records in the queue across fork
  llmtrace::client c(o);
  // Let the flusher thread finish starting first: forking while a thread is being set up can leave
  // allocator locks held in the child under sanitizers, which is not what this test is about.
  REQUIRE(c.flush(5s) == llmtrace::flush_result::ok);
  for (int i = 0; i < 10; ++i) c.trace("parent", 0, "{}", "null");
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    bool ok = c.trace("child", 0, "{}", "null") == llmtrace::trace_result::ok;
    auto r = c.flush(5s);
    auto s = c.stats();
    if (!(ok && r == llmtrace::flush_result::ok && s.sent == 1))
      std::fprintf(stderr,
                   "fork child: traced=%d flush=%s sent=%llu enqueued=%llu failed=%llu requests=%llu\n", ok,
                   llmtrace::to_string(r), static_cast<unsigned long long>(s.sent),
                   static_cast<unsigned long long>(s.enqueued), static_cast<unsigned long long>(s.failed),
                   static_cast<unsigned long long>(s.requests));
    ::_exit(ok && r == llmtrace::flush_result::ok && s.sent == 1 ? 0 : 1);
  }
  int st = 0;
  ::waitpid(pid, &st, 0);
  CHECK(WIFEXITED(st));
  CHECK(WEXITSTATUS(st) == 0);
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.duplicates() == 0);
  int parent = 0, child = 0;
  for (auto& r : fc.records()) (r["session_id"] == "parent" ? parent : child)++;
  CHECK(parent == 10);
  CHECK(child == 1);
}

TEST_CASE("shutdown: with the collector down, reports timeout and counts what it gave up") {
  const int port = llmtrace::test::free_port();
  auto o = fast_options("http://127.0.0.1:" + std::to_string(port));
  o.max_retries = 1000;
  llmtrace::client c(o);
  for (int i = 0; i < 5; ++i) c.trace("s", 0, "{}", "null");
  const auto t0 = std::chrono::steady_clock::now();
  CHECK(c.shutdown(300ms) == llmtrace::flush_result::timeout);
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  auto s = c.stats();
  CHECK(s.discarded == 5);
  CHECK(s.sent == 0);
  CHECK(s.queue_bytes == 0);
}

TEST_CASE("exit: the default client is flushed by atexit, and exit never hangs on a silent collector") {
  fake_collector fc;
  script_server silent({scripted::never_answer()});
  for (int variant = 0; variant < 2; ++variant) {
    const std::string ep = variant == 0 ? fc.endpoint() : silent.endpoint();
    const std::string env_ep = "LLMTRACE_ENDPOINT=" + ep;
    std::vector<char*> envp;
    for (char** e = environ; *e; ++e)
      if (std::strncmp(*e, "LLMTRACE_ENDPOINT=", 18) != 0) envp.push_back(*e);
    envp.push_back(const_cast<char*>(env_ep.c_str()));
    envp.push_back(nullptr);
    char* argv[] = {const_cast<char*>(LLMTRACE_EXIT_PROBE), nullptr};
    const auto t0 = std::chrono::steady_clock::now();
    pid_t pid = 0;
    REQUIRE(::posix_spawn(&pid, LLMTRACE_EXIT_PROBE, nullptr, nullptr, argv, envp.data()) == 0);
    int st = 0;
    ::waitpid(pid, &st, 0);
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  }
  CHECK(fc.record_count() == 1);
  CHECK(silent.requests() == 1);
}

TEST_CASE("batch: a malformed record is dropped and counted, the rest of its batch arrives") {
  fake_collector fc;
  auto o = fast_options(fc.endpoint());
  o.flush_interval = 10s;
  llmtrace::client c(o);
  c.trace("s", 1, "{}", "null");
  c.trace("s", 2, "{not json", "null");
  c.trace("s", 3, "{}", "null");
  CHECK(c.flush(5s) == llmtrace::flush_result::ok);
  CHECK(fc.requests() == 1);
  CHECK(fc.record_count() == 2);
  auto s = c.stats();
  CHECK(s.sent == 2);
  CHECK(s.failed == 1);
  CHECK(s.invalid == 1);
  CHECK(s.queue_bytes == 0);
}

TEST_CASE("shutdown: concurrent calls from several threads all return, once") {
  fake_collector fc;
  llmtrace::client c(fast_options(fc.endpoint()));
  for (int i = 0; i < 100; ++i) c.trace("s", 0, "{}", "null");
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([&] { ok += c.shutdown(5s) == llmtrace::flush_result::ok ? 1 : 0; });
  for (auto& t : ts) t.join();
  CHECK(ok == 4);
  CHECK(fc.record_count() == 100);
  CHECK(c.stats().sent == 100);
}
