#include "server.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/auth.hpp"
#include "api/connection.hpp"
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

// Start time of the request this worker thread is handling (one request per thread at a time; the
// connection loop sets it, the logger reads it).
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
    if (c == '.')
      ++dots;
    else if (c < '0' || c > '9')
      return false;
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

using steady = std::chrono::steady_clock;

int remaining_ms(steady::time_point deadline) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
  return ms <= 0 ? 0 : static_cast<int>(std::min<long long>(ms, 1 << 30));
}

bool wait_socket(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  for (;;) {
    int r = ::poll(&p, 1, timeout_ms);
    if (r < 0 && errno == EINTR) continue;
    return r > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof(addr);
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof(buf));
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof(buf));
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

// httplib's task queue, elastic: `base` workers from the start, more (up to `max`) when every worker is busy,
// so connections that are slow to send their headers delay, but do not starve, other requests. Workers are
// kept once started (bounded by max). Every connection and event stream holds a worker while it lasts.
class elastic_pool final : public httplib::TaskQueue {
 public:
  elastic_pool(std::size_t base, std::size_t max) : max_(std::max(base, max)) {
    std::lock_guard lock(mu_);
    for (std::size_t i = 0; i < base; ++i) spawn_locked();
  }
  ~elastic_pool() override { shutdown(); }

  void enqueue(std::function<void()> fn) override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;  // httplib stops accepting before it shuts the queue down
      jobs_.push_back(std::move(fn));
      if (idle_ < jobs_.size() && threads_.size() < max_) spawn_locked();
    }
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();  // no new threads once stopping_: the list is stable
  }

 private:
  void spawn_locked() {
    threads_.emplace_back([this] {
      for (;;) {
        std::function<void()> job;
        {
          std::unique_lock lock(mu_);
          ++idle_;
          cv_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
          --idle_;
          if (jobs_.empty()) return;  // stopping and drained
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        job();
      }
    });
  }

  const std::size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  std::vector<std::thread> threads_;
  std::size_t idle_ = 0;
  bool stopping_ = false;
};

// A plain-socket httplib::Stream that enforces what httplib 0.11.4 does not: a byte budget for the request
// line + headers and a deadline for receiving them (slowloris), counted as httplib consumes the bytes.
class guarded_stream final : public httplib::Stream {
 public:
  guarded_stream(int fd, const config& cfg, api::connection_state& state)
      : fd_(fd), cfg_(cfg), state_(state) {}

  bool is_readable() const override { return buffered() > 0 || wait_socket(fd_, POLLIN, read_wait_ms()); }
  bool is_writable() const override { return wait_socket(fd_, POLLOUT, cfg_.write_timeout_s * 1000); }

  ssize_t read(char* ptr, size_t size) override {
    if (state_.in_headers && state_.header_bytes >= header_budget()) {
      state_.header_limit_hit = true;
      return -1;
    }
    if (buffered() == 0) {
      const int wait_ms = read_wait_ms();
      if (!wait_socket(fd_, POLLIN, wait_ms)) {
        // The header deadline, not the plain read timeout, ended this wait.
        if (state_.in_headers && wait_ms < cfg_.read_timeout_s * 1000) state_.header_limit_hit = true;
        return -1;
      }
      ssize_t n;
      do {
        n = ::recv(fd_, buf_, sizeof(buf_), 0);
      } while (n < 0 && errno == EINTR);
      if (n <= 0) return n;
      begin_ = 0;
      end_ = static_cast<std::size_t>(n);
    }
    std::size_t n = std::min(size, buffered());
    if (state_.in_headers) {
      n = std::min(n, header_budget() - state_.header_bytes);
      state_.header_bytes += n;
    }
    std::memcpy(ptr, buf_ + begin_, n);
    begin_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    ssize_t n;
    do {
      n = ::send(fd_, ptr, size, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n;
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, true, ip, port); }
  void get_local_ip_and_port(std::string& ip, int& port) const override { address_of(fd_, false, ip, port); }
  socket_t socket() const override { return fd_; }

  bool has_buffered() const { return buffered() > 0; }

 private:
  std::size_t buffered() const { return end_ - begin_; }
  // Request line (up to httplib's 8 KiB URI limit) plus the configured header bytes and CRLFs.
  std::size_t header_budget() const { return cfg_.max_header_bytes + 8192 + 2 * cfg_.max_header_count + 4; }
  int read_wait_ms() const {
    int ms = cfg_.read_timeout_s * 1000;
    if (state_.in_headers) ms = std::min(ms, remaining_ms(state_.header_deadline));
    return ms;
  }

  int fd_;
  const config& cfg_;
  api::connection_state& state_;
  char buf_[16384];
  std::size_t begin_ = 0, end_ = 0;
};

// httplib::Server with its per-connection loop replaced (process_and_close_socket is its virtual hook), so
// the collector decides when a connection closes and how its bytes are read.
class guarded_server final : public httplib::Server {
 public:
  explicit guarded_server(const config& cfg) : cfg_(cfg) {}

