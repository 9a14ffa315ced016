// Hostile and malformed input: every case gets a 4xx JSON error with a message, and the server keeps
// answering.
#include <doctest/doctest.h>

#include <poll.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::test_collector;
using json = nlohmann::json;

namespace {

void check_error(const httplib::Result& r, int status, const std::string& field = {}) {
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == status);
  auto j = json::parse(r->body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  CHECK(j["error"]["code"].is_string());
  CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
  if (!field.empty()) CHECK(j["error"]["field"] == field);
}

void check_alive(test_collector& tc) {
  auto c = tc.client();
  auto r = c->Get("/healthz");
  REQUIRE(r);
  CHECK(r->status == 200);
}

}  // namespace

TEST_CASE("bad input: malformed JSON, wrong types, negative turn, unknown status -> 400 naming the field") {
  test_collector tc;
  auto c = tc.client();
  check_error(c->Post("/api/trace", "{\"session_id\": ", "application/json"), 400);
  check_error(c->Post("/api/trace", "", "application/json"), 400);
  check_error(c->Post("/api/trace", "[1,2]", "application/json"), 400);
  check_error(c->Post("/api/trace", R"({"turn_number":"one"})", "application/json"), 400, "turn_number");
  check_error(c->Post("/api/trace", R"({"turn_number":-1})", "application/json"), 400, "turn_number");
  check_error(c->Post("/api/trace", R"({"status":"finished"})", "application/json"), 400, "status");
  check_error(c->Post("/api/trace", R"({"metadata":[1]})", "application/json"), 400, "metadata");
  check_error(c->Post("/api/trace", R"({"session_id":{"a":1}})", "application/json"), 400, "session_id");
  check_error(c->Post("/api/trace", R"({"started_at":"not a time"})", "application/json"), 400, "started_at");
  check_alive(tc);
}

TEST_CASE("bad input: 1e999, invalid UTF-8 and deep nesting are 400, never a crash") {
  test_collector tc;
  auto c = tc.client();
  check_error(c->Post("/api/trace", R"({"request":{"temperature":1e999}})", "application/json"), 400);
  check_error(c->Post("/api/trace", "{\"request\":\"\xc3\x28\xff\"}", "application/json"), 400);
  std::string deep = "{\"request\":" + std::string(5000, '[') + std::string(5000, ']') + "}";
  check_error(c->Post("/api/trace", deep, "application/json"), 400);
  std::string deep_batch = "{\"traces\":[" + std::string(100000, '[') + "]}";
  check_error(c->Post("/api/traces", deep_batch, "application/json"), 400);
  check_alive(tc);
}

