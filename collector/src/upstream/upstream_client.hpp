// The collector's only way out to an OpenAI-compatible upstream (replay and the /v1 proxy use it).
// The target is fixed by the server's configuration; callers pick only an endpoint from a closed set, so no
// request body or stored record can ever steer a call elsewhere. Redirects are not followed, responses are
// capped, header values with CR/LF are refused and hop-by-hop headers are never forwarded.
// Threading: an upstream_client is shared by all request threads; each call borrows a pooled httplib client
// (keep-alive) for its duration. Callbacks run on the calling thread.
#pragma once

#include <httplib.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmtrace::upstream {

// The endpoints the collector may call, relative to the configured base URL (e.g. https://host/v1).
enum class endpoint { chat_completions, completions, embeddings, responses };

// "/chat/completions" etc.
std::string_view path_suffix(endpoint e) noexcept;
// Accepts "/chat/completions", "chat/completions", "/v1/chat/completions" style suffixes; nullopt otherwise.
std::optional<endpoint> parse_endpoint(std::string_view path) noexcept;

struct base_url {
  std::string scheme;  // "http" | "https"
  std::string host;    // without brackets for IPv6
  int port = 0;
  std::string prefix;  // path prefix without a trailing slash, e.g. "/v1" (may be empty)
};

// Parses "scheme://host[:port][/prefix]". nullopt (and a reason in *why) for anything else, including user
// info, query strings and fragments.
std::optional<base_url> parse_base_url(std::string_view url, std::string* why = nullptr);

struct upstream_options {
  std::string base_url = "https://api.openai.com/v1";
  std::string api_key;  // the server's key (OPENAI_API_KEY); empty: none configured
  // PEM bundle / hashed directory to verify HTTPS upstreams; empty: the system defaults. Filled by the
  // composition root from the config (upstream/ reads no environment).
  std::string ca_file;
  std::string ca_dir;
  int connect_timeout_ms = 10'000;
  int read_timeout_ms = 600'000;  // per read: a model may think for minutes before the first byte
  int write_timeout_ms = 30'000;
  std::size_t max_response_bytes = 32u << 20;
  std::size_t max_idle_connections = 8;
};

// True when a header value may be sent as is (no CR, LF or NUL).
bool header_value_safe(std::string_view value) noexcept;

// Caller headers worth forwarding to an OpenAI-compatible API (organisation/project/beta/user agent/accept).
// Anything else, including hop-by-hop headers, cookies and keys other than Authorization, is dropped.
bool forwardable_request_header(std::string_view name) noexcept;
// Upstream response headers passed back to the caller (content type, request id, rate limits, retry-after).
bool forwardable_response_header(std::string_view name) noexcept;

// Lets another thread abort a call in flight, also while the upstream is silent (e.g. the proxy's caller
// hung up): shuts the upstream socket down. Thread-safe; cancel() before the call starts makes it a no-op
// call.
class call_canceler {
 public:
  void cancel();
  bool canceled() const;

 private:
  friend class upstream_client;
  mutable std::mutex m_;
  httplib::ClientImpl* client_ = nullptr;  // the client of the call in flight
  bool canceled_ = false;
};

struct call_request {
  endpoint target = endpoint::chat_completions;
  std::string body;  // JSON text
  // The Authorization value to send ("Bearer sk-..."); empty: the server's key, or none when not configured.
  std::string authorization;
  httplib::Headers headers;                 // extra headers; filtered through forwardable_request_header
  std::shared_ptr<call_canceler> canceler;  // optional
};

enum class call_error {
  none,
  connect,    // could not connect / TLS handshake or certificate verification failed
  transport,  // the connection broke or timed out while sending or receiving
  too_large,  // the response exceeded max_response_bytes
  canceled,   // a callback asked to stop (e.g. the proxy's client went away)
  refused,    // the request was not sent (unsafe header value)
};

struct call_result {
  int status = 0;            // upstream HTTP status; 0 when none arrived
  httplib::Headers headers;  // upstream response headers (all of them; filter before passing on)
  std::string body;          // the body, unless it went to a chunk callback
  std::size_t body_bytes = 0;
  call_error error = call_error::none;
  std::string error_message;  // human readable, never contains a key

  bool ok() const noexcept { return error == call_error::none && status >= 200 && status < 300; }
};

// Both return false to abort the call (result.error = canceled).
using headers_callback = std::function<bool(int status, const httplib::Headers& headers)>;
using chunk_callback = std::function<bool(const char* data, std::size_t size)>;

class upstream_client {
 public:
  // Throws std::invalid_argument when options.base_url does not parse.
  explicit upstream_client(upstream_options options);
  ~upstream_client();
  upstream_client(const upstream_client&) = delete;
  upstream_client& operator=(const upstream_client&) = delete;

  bool has_server_key() const noexcept { return !options_.api_key.empty(); }
  const base_url& target() const noexcept { return base_; }
  const upstream_options& options() const noexcept { return options_; }

  // Sends and buffers the whole response (capped).
  call_result post(const call_request& request);
  // Sends and hands the body to on_chunk as it arrives; on_headers runs once before the first chunk.
  call_result post_streaming(const call_request& request, const headers_callback& on_headers,
                             const chunk_callback& on_chunk);

 private:
  std::unique_ptr<httplib::ClientImpl> acquire();
  void release(std::unique_ptr<httplib::ClientImpl> client);
  std::unique_ptr<httplib::ClientImpl> make_client() const;

  upstream_options options_;
  base_url base_;
  std::mutex pool_mutex_;
  std::vector<std::unique_ptr<httplib::ClientImpl>> idle_;
};

}  // namespace llmtrace::upstream
