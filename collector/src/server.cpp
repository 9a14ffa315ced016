#include "server.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/errors.hpp"
#include "api/event_hub.hpp"
#include "api/metrics.hpp"
#include "api/routes.hpp"
#include "app.hpp"
#include "ingest/ingest_service.hpp"
#include "proxy/proxy_routes.hpp"
#include "replay/replay_routes.hpp"
#include "web/web_routes.hpp"

namespace llmtrace {
namespace {

// Start time of the request this worker thread is handling (httplib runs one request per thread at a time;
// the pre-routing handler sets it, the logger reads it).
thread_local std::chrono::steady_clock::time_point t_request_start;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool is_ipv4_literal(std::string_view h) {
  int dots = 0;
  if (h.empty()) return false;
  for (char c : h) {
    if (c == '.') ++dots;
    else if (c < '0' || c > '9') return false;
  }
  return dots == 3;
}

// Publishes committed writes: the record (created/updated), and the session when this write created it.
ingest::ingest_service::commit_listener event_publisher(api::event_hub& hub, storage::store& store) {
  return [&hub, &store](const std::vector<storage::write_result>& results) {
    std::vector<std::string> touched;
    for (const auto& r : results) {
      if (r.outcome == storage::write_outcome::stale) continue;
      hub.publish_record(r.record, r.outcome == storage::write_outcome::created ? "created" : "updated");
      if (std::find(touched.begin(), touched.end(), r.record.session_id) == touched.end())
        touched.push_back(r.record.session_id);
    }
    // Session counts changed: one session event per touched session, read after the commit.
    for (const auto& sid : touched) {
      try {
        if (auto s = store.get_session(sid)) hub.publish_session(*s);
      } catch (const std::exception& e) {
        spdlog::warn("session event for {} skipped: {}", sid, e.what());
      }
    }
  };
}

}  // namespace

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

collector_server::collector_server(config cfg, std::unique_ptr<storage::store> store)
    : cfg_(std::move(cfg)), store_(std::move(store)) {
  api::event_hub::options eo;
  eo.max_streams = cfg_.max_streams;
  eo.heartbeat = std::chrono::milliseconds(cfg_.heartbeat_ms);
  events_ = std::make_unique<api::event_hub>(eo);
  metrics_ = std::make_unique<api::metrics>();
  ingest_ = std::make_unique<ingest::ingest_service>(*store_, event_publisher(*events_, *store_));
  app_ = std::make_unique<app_context>(app_context{cfg_, *store_, *ingest_, *events_, metrics_.get()});
  http_ = std::make_unique<httplib::Server>();
  configure_http();
}

collector_server::~collector_server() {
  stop();
  http_.reset();  // joins nothing more: run() has returned or never started
}

void collector_server::configure_http() {
  httplib::Server& s = *http_;
  // Every event stream holds a worker for its whole life: give streams their own share of the pool so they
  // can never starve API requests.
  const std::size_t workers = static_cast<std::size_t>(cfg_.threads + cfg_.max_streams);
  s.new_task_queue = [workers] { return new httplib::ThreadPool(workers); };
  s.set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which lets a second collector bind the same port and silently
  // share its traffic; "port in use" must be an error instead.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  s.set_keep_alive_max_count(10000);
  s.set_keep_alive_timeout(5);
  s.set_read_timeout(cfg_.read_timeout_s, 0);
  s.set_write_timeout(cfg_.write_timeout_s, 0);
  s.set_payload_max_length(cfg_.max_body_bytes);

  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    t_request_start = std::chrono::steady_clock::now();
    std::size_t header_bytes = 0;
    for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
    if (req.headers.size() > cfg_.max_header_count || header_bytes > cfg_.max_header_bytes) {
      res.set_header("Connection", "close");
      api::write_error(res, 431, "headers_too_large",
                       "too many or too large request headers (limits: " + std::to_string(cfg_.max_header_count) +
                           " headers, " + std::to_string(cfg_.max_header_bytes) + " bytes)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!host_allowed(req.get_header_value("Host"), cfg_)) {
      res.set_header("Connection", "close");
      api::write_error(res, 421, "misdirected_request",
                       "Host header not allowed (DNS rebinding guard); start the collector with "
                       "--allowed-host NAME to accept it",
                       "Host");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Without Content-Length or chunking httplib 0.11.4 reads a POST/PUT/PATCH body until the peer closes
    // (a read-timeout hang); HTTP/1.1 lets us ask for the length instead.
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") && !req.has_header("Content-Length") &&
        req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos) {
      res.set_header("Connection", "close");
      api::write_error(res, 411, "length_required",
                       "send a Content-Length (use Content-Length: 0 for an empty body) or a chunked body");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (api::needs_auth(req.path) && !api::is_authorized(req, cfg_)) {
      res.set_header("Connection", "close");  // the unread body must not be parsed as the next request
      res.set_header("WWW-Authenticate", "Bearer realm=\"llmtrace\"");
      api::write_error(res, 401, "unauthorized", "missing or invalid API key: send 'Authorization: Bearer <key>'");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // httplib's own rejections (no route, bad request line, 413 by Content-Length, ...) get our JSON shape.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    std::string message = res.status == 404 ? "no route for " + req.method + " " + req.path
                                            : "request rejected (HTTP " + std::to_string(res.status) + ")";
    api::write_error(res, res.status, api::default_error_code(res.status), message);
    return httplib::Server::HandlerResponse::Handled;
  }));

  // Never echo exception text to the client (httplib would put it in a header).
  s.set_exception_handler([](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
    try {
      if (ep) std::rethrow_exception(ep);
    } catch (const storage::store_busy&) {
      res.set_header("Retry-After", "1");
      api::write_error(res, 503, "store_busy", "the database is busy; retry after a second");
      return;
    } catch (const storage::store_unavailable& e) {
      res.set_header("Retry-After", "5");
      api::write_error(res, 503, "store_unavailable", std::string("the database cannot take writes: ") + e.what());
      return;
    } catch (const std::exception& e) {
      spdlog::error("{} {} failed: {}", req.method, req.path, e.what());
    } catch (...) {
      spdlog::error("{} {} failed with an unknown exception", req.method, req.path);
    }
    api::write_error(res, 500, "internal", "internal error (see the collector log)");
  });

  s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t_request_start).count();
    metrics_->observe(req.method, req.path, res.status, secs);
    spdlog::debug("{} {} -> {} ({:.3f} ms)", req.method, req.path, res.status, secs * 1000.0);
  });

  api::mount_api(s, *app_);
  replay::mount(s, *app_);
  proxy::mount(s, *app_);
  web::mount(s, *app_);  // last: it answers unknown non-API paths with index.html
}

int collector_server::bind() {
  errno = 0;
  int port = -1;
  if (cfg_.port == 0) {
    port = http_->bind_to_any_port(cfg_.host);
  } else if (http_->bind_to_port(cfg_.host, cfg_.port)) {
    port = cfg_.port;
  }
  if (port <= 0) {
    int err = errno;
    throw std::runtime_error("cannot listen on " + cfg_.host + ":" + std::to_string(cfg_.port) + ": " +
                             (err ? std::strerror(err) : "address unavailable or already in use"));
  }
  port_ = port;
  return port;
}

bool collector_server::run() { return http_->listen_after_bind(); }

void collector_server::stop() {
  if (events_) events_->shutdown();
  if (http_) http_->stop();
}

bool collector_server::is_running() const { return http_ && http_->is_running(); }

}  // namespace llmtrace
