#include "upstream/upstream_client.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <stdexcept>
#include <utility>

namespace llmtrace::upstream {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && s.substr(0, prefix.size()) == prefix;
}

std::optional<base_url> reject(std::string* why, const char* message) {
  if (why != nullptr) *why = message;
  return std::nullopt;
}

void set_timeout(httplib::ClientImpl& c, int connect_ms, int read_ms, int write_ms) {
  auto sec = [](int ms) { return static_cast<time_t>(ms / 1000); };
  auto usec = [](int ms) { return static_cast<time_t>((ms % 1000) * 1000); };
  c.set_connection_timeout(sec(connect_ms), usec(connect_ms));
  c.set_read_timeout(sec(read_ms), usec(read_ms));
  c.set_write_timeout(sec(write_ms), usec(write_ms));
}

}  // namespace

std::string_view path_suffix(endpoint e) noexcept {
  switch (e) {
    case endpoint::chat_completions:
      return "/chat/completions";
    case endpoint::completions:
      return "/completions";
    case endpoint::embeddings:
      return "/embeddings";
    case endpoint::responses:
      return "/responses";
  }
  return "/chat/completions";
}

std::optional<endpoint> parse_endpoint(std::string_view path) noexcept {
  if (starts_with(path, "/v1/")) path.remove_prefix(3);
  if (!path.empty() && path.front() != '/') {
    if (starts_with(path, "v1/")) path.remove_prefix(2);
  }
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (path == "chat/completions") return endpoint::chat_completions;
  if (path == "completions") return endpoint::completions;
  if (path == "embeddings") return endpoint::embeddings;
  if (path == "responses") return endpoint::responses;
  return std::nullopt;
}

std::optional<base_url> parse_base_url(std::string_view url, std::string* why) {
  base_url out;
  auto sep = url.find("://");
  if (sep == std::string_view::npos) return reject(why, "upstream URL needs a scheme (http:// or https://)");
  out.scheme = lower(url.substr(0, sep));
  if (out.scheme != "http" && out.scheme != "https") {
    return reject(why, "upstream URL scheme must be http or https");
  }
  std::string_view rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string_view::npos) {
    return reject(why, "upstream URL must not carry a query or fragment");
  }
  for (char c : rest) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      return reject(why, "upstream URL contains whitespace or control characters");
    }
  }
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash);
  if (authority.find('@') != std::string_view::npos) {
    return reject(why, "upstream URL must not contain credentials");
  }
  std::string_view port_text;
  if (!authority.empty() && authority.front() == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) return reject(why, "upstream URL has an unterminated IPv6 address");
    out.host = std::string(authority.substr(1, close - 1));
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return reject(why, "upstream URL has junk after the IPv6 address");
      port_text = after.substr(1);
    }
  } else {
    auto colon = authority.rfind(':');
    if (colon != std::string_view::npos) {
      out.host = std::string(authority.substr(0, colon));
      port_text = authority.substr(colon + 1);
    } else {
      out.host = std::string(authority);
    }
  }
  if (out.host.empty()) return reject(why, "upstream URL has no host");
  if (!port_text.empty()) {
    int port = 0;
    auto [p, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || p != port_text.data() + port_text.size() || port < 1 || port > 65535) {
      return reject(why, "upstream URL has an invalid port");
    }
    out.port = port;
  } else {
    out.port = out.scheme == "https" ? 443 : 80;
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.prefix = std::string(path);
  return out;
}

