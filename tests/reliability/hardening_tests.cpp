// Hardening (issue 13): each numbered finding reproduced as an attacker would, against the real collector
// (in-process on a loopback port, or the real binary when its memory is measured). Test names start with
// "security:" or "reliability:"; CMake registers them under those CTest labels. The figures they print
// (MESSAGE lines) are the ones docs/RELIABILITY.md quotes.
#include <doctest/doctest.h>

#include <sys/socket.h>

#include <condition_variable>
#include <functional>

#include "reliability/rel_support.hpp"

using namespace llmtrace;
using namespace llmtrace::reliability;
using llmtrace::testing::temp_dir;
using llmtrace::testing::test_collector;

namespace {

using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count();
}

std::string trace_body(const std::string& session, const std::string& content = "hello") {
  return json{{"session_id", session},
              {"request", {{"model", "m"}, {"messages", {{{"role", "user"}, {"content", content}}}}}},
              {"response", {{"choices", {{{"message", {{"role", "assistant"}, {"content", "ok"}}}}}}}}}
      .dump();
}

std::string error_code(const httplib::Result& r) {
  if (!r) return "<no answer>";
  try {
    return json::parse(r->body)["error"]["code"].get<std::string>();
  } catch (...) {
    return "<not the JSON error shape: " + r->body.substr(0, 200) + ">";
  }
}

// A TCP connection to 127.0.0.1:port from a chosen loopback source address (127.0.0.2 is "another client").
int connect_from(const char* source_ip, int port, int rcvbuf = 0) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (rcvbuf > 0) ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  sockaddr_in src{};
  src.sin_family = AF_INET;
  ::inet_pton(AF_INET, source_ip, &src.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&src), sizeof(src)) != 0) {
    ::close(fd);
    return -1;
  }
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// Sends a request on fd and returns the status line's code of the first answer (0: none within timeout).
int first_status(int fd, const std::string& request, int timeout_ms = 3000) {
  if (::send(fd, request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size()))
    return 0;
  std::string got;
  char buf[4096];
  auto until = clock_type::now() + std::chrono::milliseconds(timeout_ms);
  while (clock_type::now() < until && got.find("\r\n") == std::string::npos) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return status_of(got);
}

// Resets the process's peak RSS (VmHWM) to its current RSS (/proc/<pid>/clear_refs, "5"), so the next
// VmHWM reading is the peak of what ran in between. Returns the RSS it starts from (KiB).
long reset_peak_rss(const collector_process& p) {
  std::ofstream("/proc/" + std::to_string(p.pid()) + "/clear_refs") << "5";
  return p.peak_rss_kib();
}

// Sends GET /api/events on conn and waits for the collector's ": connected" (what was read goes to seen).
bool open_event_stream(raw_conn& conn, std::string& seen) {
  if (!conn.send_all("GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")) return false;
  return wait_until([&] {
    seen += conn.read_until_close(std::chrono::milliseconds(100));
    return seen.find(": connected") != std::string::npos;
  });
}

// Used bytes of the database as the store counts them (pages in use), read from the file by its own
// connection, so it works whichever process runs the collector.
int64_t db_used_bytes(const std::string& db_path) {
  sqlite3* db = nullptr;
  int64_t out = -1;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_busy_timeout(db, 2000);
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db,
                           "SELECT (page_count - freelist_count) * page_size FROM pragma_page_count(), "
                           "pragma_freelist_count(), pragma_page_size()",
                           -1, &st, nullptr) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
      out = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
  }
  sqlite3_close(db);
  return out;
}

