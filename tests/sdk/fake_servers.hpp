// Test doubles for the SDK's HTTP peer, over real loopback sockets:
//  - fake_collector: a cpp-httplib server speaking POST /api/traces and /api/trace like the collector,
//    remembering every record by id (so duplicates are visible) and the request headers;
//  - script_server: a raw TCP server that answers each request as scripted (status + Retry-After, a
//  connection
//    reset, or never answering), counting requests server-side.
// Threading: each runs its own accept thread; accessors lock. Lifetime: stop() (or the destructor) joins.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

namespace llmtrace::test {

// Polls `pred` every few milliseconds until it holds or `timeout` passes.
inline bool wait_for(const std::function<bool()>& pred,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return pred();
}

// A port that was free a moment ago (bound, then released).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const int port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

class fake_collector {
 public:
  // port 0: any free port.
  explicit fake_collector(int port = 0) {
    svr_.Post("/api/traces", [this](const httplib::Request& req, httplib::Response& res) {
      auto j = nlohmann::json::parse(req.body, nullptr, false);
      if (j.is_discarded() || !j.is_object() || !j.contains("traces") || !j["traces"].is_array()) {
        res.status = 400;
        res.set_content(R"({"error":{"code":"bad_json","message":"bad batch","field":"traces"}})",
                        "application/json");
        return;
      }
      std::lock_guard lk(mu_);
      ++requests_;
      headers_.push_back(req.headers);
      batch_sizes_.push_back(j["traces"].size());
      uint64_t accepted = 0, rejected = 0;
      nlohmann::json results = nlohmann::json::array();
      for (auto& t : j["traces"]) {
        if (reject_ && reject_(t)) {
          ++rejected;
          results.push_back({{"status", "rejected"}, {"error", {{"code", "invalid"}}}});
          continue;
        }
        const std::string id = t.value("id", std::string());
        ++by_id_[id];
        records_.push_back(t);
        ++accepted;
        results.push_back({{"id", id}, {"status", "accepted"}});
      }
      res.set_content(
          nlohmann::json{{"accepted", accepted}, {"rejected", rejected}, {"results", results}}.dump(),
          "application/json");
    });
    svr_.set_tcp_nodelay(true);
    if (port == 0)
      port_ = svr_.bind_to_any_port("127.0.0.1");
    else
      port_ = svr_.bind_to_port("127.0.0.1", port) ? port : -1;
    svr_.Get("/healthz",
             [](const httplib::Request&, httplib::Response& res) { res.set_content("ok", "text/plain"); });
    if (port_ > 0) {
      thread_ = std::thread([this] { svr_.listen_after_bind(); });
      // is_running() turns true before the worker pool exists: one round trip proves the server is settled.
      wait_for([this] { return svr_.is_running(); });
      wait_for([this] {
        httplib::Client probe("127.0.0.1", port_);
        auto r = probe.Get("/healthz");
        return r && r->status == 200;
      });
    }
  }
  ~fake_collector() { stop(); }
  void stop() {
    svr_.stop();
    if (thread_.joinable()) thread_.join();
  }

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  void reject_when(std::function<bool(const nlohmann::json&)> f) {
    std::lock_guard lk(mu_);
    reject_ = std::move(f);
  }

  std::size_t requests() const {
    std::lock_guard lk(mu_);
    return requests_;
  }
  std::size_t record_count() const {
    std::lock_guard lk(mu_);
    return records_.size();
  }
  std::size_t unique_ids() const {
    std::lock_guard lk(mu_);
    return by_id_.size();
  }
  std::size_t duplicates() const {
    std::lock_guard lk(mu_);
    std::size_t d = 0;
    for (auto& [id, n] : by_id_) d += n - 1;
    return d;
  }
  std::vector<nlohmann::json> records() const {
    std::lock_guard lk(mu_);
    return records_;
  }
  std::vector<httplib::Headers> headers() const {
    std::lock_guard lk(mu_);
    return headers_;
  }
  std::vector<std::size_t> batch_sizes() const {
    std::lock_guard lk(mu_);
    return batch_sizes_;
  }

