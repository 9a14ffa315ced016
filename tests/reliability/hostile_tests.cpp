// Hostile input over raw sockets, for each known gap of cpp-httplib 0.11.4 (chunked bodies past the limit,
// header size and count, slowloris, exception text), hostile JSON (deep nesting, numbers out of range,
// invalid UTF-8, huge strings) and traversal probes of the static UI. After each: the collector still
// answers and `PRAGMA integrity_check` is clean.
#include <doctest/doctest.h>

#include <atomic>
#include <thread>

#include "reliability/rel_support.hpp"
#include "support/utf8_oracle.hpp"

using namespace llmtrace;
using namespace llmtrace::reliability;
using llmtrace::testing::is_valid_utf8;
using llmtrace::testing::test_collector;

namespace {

void check_alive_and_clean(test_collector& tc) {
  auto c = tc.client();
  auto r = c->Get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
  CHECK(integrity_check(tc.cfg().db_path) == "ok");
}

// A 4xx with the project's JSON error shape.
void check_json_error(int status, const std::string& body, int lo = 400, int hi = 499) {
  INFO("status " << status << " body " << body.substr(0, 300));
  CHECK(status >= lo);
  CHECK(status <= hi);
  auto j = json::parse(body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["error"]["code"].is_string());
  CHECK(j["error"]["message"].is_string());
}

std::string pct(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.')
      out += static_cast<char>(c);
    else
      out += std::string("%") + hex[c >> 4] + hex[c & 15];
  }
  return out;
}

}  // namespace

