// The upstream client against the fake upstream over real loopback HTTP and HTTPS.
#include <doctest/doctest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <thread>

#include "support/fake_upstream.hpp"
#include "support/test_support.hpp"
#include "upstream/stream_assembler.hpp"
#include "upstream/upstream_client.hpp"

using namespace llmtrace::upstream;
using llmtrace::test::fake_upstream;
using llmtrace::test::fake_upstream_options;
using llmtrace::test::test_pki;
using json = nlohmann::json;

namespace {

upstream_options options_for(const fake_upstream& f, const std::string& key = "sk-server-key") {
  upstream_options o;
  o.base_url = f.base_url();
  o.api_key = key;
  o.connect_timeout_ms = 2000;
  o.read_timeout_ms = 5000;
  return o;
}

call_request chat(const std::string& model, const std::string& text, bool stream = false) {
  call_request r;
  r.target = endpoint::chat_completions;
  json body = {{"model", model}, {"messages", json::array({json{{"role", "user"}, {"content", text}}})}};
  if (stream) {
    body["stream"] = true;
    body["stream_options"] = {{"include_usage", true}};
  }
  r.body = body.dump();
  return r;
}

// A loopback port that nothing listens on: bound once to learn a free number, then closed.
int free_closed_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace

TEST_CASE("upstream: base URL parsing") {
  auto u = parse_base_url("https://api.openai.com/v1");
  REQUIRE(u);
  CHECK(u->scheme == "https");
  CHECK(u->host == "api.openai.com");
  CHECK(u->port == 443);
  CHECK(u->prefix == "/v1");
  u = parse_base_url("http://127.0.0.1:8081/");
  REQUIRE(u);
  CHECK(u->port == 8081);
  CHECK(u->prefix.empty());
  u = parse_base_url("http://[::1]:9000/openai/v1/");
  REQUIRE(u);
  CHECK(u->host == "::1");
  CHECK(u->prefix == "/openai/v1");
  std::string why;
  CHECK_FALSE(parse_base_url("ftp://x/v1", &why));
  CHECK_FALSE(why.empty());
  CHECK_FALSE(parse_base_url("http://user:pw@host/v1"));
  CHECK_FALSE(parse_base_url("http://host:99999/v1"));
  CHECK_FALSE(parse_base_url("http://host/v1?x=1"));
  CHECK_FALSE(parse_base_url("host/v1"));
  CHECK_FALSE(parse_base_url("http:///v1"));
  upstream_options bad;
  bad.base_url = "nope";
  CHECK_THROWS_AS(upstream_client{bad}, std::invalid_argument);
}

TEST_CASE("upstream: endpoints come from a closed set") {
  CHECK(parse_endpoint("/chat/completions") == endpoint::chat_completions);
  CHECK(parse_endpoint("/v1/completions") == endpoint::completions);
  CHECK(parse_endpoint("embeddings") == endpoint::embeddings);
  CHECK(parse_endpoint("/responses") == endpoint::responses);
  CHECK_FALSE(parse_endpoint("/models"));
  CHECK_FALSE(parse_endpoint("http://evil.example/chat/completions"));
  CHECK_FALSE(parse_endpoint("/chat/completions/../../x"));
  CHECK(path_suffix(endpoint::embeddings) == "/embeddings");
}

TEST_CASE("upstream: plain call uses the server key, forwards only allowed headers") {
  fake_upstream f;
  upstream_client c(options_for(f));
  auto req = chat("gpt-x", "hello");
  req.headers.emplace("OpenAI-Organization", "org-1");
  req.headers.emplace("Cookie", "secret=1");
  req.headers.emplace("X-Api-Key", "other-secret");
  req.headers.emplace("Connection", "close");
  auto r = c.post(req);
  REQUIRE(r.ok());
  CHECK(r.status == 200);
  json body = json::parse(r.body);
  CHECK(body["choices"][0]["message"]["content"] == "echo: hello");
  auto got = f.last();
  CHECK(got.path == "/v1/chat/completions");
  CHECK(got.header("Authorization") == "Bearer sk-server-key");
  CHECK(got.header("OpenAI-Organization") == "org-1");
  CHECK(got.header("Cookie").empty());
  CHECK(got.header("X-Api-Key").empty());
  CHECK(json::parse(got.body)["messages"][0]["content"] == "hello");

  // The caller's Authorization wins over the server key; the pooled connection is reused.
  req.authorization = "Bearer sk-caller";
  r = c.post(req);
  REQUIRE(r.ok());
  CHECK(f.last().header("Authorization") == "Bearer sk-caller");
}

TEST_CASE("upstream: upstream errors come back with status and body, redirects are not followed") {
  fake_upstream f;
  upstream_client c(options_for(f));
  auto r = c.post(chat("fake-429", "x"));
  CHECK(r.error == call_error::none);
  CHECK(r.status == 429);
  CHECK_FALSE(r.ok());
  CHECK(json::parse(r.body)["error"]["code"] == "rate_limit_exceeded");
  r = c.post(chat("fake-500", "x"));
  CHECK(r.status == 500);
  r = c.post(chat("fake-redirect", "x"));
  CHECK(r.status == 302);
  CHECK(f.request_count() == 3);  // the redirect target was never called
}

TEST_CASE("upstream: response size is capped") {
  fake_upstream f;
  auto o = options_for(f);
  o.max_response_bytes = 64 * 1024;
  upstream_client c(o);
  auto r = c.post(chat("fake-huge", "x"));
  CHECK(r.error == call_error::too_large);
  CHECK(r.body.size() <= o.max_response_bytes);
  // The client still works afterwards (a fresh connection replaces the aborted one).
  CHECK(c.post(chat("gpt-x", "again")).ok());
}

TEST_CASE("upstream: CR/LF in a header value is refused before anything is sent") {
  fake_upstream f;
  upstream_client c(options_for(f));
  auto req = chat("gpt-x", "x");
  req.authorization = "Bearer a\r\nX-Injected: 1";
  CHECK(c.post(req).error == call_error::refused);
  req.authorization.clear();
  req.headers.emplace("OpenAI-Organization", "org\nx");
  CHECK(c.post(req).error == call_error::refused);
  CHECK(f.request_count() == 0);
}

TEST_CASE("upstream: connection refused is a connect error naming the upstream, never the key") {
  upstream_options o;
  o.base_url = "http://127.0.0.1:" + std::to_string(free_closed_port()) + "/v1";
  o.api_key = "sk-do-not-show";
  o.connect_timeout_ms = 1000;
  upstream_client c(o);
  auto r = c.post(chat("gpt-x", "x"));
  CHECK(r.error == call_error::connect);
  CHECK(r.status == 0);
  CHECK(r.error_message.find("127.0.0.1") != std::string::npos);
  CHECK(r.error_message.find("sk-do-not-show") == std::string::npos);
}

TEST_CASE("upstream: streaming delivers chunks as they arrive and assembles") {
  fake_upstream f;
  upstream_client c(options_for(f));
  int header_calls = 0;
  int status_seen = 0;
  std::size_t chunks = 0;
  stream_assembler a;
  auto r = c.post_streaming(
      chat("gpt-x", "stream me", true),
      [&](int status, const httplib::Headers& h) {
        ++header_calls;
        status_seen = status;
        auto it = h.find("Content-Type");
        CHECK((it != h.end() && it->second.find("text/event-stream") != std::string::npos));
        return true;
      },
      [&](const char* data, std::size_t n) {
        ++chunks;
        a.feed(std::string_view(data, n), 1);
        return true;
      });
  REQUIRE(r.ok());
  CHECK(r.body.empty());
  CHECK(header_calls == 1);
  CHECK(status_seen == 200);
  CHECK(chunks >= 1);
  CHECK(a.finished());
  CHECK(a.assembled()["choices"][0]["message"]["content"] == "echo: stream me");
  CHECK(a.assembled()["usage"]["total_tokens"] == 16);
}

TEST_CASE("upstream: a stream that breaks mid-way is a transport error with the partial content kept") {
  fake_upstream f;
  upstream_client c(options_for(f));
  stream_assembler a;
  auto r =
      c.post_streaming(chat("fake-break", "abcdefghijkl", true), nullptr, [&](const char* d, std::size_t n) {
        a.feed(std::string_view(d, n), 1);
        return true;
      });
  CHECK(r.error == call_error::transport);
  CHECK(r.status == 200);
  CHECK_FALSE(a.finished());
  CHECK(a.assembled()["choices"][0]["message"]["content"] == "echo: ab");
}

TEST_CASE("upstream: a chunk callback returning false cancels the call") {
  fake_upstream f;
  upstream_client c(options_for(f));
  f.release_slow();
  auto r =
      c.post_streaming(chat("fake-slow", "x", true), nullptr, [](const char*, std::size_t) { return false; });
  CHECK(r.error == call_error::canceled);
}

TEST_CASE("upstream: HTTPS verifies the server against the configured CA and refuses an untrusted one") {
  test_pki pki;
  fake_upstream_options fo;
  fo.https = true;
  fo.cert_file = pki.server_cert;
  fo.key_file = pki.server_key;
  fake_upstream f(fo);
  REQUIRE(f.base_url().rfind("https://", 0) == 0);

  auto trusted = options_for(f);
  trusted.ca_file = pki.ca_file;
  upstream_client ok_client(trusted);
  auto r = ok_client.post(chat("gpt-x", "over tls"));
  REQUIRE(r.ok());
  CHECK(json::parse(r.body)["choices"][0]["message"]["content"] == "echo: over tls");

  auto untrusted = options_for(f);
  untrusted.ca_file = pki.other_ca_file;
  upstream_client bad_client(untrusted);
  r = bad_client.post(chat("gpt-x", "must not arrive"));
  CHECK(r.error == call_error::connect);
  CHECK(f.request_count() == 1);  // only the trusted call reached the server

  // The system trust store does not know the throwaway CA either.
  auto system = options_for(f);
  upstream_client system_client(system);
  CHECK(system_client.post(chat("gpt-x", "nope")).error == call_error::connect);
  CHECK(f.request_count() == 1);
}

TEST_CASE("upstream: a canceler aborts a call while the upstream is silent") {
  fake_upstream f;
  upstream_client c(options_for(f));
  auto req = chat("fake-slow", "x", true);
  req.canceler = std::make_shared<call_canceler>();
  call_result r;
  std::thread t([&] { r = c.post_streaming(req, nullptr, [](const char*, std::size_t) { return true; }); });
  REQUIRE(llmtrace::testing::wait_until([&] { return f.slow_waiting(); }));
  req.canceler->cancel();
  t.join();
  CHECK(r.error == call_error::canceled);
  CHECK(f.slow_waiting());  // returned while the upstream was still parked
  f.release_slow();
  // Canceled before it starts: nothing is sent.
  auto again = chat("gpt-x", "y");
  again.canceler = std::make_shared<call_canceler>();
  again.canceler->cancel();
  CHECK(c.post(again).error == call_error::canceled);
  CHECK(f.request_count() == 1);
}