 private:
  httplib::Server svr_;
  std::thread thread_;
  int port_ = -1;
  mutable std::mutex mu_;
  std::size_t requests_ = 0;
  std::map<std::string, std::size_t> by_id_;
  std::vector<nlohmann::json> records_;
  std::vector<httplib::Headers> headers_;
  std::vector<std::size_t> batch_sizes_;
  std::function<bool(const nlohmann::json&)> reject_;
};

// What the script_server does with one request.
struct scripted {
  enum kind { respond, reset, hang } what = respond;
  int status = 200;
  std::string retry_after;  // header value, empty: none
  static scripted answer(int s, std::string ra = {}) { return {respond, s, std::move(ra)}; }
  static scripted close_connection() { return {reset, 0, {}}; }
  static scripted never_answer() { return {hang, 0, {}}; }
};

class script_server {
 public:
  // Requests past the end of the script get 200 with every record accepted.
  explicit script_server(std::vector<scripted> script) : script_(std::move(script)) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a));
    ::listen(fd_, 16);
    socklen_t len = sizeof(a);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~script_server() { stop(); }
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    for (int c : hung_) ::close(c);
    hung_.clear();
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  std::size_t requests() const { return requests_.load(); }
  std::size_t records_accepted() const { return accepted_.load(); }
  std::vector<std::chrono::steady_clock::time_point> request_times() const {
    std::lock_guard lk(mu_);
    return times_;
  }

 private:
  // Waits for readability, giving up when stopping.
  bool readable(int fd) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = ::poll(&p, 1, 20);
      if (r > 0) return true;
      if (r < 0) return false;
    }
    return false;
  }

  void run() {
    while (!stop_) {
      if (!readable(fd_)) break;
      int c = ::accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      serve(c);
    }
  }

  // One connection, keep-alive: requests are answered in order until the script closes it.
  void serve(int c) {
    std::string buf;
    for (;;) {
      std::size_t head_end;
      while ((head_end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!readable(c)) return close_conn(c);
        char tmp[65536];
        ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
        if (n <= 0) return close_conn(c);
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      std::string head = buf.substr(0, head_end);
      std::size_t clen = 0;
      for (auto& h : {std::string("Content-Length: "), std::string("content-length: ")}) {
        auto p = head.find(h);
        if (p != std::string::npos) clen = std::stoul(head.substr(p + h.size()));
      }
      while (buf.size() < head_end + 4 + clen) {
        if (!readable(c)) return close_conn(c);
        char tmp[65536];
        ssize_t n = ::recv(c, tmp, sizeof(tmp), 0);
        if (n <= 0) return close_conn(c);
        buf.append(tmp, static_cast<std::size_t>(n));
      }
      std::string body = buf.substr(head_end + 4, clen);
      buf.erase(0, head_end + 4 + clen);
      const std::size_t idx = requests_.fetch_add(1);
      {
        std::lock_guard lk(mu_);
        times_.push_back(std::chrono::steady_clock::now());
      }
      scripted s = idx < script_.size() ? script_[idx] : scripted::answer(200);
      if (s.what == scripted::hang) {
        hung_.push_back(c);  // keep it open, never answer
        return;
      }
      if (s.what == scripted::reset) {
        linger l{1, 0};  // RST instead of FIN
        ::setsockopt(c, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
        return close_conn(c);
      }
      std::string out_body;
      if (s.status >= 200 && s.status < 300) {
        auto j = nlohmann::json::parse(body, nullptr, false);
        std::size_t n = (!j.is_discarded() && j.contains("traces")) ? j["traces"].size() : 0;
        accepted_ += n;
        out_body =
            nlohmann::json{{"accepted", n}, {"rejected", 0}, {"results", nlohmann::json::array()}}.dump();
      } else {
        out_body = R"({"error":{"code":"scripted","message":"scripted failure","field":null}})";
      }
      std::string resp =
          "HTTP/1.1 " + std::to_string(s.status) + " Scripted\r\nContent-Type: application/json\r\n";
      if (!s.retry_after.empty()) resp += "Retry-After: " + s.retry_after + "\r\n";
      resp += "Content-Length: " + std::to_string(out_body.size()) + "\r\n\r\n" + out_body;
      ::send(c, resp.data(), resp.size(), MSG_NOSIGNAL);
    }
  }
  void close_conn(int c) { ::close(c); }

  std::vector<scripted> script_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::atomic<std::size_t> requests_{0};
  std::atomic<std::size_t> accepted_{0};
  std::vector<int> hung_;
  mutable std::mutex mu_;
  std::vector<std::chrono::steady_clock::time_point> times_;
};

}  // namespace llmtrace::test
