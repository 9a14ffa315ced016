// The embedded UI routes over real HTTP on a loopback port: SPA fallback, cache and security headers, and
// path traversal attempts sent byte-for-byte through a raw socket (an HTTP client would normalise them).
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "web/web_assets.hpp"
#include "web/web_routes.hpp"

namespace {

struct ui_server {
  httplib::Server server;
  int port = 0;
  std::thread thread;

  ui_server() {
    // A stand-in API route registered first, as main does, to prove the UI catch-all does not shadow it.
    server.Get("/api/sessions", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(R"({"items":[],"page":1,"size":20,"total":0})", "application/json");
    });
    llmtrace::web::mount(server);
    port = server.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { server.listen_after_bind(); });
    for (int i = 0; i < 500 && !server.is_running(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ~ui_server() {
    server.stop();
    thread.join();
  }
};

struct raw_reply {
  int status = 0;
  std::string head;
  std::string body;
};

// Sends `GET <target>` exactly as written and reads the whole reply (Connection: close).
raw_reply raw_get(int port, const std::string& target) {
  raw_reply out;
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size()));
  std::string data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  auto split = data.find("\r\n\r\n");
  REQUIRE(split != std::string::npos);
  out.head = data.substr(0, split);
  out.body = data.substr(split + 4);
  REQUIRE(out.head.size() > 12);
  out.status = std::stoi(out.head.substr(9, 3));
  return out;
}

const llmtrace::web::asset* index_asset() {
  for (const auto& a : llmtrace::web::assets())
    if (a.path == "/index.html") return &a;
  return nullptr;
}

}  // namespace

TEST_CASE("web: the embedded table has index.html and content types") {
  REQUIRE(index_asset() != nullptr);
  CHECK(index_asset()->content_type.starts_with("text/html"));
  for (const auto& a : llmtrace::web::assets()) {
    CHECK(a.path.starts_with("/"));
    CHECK(!a.content_type.empty());
  }
}

TEST_CASE("web: / and deep links serve index.html with security headers and no-cache") {
  ui_server s;
  httplib::Client cli("127.0.0.1", s.port);
  for (const char* path : {"/", "/index.html", "/sessions/abc-123", "/records/0190c0de-aaaa", "/search"}) {
    CAPTURE(path);
    auto res = cli.Get(path);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == index_asset()->data);
    CHECK(res->get_header_value("Content-Type").starts_with("text/html"));
    CHECK(res->get_header_value("Cache-Control") == "no-cache");
    const auto csp = res->get_header_value("Content-Security-Policy");
    CHECK(csp.find("default-src 'self'") != std::string::npos);
    CHECK(csp.find("object-src 'none'") != std::string::npos);
    CHECK(csp.find("frame-ancestors 'none'") != std::string::npos);
    CHECK(csp.find("base-uri 'none'") != std::string::npos);
    CHECK(csp.find("unsafe-inline") == std::string::npos);
    CHECK(res->get_header_value("X-Content-Type-Options") == "nosniff");
    CHECK(res->get_header_value("Referrer-Policy") == "no-referrer");
  }
}

TEST_CASE("web: every embedded file is served byte-exact, hashed assets as immutable") {
  ui_server s;
  httplib::Client cli("127.0.0.1", s.port);
  int hashed = 0;
  for (const auto& a : llmtrace::web::assets()) {
    const std::string path(a.path);
    CAPTURE(path);
    auto res = cli.Get(path);
    REQUIRE(res);
    CHECK(res->status == 200);
    CHECK(res->body == a.data);
    CHECK(res->get_header_value("Content-Type") == std::string(a.content_type));
    if (path.starts_with("/assets/")) {
      ++hashed;
      CHECK(res->get_header_value("Cache-Control") == "public, max-age=31536000, immutable");
    }
  }
#ifdef LLMTRACE_WEB_UI_BUILT
  CHECK(hashed >= 2);  // the built UI has at least one script and one stylesheet
#else
  CHECK(hashed == 0);  // the fallback page has none
#endif
}

TEST_CASE("web: unknown API paths answer JSON 404, real API routes are not shadowed") {
  ui_server s;
  httplib::Client cli("127.0.0.1", s.port);
  auto api = cli.Get("/api/sessions");
  REQUIRE(api);
  CHECK(api->status == 200);
  CHECK(api->body.find("\"items\"") != std::string::npos);
  for (const char* path : {"/api/nope", "/api/sessions/x/unknown", "/api"}) {
    CAPTURE(path);
    auto res = cli.Get(path);
    REQUIRE(res);
    CHECK(res->status == 404);
    CHECK(res->get_header_value("Content-Type") == "application/json");
    CHECK(res->body.find(R"("error":{"code":"not_found")") != std::string::npos);
  }
  auto asset = cli.Get("/assets/missing-abc123.js");
  REQUIRE(asset);
  CHECK(asset->status == 404);
  CHECK(asset->body.find("<html") == std::string::npos);
}

TEST_CASE("web: path traversal, encoded, double-encoded and backslash variants are 404") {
  ui_server s;
  const char* attacks[] = {
      "/../../../../etc/passwd",
      "/assets/../../web_routes.cpp",
      "/%2e%2e/%2e%2e/etc/passwd",
      "/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
      "/assets/%2e%2e%2f%2e%2e%2fCMakeLists.txt",
      "/%252e%252e%252f%252e%252e%252fetc%252fpasswd",
      "/..%5c..%5cetc%5cpasswd",
      "/assets\\..\\..\\etc\\passwd",
      "/%5c..%5c..%5cetc%5cpasswd",
      "/..%252f..%252fetc%252fpasswd",
      "//etc/passwd",
      "/index.html%00.js",
  };
  for (const char* target : attacks) {
    CAPTURE(target);
    auto r = raw_get(s.port, target);
    CHECK(r.status == 404);
    CHECK(r.body.find("root:") == std::string::npos);
    CHECK(r.body.find("<html") == std::string::npos);
  }
  // Control: the same socket helper gets the page for a normal deep link.
  auto ok = raw_get(s.port, "/sessions/abc");
  CHECK(ok.status == 200);
}