// The collector under test: in-process (test_collector) by default; with LLMTRACE_TEST_COLLECTOR_BIN set,
// that binary as a child process with the same settings as flags (scripts/prefix_check.sh runs these tests
// against the collector before the hardening work that way). A setting the binary has no flag for cannot be
// given to it: the test then fails with "NOT RUNNABLE AGAINST A BINARY", which the script reports as N/A.
class hardening_collector {
 public:
  explicit hardening_collector(const std::function<void(config&)>& tweak = {}) {
    const char* bin = std::getenv("LLMTRACE_TEST_COLLECTOR_BIN");
    if (!bin || !*bin) {
      in_process_ = std::make_unique<test_collector>(tweak);
      return;
    }
    config c;  // test_collector's defaults, then the test's settings
    c.threads = 8;
    c.max_streams = 4;
    c.heartbeat_ms = 200;
    c.upstream = "http://127.0.0.1:9";
    if (tweak) tweak(c);
    const config d;
    std::string missing;
    // Half of --max-streams is the binary's default share (0 says the same).
    if (c.max_streams_per_client != 0 && c.max_streams_per_client != std::max(1, c.max_streams / 2))
      missing += " max_streams_per_client";
    if (c.retention_interval_ms != d.retention_interval_ms) missing += " retention_interval_ms";
    if (c.search_budget_ms != d.search_budget_ms) missing += " search_budget_ms";
    if (c.body_timeout_ms != d.body_timeout_ms) missing += " body_timeout_ms";
    if (!missing.empty()) FAIL("NOT RUNNABLE AGAINST A BINARY: no flag for" << missing);
    process_options po;
    po.db_path = dir_.file("llmtrace.db");
    po.args = {"--threads",
               std::to_string(c.threads),
               "--max-streams",
               std::to_string(c.max_streams),
               "--heartbeat-ms",
               std::to_string(c.heartbeat_ms),
               "--upstream",
               c.upstream,
               "--max-ingest-inflight",
               std::to_string(c.max_ingest_inflight)};
    if (!c.api_key.empty()) po.args.insert(po.args.end(), {"--api-key", c.api_key});
    for (const auto& h : c.allowed_hosts) po.args.insert(po.args.end(), {"--allowed-host", h});
    if (c.retain_days > 0) po.args.insert(po.args.end(), {"--retain-days", std::to_string(c.retain_days)});
    if (c.max_db_mb > 0) po.args.insert(po.args.end(), {"--max-db-mb", std::to_string(c.max_db_mb)});
    if (!c.upstream_api_key.empty()) po.env.emplace_back("OPENAI_API_KEY", c.upstream_api_key);
    c.db_path = po.db_path;
    cfg_ = c;
    process_ = std::make_unique<collector_process>(po);
    if (!process_->start())
      FAIL("collector binary did not start: " << bin << "; its log: " << process_->log().substr(0, 400));
  }

  int port() const { return in_process_ ? in_process_->port() : process_->port(); }
  const config& cfg() const { return in_process_ ? in_process_->cfg() : cfg_; }
  int64_t used_bytes() const { return db_used_bytes(cfg().db_path); }
  std::unique_ptr<httplib::Client> client() const {
    if (in_process_) return in_process_->client();
    auto c = process_->client(cfg_.api_key);
    c->set_read_timeout(10, 0);
    c->set_write_timeout(10, 0);
    return c;
  }

 private:
  temp_dir dir_;
  config cfg_;
  std::unique_ptr<test_collector> in_process_;
  std::unique_ptr<collector_process> process_;
};

}  // namespace

// --- 1. browser safety ---------------------------------------------------------------------------------

TEST_CASE("security: cross-site state-changing requests get 403, with or without an API key") {
  for (std::string key : {"", "k3y-browser"}) {
    CAPTURE(key);
    hardening_collector tc([&](config& c) { c.api_key = key; });
    auto c = tc.client();
    const std::string self = "http://127.0.0.1:" + std::to_string(tc.port());
    int refused = 0;
    auto expect_403 = [&](const httplib::Result& r) {
      REQUIRE(r);
      CHECK(r->status == 403);
      CHECK(error_code(r) == "cross_site_request");
      refused += r->status == 403;
    };
    const httplib::Headers evil = {{"Origin", "https://evil.example"}};
    // The "simple" request a page can send without a preflight, and the JSON one.
    expect_403(c->Post("/api/trace", evil, trace_body("x1"), "text/plain"));
    expect_403(c->Post("/api/trace", evil, trace_body("x2"), "application/json"));
    expect_403(c->Post("/api/traces", evil, R"({"traces":[{"session_id":"x3"}]})", "text/plain"));
    expect_403(c->Post("/api/trace", {{"Sec-Fetch-Site", "cross-site"}}, trace_body("x4"), "text/plain"));
    expect_403(c->Post("/api/trace", {{"Origin", "null"}}, trace_body("x5"), "text/plain"));
    // Another port of the same host is another origin.
    expect_403(c->Post("/api/trace", {{"Origin", "http://127.0.0.1:1"}}, trace_body("x6"), "text/plain"));
    expect_403(c->Post("/v1/chat/completions", evil, R"({"model":"m","messages":[]})", "text/plain"));
    expect_403(c->Post("/api/records/abc/replay", evil, "{}", "text/plain"));
    expect_403(c->Patch("/api/sessions/s", evil, R"({"name":"n"})", "application/json"));
    expect_403(c->Delete("/api/sessions/s", evil));
    // The UI (same origin) and SDKs (no Origin) keep working; reads are not state-changing.
    auto same = c->Post("/api/trace", {{"Origin", self}, {"Sec-Fetch-Site", "same-origin"}}, trace_body("ui"),
                        "application/json");
    REQUIRE(same);
    CHECK(same->status == 201);
    auto sdk = c->Post("/api/trace", trace_body("sdk"), "application/json");
    REQUIRE(sdk);
    CHECK(sdk->status == 201);
    auto read = c->Get("/api/sessions", evil);
    REQUIRE(read);
    CHECK(read->status == 200);
    CHECK(json::parse(read->body)["total"] == 2);  // nothing of the refused requests was stored
    MESSAGE("cross-site requests refused: " << refused << "/10 (key "
                                            << std::string(key.empty() ? "unset" : "set") << ")");
  }
}

