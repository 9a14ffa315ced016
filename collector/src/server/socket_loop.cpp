#include "server/socket_loop.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <httplib.h>

#include "config.hpp"
#include "http/body.hpp"
#include "http/connection.hpp"

namespace llmtrace::server {
namespace {

// Start time of the request this worker thread is handling (one request per thread at a time; the
// connection loop sets it, the logger reads it).
thread_local std::chrono::steady_clock::time_point t_request_start;

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
  guarded_stream(int fd, const config& cfg, http::connection_state& state)
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
        // Likewise the body deadline (slow-body guard): the route answers 408 and the connection closes.
        // (poll's millisecond rounding may wake it just before the deadline: the shortened wait tells.)
        if (!state_.in_headers && state_.body_deadline != steady::time_point{} &&
            wait_ms < cfg_.read_timeout_s * 1000) {
          state_.body_deadline_hit = true;
          state_.close_after = true;
        }
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
    if (state_.in_headers)
      ms = std::min(ms, remaining_ms(state_.header_deadline));
    else if (state_.body_deadline != steady::time_point{})
      ms = std::min(ms, remaining_ms(state_.body_deadline));
    return ms;
  }

  int fd_;
  const config& cfg_;
  http::connection_state& state_;
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
    http::connection_state state;
    guarded_stream strm(sock, cfg_, state);
    http::set_current_connection(&state);
    bool ret = false;
    bool linger = false;
    std::size_t count = keep_alive_max_count_;
    while (svr_sock_ != INVALID_SOCKET && count > 0 && (strm.has_buffered() || wait_keep_alive(sock))) {
      state = http::connection_state{};
      state.fd = sock;
      state.header_deadline = steady::now() + std::chrono::seconds(cfg_.read_timeout_s);
      t_request_start = steady::now();
      bool connection_closed = false;
      ret = process_request(strm, count == 1, connection_closed, nullptr);
      http::release_body_reservation();
      if (state.close_after || state.header_limit_hit) {
        linger = true;
        break;
      }
      if (!ret || connection_closed) break;
      --count;
    }
    http::set_current_connection(nullptr);
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

std::chrono::steady_clock::time_point request_started_at() noexcept {
  return t_request_start;
}

std::unique_ptr<httplib::Server> make_guarded_server(const config& cfg) {
  auto s = std::make_unique<guarded_server>(cfg);
  // Every event stream holds a worker for its whole life: give streams their own share of the pool so they
  // can never starve API requests.
  const std::size_t workers = static_cast<std::size_t>(cfg.threads + cfg.max_streams);
  s->new_task_queue = [workers] { return new elastic_pool(workers, std::max<std::size_t>(4 * workers, 64)); };
  s->set_tcp_nodelay(true);
  // httplib's default also sets SO_REUSEPORT, which lets a second collector bind the same port and silently
  // share its traffic; "port in use" must be an error instead.
  s->set_socket_options([](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const void*>(&yes), sizeof(yes));
  });
  s->set_keep_alive_max_count(10000);
  s->set_keep_alive_timeout(5);
  s->set_read_timeout(cfg.read_timeout_s, 0);
  s->set_write_timeout(cfg.write_timeout_s, 0);
  s->set_payload_max_length(cfg.max_body_bytes);
  return s;
}

}  // namespace llmtrace::server