TEST_CASE("bad input: huge bodies get 413, with Content-Length, chunked, or gzip-inflated") {
  test_collector tc([](config& c) { c.max_body_bytes = 64 * 1024; });
  {
    auto c = tc.client();
    std::string big = "{\"request\":\"" + std::string(100 * 1024, 'x') + "\"}";
    check_error(c->Post("/api/trace", big, "application/json"), 413);
  }
  {
    auto c = tc.client();
    // Chunked: no Content-Length, so httplib's own limit does not apply; ours must.
    auto r = c->Post(
        "/api/traces",
        [sent = std::size_t{0}](size_t, httplib::DataSink& sink) mutable {
          std::string piece(8192, ' ');
          if (sent == 0) piece[0] = '{';
          sent += piece.size();
          if (sent > 512 * 1024) {
            sink.done();
            return true;
          }
          return sink.write(piece.data(), piece.size());
        },
        "application/json");
    if (r) {  // the server may close before the client finishes sending; a reply must then be a 413
      CHECK(r->status == 413);
    }
  }
  {
    auto c = tc.client();
    std::string inflated = "{\"traces\":[],\"pad\":\"" + std::string(4 * 1024 * 1024, 'a') + "\"}";
    z_stream zs{};
    deflateInit2(&zs, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    std::string gz(compressBound(inflated.size()) + 64, '\0');
    zs.next_in = reinterpret_cast<Bytef*>(inflated.data());
    zs.avail_in = static_cast<uInt>(inflated.size());
    zs.next_out = reinterpret_cast<Bytef*>(gz.data());
    zs.avail_out = static_cast<uInt>(gz.size());
    deflate(&zs, Z_FINISH);
    gz.resize(zs.total_out);
    deflateEnd(&zs);
    REQUIRE(gz.size() < 64 * 1024);
    check_error(c->Post("/api/traces", {{"Content-Encoding", "gzip"}}, gz, "application/json"), 413);
  }
  check_alive(tc);
}

TEST_CASE("bad input: too many headers get 431") {
  test_collector tc;
  auto c = tc.client();
  httplib::Headers h;
  for (int i = 0; i < 300; ++i) h.emplace("X-Pad-" + std::to_string(i), "v");
  check_error(c->Get("/api/sessions", h), 431);
  check_alive(tc);
}

TEST_CASE("bad input: unknown API route is a JSON 404") {
  test_collector tc;
  auto c = tc.client();
  auto r = c->Get("/api/does-not-exist");
  REQUIRE(r);
  CHECK(r->status == 404);
  CHECK(json::parse(r->body)["error"]["code"].is_string());
}

TEST_CASE("bad input: a POST without Content-Length or chunking gets 411 at once, not a read-timeout hang") {
  test_collector tc;
  // httplib's client always adds Content-Length, so write the request by hand over a socket.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(tc.port()));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string req = "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::write(fd, req.data(), req.size()) == static_cast<ssize_t>(req.size()));
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  char buf[512] = {};
  auto n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  REQUIRE(n > 0);
  CHECK(std::string(buf).rfind("HTTP/1.1 411", 0) == 0);
  check_alive(tc);
}

namespace {

// Sends raw bytes and reads everything until the server closes (or 3 s pass).
std::string raw_exchange(int port, const std::string& request, bool& closed) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  timeval tv{3, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string out;
  char buf[4096];
  closed = false;
  for (;;) {
    auto n = ::recv(fd, buf, sizeof(buf), 0);
    if (n == 0) {
      closed = true;
      break;
    }
    if (n < 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

std::size_t count_responses(const std::string& raw) {
  std::size_t n = 0;
  for (auto p = raw.find("HTTP/1.1 "); p != std::string::npos; p = raw.find("HTTP/1.1 ", p + 1)) ++n;
  return n;
}

}  // namespace

TEST_CASE("bad input: a rejected upload's unread body is never parsed as a second request") {
  test_collector tc([](config& c) { c.api_key = "k"; });
  // The body is itself a valid request: if the server read it as one, a second answer would appear.
  std::string smuggled = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  std::string req =
      "POST /api/trace HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled;
  bool closed = false;
  auto raw = raw_exchange(tc.port(), req, closed);
  CHECK(raw.rfind("HTTP/1.1 401", 0) == 0);
  CHECK(count_responses(raw) == 1);
  CHECK(closed);
}

TEST_CASE("bad input: an oversized chunked body gets one 413 and the connection is closed") {
  test_collector tc([](config& c) { c.max_body_bytes = 4096; });
  std::string req =
      "POST /api/traces HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
      "Transfer-Encoding: chunked\r\n\r\n";
  std::string chunk(2048, ' ');
  for (int i = 0; i < 8; ++i) req += "800\r\n" + chunk + "\r\n";
  req += "0\r\n\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  bool closed = false;
  auto raw = raw_exchange(tc.port(), req, closed);
  CHECK(raw.rfind("HTTP/1.1 413", 0) == 0);
  CHECK(count_responses(raw) == 1);
  CHECK(closed);
}

TEST_CASE("bad input: headers that never finish are cut off at the deadline with 431") {
  test_collector tc([](config& c) { c.read_timeout_s = 1; });
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(tc.port()));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string start = "GET /api/sessions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
  ::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
  // Keep dripping bytes (each read succeeds, so only a whole-header deadline can end this).
  std::string got;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) > 0) {
      char buf[1024];
      auto n = ::recv(fd, buf, sizeof(buf), 0);
      if (n > 0) got.append(buf, static_cast<std::size_t>(n));
      break;
    }
    ::send(fd, "a", 1, MSG_NOSIGNAL);
  }
  ::close(fd);
  CHECK(got.rfind("HTTP/1.1 431", 0) == 0);
  check_alive(tc);
}