bool header_value_safe(std::string_view value) noexcept {
  return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

bool forwardable_request_header(std::string_view name) noexcept {
  static constexpr std::string_view allowed[] = {"openai-organization", "openai-project", "openai-beta",
                                                 "user-agent",          "accept",         "idempotency-key"};
  std::string n;
  try {
    n = lower(name);
  } catch (...) {
    return false;
  }
  if (std::find(std::begin(allowed), std::end(allowed), n) != std::end(allowed)) return true;
  // The official SDKs describe themselves in x-stainless-* headers; harmless and useful upstream.
  return starts_with(n, "x-stainless-");
}

bool forwardable_response_header(std::string_view name) noexcept {
  std::string n;
  try {
    n = lower(name);
  } catch (...) {
    return false;
  }
  if (n == "content-type" || n == "x-request-id" || n == "retry-after" || n == "retry-after-ms") return true;
  return starts_with(n, "openai-") || starts_with(n, "x-ratelimit-");
}

void call_canceler::cancel() {
  std::lock_guard<std::mutex> lock(m_);
  canceled_ = true;
  if (client_ != nullptr) client_->stop();  // shuts the socket down: a blocked read returns at once
}

bool call_canceler::canceled() const {
  std::lock_guard<std::mutex> lock(m_);
  return canceled_;
}

upstream_client::upstream_client(upstream_options options) : options_(std::move(options)) {
  std::string why;
  auto parsed = parse_base_url(options_.base_url, &why);
  if (!parsed) throw std::invalid_argument("invalid upstream base URL: " + why);
  base_ = std::move(*parsed);
}

upstream_client::~upstream_client() = default;

std::unique_ptr<httplib::ClientImpl> upstream_client::make_client() const {
  std::unique_ptr<httplib::ClientImpl> c;
  if (base_.scheme == "https") {
    auto ssl = std::make_unique<httplib::SSLClient>(base_.host, base_.port);
    ssl->enable_server_certificate_verification(true);
    if (!options_.ca_file.empty() || !options_.ca_dir.empty()) {
      ssl->set_ca_cert_path(options_.ca_file, options_.ca_dir);
    }
    c = std::move(ssl);
  } else {
    c = std::make_unique<httplib::ClientImpl>(base_.host, base_.port);
  }
  c->set_follow_location(false);
  c->set_tcp_nodelay(true);
  c->set_keep_alive(true);
  c->set_compress(false);
  c->set_decompress(true);
  set_timeout(*c, options_.connect_timeout_ms, options_.read_timeout_ms, options_.write_timeout_ms);
  return c;
}

std::unique_ptr<httplib::ClientImpl> upstream_client::acquire() {
  {
    std::lock_guard<std::mutex> lock(pool_mutex_);
    if (!idle_.empty()) {
      auto c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  return make_client();
}

void upstream_client::release(std::unique_ptr<httplib::ClientImpl> client) {
  std::lock_guard<std::mutex> lock(pool_mutex_);
  if (idle_.size() < options_.max_idle_connections) idle_.push_back(std::move(client));
}

call_result upstream_client::post(const call_request& request) {
  return post_streaming(request, nullptr, nullptr);
}

call_result upstream_client::post_streaming(const call_request& request, const headers_callback& on_headers,
                                            const chunk_callback& on_chunk) {
  call_result result;
  httplib::Request req;
  req.method = "POST";
  req.path = base_.prefix + std::string(path_suffix(request.target));
  for (const auto& [name, value] : request.headers) {
    if (!forwardable_request_header(name)) continue;
    if (!header_value_safe(value)) {
      result.error = call_error::refused;
      result.error_message = "header " + name + " contains CR/LF";
      return result;
    }
    req.headers.emplace(name, value);
  }
  std::string authorization = request.authorization;
  if (authorization.empty() && !options_.api_key.empty()) authorization = "Bearer " + options_.api_key;
  if (!authorization.empty()) {
    if (!header_value_safe(authorization)) {
      result.error = call_error::refused;
      result.error_message = "authorization header contains CR/LF";
      return result;
    }
    req.headers.emplace("Authorization", authorization);
  }
  req.headers.emplace("Content-Type", "application/json");
  // Ask for an identity body: the proxy passes bytes through and must not relabel their encoding.
  req.headers.emplace("Accept-Encoding", "identity");
  req.body = request.body;

  bool too_large = false;
  bool canceled_by_callback = false;
  call_canceler* canceler = request.canceler.get();
  req.response_handler = [&](const httplib::Response& res) {
    if (canceler != nullptr && canceler->canceled()) {
      canceled_by_callback = true;
      return false;
    }
    result.status = res.status;
    result.headers = res.headers;
    if (on_headers && !on_headers(res.status, res.headers)) {
      canceled_by_callback = true;
      return false;
    }
    return true;
  };
  req.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (result.body_bytes + size > options_.max_response_bytes) {
      too_large = true;
      return false;
    }
    result.body_bytes += size;
    if (canceler != nullptr && canceler->canceled()) {
      canceled_by_callback = true;
      return false;
    }
    if (on_chunk) {
      if (!on_chunk(data, size)) {
        canceled_by_callback = true;
        return false;
      }
      return true;
    }
    result.body.append(data, size);
    return true;
  };

  auto client = acquire();
  if (canceler != nullptr) {
    std::lock_guard<std::mutex> lock(canceler->m_);
    if (canceler->canceled_) {
      result.error = call_error::canceled;
      result.error_message = "canceled";
      return result;
    }
    canceler->client_ = client.get();
  }
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool sent = client->send(req, res, err);
  if (canceler != nullptr) {
    std::lock_guard<std::mutex> lock(canceler->m_);
    canceler->client_ = nullptr;
    if (canceler->canceled_) {
      canceled_by_callback = true;
      sent = false;  // the connection may have been shut down under the call: never pool it
    }
  }
  if (sent) {
    result.status = res.status;
    result.headers = res.headers;
    release(std::move(client));
    return result;
  }
  // A failed exchange leaves the connection in an unknown state: drop that client.
  if (too_large) {
    result.error = call_error::too_large;
    result.error_message =
        "upstream response exceeds " + std::to_string(options_.max_response_bytes) + " bytes";
  } else if (canceled_by_callback) {
    result.error = call_error::canceled;
    result.error_message = "canceled";
  } else if (result.status == 0 &&
             (err == httplib::Error::Connection || err == httplib::Error::SSLConnection ||
              err == httplib::Error::SSLServerVerification || err == httplib::Error::ConnectionTimeout ||
              err == httplib::Error::SSLLoadingCerts)) {
    result.error = call_error::connect;
    result.error_message = "cannot reach upstream " + base_.scheme + "://" + base_.host + ":" +
                           std::to_string(base_.port) + ": " + httplib::to_string(err);
  } else {
    result.error = call_error::transport;
    result.error_message = "upstream connection failed: " + httplib::to_string(err);
  }
  return result;
}

}  // namespace llmtrace::upstream
