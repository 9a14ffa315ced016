// The HTTP side both exporters share (native batches and OTLP/JSON): the endpoint split into host and path
// prefix, the keep-alive client built from options, and one POST of a batch with the OTLP retry rules
// (429/502/503/504 and connection errors retried with capped exponential backoff and jitter, Retry-After
// honoured; anything else fails the batch; a 2xx settles it, possibly as a partial success). A direct call
// (client::score) uses the first two. Threading: post() runs on the flusher thread only; shutdown() may come
// from another thread while a post is in flight (the client is guarded by a mutex for that alone).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "exporter.hpp"
#include "llmtrace/llmtrace.hpp"

namespace httplib {
class Client;
}

namespace llmtrace::detail {

// "http://host:port/prefix/" as the part httplib takes ("http://host:port") and a path prefix ("/prefix",
// or "" when the endpoint has none).
struct endpoint_parts {
  std::string scheme_host;
  std::string prefix;
};
endpoint_parts split_endpoint(std::string_view endpoint);

// A client for `scheme_host` with the options' timeouts, gzip and API key (Authorization: Bearer).
std::unique_ptr<httplib::Client> make_http_client(const options& opts, const std::string& scheme_host);

// How one protocol words its warnings and reads a 2xx answer.
struct batch_protocol {
  const char* receiver;  // "collector", "OTLP receiver"
  const char* unit;      // "records", "spans"
  // How many of the n items the receiver refused, from its 2xx body (a partial success, not retried).
  uint64_t (*rejected_of)(const std::string& body, uint64_t n);
};

class batch_transport {
 public:
  // path_suffix: the route under the endpoint's prefix ("/api/traces"); jitter_seed differs per protocol
  // so two exporters of one process do not retry in lockstep.
  batch_transport(const options& opts, std::string_view path_suffix, batch_protocol proto,
                  uint64_t jitter_seed);
  ~batch_transport();
  batch_transport(const batch_transport&) = delete;
  batch_transport& operator=(const batch_transport&) = delete;

  // POSTs one batch body of n items, retrying as the header says, within the context's deadline.
  export_outcome post(const std::string& body, uint64_t n, export_context& ctx);
  // Abandons the in-flight request by closing its socket (the shutdown deadline passed).
  void shutdown() noexcept;

 private:
  void ensure_client();
  int64_t backoff_ms(int attempt) noexcept;

  const options opts_;
  const batch_protocol proto_;
  std::string scheme_host_;
  std::string path_;
  uint64_t jitter_state_;
  std::mutex mu_;  // guards client_ against shutdown() from another thread
  std::unique_ptr<httplib::Client> client_;
};

}  // namespace llmtrace::detail