TEST_CASE("hostile: a chunked body past the limit is cut off with 413, not read to the end") {
  test_collector tc([](config& c) { c.max_body_bytes = 64 * 1024; });
  raw_conn conn(tc.port());
  REQUIRE(conn.ok());
  REQUIRE(
      conn.send_all("POST /api/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                    "Transfer-Encoding: chunked\r\n\r\n"));
  // 64 MB in 64 KB chunks: the server must stop reading long before the end (kernel buffers hold a few MB).
  std::string chunk(64 * 1024, ' ');
  chunk[0] = '{';
  std::string framed = "10000\r\n" + chunk + "\r\n";
  std::size_t sent = 0;
  bool cut_off = false;
  for (int i = 0; i < 1024; ++i) {
    if (!conn.send_all(framed)) {
      cut_off = true;
      break;
    }
    sent += chunk.size();
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      cut_off = true;
      break;
    }
  }
  INFO("sent " << sent << " bytes before the server reacted");
  CHECK(cut_off);
  // Exactly one answer, then the connection is closed: the unread rest of the body must never be parsed as
  // a request of its own (that would be request smuggling).
  std::string raw = conn.read_until_close(std::chrono::milliseconds(3000));
  CHECK(status_of(raw) == 413);
  CHECK(conn.wait_closed(std::chrono::milliseconds(100)));
  std::size_t responses = 0;
  for (auto p = raw.find("HTTP/1.1 "); p != std::string::npos; p = raw.find("HTTP/1.1 ", p + 1)) ++responses;
  CHECK(responses == 1);
  std::string first = raw.substr(0, raw.find("HTTP/1.1 ", 1));
  check_json_error(status_of(first), body_of(first));
  // A chunk size that overflows size_t must not be trusted either.
  raw_conn conn2(tc.port());
  REQUIRE(
      conn2.send_all("POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "FFFFFFFFFFFFFFFFFF\r\n{}\r\n0\r\n\r\n"));
  raw = conn2.read_until_close(std::chrono::milliseconds(3000));
  if (!raw.empty()) check_json_error(status_of(raw), body_of(raw));
  check_alive_and_clean(tc);
}

TEST_CASE("hostile: a 1 MB header line is refused and the server keeps serving") {
  test_collector tc;
  raw_conn conn(tc.port());
  REQUIRE(conn.ok());
  std::string req =
      "GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + std::string(1 << 20, 'a') + "\r\n\r\n";
  conn.send_all(req);  // may fail half way: the server is allowed to close early
  std::string raw = conn.read_response(std::chrono::milliseconds(5000));
  INFO(raw.substr(0, 200));
  CHECK(status_of(raw) != 200);
  if (!raw.empty()) CHECK(status_of(raw) >= 400);
  check_alive_and_clean(tc);
}

TEST_CASE("hostile: endless header lines are cut off near the header limit, not buffered without bound") {
  test_collector tc;  // max_header_count 100, max_header_bytes 64 KiB
  raw_conn conn(tc.port());
  REQUIRE(conn.ok());
  REQUIRE(conn.send_all("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
  // 1M headers (~24 MB). A server that enforces its limit while reading stops us early; one that reads
  // everything first (httplib's own behaviour) swallows all of it into memory.
  std::string block;
  for (int i = 0; i < 1000; ++i) block += "X-Pad-" + std::to_string(i) + ": vvvvvvvv\r\n";
  bool cut_off = false;
  int blocks_sent = 0;
  for (int i = 0; i < 1000; ++i) {
    if (!conn.send_all(block)) {
      cut_off = true;
      break;
    }
    ++blocks_sent;
    pollfd p{conn.fd(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) {
      cut_off = true;
      break;
    }
  }
  INFO("header lines sent before the server reacted: " << blocks_sent * 1000);
  CHECK(cut_off);
  conn.send_all("\r\n");
  std::string raw = conn.read_until_close(std::chrono::milliseconds(5000));
  CHECK(status_of(raw) != 200);
  check_alive_and_clean(tc);
}

TEST_CASE("hostile: 200 headers get 431 with the JSON error shape") {
  test_collector tc;
  raw_conn conn(tc.port());
  std::string req = "GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n";
  for (int i = 0; i < 200; ++i) req += "X-H" + std::to_string(i) + ": 1\r\n";
  req += "\r\n";
  REQUIRE(conn.send_all(req));
  std::string raw = conn.read_response();
  CHECK(status_of(raw) == 431);
  check_json_error(status_of(raw), body_of(raw));
  check_alive_and_clean(tc);
}

TEST_CASE(
    "hostile: slowloris clients (one header byte per second) neither hold workers forever nor starve the "
    "API") {
  // A small pool makes starvation visible: 4 API workers + 2 stream workers, 2 s read timeout.
  test_collector tc([](config& c) {
    c.threads = 4;
    c.max_streams = 2;
    c.read_timeout_s = 2;
  });
  constexpr int slow_clients = 16;
  std::vector<std::unique_ptr<raw_conn>> slow;
  for (int i = 0; i < slow_clients; ++i) {
    slow.push_back(std::make_unique<raw_conn>(tc.port()));
    REQUIRE(slow.back()->ok());
    REQUIRE(slow.back()->send_all("GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
  }
  std::atomic<bool> stop{false};
  std::atomic<int> still_open{slow_clients};
  std::thread dripper([&] {
    // One byte per connection per second, forever (until the test ends): never a complete header.
    std::vector<bool> open(slow_clients, true);
    while (!stop.load()) {
      int n = 0;
      for (int i = 0; i < slow_clients; ++i) {
        if (!open[i]) continue;
        pollfd p{slow[i]->fd(), POLLIN, 0};
        bool peer_done = ::poll(&p, 1, 0) > 0;  // an answer (408/400) or EOF: the server gave up on it
        if (peer_done || !slow[i]->send_all("a"))
          open[i] = false;
        else
          ++n;
      }
      still_open.store(n);
      for (int t = 0; t < 10 && !stop.load(); ++t)
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  // The API answers while they drip.
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    httplib::Client c("127.0.0.1", tc.port());
    c.set_connection_timeout(1, 0);
    c.set_read_timeout(3, 0);
    auto r = c.Get("/healthz");
    if (r && r->status == 200) ++answered;
  }
  CHECK(answered == 5);
  // And every slow connection is dropped within a bounded time (a per-request header deadline).
  bool all_dropped = wait_until([&] { return still_open.load() == 0; }, std::chrono::milliseconds(20000));
  INFO("slow connections still open: " << still_open.load());
  CHECK(all_dropped);
  stop.store(true);
  dripper.join();
  check_alive_and_clean(tc);
}

TEST_CASE("hostile: odd requests never get a 500 or exception text") {
  test_collector tc;
  const std::vector<std::string> requests = {
      "GET /api/sessions?page=99999999999999999999999 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/sessions?size=-1&page=0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/sessions/%FF%FE%00x HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/records/%C3%28 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/search?q=%22%22%22*%20NEAR(%20OR%20AND HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/search?q=%FF%FE&status=bogus HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/search?q=a&size=100000000 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/sessions/%FF/export HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "PATCH /api/sessions/x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 12\r\n\r\n{\"name\":\"\xff\"}",
      "DELETE /api/records/%00 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "POST /api/records/nope/replay HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n[]",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n{}",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -5\r\n\r\n{}",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 99999999999999999999999\r\n\r\n{}",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: gzip\r\nContent-Length: "
      "4\r\n\r\nnope",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: br\r\nContent-Length: 4\r\n\r\nnope",
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Encoding: zstd\r\nContent-Length: 2\r\n\r\n{}",
      "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: 99999999999999999999999999\r\n\r\n",
      "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\nLast-Event-ID: -1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=999999999-1\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nRange: bytes=0-1,2-3,4-5,6-7,8-9,0-1,0-1,0-1\r\n\r\n",
      "BREW /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
      "GET /api/sessions HTTP/9.9\r\nHost: 127.0.0.1\r\n\r\n",
      "GET  HTTP/1.1\r\n\r\n",
  };
  int tried = 0;
  for (const auto& req : requests) {
    CAPTURE(req);
    raw_conn conn(tc.port());
    REQUIRE(conn.ok());
    conn.send_all(req);
    // Event streams stay open: a short read is enough to see the status line and headers. A Content-Length
    // that cannot be parsed leaves httplib waiting for a body: no answer within the read is fine, a 500 is
    // not.
    std::string raw = req.find("/api/events") != std::string::npos
                          ? conn.read_until_close(std::chrono::milliseconds(400))
                          : conn.read_response(std::chrono::milliseconds(1500));
    ++tried;
    int st = status_of(raw);
    CHECK(st != 500);
    std::string head = raw.substr(0, raw.find("\r\n\r\n"));
    for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    CHECK(head.find("exception_what") == std::string::npos);
    for (const char* leak : {"std::", "json.exception", "basic_string", "stoi", "stoll",
                             "what():", "sqlite3_", "SQLiteCpp", tc.cfg().db_path.c_str()})
      CHECK_MESSAGE(raw.find(leak) == std::string::npos, "leaked: " << leak);
    if (st >= 400 && req.find("/api/") != std::string::npos && !body_of(raw).empty()) {
      CHECK(is_valid_utf8(body_of(raw)));
    }
  }
  MESSAGE("odd requests tried: " << tried);
  check_alive_and_clean(tc);
}

TEST_CASE(
    "hostile JSON: 100k open brackets, numbers out of range, huge turn numbers -> 4xx or stored, never 500") {
  test_collector tc;
  auto c = tc.client();
  std::vector<std::string> bodies = {
      "{\"request\":" + std::string(100000, '[') + "}",
      std::string(100000, '['),
      "{\"traces\":[" + std::string(100000, '{') + "]}",
      std::string(50000, '{') + std::string(50000, '}'),
      R"({"request":{"temperature":1e999}})",
      R"({"request":{"temperature":-1e999}})",
      R"({"request":{"n":18446744073709551616}})",
      R"({"request":{"n":-9223372036854775809}})",
      R"({"turn_number":1e20})",
      R"({"turn_number":9223372036854775807,"session_id":"s-max"})",
      R"({"session_id":"s-max"})",  // next turn after INT64_MAX
      R"({"turn_number":18446744073709551615})",
      R"({"turn_number":1.5})",
      R"({"latency_ms":1e308,"request":{}})",
      R"({"latency_ms":-1,"request":{}})",
      R"({"started_at":"9999-99-99T99:99:99Z"})",
      R"({"started_at":"-271821-04-20T00:00:00Z"})",
      R"({"usage":{"prompt_tokens":1e300,"completion_tokens":-5,"total_tokens":"x"}})",
      R"({"response":{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807}}})",
      R"({"request":{"model":123,"messages":"not an array"}})",
      R"({"request":{"messages":[{"role":"user","content":[{"type":"text","text":{"nested":true}}]}]}})",
      "{\"request\":{\"a\":\"\\ud800\"}}",  // lone surrogate escape
      "{\"request\":{\"a\":\"\\u0000\"}}",
      "\xef\xbb\xbf{}",  // BOM
      "{\"request\":{}} trailing",
      "{\"request\":{},\"request\":{}}",  // duplicate key
  };
  int tried = 0;
  for (const auto& b : bodies) {
    CAPTURE(b.substr(0, 120));
    auto r = c->Post("/api/trace", b, "application/json");
    ++tried;
    REQUIRE(r);
    CHECK(r->status != 500);
    CHECK(r->status < 500);
    if (r->status >= 400)
      check_json_error(r->status, r->body);
    else
      CHECK(is_valid_utf8(r->body));
  }
  MESSAGE("hostile JSON bodies tried: " << tried);
  // Everything stored reads back as valid JSON and valid UTF-8.
  auto list = c->Get("/api/sessions?size=200");
  REQUIRE(list);
  CHECK(list->status == 200);
  auto sessions = json::parse(list->body, nullptr, false);
  REQUIRE_FALSE(sessions.is_discarded());
  for (auto& s : sessions["items"]) {
    auto rr = c->Get("/api/sessions/" + pct(s["id"].get<std::string>()) + "/records?size=200");
    REQUIRE(rr);
    CHECK(rr->status == 200);
    CHECK_FALSE(json::parse(rr->body, nullptr, false).is_discarded());
  }
  check_alive_and_clean(tc);
}

TEST_CASE("hostile JSON: the UTF-8 check these tests use refuses each ill-formed sequence they send") {
  // The oracle must be able to fail the checks below: every sequence sent there, alone and inside text.
  for (const std::string e :
       {"\xc3\x28", "\xff\xfe", "\xed\xa0\x80" /* surrogate */, "\xf4\x90\x80\x80" /* past U+10FFFF */,
        "\xc0\xaf" /* overlong */, "ok\x80", "\xe2\x82" /* cut short */, "\xe0\x80\xaf" /* overlong */}) {
    CHECK_FALSE(is_valid_utf8(e));
    CHECK_FALSE(is_valid_utf8("{\"k\":\"" + e + "\"}"));
  }
  for (const std::string ok : {"", "plain", "h\xc3\xa9llo", "\xe2\x82\xac", "\xef\xbf\xbd", "\xed\x9f\xbf",
                               "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf"})
    CHECK(is_valid_utf8(ok));
}

TEST_CASE(
    "hostile JSON: invalid UTF-8 is refused or stored and served as valid UTF-8, never corrupting the db") {
  test_collector tc;
  auto c = tc.client();
  const std::vector<std::string> evil = {"\xc3\x28", "\xff\xfe", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                                         "\xc0\xaf", "ok\x80",   "\xe2\x82"};
  int stored = 0;
  for (const auto& e : evil) {
    std::string body = "{\"session_id\":\"utf8-" + std::to_string(stored) +
                       "\",\"request\":{\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"" +
                       e + "\"}]},\"metadata\":{\"k\":\"" + e + "\"}}";
    auto r = c->Post("/api/trace", body, "application/json");
    REQUIRE(r);
    CHECK(r->status != 500);
    if (r->status >= 400) {
      check_json_error(r->status, r->body);
      continue;
    }
    ++stored;
    auto j = json::parse(r->body, nullptr, false);
    REQUIRE_FALSE(j.is_discarded());
    auto g = c->Get("/api/records/" + j["id"].get<std::string>());
    REQUIRE(g);
    CHECK(g->status == 200);
    CHECK(is_valid_utf8(g->body));
  }
  // Invalid UTF-8 in the session id of a path, and in a search.
  auto r1 = c->Get("/api/sessions/%C3%28/records");
  REQUIRE(r1);
  CHECK(r1->status == 404);
  CHECK(is_valid_utf8(r1->body));
  auto r2 = c->Get("/api/search?q=%C3%28");
  REQUIRE(r2);
  CHECK(r2->status < 500);
  CHECK(is_valid_utf8(r2->body));
  check_alive_and_clean(tc);
}

TEST_CASE("hostile JSON: a 8 MB string is stored and served back whole") {
  test_collector tc;
  auto c = tc.client();
  std::string big(8 << 20, 'z');
  json body = {{"session_id", "huge"},
               {"request", {{"messages", json::array({{{"role", "user"}, {"content", big}}})}}}};
  auto r = c->Post("/api/trace", body.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 201);
  auto id = json::parse(r->body)["id"].get<std::string>();
  auto g = c->Get("/api/records/" + id);
  REQUIRE(g);
  REQUIRE(g->status == 200);
  auto rec = json::parse(g->body);
  CHECK(rec["request"]["messages"][0]["content"].get<std::string>().size() == big.size());
  // And one past the body limit is 413, not stored.
  test_collector small([](config& cfg) { cfg.max_body_bytes = 1 << 20; });
  auto c2 = small.client();
  auto r2 = c2->Post("/api/trace", body.dump(), "application/json");
  REQUIRE(r2);
  CHECK(r2->status == 413);
  check_alive_and_clean(tc);
  check_alive_and_clean(small);
}

TEST_CASE("hostile: static UI traversal probes get 404, never a file or the SPA page") {
  test_collector tc;
  const std::vector<std::string> paths = {
      "/../etc/passwd",
      "/../../../../etc/passwd",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/%252e%252e%252fetc%252fpasswd",
      "/..%2f..%2fetc%2fpasswd",
      "/..%5c..%5cetc%5cpasswd",
      "/..\\..\\etc\\passwd",
      "/assets/../../etc/passwd",
      "/assets/..%2f..%2fetc%2fpasswd",
      "/assets/%2e%2e/%2e%2e/etc/passwd",
      "/.%2e/.%2e/etc/passwd",
      "/assets/%00../x.js",
      "//etc/passwd",
      "/index.html/../../etc/passwd",
  };
  for (const auto& p : paths) {
    CAPTURE(p);
    raw_conn conn(tc.port());
    REQUIRE(conn.send_all("GET " + p + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
    std::string raw = conn.read_until_close(std::chrono::milliseconds(3000));
    CHECK(status_of(raw) == 404);
    CHECK(raw.find("root:") == std::string::npos);
    CHECK(raw.find("<html") == std::string::npos);
  }
  MESSAGE("traversal probes tried: " << paths.size());
  check_alive_and_clean(tc);
}