TEST_CASE("security: behind a reverse proxy the UI's public origin (an --allowed-host name) may post") {
  hardening_collector tc([](config& c) { c.allowed_hosts = {"trace.example.internal"}; });
  auto c = tc.client();
  auto ok = c->Post("/api/trace", {{"Origin", "https://trace.example.internal"}}, trace_body("proxied"),
                    "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 201);
  auto evil = c->Post("/api/trace", {{"Origin", "https://trace.example.internal.evil.example"}},
                      trace_body("evil"), "application/json");
  REQUIRE(evil);
  CHECK(evil->status == 403);
}

TEST_CASE("security: JSON bodies require Content-Type application/json (OTLP paths also take protobuf)") {
  hardening_collector tc;
  auto c = tc.client();
  auto expect_415 = [&](const httplib::Result& r) {
    REQUIRE(r);
    CHECK(r->status == 415);
    CHECK(error_code(r) == "unsupported_media_type");
    CHECK(json::parse(r->body)["error"]["message"].get<std::string>().find("application/json") !=
          std::string::npos);
  };
  expect_415(c->Post("/api/trace", trace_body("a"), "text/plain"));
  expect_415(c->Post("/api/trace", trace_body("a"), "application/x-www-form-urlencoded"));
  expect_415(c->Post("/api/traces", R"({"traces":[]})", "multipart/form-data; boundary=x"));
  expect_415(c->Post("/api/traces", R"({"traces":[]})", "application/x-protobuf"));
  expect_415(c->Post("/v1/chat/completions", R"({"model":"m","messages":[]})", "text/plain"));
  expect_415(c->Patch("/api/sessions/a", R"({"name":"n"})", "text/plain"));
  expect_415(c->Post("/api/records/abc/replay", "{}", "text/plain"));
  // Parameters and case do not matter; an empty body needs no type.
  auto ok = c->Post("/api/trace", trace_body("a"), "Application/JSON; charset=utf-8");
  REQUIRE(ok);
  CHECK(ok->status == 201);
  auto empty = c->Post("/api/records/none/replay", "", "");
  REQUIRE(empty);
  CHECK(empty->status != 415);
  // OTLP/HTTP's binary encoding passes the policy on its three paths (whatever the route then says).
  for (const char* p : {"/v1/traces", "/v1/logs", "/v1/metrics"}) {
    auto r = c->Post(p, std::string("\x0a\x00", 2), "application/x-protobuf");
    REQUIRE(r);
    CHECK(r->status != 415);
  }
  CHECK(json::parse(c->Get("/api/sessions")->body)["total"] == 1);
}

// --- 2. /metrics labels ----------------------------------------------------------------------------------

TEST_CASE("security: /metrics has fixed, escaped labels whatever methods and paths clients send") {
  hardening_collector tc;
  for (int i = 0; i < 40; ++i) {
    raw_conn conn(tc.port());
    REQUIRE(conn.ok());
    std::string method(8192, 'M');
    method += std::to_string(i) + "\"}x";
    conn.send_all(method + " /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    conn.read_until_close(std::chrono::milliseconds(2000));
  }
  auto c = tc.client();
  for (int i = 0; i < 50; ++i) c->Get(("/api/sessions/unique-id-" + std::to_string(i) + "/records").c_str());
  c->Get("/some/random/static/path-xyz");
  auto m = c->Get("/metrics");
  REQUIRE(m);
  REQUIRE(m->status == 200);
  MESSAGE("/metrics size after 40 requests with 8 KB methods and 50 distinct ids: " << m->body.size()
                                                                                    << " bytes");
  CHECK(m->body.size() < 64 * 1024);
  CHECK(m->body.find("MMMMMMMM") == std::string::npos);
  CHECK(m->body.find("unique-id-") == std::string::npos);
  CHECK(m->body.find("path-xyz") == std::string::npos);
  CHECK(m->body.find("route=\"/api/sessions/:id/records\"") != std::string::npos);
  // Every label set is from the fixed lists.
  std::istringstream lines(m->body);
  std::string line;
  while (std::getline(lines, line)) {
    auto at = line.find("method=\"");
    if (at == std::string::npos) continue;
    auto end = line.find('"', at + 8);
    std::string method = line.substr(at + 8, end - at - 8);
    CAPTURE(line);
    CHECK((method == "GET" || method == "HEAD" || method == "POST" || method == "PUT" || method == "PATCH" ||
           method == "DELETE" || method == "OPTIONS" || method == "other"));
  }
}

// --- 7. ids that cannot be reached -----------------------------------------------------------------------

TEST_CASE("security: '.' and '..' are refused as record and session ids (400 with the field)") {
  hardening_collector tc;
  auto c = tc.client();
  for (const char* bad : {".", ".."}) {
    CAPTURE(bad);
    auto r = c->Post("/api/trace", json{{"id", bad}, {"session_id", "s"}}.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["error"]["field"] == "id");
    r = c->Post("/api/trace", json{{"session_id", bad}}.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status == 400);
    CHECK(json::parse(r->body)["error"]["field"] == "session_id");
  }
  // Other dotted ids are ordinary path segments and stay reachable.
  auto r = c->Post("/api/trace", json{{"id", "..."}, {"session_id", "a.b"}}.dump(), "application/json");
  REQUIRE(r);
  CHECK(r->status == 201);
  CHECK(c->Get("/api/records/...")->status == 200);
  CHECK(c->Get("/api/sessions/a.b")->status == 200);
}

// --- 10. proxied answers ---------------------------------------------------------------------------------

TEST_CASE(
    "security: proxied answers carry nosniff and a CSP that forbids script, whatever the upstream sends") {
  httplib::Server up;
  up.Post("/v1/chat/completions", [](const httplib::Request&, httplib::Response& res) {
    res.set_header("Content-Security-Policy", "script-src *");
    res.set_content("<html><script>alert(document.cookie)</script></html>", "text/html");
  });
  int up_port = up.bind_to_any_port("127.0.0.1");
  std::thread t([&] { up.listen_after_bind(); });
  REQUIRE(wait_until([&] { return up.is_running(); }));
  {
    hardening_collector tc([&](config& c) {
      c.upstream = "http://127.0.0.1:" + std::to_string(up_port) + "/v1";
      c.upstream_api_key = "sk-test";
    });
    auto r = tc.client()->Post("/v1/chat/completions", R"({"model":"m","messages":[]})", "application/json");
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK(r->get_header_value_count("Content-Security-Policy") == 1);
    const std::string csp = r->get_header_value("Content-Security-Policy");
    CHECK(csp.find("default-src 'none'") != std::string::npos);
    CHECK(csp.find("sandbox") != std::string::npos);
    CHECK(csp.find("script-src *") == std::string::npos);
  }
  up.stop();
  t.join();
}

// --- 9. per-client caps on event streams -----------------------------------------------------------------

TEST_CASE("security: one client cannot take every event stream, another client still gets one") {
  hardening_collector tc([](config& c) {
    c.max_streams = 4;
    c.max_streams_per_client = 2;  // the default: half of --max-streams
  });
  const std::string get = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::vector<int> fds;
  std::vector<int> statuses;
  for (int i = 0; i < 3; ++i) {
    int fd = connect_from("127.0.0.1", tc.port());
    REQUIRE(fd >= 0);
    fds.push_back(fd);
    statuses.push_back(first_status(fd, get));
  }
  int other = connect_from("127.0.0.2", tc.port());
  REQUIRE(other >= 0);
  fds.push_back(other);
  const int other_status = first_status(other, get);
  for (int fd : fds) ::close(fd);
  CHECK(statuses[0] == 200);
  CHECK(statuses[1] == 200);
  CHECK(statuses[2] == 503);   // the first client's share is used up ...
  CHECK(other_status == 200);  // ... and the second client still gets a stream
}

// --- 3. search work bounds -------------------------------------------------------------------------------

TEST_CASE(
    "reliability: a search of 500 one-letter words is refused at once, costly searches stop at the budget") {
  hardening_collector tc([](config& c) { c.search_budget_ms = 1; });
  auto c = tc.client();
  // 3000 records with distinct words, so a prefix has thousands of terms to merge.
  for (int b = 0; b < 6; ++b) {
    json traces = json::array();
    for (int i = 0; i < 500; ++i) {
      const int n = b * 500 + i;
      traces.push_back(json::parse(trace_body(
          "search-" + std::to_string(n % 20),
          "w" + std::to_string(n) + " x" + std::to_string(n * 7) + " word" + std::to_string(n * 13))));
    }
    auto r = c->Post("/api/traces", json{{"traces", traces}}.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  std::string words;
  for (int i = 0; i < 500; ++i) words += std::string(1, static_cast<char>('a' + i % 26)) + " ";
  auto t0 = clock_type::now();
  auto r = c->Get(("/api/search?q=" + httplib::detail::encode_query_param(words)).c_str());
  const double refused_ms = ms_since(t0);
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(error_code(r) == "too_many_terms");
  // A prefix over every word of the index runs past the (test's 1 ms) budget: 422, not a long wait.
  t0 = clock_type::now();
  r = c->Get("/api/search?q=w*%20word*%20x*");
  const double budget_ms = ms_since(t0);
  REQUIRE(r);
  CHECK(r->status == 422);
  CHECK(error_code(r) == "search_too_costly");
  // An ordinary search is unaffected by the caps (whole words, one doclist each).
  auto fine = c->Get("/api/search?q=w42");
  REQUIRE(fine);
  MESSAGE("500-word search refused in " << refused_ms << " ms; budget-stopped search answered in "
                                        << budget_ms << " ms");
  CHECK(refused_ms < 1000);
  CHECK(budget_ms < 1000);
}

// --- 4. ingest memory ------------------------------------------------------------------------------------

TEST_CASE(
    "reliability: a 16 MiB body of tiny values does not become a tree 32 times its size, a stored 15 MiB "
    "trace peaks under 4 times") {
  temp_dir dir;
  process_options po;
  po.db_path = dir.file("mem.db");
  collector_process p(po);
  REQUIRE(p.start());
  auto c = p.client();
  c->set_read_timeout(60, 0);
  c->set_write_timeout(60, 0);
  constexpr std::size_t body_mib = 15;
  // The issue's body: "request":[0,0,...].
  std::string zeros = R"({"session_id":"mem","request":[)";
  while (zeros.size() < body_mib * 1024 * 1024) zeros += "0,";
  zeros += "0]}";
  // A long ordinary trace (one long message).
  std::string text(body_mib * 1024 * 1024 - 200, 'a');
  for (std::size_t i = 64; i < text.size(); i += 64) text[i] = ' ';
  const std::string text_body = trace_body("mem", text);
  // Each figure is one request's peak RSS above the RSS just before it (the peak is reset in between).
  // The issue's body first: refused before any tree is built.
  const long cold = reset_peak_rss(p);
  auto r = c->Post("/api/trace", zeros, "application/json");
  REQUIRE(r);
  CHECK(r->status == 413);
  CHECK(error_code(r) == "too_many_values");
  const long after_zeros = p.peak_rss_kib();
  // The first large trace also fills bounded, shared memory once (SQLite's 64 MiB page cache): measured on
  // its own; the next one shows what a request costs.
  const long before_first = reset_peak_rss(p);
  auto warm = c->Post("/api/trace", text_body, "application/json");
  REQUIRE(warm);
  CHECK(warm->status == 201);
  const long after_first = p.peak_rss_kib();
  const long before = reset_peak_rss(p);
  // A large ordinary trace is accepted, within the same bound.
  auto ok = c->Post("/api/trace", text_body, "application/json");
  REQUIRE(ok);
  CHECK(ok->status == 201);
  const long after_text = p.peak_rss_kib();
  const double body_kib = static_cast<double>(zeros.size()) / 1024.0;
  const double zeros_x = static_cast<double>(after_zeros - cold) / body_kib;
  const double text_x = static_cast<double>(after_text - before) / body_kib;
  const double first_x = static_cast<double>(after_first - before_first) / body_kib;
  MESSAGE("peak RSS growth: tiny-values body " << zeros_x << "x the body, long-text body " << text_x
                                               << "x; the first long-text body, caches included, " << first_x
                                               << "x");
  CHECK(zeros_x <= 4.0);  // was ~32x: the tree of 8M zeros
  // A stored text-heavy body: at the peak the body, its tree and the write's copy of the request exist at
  // once (the body and tree are freed before the write; the record, the live event and the reply take no
  // further full copy). 3.1x measured; was 7.1x.
#if defined(__SANITIZE_ADDRESS__)
  // AddressSanitizer's redzones and quarantine of freed blocks add to every copy (11.6x measured in `make
  // asan` when the plain build measured 7.1x; not measured since).
  CHECK(text_x <= 16.0);
#else
  CHECK(text_x <= 4.0);
#endif
}

TEST_CASE(
    "reliability: concurrent large bodies past the in-flight byte budget get 503 + Retry-After, never more") {
  temp_dir dir;
  process_options po;
  po.db_path = dir.file("budget.db");
  collector_process p(po);
  REQUIRE(p.start());
  const long before = p.peak_rss_kib();
  // 12 clients announce 16 MiB each at once (the default budget is 4 x 16 MiB) and send it slowly enough to
  // overlap.
  constexpr int clients = 12;
  const std::size_t size = 16u * 1024u * 1024u - 1024u;
  std::vector<std::thread> threads;
  std::vector<int> statuses(clients, 0);
  std::vector<std::string> retry(clients);
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      raw_conn conn(p.port());
      if (!conn.ok()) return;
      std::string head =
          "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
          "Content-Length: " +
          std::to_string(size) + "\r\n\r\n";
      conn.send_all(head);
      std::string body = R"({"session_id":"budget","request":{"text":")";
      body += std::string(size - body.size() - 3, 'b');
      body += "\"}}";
      for (std::size_t off = 0; off < body.size(); off += 1 << 20) {
        if (!conn.send_all(std::string_view(body).substr(off, 1 << 20))) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::string raw = conn.read_response(std::chrono::milliseconds(60000));
      statuses[i] = status_of(raw);
      auto at = raw.find("Retry-After: ");
      if (at != std::string::npos) retry[i] = raw.substr(at + 13, 1);
    });
  }
  for (auto& t : threads) t.join();
  int created = 0, busy = 0, other = 0;
  for (int i = 0; i < clients; ++i) {
    if (statuses[i] == 201) {
      ++created;
    } else if (statuses[i] == 503) {
      ++busy;
      CHECK(retry[i] == "1");
    } else {
      ++other;
      MESSAGE("unexpected status " << statuses[i]);
    }
  }
  const double growth_mib = static_cast<double>(p.peak_rss_kib() - before) / 1024.0;
  MESSAGE("12 x 16 MiB at once: " << created << " stored, " << busy
                                  << " got 503 + Retry-After; peak RSS grew " << growth_mib << " MiB");
  CHECK(other == 0);
  CHECK(created >= 1);
  CHECK(busy >= 1);  // the budget (4 x 16 MiB) admitted only some at once
  // Below every body at once at 4x each, let alone the 32x each of before (~6 GiB).
  CHECK(growth_mib < 12 * 16 * 4);
}

// --- 5. slow bodies --------------------------------------------------------------------------------------

TEST_CASE("reliability: clients trickling their bodies hold no ingest slot and are cut off at the deadline") {
  hardening_collector tc([](config& c) {
    c.max_ingest_inflight = 3;
    c.body_timeout_ms = 1500;
  });
  std::vector<std::unique_ptr<raw_conn>> slow;
  for (int i = 0; i < 3; ++i) {
    slow.push_back(std::make_unique<raw_conn>(tc.port()));
    REQUIRE(slow.back()->ok());
    REQUIRE(
        slow.back()->send_all("POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: "
                              "application/json\r\nContent-Length: 1000000\r\n\r\n{\"session_id\":"));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto t0 = clock_type::now();
  auto r = tc.client()->Post("/api/trace", trace_body("fast"), "application/json");
  const double fast_ms = ms_since(t0);
  REQUIRE(r);
  CHECK(r->status == 201);
  // Each slow client gets 408 once its body deadline passes (1.5 s here, 10 s + 1 s/MiB by default).
  int timed_out = 0;
  t0 = clock_type::now();
  for (auto& s : slow) {
    std::string raw = s->read_response(std::chrono::milliseconds(5000));
    timed_out += status_of(raw) == 408;
  }
  const double cut_ms = ms_since(t0);
  MESSAGE("ingest beside 3 slow bodies: 201 in " << fast_ms << " ms; slow bodies cut off (408) within "
                                                 << cut_ms << " ms");
  CHECK(timed_out == 3);
  CHECK(cut_ms < 4000);
}

// --- 8. exports ------------------------------------------------------------------------------------------

TEST_CASE("reliability: stalled export downloads do not hold the reader connections the UI needs") {
  hardening_collector tc;
  auto c = tc.client();
  // ~6 MB in one session, so an export does not fit the socket buffers of a client that stops reading.
  const std::string big(6000, 'e');
  for (int b = 0; b < 10; ++b) {
    json traces = json::array();
    for (int i = 0; i < 100; ++i) traces.push_back(json::parse(trace_body("export", big)));
    auto r = c->Post("/api/traces", json{{"traces", traces}}.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  // Six downloads (more than the 4 readers) that read nothing.
  std::vector<int> fds;
  const std::string get = "GET /api/sessions/export/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  for (int i = 0; i < 6; ++i) {
    int fd = connect_from("127.0.0.1", tc.port(), 4096);
    REQUIRE(fd >= 0);
    REQUIRE(::send(fd, get.data(), get.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(get.size()));
    fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1000));
  double worst = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = clock_type::now();
    auto r = c->Get("/api/sessions");
    worst = std::max(worst, ms_since(t0));
    REQUIRE(r);
    CHECK(r->status == 200);
  }
  for (int fd : fds) ::close(fd);
  MESSAGE("GET /api/sessions beside 6 stalled exports: worst " << worst << " ms");
  CHECK(worst < 1000);
}

// --- retention -------------------------------------------------------------------------------------------

TEST_CASE("reliability: --retain-days deletes idle sessions in the background and the live stream says so") {
  hardening_collector tc([](config& c) {
    c.retain_days = 1;
    c.retention_interval_ms = 100;
  });
  auto c = tc.client();
  for (int i = 0; i < 30; ++i)
    REQUIRE(c->Post("/api/trace", trace_body("keep-" + std::to_string(i)), "application/json")->status ==
            201);
  raw_conn events(tc.port());
  std::string seen;
  REQUIRE(open_event_stream(events, seen));
  // 20 sessions last active three days ago (set in the file, as if the collector had been running).
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(tc.cfg().db_path.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    const std::string sql =
        "UPDATE sessions SET updated_at = updated_at - 3 * 86400000 WHERE CAST(substr(id, 6) "
        "AS INTEGER) < 20";
    CHECK(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  REQUIRE(wait_until([&] { return json::parse(c->Get("/api/sessions")->body)["total"] == 10; },
                     std::chrono::milliseconds(10000)));
  CHECK(c->Get("/api/sessions/keep-0")->status == 404);
  CHECK(c->Get("/api/sessions/keep-25")->status == 200);
  REQUIRE(wait_until([&] {
    seen += events.read_until_close(std::chrono::milliseconds(200));
    std::size_t n = 0;
    for (auto p = seen.find("event: deleted"); p != std::string::npos; p = seen.find("event: deleted", p + 1))
      ++n;
    return n == 20;
  }));
}

TEST_CASE("reliability: --max-db-mb deletes the oldest sessions until the data fits") {
  hardening_collector tc([](config& c) {
    c.max_db_mb =
        4;  // an empty database already holds ~1-2 MiB (schema, FTS and rollup structures, 16 KiB pages)
    c.retention_interval_ms = 100;
  });
  auto c = tc.client();
  std::string big;
  for (int w = 0; big.size() < 64 * 1024; ++w) big += "word" + std::to_string(w % 500) + " ";
  for (int i = 0; i < 80; ++i) {
    auto r = c->Post("/api/trace", trace_body("size-" + std::to_string(i), big), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 201);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // distinct activity times
  }
  REQUIRE(wait_until([&] { return tc.used_bytes() <= 4 * 1024 * 1024; }, std::chrono::milliseconds(15000)));
  const auto total = json::parse(c->Get("/api/sessions")->body)["total"].get<int>();
  MESSAGE("--max-db-mb 4 after ~5 MB of ingest: " << total << " of 80 sessions kept, " << tc.used_bytes()
                                                  << " bytes used");
  CHECK(total > 0);
  CHECK(total < 80);
  CHECK(c->Get("/api/sessions/size-79")->status == 200);  // the newest stays
  CHECK(c->Get("/api/sessions/size-0")->status == 404);   // the oldest went first
}

TEST_CASE("reliability: retention deletes a huge session in bounded steps while ingest goes on") {
  hardening_collector tc([](config& c) {
    c.retain_days = 1;
    c.retention_interval_ms = 100;
  });
  auto c = tc.client();
  // 3000 records in one session: 3 steps of 1000 records (retention_options::records_per_step).
  for (int b = 0; b < 6; ++b) {
    json traces = json::array();
    for (int i = 0; i < 500; ++i) traces.push_back(json::parse(trace_body("huge")));
    auto r = c->Post("/api/traces", json{{"traces", traces}}.dump(), "application/json");
    REQUIRE(r);
    REQUIRE(r->status == 200);
  }
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open(tc.cfg().db_path.c_str(), &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK(sqlite3_exec(db, "UPDATE sessions SET updated_at = updated_at - 3 * 86400000 WHERE id = 'huge'",
                       nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  // Ingest into another session meanwhile: every post is answered (the deletion never holds the writer for
  // the whole session).
  double worst = 0;
  int posted = 0;
  bool gone = false;
  const auto until = clock_type::now() + std::chrono::seconds(15);
  while (!gone && clock_type::now() < until) {
    auto t0 = clock_type::now();
    auto r = c->Post("/api/trace", trace_body("live"), "application/json");
    worst = std::max(worst, ms_since(t0));
    REQUIRE(r);
    CHECK(r->status == 201);
    ++posted;
    gone = c->Get("/api/sessions/huge")->status == 404;
  }
  CHECK(gone);
  CHECK(json::parse(c->Get("/api/sessions/live")->body)["record_count"] == posted);
  MESSAGE("huge session (3000 records) deleted by retention; " << posted << " posts beside it, worst "
                                                               << worst << " ms");
  CHECK(worst < 2000);
}

// --- 9. per-client caps on upstream slots (replay) -------------------------------------------------------

TEST_CASE(
    "security: one client cannot take every upstream slot with replays, another client still gets one") {
  // An upstream that holds calls for model "slow" until released and answers others at once.
  std::mutex m;
  std::condition_variable cv;
  bool released = false;
  std::atomic<int> held{0};
  httplib::Server up;
  up.Post("/v1/chat/completions", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.body.find("\"slow\"") != std::string::npos) {
      ++held;
      std::unique_lock lock(m);
      cv.wait_for(lock, std::chrono::seconds(20), [&] { return released; });
    }
    res.set_content(R"({"choices":[{"message":{"role":"assistant","content":"ok"}}]})", "application/json");
  });
  int up_port = up.bind_to_any_port("127.0.0.1");
  std::thread upt([&] { up.listen_after_bind(); });
  REQUIRE(wait_until([&] { return up.is_running(); }));
  auto release = [&] {
    {
      std::lock_guard lock(m);
      released = true;
    }
    cv.notify_all();
  };
  {
    hardening_collector tc([&](config& c) {
      c.upstream = "http://127.0.0.1:" + std::to_string(up_port) + "/v1";
      c.upstream_api_key = "sk-test";
      c.threads = 6;  // max(2, threads - 2) = 4 upstream slots, 2 per client
    });
    auto c = tc.client();
    auto created = c->Post("/api/trace", trace_body("replays"), "application/json");
    REQUIRE(created);
    REQUIRE(created->status == 201);
    const std::string path =
        "/api/records/" + json::parse(created->body)["id"].get<std::string>() + "/replay";
    const std::string slow = R"({"request":{"model":"slow","messages":[{"role":"user","content":"x"}]}})";
    const std::string fast = R"({"request":{"model":"fast","messages":[{"role":"user","content":"y"}]}})";
    // Client 127.0.0.1: two replays held by the upstream take its share ...
    std::vector<std::thread> holders;
    std::vector<int> held_status(2, 0);
    for (int i = 0; i < 2; ++i)
      holders.emplace_back([&, i] {
        auto hc = tc.client();
        hc->set_read_timeout(30, 0);
        auto r = hc->Post(path.c_str(), slow, "application/json");
        held_status[i] = r ? r->status : 0;
      });
    const bool both_held = wait_until([&] { return held.load() == 2; }, std::chrono::milliseconds(10000));
    CHECK(both_held);
    // ... so its third gets 503 + Retry-After ...
    auto third = c->Post(path.c_str(), fast, "application/json");
    // ... while client 127.0.0.2 still gets a slot.
    int other = connect_from("127.0.0.2", tc.port());
    REQUIRE(other >= 0);
    const std::string req =
        "POST " + path +
        " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " +
        std::to_string(fast.size()) + "\r\nConnection: close\r\n\r\n" + fast;
    const int other_status = first_status(other, req, 10000);
    ::close(other);
    release();
    for (auto& t : holders) t.join();
    REQUIRE(third);
    CHECK(third->status == 503);
    CHECK(third->get_header_value("Retry-After") == "1");
    CHECK(error_code(third) == "upstream_busy");
    CHECK(other_status == 201);
    CHECK(held_status[0] == 201);
    CHECK(held_status[1] == 201);
    MESSAGE("replays from one address: 2 held, the 3rd " << third->status
                                                         << "; another address: " << other_status);
  }
  release();
  up.stop();
  upt.join();
}

TEST_CASE("reliability: a large record's live event carries the whole record, read back when it is sent") {
  hardening_collector tc;
  auto c = tc.client();
  raw_conn events(tc.port());
  std::string seen;
  REQUIRE(open_event_stream(events, seen));
  // Past the ring's inline limit (256 KiB of texts): the ring holds it without its texts.
  const std::string text(600 * 1024, 'l');
  auto r = c->Post("/api/trace", trace_body("large-event", text), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 201);
  const json stored = json::parse(r->body);
  std::string data;
  REQUIRE(wait_until(
      [&] {
        seen += events.read_until_close(std::chrono::milliseconds(200));
        auto at = seen.find("event: record\ndata: ");
        if (at == std::string::npos) return false;
        auto end = seen.find("\n\n", at);
        if (end == std::string::npos) return false;
        data = seen.substr(at + 20, end - at - 20);
        return true;
      },
      std::chrono::milliseconds(10000)));
  json ev = json::parse(data);
  CHECK(ev["change"] == "created");
  CHECK(ev["id"] == stored["id"]);
  CHECK(ev["request"]["messages"][0]["content"] == text);
  CHECK(ev["response"] == stored["response"]);
  CHECK(ev["session_id"] == "large-event");
  CHECK(!ev.contains("scores"));
}
