// The collector as one object: config + store -> ingest service, event feed, metrics, a hardened httplib
// server with every route mounted (ours, then replay, proxy, and the web UI last). Used by main and by the
// in-process test fixture. Lifetime: bind() then run() (blocks) on one thread; stop() from any thread ends
// event streams, stops accepting and lets in-flight requests finish; run() then returns.
#pragma once

#include <memory>
#include <string>

#include "config.hpp"
#include "storage/store.hpp"

namespace httplib {
class Server;
}

namespace llmtrace {

struct app_context;
namespace api {
class event_hub;
class metrics;
}  // namespace api
namespace ingest {
class ingest_service;
}

// True when a Host header value may reach us (DNS rebinding guard): loopback names, IP literals, the bind
// host, and cfg.allowed_hosts ("*" allows any). The port part is ignored.
bool host_allowed(std::string_view host_header, const config& cfg);

class collector_server {
 public:
  collector_server(config cfg, std::unique_ptr<storage::store> store);
  ~collector_server();
  collector_server(const collector_server&) = delete;
  collector_server& operator=(const collector_server&) = delete;

  // Binds cfg.host:cfg.port (port 0: any free port) and returns the port. Throws std::runtime_error with a
  // clear message when the address cannot be bound (e.g. the port is in use).
  int bind();
  // Serves until stop(). Returns false when the listener failed.
  bool run();
  void stop();
  bool is_running() const;
  int port() const { return port_; }

  app_context& app() { return *app_; }
  const config& cfg() const { return cfg_; }
  httplib::Server& http() { return *http_; }

 private:
  void configure_http();

  config cfg_;
  std::unique_ptr<storage::store> store_;
  std::unique_ptr<api::event_hub> events_;
  std::unique_ptr<api::metrics> metrics_;
  std::unique_ptr<ingest::ingest_service> ingest_;
  std::unique_ptr<app_context> app_;
  std::unique_ptr<httplib::Server> http_;
  int port_ = -1;
};

}  // namespace llmtrace
