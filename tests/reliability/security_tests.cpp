// Security defaults: loopback bind, the API key on every /api and /v1 route and the event stream, the
// DNS-rebinding Host guard, no wildcard CORS, replay and proxy calling only the configured upstream, CR/LF
// never forwarded in proxied headers, and a unique fake key that never shows up in logs, the database files
// or any API response.
#include <doctest/doctest.h>

#include <random>

#include "reliability/rel_support.hpp"

using namespace llmtrace;
using namespace llmtrace::reliability;
using llmtrace::testing::test_collector;

namespace {

// An OpenAI-compatible upstream on a free loopback port that records what reaches it. `echo_key`: like the
// real API's "Incorrect API key provided: sk-...", its replies repeat the Authorization they got.
class fake_upstream {
 public:
  explicit fake_upstream(bool echo_key = false) : echo_key_(echo_key) {
    auto reply = [this](const httplib::Request& req, httplib::Response& res) {
      std::string auth = req.get_header_value("Authorization");
      {
        std::lock_guard<std::mutex> lock(m_);
        ++calls_;
        auths_.push_back(auth);
        std::string raw = req.method + " " + req.path + "\n";
        for (auto& [k, v] : req.headers) raw += k + ": " + v + "\n";
        raw += req.body;
        requests_.push_back(raw);
      }
      json out = {
          {"id", "chatcmpl-1"},
          {"object", "chat.completion"},
          {"model", "gpt-fake"},
          {"choices",
           json::array(
               {{{"index", 0},
                 {"message", {{"role", "assistant"}, {"content", echo_key_ ? "you sent " + auth : "hello"}}},
                 {"finish_reason", "stop"}}})},
          {"usage", {{"prompt_tokens", 3}, {"completion_tokens", 1}, {"total_tokens", 4}}}};
      if (echo_key_ && req.body.find("\"fail\"") != std::string::npos) {
        res.status = 401;
        res.set_content(
            json{{"error", {{"message", "Incorrect API key provided: " + auth}, {"type", "invalid"}}}}.dump(),
            "application/json");
        return;
      }
      res.set_header("X-Request-Id", "req-1");
      res.set_content(out.dump(), "application/json");
    };
    for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"})
      server_.Post(p, reply);
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    wait_until([this] { return server_.is_running(); });
  }
  ~fake_upstream() {
    server_.stop();
    thread_.join();
  }
  std::string base() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1"; }
  int port() const { return port_; }
  int calls() {
    std::lock_guard<std::mutex> lock(m_);
    return calls_;
  }
  std::vector<std::string> auths() {
    std::lock_guard<std::mutex> lock(m_);
    return auths_;
  }
  std::vector<std::string> requests() {
    std::lock_guard<std::mutex> lock(m_);
    return requests_;
  }

 private:
  bool echo_key_;
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex m_;
  int calls_ = 0;
  std::vector<std::string> auths_;
  std::vector<std::string> requests_;
};

// A plain TCP listener that only counts connections: the "other host" nothing may ever reach.
class tripwire {
 public:
  tripwire() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    ::listen(fd_, 64);
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, 50) > 0) {
          int c = ::accept(fd_, nullptr, nullptr);
          if (c >= 0) {
            ++hits_;
            ::close(c);
          }
        }
      }
    });
  }
  ~tripwire() {
    stop_.store(true);
    thread_.join();
    ::close(fd_);
  }
  int port() const { return port_; }
  int hits() const { return hits_.load(); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> hits_{0};
  std::thread thread_;
};

std::string unique_key(const char* prefix) {
  std::random_device rd;
  std::string k = prefix;
  const char* alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  for (int i = 0; i < 40; ++i) k += alphabet[rd() % 62];
  return k;
}

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

const std::string chat_body = R"({"model":"gpt-fake","messages":[{"role":"user","content":"hi"}]})";

}  // namespace

TEST_CASE("security: the collector listens on loopback by default") {
  auto parsed = parse_config({}, [](std::string_view) -> std::optional<std::string> { return std::nullopt; });
  CHECK(parsed.cfg.host == "127.0.0.1");
  // The binary itself, started without --host: its listening socket is 127.0.0.1 in /proc/net/tcp.
  temp_dir dir;
  process_options o;
  o.db_path = dir.file("db.sqlite");
  o.omit_host = true;
  collector_process p(o);
  REQUIRE(p.start());
  std::string tcp = read_file("/proc/net/tcp") + read_file("/proc/net/tcp6");
  char port_hex[8];
  std::snprintf(port_hex, sizeof(port_hex), ":%04X", p.port());
  bool loopback_listen = false, other_listen = false;
  std::istringstream lines(tcp);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream f(line);
    std::string sl, local, remote, st;
    f >> sl >> local >> remote >> st;
    if (st != "0A" || local.size() < 5 || local.substr(local.size() - 5) != port_hex) continue;
    if (local == std::string("0100007F") + port_hex ||
        local == std::string("00000000000000000000000001000000") + port_hex)
      loopback_listen = true;
    else
      other_listen = true;
  }
  CHECK(loopback_listen);
  CHECK_FALSE(other_listen);
}

