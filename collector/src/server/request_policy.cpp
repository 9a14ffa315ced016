#include "server/request_policy.hpp"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <string>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "config.hpp"
#include "http/auth.hpp"
#include "http/connection.hpp"
#include "http/errors.hpp"
#include "http/store_errors.hpp"

namespace llmtrace::server {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ipv4_literal(std::string_view h) {
  int dots = 0;
  if (h.empty()) return false;
  for (char c : h) {
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
  }
  return dots == 3;
}

// Header text echoed in a message: printable ASCII only (the JSON error must stay valid UTF-8).
std::string printable(std::string s) {
  for (auto& c : s)
    if (c < 0x20 || c > 0x7e) c = '?';
  return s;
}

bool is_state_changing(std::string_view method) {
  return method == "POST" || method == "PUT" || method == "PATCH" || method == "DELETE";
}

// The host[:port] of an Origin value ("http://127.0.0.1:8080" -> "127.0.0.1:8080"), lower case; "" when it is
// not an http(s) origin (e.g. "null" from a sandboxed frame or a file: page).
std::string origin_authority(std::string_view origin) {
  std::string o = lower(origin);
  for (std::string_view scheme : {"http://", "https://"}) {
    if (o.rfind(scheme, 0) == 0) {
      std::string rest = o.substr(scheme.size());
      while (!rest.empty() && rest.back() == '/') rest.pop_back();
      // A default port may be spelled out by one side only.
      if (scheme == "http://" && rest.ends_with(":80")) rest.resize(rest.size() - 3);
      if (scheme == "https://" && rest.ends_with(":443")) rest.resize(rest.size() - 4);
      return rest.find('/') == std::string::npos ? rest : std::string();
    }
  }
  return {};
}

}  // namespace

bool cross_site(const httplib::Request& req, const config& cfg) {
  if (!is_state_changing(req.method)) return false;
  if (lower(req.get_header_value("Sec-Fetch-Site")) == "cross-site") return true;
  if (!req.has_header("Origin")) return false;  // not sent by a browser (SDKs, curl) or a same-origin GET
  std::string host = lower(req.get_header_value("Host"));
  if (host.ends_with(":80")) host.resize(host.size() - 3);
  std::string origin = origin_authority(req.get_header_value("Origin"));
  if (origin.empty()) return true;
  if (origin == host) return false;
  // Behind a reverse proxy that rewrites Host, the UI's origin is the public name the admin allowed with
  // --allowed-host (an explicit name; "*" does not vouch for any origin).
  std::string origin_host = origin;
  if (auto colon = origin_host.rfind(':');
      colon != std::string::npos && origin_host.find(']', colon) == std::string::npos)
    origin_host.resize(colon);
  for (const auto& a : cfg.allowed_hosts)
    if (a != "*" && lower(a) == origin_host) return false;
  return true;
}

bool content_type_allowed(const httplib::Request& req) {
  if (req.method != "POST" && req.method != "PUT" && req.method != "PATCH") return true;
  if (!http::needs_auth(req.path)) return true;  // only /api and /v1 take bodies
  bool has_body = req.get_header_value("Transfer-Encoding").find("chunked") != std::string::npos ||
                  (req.has_header("Content-Length") && req.get_header_value("Content-Length") != "0");
  if (!has_body) return true;  // nothing to parse (e.g. a replay without edits)
  std::string type = lower(req.get_header_value("Content-Type"));
  if (auto semi = type.find(';'); semi != std::string::npos) type.resize(semi);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.pop_back();
  if (type == "application/json") return true;
  // OTLP/HTTP's binary encoding.
  return type == "application/x-protobuf" &&
         (req.path == "/v1/traces" || req.path == "/v1/logs" || req.path == "/v1/metrics");
}

bool host_allowed(std::string_view host_header, const config& cfg) {
  if (host_header.empty()) return true;  // HTTP/1.0 without Host: nothing to rebind
  std::string h = lower(host_header);
  // Strip the port: "[::1]:8080" -> "[::1]", "localhost:8080" -> "localhost".
  if (!h.empty() && h.front() == '[') {
    auto close = h.find(']');
    if (close == std::string::npos) return false;
    h.resize(close + 1);
  } else if (auto colon = h.rfind(':'); colon != std::string::npos) {
    h.resize(colon);
  }
  if (h == "localhost" || h == "127.0.0.1" || h == "[::1]" || h.ends_with(".localhost")) return true;
  // An IP literal cannot be rebound to another address by DNS.
  if (is_ipv4_literal(h) || (h.size() > 2 && h.front() == '[')) return true;
  std::string bind_host = lower(cfg.host);
  if (h == bind_host || "[" + bind_host + "]" == h) return true;
  for (const auto& a : cfg.allowed_hosts)
    if (a == "*" || lower(a) == h) return true;
  return false;
}

