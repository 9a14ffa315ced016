// Shared test helpers: a temp directory, a free loopback port, polling instead of sleeping, and a full
// collector started in-process on a free port with a temp-file SQLite database (real HTTP, real storage).
// Header-only: a suite adds `target_include_directories(<suite> PRIVATE ${PROJECT_SOURCE_DIR}/tests)` and
// links llmtrace_collector_core. Lifetime: test_collector stops and joins its server in the destructor.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>

#include <httplib.h>

#include "config.hpp"
#include "server/collector_server.hpp"
#include "storage/store.hpp"

namespace llmtrace::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class temp_dir {
 public:
  temp_dir() {
    std::random_device rd;
    auto base = std::filesystem::temp_directory_path();
    for (int i = 0; i < 100; ++i) {
      auto p = base / ("llmtrace-test-" + std::to_string(::getpid()) + "-" + std::to_string(rd()));
      if (std::filesystem::create_directory(p)) {
        path_ = p;
        return;
      }
    }
    throw std::runtime_error("cannot create a temp directory");
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

// A loopback port that was free a moment ago (bind to 0, read it back, close). Prefer binding port 0
// directly when the code under test allows it; this is for child processes that need --port N.
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  int port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// Polls pred every millisecond until it holds or the timeout passes; returns its last value.
inline bool wait_until(const std::function<bool()>& pred,
                       std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > deadline) return pred();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// The full collector (all routes, hardening, events) on 127.0.0.1:<free port> with a temp-file database.
class test_collector {
 public:
  // tweak: adjust the config before start (api_key, max_body_bytes, heartbeat_ms, ...).
  explicit test_collector(const std::function<void(config&)>& tweak = {}) {
    cfg_.host = "127.0.0.1";
    cfg_.port = 0;
    cfg_.db_path = dir_.file("llmtrace.db");
    cfg_.threads = 8;
    cfg_.max_streams = 4;
    cfg_.heartbeat_ms = 200;
    cfg_.upstream = "http://127.0.0.1:9";  // nothing listens there: tests never reach a real upstream
    if (tweak) tweak(cfg_);
    storage::sqlite_options so;
    so.path = cfg_.db_path;
    server_ = std::make_unique<collector_server>(cfg_, storage::open_sqlite_store(so));
    port_ = server_->bind();
    thread_ = std::thread([this] { server_->run(); });
    if (!wait_until([this] { return server_->is_running(); }))
      throw std::runtime_error("collector did not start");
  }
  ~test_collector() {
    server_->stop();
    if (thread_.joinable()) thread_.join();
  }
  test_collector(const test_collector&) = delete;
  test_collector& operator=(const test_collector&) = delete;

  int port() const { return port_; }
  std::string base_url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const config& cfg() const { return cfg_; }
  collector_server& server() { return *server_; }
  const temp_dir& dir() const { return dir_; }

  // A client with short timeouts and TCP_NODELAY; set_bearer adds the API key when one is configured.
  std::unique_ptr<httplib::Client> client(bool with_key = true) const {
    auto c = std::make_unique<httplib::Client>("127.0.0.1", port_);
    c->set_tcp_nodelay(true);
    c->set_connection_timeout(2, 0);
    c->set_read_timeout(10, 0);
    c->set_write_timeout(10, 0);
    if (with_key && !cfg_.api_key.empty()) c->set_bearer_token_auth(cfg_.api_key.c_str());
    return c;
  }

 private:
  temp_dir dir_;
  config cfg_;
  std::unique_ptr<collector_server> server_;
  int port_ = -1;
  std::thread thread_;
};

}  // namespace llmtrace::testing
