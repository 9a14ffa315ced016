// Server-Sent Events over real HTTP: an event after a POST, resume with Last-Event-ID, the stream cap.
#include <doctest/doctest.h>

#include <mutex>
#include <thread>

#include <nlohmann/json.hpp>

#include "api/event_hub.hpp"
#include "support/test_support.hpp"

using namespace llmtrace;
using llmtrace::testing::test_collector;
using llmtrace::testing::wait_until;
using json = nlohmann::json;

namespace {

// Reads /api/events on a background thread into a string until stop() or the server ends the stream.
class sse_reader {
 public:
  sse_reader(const test_collector& tc, httplib::Headers headers, std::string path = "/api/events",
             bool with_key = true)
      : client_(tc.client(with_key)) {
    thread_ = std::thread([this, headers, path] {
      auto r = client_->Get(
          path.c_str(), headers,
          [this](const httplib::Response& res) {
            std::lock_guard lock(mu_);
            status_ = res.status;
            content_type_ = res.get_header_value("Content-Type");
            return true;
          },
          [this](const char* data, size_t len) {
            std::lock_guard lock(mu_);
            text_.append(data, len);
            return !stop_;
          });
      std::lock_guard lock(mu_);
      finished_ = true;
      if (r && status_ == 0) status_ = r->status;
    });
  }
  ~sse_reader() {
    stop();
    thread_.join();
  }
  void stop() {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  std::string text() {
    std::lock_guard lock(mu_);
    return text_;
  }
  int status() {
    std::lock_guard lock(mu_);
    return status_;
  }
  bool finished() {
    std::lock_guard lock(mu_);
    return finished_;
  }
  std::string content_type() {
    std::lock_guard lock(mu_);
    return content_type_;
  }

 private:
  std::unique_ptr<httplib::Client> client_;
  std::thread thread_;
  std::mutex mu_;
  std::string text_;
  std::string content_type_;
  int status_ = 0;
  bool stop_ = false;
  bool finished_ = false;
};

}  // namespace

TEST_CASE("events: a record event arrives after a POST") {
  test_collector tc;
  sse_reader sse(tc, {});
  REQUIRE(wait_until([&] {
    return tc.server().events().open_streams() == 1 && sse.text().find("retry: 2000") != std::string::npos;
  }));
  CHECK(sse.content_type().find("text/event-stream") == 0);
  auto c = tc.client();
  auto r = c->Post("/api/trace", R"({"session_id":"live","request":{"prompt":"hi"}})", "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 201);
  std::string id = json::parse(r->body)["id"];
  REQUIRE(wait_until([&] { return sse.text().find("event: session") != std::string::npos; }));
  auto text = sse.text();
  auto pos = text.find("event: record\ndata: ");
  REQUIRE(pos != std::string::npos);
  auto line_end = text.find('\n', pos + 20);
  auto data = json::parse(text.substr(pos + 20, line_end - pos - 20));
  CHECK(data["id"] == id);
  CHECK(data["change"] == "created");
  CHECK(data["request"]["prompt"] == "hi");
  CHECK(text.find("id: 1\n") != std::string::npos);

  auto d = c->Delete(("/api/records/" + id).c_str());
  REQUIRE(d);
  REQUIRE(wait_until([&] { return sse.text().find("event: deleted") != std::string::npos; }));
  CHECK(sse.text().find(R"("kind":"record")") != std::string::npos);
  // Heartbeats keep the stream alive while idle (200 ms in tests).
  REQUIRE(wait_until([&] { return sse.text().find(": ping") != std::string::npos; }));
}

TEST_CASE("events: reconnect with Last-Event-ID resumes after that id") {
  // Its streams all come from 127.0.0.1, and a closed one frees its slot within a second: the per-address
  // cap (half of max_streams by default) must not meet the next reconnect.
  test_collector tc([](config& c) { c.max_streams_per_client = c.max_streams; });
  auto c = tc.client();
  for (int i = 0; i < 3; ++i)
    REQUIRE(c->Post("/api/trace", R"({"session_id":"resume"})", "application/json")->status == 201);
  auto last = tc.server().events().last_id();
  REQUIRE(last >= 6);  // record + session event per POST
  {
    sse_reader sse(tc, {{"Last-Event-ID", "2"}});
    REQUIRE(wait_until(
        [&] { return sse.text().find("id: " + std::to_string(last) + "\n") != std::string::npos; }));
    auto text = sse.text();
    CHECK(text.find("id: 3\n") != std::string::npos);
    CHECK(text.find("id: 2\n") == std::string::npos);
    CHECK(text.find("id: 1\n") == std::string::npos);
  }
  {
    sse_reader sse(tc, {}, "/api/events?last_event_id=" + std::to_string(last - 1));
    REQUIRE(wait_until(
        [&] { return sse.text().find("id: " + std::to_string(last) + "\n") != std::string::npos; }));
    CHECK(sse.text().find("id: " + std::to_string(last - 1) + "\n") == std::string::npos);
  }
  {
    // No Last-Event-ID: only new events.
    sse_reader sse(tc, {});
    REQUIRE(wait_until([&] { return sse.text().find(": connected") != std::string::npos; }));
    REQUIRE(c->Post("/api/trace", R"({"session_id":"resume"})", "application/json")->status == 201);
    REQUIRE(wait_until(
        [&] { return sse.text().find("id: " + std::to_string(last + 1) + "\n") != std::string::npos; }));
    CHECK(sse.text().find("id: " + std::to_string(last) + "\n") == std::string::npos);
  }
}

TEST_CASE("events: streams beyond the cap get 503 and the API still answers") {
  test_collector tc([](config& c) {
    c.max_streams = 2;
    c.max_streams_per_client = 2;  // this test's streams all come from 127.0.0.1
  });
  sse_reader a(tc, {});
  sse_reader b(tc, {});
  REQUIRE(wait_until([&] { return tc.server().events().open_streams() == 2; }));
  auto c = tc.client();
  auto r = c->Get("/api/events");
  REQUIRE(r);
  CHECK(r->status == 503);
  CHECK(r->has_header("Retry-After"));
  CHECK(c->Get("/api/sessions")->status == 200);
}

TEST_CASE("events: access_token works for the event stream when a key is set") {
  test_collector tc([](config& c) { c.api_key = "k3y"; });
  sse_reader ok(tc, {}, "/api/events?access_token=k3y", false);
  REQUIRE(wait_until([&] { return ok.text().find("retry: 2000") != std::string::npos; }));
  sse_reader bad(tc, {}, "/api/events?access_token=wrong", false);
  REQUIRE(wait_until([&] { return bad.finished(); }));
  CHECK(bad.status() == 401);
}

TEST_CASE("events: shutdown ends open streams cleanly") {
  auto tc = std::make_unique<test_collector>();
  auto sse = std::make_unique<sse_reader>(*tc, httplib::Headers{});
  REQUIRE(wait_until([&] { return tc->server().events().open_streams() == 1; }));
  tc.reset();  // stop(): must not hang on the open stream
  CHECK(wait_until([&] { return sse->finished(); }));
}

TEST_CASE("events: a client that goes away frees its stream slot well before the next heartbeat") {
  test_collector tc([](config& c) { c.heartbeat_ms = 60000; });
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(tc.port()));
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  std::string req = "GET /api/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  REQUIRE(::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size()));
  REQUIRE(wait_until([&] { return tc.server().events().open_streams() == 1; }));
  ::close(fd);
  CHECK(
      wait_until([&] { return tc.server().events().open_streams() == 0; }, std::chrono::milliseconds(5000)));
}