void apply_request_policy(httplib::Server& s, const config& cfg) {
  s.set_pre_routing_handler([&cfg](const httplib::Request& req, httplib::Response& res) {
    if (auto* conn = http::current_connection()) {
      conn->in_headers = false;
      // Slow-body guard: the body has a deadline of its own (1 s more per MiB announced), so a client
      // trickling bytes cannot hold a worker for as long as it likes.
      uint64_t announced =
          req.has_header("Content-Length") ? req.get_header_value<uint64_t>("Content-Length") : 0;
      conn->body_deadline = std::chrono::steady_clock::now() +
                            std::chrono::milliseconds(cfg.body_timeout_ms) +
                            std::chrono::seconds(std::min<uint64_t>(announced, cfg.max_body_bytes) >> 20);
    }
    std::size_t header_bytes = 0;
    for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
    if (req.headers.size() > cfg.max_header_count || header_bytes > cfg.max_header_bytes) {
      res.set_header("Connection", "close");
      http::close_after_response();
      http::write_error(
          res, 431, "headers_too_large",
          "too many or too large request headers (limits: " + std::to_string(cfg.max_header_count) +
              " headers, " + std::to_string(cfg.max_header_bytes) + " bytes)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!host_allowed(req.get_header_value("Host"), cfg)) {
      res.set_header("Connection", "close");
      http::close_after_response();
      http::write_error(res, 421, "misdirected_request",
                        "Host header not allowed (DNS rebinding guard); start the collector with "
                        "--allowed-host NAME to accept it",
                        "Host");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Browser safety: a page on another origin can send "simple" POSTs (text/plain, no preflight) to a
    // loopback collector; the Host check passes for them. Refused before auth so a key changes nothing.
    if (cross_site(req, cfg)) {
      res.set_header("Connection", "close");
      http::close_after_response();
      http::write_error(res, 403, "cross_site_request",
                        "cross-site " + req.method +
                            " refused: state-changing requests must come from the collector's own origin "
                            "or from a non-browser client",
                        "Origin");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Without Content-Length or chunking httplib 0.11.4 reads a POST/PUT/PATCH body until the peer closes
    // (a read-timeout hang); HTTP/1.1 lets us ask for the length instead.
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.has_header("Content-Length") &&
        req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos) {
      res.set_header("Connection", "close");
      http::close_after_response();
      http::write_error(res, 411, "length_required",
                        "send a Content-Length (use Content-Length: 0 for an empty body) or a chunked body");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (http::needs_auth(req.path) && !http::is_authorized(req, cfg)) {
      res.set_header("Connection", "close");  // the unread body must not be parsed as the next request
      http::close_after_response();
      res.set_header("WWW-Authenticate", "Bearer realm=\"llmtrace\"");
      http::write_error(res, 401, "unauthorized",
                        "missing or invalid API key: send 'Authorization: Bearer <key>'");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!content_type_allowed(req)) {
      res.set_header("Connection", "close");
      http::close_after_response();
      http::write_error(
          res, 415, "unsupported_media_type",
          "the request body must be sent with 'Content-Type: application/json'" +
              std::string(req.path == "/v1/traces" || req.path == "/v1/logs" || req.path == "/v1/metrics"
                              ? " or 'application/x-protobuf'"
                              : "") +
              " (got '" + printable(req.get_header_value("Content-Type").substr(0, 100)) + "')",
          "Content-Type");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // httplib's own rejections (no route, bad request line, 413 by Content-Length, ...) get our JSON shape.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    if (auto* conn = http::current_connection(); conn && conn->header_limit_hit) {
      res.status = 431;
      res.set_header("Connection", "close");
      http::write_error(res, 431, "headers_too_large",
                        "request headers too large or not received in time (the connection is closed)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (res.status == 413 || res.status == 400 || res.status == 414) {
      // httplib answers these without reading what remains of the request.
      http::close_after_response();
      res.set_header("Connection", "close");
    }
    std::string message = res.status == 404 ? "no route for " + req.method + " " + req.path
                                            : "request rejected (HTTP " + std::to_string(res.status) + ")";
    http::write_error(res, res.status, http::default_error_code(res.status), message);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // Never echo exception text to the client (httplib would put it in a header).
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    if (ep && http::write_store_error(res, ep)) return;
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", req.method, req.path, e.what());
    } catch (...) {
      spdlog::error("{} {} failed with an unknown exception", req.method, req.path);
    }
    http::write_error(res, 500, "internal", "internal error (see the collector log)");
  });
}

}  // namespace llmtrace::server