TEST_CASE("security: with an API key every /api and /v1 route and the event stream need it") {
  fake_upstream up;
  const std::string key = unique_key("lt-key-");
  test_collector tc([&](config& c) {
    c.api_key = key;
    c.upstream = up.base();
    c.upstream_api_key = "sk-server-side";
  });
  struct route {
    const char* method;
    std::string path;
  };
  const std::vector<route> routes = {
      {"GET", "/api/sessions"},
      {"GET", "/api/sessions/s1"},
      {"PATCH", "/api/sessions/s1"},
      {"DELETE", "/api/sessions/s1"},
      {"GET", "/api/sessions/s1/records"},
      {"GET", "/api/sessions/s1/export"},
      {"GET", "/api/records/r1"},
      {"DELETE", "/api/records/r1"},
      {"POST", "/api/records/r1/replay"},
      {"GET", "/api/search?q=x"},
      {"GET", "/api/stats"},
      {"GET", "/api/events"},
      {"POST", "/api/trace"},
      {"POST", "/api/traces"},
      {"GET", "/api/nonexistent"},
      {"GET", "/api"},
      {"POST", "/v1/chat/completions"},
      {"POST", "/v1/completions"},
      {"POST", "/v1/embeddings"},
      {"POST", "/v1/responses"},
      {"GET", "/v1/models"},
      {"GET", "/api/events?access_token=wrong"},
      {"GET", "/api/sessions?access_token=" + key},  // the query token is for the event stream only
  };
  const std::vector<std::string> bad_auth = {
      "", "Bearer wrong", "Basic " + key, "Bearer " + key + "x", "Bearer " + key.substr(0, key.size() - 1),
      key};
  int tried = 0;
  for (const auto& r : routes) {
    for (const auto& a : bad_auth) {
      CAPTURE(r.method);
      CAPTURE(r.path);
      CAPTURE(a);
      raw_conn conn(tc.port());
      std::string body = std::string(r.method) == "GET" || std::string(r.method) == "DELETE" ? "" : chat_body;
      std::string req = std::string(r.method) + " " + r.path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      if (!a.empty()) req += "Authorization: " + a + "\r\n";
      req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
             body;
      REQUIRE(conn.send_all(req));
      std::string raw = conn.read_response(std::chrono::milliseconds(3000));
      CHECK(status_of(raw) == 401);
      ++tried;
    }
  }
  CHECK(up.calls() == 0);  // nothing unauthenticated reached the upstream
  // With the key: not 401 (the event stream answers 200 and streams).
  auto c = tc.client();
  for (const auto& r : routes) {
    if (r.path.find("access_token") != std::string::npos) continue;
    CAPTURE(r.path);
    if (r.path == "/api/events") continue;
    httplib::Result res = std::string(r.method) == "GET"      ? c->Get(r.path)
                          : std::string(r.method) == "DELETE" ? c->Delete(r.path)
                          : std::string(r.method) == "PATCH" ? c->Patch(r.path, chat_body, "application/json")
                                                             : c->Post(r.path, chat_body, "application/json");
    REQUIRE(res);
    CHECK(res->status != 401);
  }
  raw_conn ev(tc.port());
  REQUIRE(ev.send_all("GET /api/events?access_token=" + key + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  CHECK(status_of(ev.read_until_close(std::chrono::milliseconds(500))) == 200);
  MESSAGE("unauthenticated requests tried: " << tried);
}

TEST_CASE("security: unknown Host headers are rejected (DNS rebinding)") {
  test_collector tc;
  for (std::string host : {"evil.example.com", "localhost.evil.com", "127.0.0.1.nip.io", "attacker:8080",
                           "localhost@evil.com", "evil.com#localhost"}) {
    for (std::string path : {"/api/sessions", "/api/events", "/", "/v1/chat/completions"}) {
      CAPTURE(host);
      CAPTURE(path);
      raw_conn conn(tc.port());
      REQUIRE(conn.send_all("GET " + path + " HTTP/1.1\r\nHost: " + host + "\r\n\r\n"));
      int st = status_of(conn.read_response(std::chrono::milliseconds(3000)));
      CHECK(st >= 400);
      CHECK(st < 500);
    }
  }
  for (std::string host :
       std::vector<std::string>{"127.0.0.1", "localhost:" + std::to_string(tc.port()), "[::1]:1"}) {
    CAPTURE(host);
    raw_conn conn(tc.port());
    REQUIRE(conn.send_all("GET /api/sessions HTTP/1.1\r\nHost: " + host + "\r\n\r\n"));
    CHECK(status_of(conn.read_response()) == 200);
  }
}

TEST_CASE("security: no wildcard CORS and no reflected foreign origin") {
  test_collector tc;
  for (std::string method : {"GET", "OPTIONS", "POST"}) {
    for (std::string path : {"/api/sessions", "/api/trace", "/v1/chat/completions", "/api/events", "/"}) {
      CAPTURE(method);
      CAPTURE(path);
      raw_conn conn(tc.port());
      std::string req =
          method + " " + path +
          " HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://evil.example\r\n"
          "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: authorization\r\n";
      req += method == "POST" ? "Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" : "\r\n";
      REQUIRE(conn.send_all(req));
      std::string raw = path == "/api/events" && method == "GET"
                            ? conn.read_until_close(std::chrono::milliseconds(400))
                            : conn.read_response(std::chrono::milliseconds(3000));
      std::string head = raw.substr(0, raw.find("\r\n\r\n"));
      for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      CHECK(head.find("access-control-allow-origin: *") == std::string::npos);
      CHECK(head.find("access-control-allow-origin: https://evil.example") == std::string::npos);
    }
  }
}

TEST_CASE("security: replay and proxy only ever call the configured upstream, whatever the body says") {
  fake_upstream up;
  tripwire other;
  const std::string other_url = "http://127.0.0.1:" + std::to_string(other.port());
  test_collector tc([&](config& c) {
    c.upstream = up.base();
    c.upstream_api_key = "sk-server-side";
  });
  auto c = tc.client();
  json steer = {{"model", "gpt-fake"},
                {"messages", json::array({{{"role", "user"}, {"content", "go to " + other_url}}})},
                {"url", other_url + "/v1/chat/completions"},
                {"base_url", other_url + "/v1"},
                {"api_base", other_url + "/v1"},
                {"baseURL", other_url + "/v1"},
                {"upstream", other_url},
                {"endpoint", other_url + "/v1/chat/completions"},
                {"host", "127.0.0.1:" + std::to_string(other.port())}};
  // A stored record whose request carries the URL, then replays of it with and without an edited request.
  json trace = {{"session_id", "steer"}, {"request", steer}, {"response", {{"ok", true}}}};
  auto t = c->Post("/api/trace", trace.dump(), "application/json");
  REQUIRE(t);
  REQUIRE(t->status == 201);
  std::string id = json::parse(t->body)["id"];
  auto r1 = c->Post("/api/records/" + id + "/replay", "{}", "application/json");
  auto r2 = c->Post(
      "/api/records/" + id + "/replay",
      json{{"request", steer}, {"url", other_url}, {"upstream", other_url}, {"base_url", other_url}}.dump(),
      "application/json");
  auto r3 =
      c->Post("/api/records/" + id + "/replay", json{{"request", steer.dump()}}.dump(), "application/json");
  // The proxy, with steering headers too.
  httplib::Headers h = {{"X-Forwarded-Host", "127.0.0.1:" + std::to_string(other.port())},
                        {"X-LLMTrace-Upstream", other_url},
                        {"OpenAI-Base-URL", other_url},
                        {"X-Original-URL", other_url + "/v1/chat/completions"}};
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"}) {
    auto r = c->Post(p, h, steer.dump(), "application/json");
    REQUIRE(r);
    CHECK(r->status < 500);
  }
  // An absolute-form request target naming the other host.
  raw_conn conn(tc.port());
  std::string body = steer.dump();
  REQUIRE(conn.send_all("POST " + other_url +
                        "/v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body));
  conn.read_response(std::chrono::milliseconds(5000));
  REQUIRE(r1);
  REQUIRE(r2);
  REQUIRE(r3);
  CHECK(r1->status < 500);
  CHECK(up.calls() >= 1);    // the configured upstream is used ...
  CHECK(other.hits() == 0);  // ... and nothing else, ever
}

TEST_CASE("security: CR/LF/NUL are never forwarded in proxied request or response headers") {
  // The upstream is a raw socket so we see the exact bytes, and its reply carries a header with a bare CR.
  int lfd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(lfd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0);
  socklen_t len = sizeof(a);
  ::getsockname(lfd, reinterpret_cast<sockaddr*>(&a), &len);
  ::listen(lfd, 16);
  int up_port = ntohs(a.sin_port);
  std::mutex m;
  std::vector<std::string> seen;
  std::atomic<bool> stop{false};
  std::thread upstream([&] {
    while (!stop.load()) {
      pollfd p{lfd, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept(lfd, nullptr, nullptr);
      if (c < 0) continue;
      std::string got;
      char buf[8192];
      // Read the head and a Content-Length body.
      for (int i = 0; i < 200; ++i) {
        pollfd q{c, POLLIN, 0};
        if (::poll(&q, 1, 50) <= 0) {
          if (got.find("\r\n\r\n") != std::string::npos) break;
          continue;
        }
        ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, static_cast<std::size_t>(n));
        auto he = got.find("\r\n\r\n");
        if (he != std::string::npos) {
          std::string lower = got.substr(0, he);
          for (auto& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          auto cl = lower.find("content-length:");
          std::size_t blen = cl == std::string::npos ? 0 : std::strtoul(lower.c_str() + cl + 15, nullptr, 10);
          if (got.size() >= he + 4 + blen) break;
        }
      }
      {
        std::lock_guard<std::mutex> lock(m);
        seen.push_back(got);
      }
      std::string body =
          R"({"id":"x","object":"chat.completion","model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]})";
      std::string resp =
          "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Request-Id: abc\rInjected-Resp: 1\r\n"
          "OpenAI-Processing-Ms: 5\r\nContent-Length: " +
          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
      ::close(c);
    }
  });
  test_collector tc([&](config& c) {
    c.upstream = "http://127.0.0.1:" + std::to_string(up_port) + "/v1";
    c.upstream_api_key = "sk-server-side";
  });
  const std::vector<std::string> evil_headers = {
      "OpenAI-Organization: org-1\rInjected-Req: 1",
      "User-Agent: ua\x00Injected-Nul: 1",
      "Authorization: Bearer sk-caller\rInjected-Auth: 1",
      "OpenAI-Beta: beta\r\n Injected-Fold: 1",  // obsolete line folding
      "X-LLMTrace-Session-Id: s\rInjected-Session: 1",
      "Idempotency-Key: k\nInjected-Lf: 1",
  };
  int sent = 0;
  for (const auto& eh : evil_headers) {
    CAPTURE(eh);
    raw_conn conn(tc.port());
    std::string body = chat_body;
    std::string req =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" + eh +
        "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    REQUIRE(conn.send_all(req));
    std::string raw = conn.read_response(std::chrono::milliseconds(5000));
    ++sent;
    int st = status_of(raw);
    CHECK(st != 500);
    std::string head = raw.substr(0, raw.find("\r\n\r\n"));
    // The response head: every CR is part of a CRLF and no injected header appears.
    for (std::size_t i = 0; i < head.size(); ++i)
      if (head[i] == '\r') CHECK(i + 1 < head.size());
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (head[i] == '\r') CHECK(head[i + 1] == '\n');
      if (head[i] == '\n') CHECK((i > 0 && head[i - 1] == '\r'));
    }
    CHECK(head.find("Injected") == std::string::npos);
  }
  stop.store(true);
  upstream.join();
  ::close(lfd);
  std::lock_guard<std::mutex> lock(m);
  for (const auto& req : seen) {
    std::string head = req.substr(0, req.find("\r\n\r\n"));
    CAPTURE(head);
    for (std::size_t i = 0; i < head.size(); ++i) {
      if (head[i] == '\r') CHECK((i + 1 < head.size() && head[i + 1] == '\n'));
      if (head[i] == '\n') CHECK((i > 0 && head[i - 1] == '\r'));
      CHECK(head[i] != '\0');
    }
    // No injected line became a header of its own (a value that merely contains the text is harmless).
    CHECK(head.find("\r\nInjected") == std::string::npos);
  }
  MESSAGE("CR/LF header probes sent: " << sent << ", upstream requests seen: " << seen.size());
}

