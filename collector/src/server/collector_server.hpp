// The composition root: the one place that turns the parsed config and a store into a running collector.
// It makes every service (event hub, metrics, ingest service with the publish-after-commit listener, proxy
// recorder, the read-after-proxy reader, upstream client and call limiter, replay service, proxy forwarder),
// hands each what it needs, and mounts the routes on a hardened httplib server (ours, then replay, proxy,
// and the web UI last). No other module makes another module's service. Used by main and by the in-process
// test fixture. Lifetime: bind() then run() (blocks) on one thread; stop() from any thread ends event
// streams, stops accepting and lets in-flight requests finish; run() then returns. Destruction drains the
// proxy recorder before the ingest service and the store go away.
#pragma once

#include <memory>

#include "config.hpp"
#include "storage/store.hpp"

namespace httplib {
class Server;
}

namespace llmtrace {
namespace api {
class event_hub;
class metrics;
struct api_deps;
}  // namespace api
namespace ingest {
class ingest_service;
class pricing;
}  // namespace ingest
namespace proxy {
class recorder;
class consistent_reader;
class forwarder;
}  // namespace proxy
namespace otlp {
class receiver;
}
namespace replay {
class replay_service;
}
namespace upstream {
class call_limiter;
}
namespace server {
class retention;
}

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

  const config& cfg() const { return cfg_; }
  httplib::Server& http() { return *http_; }
  // The services it made, for tests and tools that look inside a running collector.
  storage::store& store() { return *store_; }
  ingest::ingest_service& ingest() { return *ingest_; }
  api::event_hub& events() { return *events_; }

 private:
  void mount_routes();

  config cfg_;
  std::unique_ptr<storage::store> store_;
  std::unique_ptr<api::event_hub> events_;
  std::unique_ptr<api::metrics> metrics_;
  std::unique_ptr<ingest::pricing> prices_;
  std::unique_ptr<ingest::ingest_service> ingest_;
  std::unique_ptr<proxy::recorder> recorder_;
  std::unique_ptr<proxy::consistent_reader> reads_;
  std::unique_ptr<upstream::call_limiter> upstream_calls_;
  std::unique_ptr<replay::replay_service> replays_;
  std::unique_ptr<proxy::forwarder> forwarder_;
  std::unique_ptr<otlp::receiver> otlp_;
  std::unique_ptr<api::api_deps> api_deps_;
  std::unique_ptr<server::retention> retention_;
  std::unique_ptr<httplib::Server> http_;  // last: its routes use everything above
  int port_ = -1;
};

}  // namespace llmtrace
