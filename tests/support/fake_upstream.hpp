// A fake OpenAI-compatible upstream for tests (cpp-httplib, HTTP or HTTPS on a free loopback port).
// What it answers is chosen by the request's "model" so a test needs no setup per call:
//   anything else      echo: content "echo: <last message/prompt/input text>", usage 11/5/16
//   "fake-429"         429 with an OpenAI error body (rate_limit_exceeded)
//   "fake-500"         500 with an OpenAI error body
//   "fake-slow"        (stream) sends the first content chunk, then waits for release_slow() before the rest
//   "fake-break"       (stream) sends two content chunks, then drops the connection mid-stream
//   "fake-redirect"    302 to another URL (a client must not follow it)
//   "fake-huge"        a 1 MiB non-JSON body (for response caps)
//   "fake-tools"       (chat) a tool call, streamed in pieces when stream is true
//   "fake-echo-key"    like echo, but the content is "you sent <Authorization header>"
//   "fake-401-echo"    401 whose error message repeats the Authorization header
// Every request is recorded (path, headers, body) for assertions.
// Threading: the server runs on its own thread from construction to destruction; accessors are thread-safe.
#pragma once

#include <httplib.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace llmtrace::test {

struct received_request {
  std::string path;
  httplib::Headers headers;
  std::string body;
  std::string header(const std::string& name) const;  // "" when absent (case-insensitive)
};

struct fake_upstream_options {
  bool https = false;
  std::string cert_file;  // PEM, for https
  std::string key_file;
  int slow_delay_ms = 10;             // pause between chunks after a slow stream is released
  int slow_chunks = 30;               // chunks sent after release
  int slow_gate_timeout_ms = 10'000;  // a stuck test never hangs the server forever
};

class fake_upstream {
 public:
  explicit fake_upstream(fake_upstream_options options = {});
  ~fake_upstream();
  fake_upstream(const fake_upstream&) = delete;
  fake_upstream& operator=(const fake_upstream&) = delete;

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/v1" (https:// when https)
  std::string base_url() const;

  std::vector<received_request> received() const;
  std::size_t request_count() const;
  received_request last() const;  // throws when none

  // Lets every waiting (and future) "fake-slow" stream continue.
  void release_slow();
  // True once a slow stream has sent its first chunk and is waiting.
  bool slow_waiting() const;
  // Number of slow streams that finished sending (or were cut off by the client).
  int slow_finished() const;

 private:
  void handle(const httplib::Request& req, httplib::Response& res);
  void record(const httplib::Request& req);

  fake_upstream_options options_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<received_request> received_;
  bool released_ = false;
  int slow_waiting_ = 0;
  int slow_finished_ = 0;
  int counter_ = 0;
};

// A throwaway CA and a server certificate for 127.0.0.1/localhost, made with the openssl CLI in a temp dir,
// plus an unrelated CA that must NOT be trusted. Removed on destruction.
struct test_pki {
  test_pki();
  ~test_pki();
  std::string dir;
  std::string ca_file;
  std::string other_ca_file;
  std::string server_cert;
  std::string server_key;
};

}  // namespace llmtrace::test