TEST_CASE("security: a unique fake key appears nowhere: logs, db, WAL, SHM, API responses, events") {
  fake_upstream up(/*echo_key=*/true);
  temp_dir dir;
  const std::string server_key = unique_key("sk-fake-upstream-");      // OPENAI_API_KEY
  const std::string caller_key = unique_key("sk-fake-caller-");        // a proxy caller's own key
  const std::string collector_key = unique_key("lt-fake-collector-");  // --api-key
  std::string responses;
  auto run = [&](bool with_collector_key) {
    process_options o;
    o.db_path = dir.file(with_collector_key ? "keyed.db" : "open.db");
    o.args = {"--upstream", up.base(), "--log-level", "trace"};
    if (with_collector_key) o.env.push_back({"LLMTRACE_API_KEY", collector_key});
    o.env.push_back({"OPENAI_API_KEY", server_key});
    collector_process p(o);
    REQUIRE(p.start());
    auto c = p.client(with_collector_key ? collector_key : "");
    // An event stream open throughout.
    std::string events;
    std::atomic<bool> ev_stop{false};
    std::thread ev([&] {
      raw_conn conn(p.port());
      std::string req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n";
      if (with_collector_key) req += "Authorization: Bearer " + collector_key + "\r\n";
      conn.send_all(req + "\r\n");
      while (!ev_stop.load()) events += conn.read_until_close(std::chrono::milliseconds(100));
    });
    // Ingest with the key sprinkled where a careless client puts it: auth headers inside the request.
    json req_with_key = {{"model", "gpt-fake"},
                         {"messages", json::array({{{"role", "user"}, {"content", "hi"}}})}};
    auto t = c->Post("/api/trace", json{{"session_id", "k"}, {"request", req_with_key}}.dump(),
                     "application/json");
    REQUIRE(t);
    REQUIRE(t->status == 201);
    responses += t->body;
    std::string id = json::parse(t->body)["id"];
    for (auto body :
         {std::string("{}"),
          json{{"request", {{"model", "gpt-fake"}, {"messages", json::array()}, {"fail", true}}}}.dump()}) {
      auto r = c->Post("/api/records/" + id + "/replay", body, "application/json");
      REQUIRE(r);
      responses += r->body;
      for (auto& [k, v] : r->headers) responses += k + ": " + v + "\n";
    }
    // Proxy: the caller's own key (forwarded upstream when the collector has no key of its own).
    httplib::Headers h;
    if (!with_collector_key) h = {{"Authorization", "Bearer " + caller_key}};
    for (std::string body : {chat_body, std::string(R"({"model":"gpt-fake","messages":[],"fail":true})")}) {
      auto r = c->Post("/v1/chat/completions", h, body, "application/json");
      REQUIRE(r);
      responses += r->body;
      for (auto& [k, v] : r->headers) responses += k + ": " + v + "\n";
    }
    // Read everything back through every read route.
    for (std::string path :
         {"/api/sessions?size=200", "/api/search?q=hi", "/api/search?q=fake", "/api/stats", "/metrics",
          "/api/sessions/k", "/api/sessions/k/records?size=200", "/api/sessions/k/export", "/healthz"}) {
      auto r = c->Get(path);
      REQUIRE(r);
      responses += r->body;
    }
    auto sessions = json::parse(c->Get("/api/sessions?size=200")->body);
    for (auto& s : sessions["items"]) {
      std::string sid = s["id"];
      auto r = c->Get("/api/sessions/" + sid + "/records?size=200");
      if (r) responses += r->body;
      auto e = c->Get("/api/sessions/" + sid + "/export");
      if (e) responses += e->body;
    }
    // Files are checked while the collector still has them open (WAL and SHM exist now).
    std::string files = read_file(o.db_path) + read_file(o.db_path + "-wal") + read_file(o.db_path + "-shm");
    CHECK(file_size_or_zero(o.db_path + "-wal") > 0);
    ev_stop.store(true);
    ev.join();
    p.terminate();
    std::string log = p.log();
    for (const auto& k : {server_key, caller_key, collector_key}) {
      CAPTURE(k);
      CHECK(count_of(log, k) == 0);
      CHECK(count_of(files, k) == 0);
      CHECK(count_of(read_file(o.db_path), k) == 0);  // after the final checkpoint too
      CHECK(count_of(responses, k) == 0);
      CHECK(count_of(events, k) == 0);
    }
    CHECK(events.find("event:") != std::string::npos);  // the stream did carry the records
  };
  run(false);
  run(true);
  // The upstream did get the keys it should (so the checks above were not vacuous).
  auto auths = up.auths();
  CHECK(std::find(auths.begin(), auths.end(), "Bearer " + server_key) != auths.end());
  CHECK(std::find(auths.begin(), auths.end(), "Bearer " + caller_key) != auths.end());
  for (auto& a : auths) CHECK(a.find(collector_key) == std::string::npos);
}