 private:
  bool process_and_close_socket(socket_t sock) override {
    int yes = 1;  // small JSON answers on kept-alive connections must not wait for Nagle
    ::setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &yes, sizeof(yes));
    api::connection_state state;
    guarded_stream strm(sock, cfg_, state);
    api::set_current_connection(&state);
    bool ret = false;
    bool linger = false;
    std::size_t count = keep_alive_max_count_;
    while (svr_sock_ != INVALID_SOCKET && count > 0 && (strm.has_buffered() || wait_keep_alive(sock))) {
      state = api::connection_state{};
      state.fd = sock;
      state.header_deadline = steady::now() + std::chrono::seconds(cfg_.read_timeout_s);
      t_request_start = steady::now();
      bool connection_closed = false;
      ret = process_request(strm, count == 1, connection_closed, nullptr);
      if (state.close_after || state.header_limit_hit) {
        linger = true;
        break;
      }
      if (!ret || connection_closed) break;
      --count;
    }
    api::set_current_connection(nullptr);
    if (linger) {
      // Half-close and drain briefly, so the peer reads our answer instead of a reset caused by closing with
      // its unread upload still in our receive buffer.
      ::shutdown(sock, SHUT_WR);
      char sink[16384];
      auto until = steady::now() + std::chrono::milliseconds(500);
      std::size_t drained = 0;
      while (drained < (8u << 20) && wait_socket(sock, POLLIN, remaining_ms(until))) {
        ssize_t n = ::recv(sock, sink, sizeof(sink), 0);
        if (n <= 0) break;
        drained += static_cast<std::size_t>(n);
      }
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ret;
  }

  // Waits for the next request on a kept-alive connection; false on idle timeout, close, or server stop.
  bool wait_keep_alive(int sock) const {
    auto until = steady::now() + std::chrono::seconds(keep_alive_timeout_sec_);
    while (svr_sock_ != INVALID_SOCKET) {
      int ms = std::min(remaining_ms(until), 50);
      pollfd p{sock, POLLIN, 0};
      int r = ::poll(&p, 1, ms);
      if (r > 0) return (p.revents & (POLLIN | POLLHUP)) != 0 && (p.revents & POLLNVAL) == 0;
      if (r < 0 && errno != EINTR) return false;
      if (steady::now() >= until) return false;
    }
    return false;
  }

  const config& cfg_;
};

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
  http_ = std::make_unique<guarded_server>(cfg_);
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
  s.new_task_queue = [workers] { return new elastic_pool(workers, std::max<std::size_t>(4 * workers, 64)); };
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
    if (auto* conn = api::current_connection()) conn->in_headers = false;
    std::size_t header_bytes = 0;
    for (const auto& [k, v] : req.headers) header_bytes += k.size() + v.size() + 4;
    if (req.headers.size() > cfg_.max_header_count || header_bytes > cfg_.max_header_bytes) {
      res.set_header("Connection", "close");
      api::close_after_response();
      api::write_error(
          res, 431, "headers_too_large",
          "too many or too large request headers (limits: " + std::to_string(cfg_.max_header_count) +
              " headers, " + std::to_string(cfg_.max_header_bytes) + " bytes)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (!host_allowed(req.get_header_value("Host"), cfg_)) {
      res.set_header("Connection", "close");
      api::close_after_response();
      api::write_error(res, 421, "misdirected_request",
                       "Host header not allowed (DNS rebinding guard); start the collector with "
                       "--allowed-host NAME to accept it",
                       "Host");
      return httplib::Server::HandlerResponse::Handled;
    }
    // Without Content-Length or chunking httplib 0.11.4 reads a POST/PUT/PATCH body until the peer closes
    // (a read-timeout hang); HTTP/1.1 lets us ask for the length instead.
    if ((req.method == "POST" || req.method == "PUT" || req.method == "PATCH") &&
        !req.has_header("Content-Length") &&
        req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos) {
      res.set_header("Connection", "close");
      api::close_after_response();
      api::write_error(res, 411, "length_required",
                       "send a Content-Length (use Content-Length: 0 for an empty body) or a chunked body");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (api::needs_auth(req.path) && !api::is_authorized(req, cfg_)) {
      res.set_header("Connection", "close");  // the unread body must not be parsed as the next request
      api::close_after_response();
      res.set_header("WWW-Authenticate", "Bearer realm=\"llmtrace\"");
      api::write_error(res, 401, "unauthorized",
                       "missing or invalid API key: send 'Authorization: Bearer <key>'");
      return httplib::Server::HandlerResponse::Handled;
    }
    return httplib::Server::HandlerResponse::Unhandled;
  });

  // httplib's own rejections (no route, bad request line, 413 by Content-Length, ...) get our JSON shape.
  s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request& req,
                                                              httplib::Response& res) {
    if (!res.body.empty() || res.content_provider_) return httplib::Server::HandlerResponse::Unhandled;
    if (auto* conn = api::current_connection(); conn && conn->header_limit_hit) {
      res.status = 431;
      res.set_header("Connection", "close");
      api::write_error(res, 431, "headers_too_large",
                       "request headers too large or not received in time (the connection is closed)");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (res.status == 413 || res.status == 400 || res.status == 414) {
      // httplib answers these without reading what remains of the request.
      api::close_after_response();
      res.set_header("Connection", "close");
    }
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
      api::write_error(res, 503, "store_unavailable",
                       std::string("the database cannot take writes: ") + e.what());
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

bool collector_server::run() {
  return http_->listen_after_bind();
}

void collector_server::stop() {
  if (events_) events_->shutdown();
  if (http_) http_->stop();
}

bool collector_server::is_running() const {
  return http_ && http_->is_running();
}

}  // namespace llmtrace
