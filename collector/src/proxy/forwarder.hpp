// The zero-code recording proxy as a service: forwards one OpenAI-compatible call to the configured upstream
// and records it (a pending record when the call starts, completed with the same id at the end) through the
// recorder, off the request path. Streams pass through chunk by chunk (response_relay.hpp).
// Keys: with a collector API key the caller's Authorization is that key and the server's upstream key is
// used; without one the caller's Authorization is forwarded, else the server key. No key is stored or logged.
// Made by the composition root. Thread safety: forward() runs concurrently on request threads.
// Lifetime: the recorder and the call limiter outlive the forwarder and every response it starts.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "upstream/upstream_client.hpp"

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace llmtrace::upstream {
class call_limiter;
}

namespace llmtrace::proxy {

class recorder;

class forwarder {
 public:
  // client: null when the configured upstream is unusable (client_problem says why; calls answer 503).
  // collector_api_key: the collector's own key (never forwarded, redacted from records).
  forwarder(recorder& records, std::shared_ptr<upstream::upstream_client> client, std::string client_problem,
            upstream::call_limiter& limiter, std::string collector_api_key);

  // Forwards the call (`body`: the JSON object as the caller sent it, `parsed`: its tree) and answers in res:
  // the upstream's status, headers and body or stream, or the API's JSON error.
  void forward(upstream::endpoint target, const httplib::Request& req, const std::string& body,
               const nlohmann::json& parsed, httplib::Response& res);

 private:
  recorder& records_;
  std::shared_ptr<upstream::upstream_client> client_;
  std::string client_problem_;
  upstream::call_limiter& limiter_;
  std::string collector_api_key_;
};

}  // namespace llmtrace::proxy
