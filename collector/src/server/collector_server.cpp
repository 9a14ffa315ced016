#include "server/collector_server.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "api/event_hub.hpp"
#include "api/event_publisher.hpp"
#include "api/metrics.hpp"
#include "api/routes.hpp"
#include "http/body.hpp"
#include "ingest/ingest_service.hpp"
#include "ingest/pricing.hpp"
#include "otlp/otlp_routes.hpp"
#include "proxy/consistent_reader.hpp"
#include "proxy/forwarder.hpp"
#include "proxy/proxy_routes.hpp"
#include "proxy/recorder.hpp"
#include "replay/replay_routes.hpp"
#include "replay/replay_service.hpp"
#include "server/request_policy.hpp"
#include "server/retention.hpp"
#include "server/socket_loop.hpp"
#include "upstream/call_limiter.hpp"
#include "upstream/recording.hpp"
#include "upstream/upstream_client.hpp"
#include "web/web_routes.hpp"

namespace llmtrace {
namespace {

upstream::upstream_options upstream_options_from(const config& cfg) {
  upstream::upstream_options o;
  o.base_url = cfg.upstream;
  o.api_key = cfg.upstream_api_key;
  o.ca_file = cfg.upstream_ca_file;
  o.ca_dir = cfg.upstream_ca_dir;
  o.read_timeout_ms = cfg.upstream_timeout_ms;
  return o;
}

}  // namespace

collector_server::collector_server(config cfg, std::unique_ptr<storage::store> store)
    : cfg_(std::move(cfg)), store_(std::move(store)) {
  api::event_hub::options eo;
  eo.max_streams = cfg_.max_streams;
  eo.max_streams_per_client = cfg_.max_streams_per_client;
  eo.heartbeat = std::chrono::milliseconds(cfg_.heartbeat_ms);
  // A large record's event is read back when a stream sends it instead of being held twice (event_hub.hpp).
  eo.load_record = [this](const std::string& id) { return store_->get_record(id); };
  events_ = std::make_unique<api::event_hub>(eo);
  metrics_ = std::make_unique<api::metrics>();
  // The listener reads sessions back from the store itself: it runs on the recorder's thread too, and must
  // not wait for the recorder's own queue.
  // The price table: built in, plus --prices. A bad file throws here, so the collector refuses to start.
  prices_ = std::make_unique<ingest::pricing>(ingest::pricing::builtin());
  if (!cfg_.prices_file.empty()) prices_->merge_file(cfg_.prices_file);
  ingest_ = std::make_unique<ingest::ingest_service>(*store_, api::publish_after_commit(*events_, *store_),
                                                     prices_.get());
  // Changes other collectors commit to a shared database (PostgreSQL) join this collector's live feed.
  store_->on_remote_change([this](const storage::remote_change& ch) {
    if (ch.change == "deleted") {
      events_->publish_deleted(ch.kind, ch.id);
    } else if (ch.kind == "record") {
      if (auto r = store_->get_record(ch.id)) {
        events_->publish_record(*r, ch.change);
        if (auto s = store_->get_session(r->session_id)) events_->publish_session(*s);
      }
    } else if (auto s = store_->get_session(ch.id)) {
      events_->publish_session(*s);
    }
  });
  recorder_ = std::make_unique<proxy::recorder>(*ingest_);
  reads_ = std::make_unique<proxy::consistent_reader>(*store_, *recorder_);

  std::string problem;
  std::shared_ptr<upstream::upstream_client> client =
      upstream::make_client(upstream_options_from(cfg_), &problem);
  if (!client) spdlog::error("replay and proxy disabled: {}", problem);
  // Each upstream call holds an HTTP worker for its whole life: leave workers for ingest and the API.
  upstream_calls_ = std::make_unique<upstream::call_limiter>(std::max(2, cfg_.threads - 2));
  replays_ = std::make_unique<replay::replay_service>(*reads_, *ingest_, client, problem, *upstream_calls_,
                                                      cfg_.api_key);
  forwarder_ =
      std::make_unique<proxy::forwarder>(*recorder_, client, problem, *upstream_calls_, cfg_.api_key);
  otlp_ = std::make_unique<otlp::receiver>(*ingest_, *reads_);
  api_deps_ =
      std::make_unique<api::api_deps>(api::api_deps{cfg_, *reads_, *store_, *ingest_, *events_, *metrics_});

  server::retention_options ro;
  ro.retain_days = cfg_.retain_days;
  ro.max_db_mb = cfg_.max_db_mb;
  ro.interval_ms = cfg_.retention_interval_ms;
  retention_ = std::make_unique<server::retention>(
      *store_, ro, [this](const std::string& id) { events_->publish_deleted("session", id); });

  http::set_inflight_body_budget(cfg_.max_inflight_body_bytes ? cfg_.max_inflight_body_bytes
                                                              : 4 * cfg_.max_body_bytes);
  http_ = server::make_guarded_server(cfg_);
  server::apply_request_policy(*http_, cfg_);
  http_->set_logger([this](const httplib::Request& req, const httplib::Response& res) {
    double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - server::request_started_at())
            .count();
    metrics_->observe(req.method, req.path, res.status, secs);
    spdlog::debug("{} {} -> {} ({:.3f} ms)", req.method, req.path, res.status, secs * 1000.0);
  });
  mount_routes();
}

collector_server::~collector_server() {
  stop();
  store_->on_remote_change({});  // the store's listener thread publishes to events_, which goes first
  http_.reset();                 // joins nothing more: run() has returned or never started
}

void collector_server::mount_routes() {
  api::mount_api(*http_, *api_deps_);
  replay::mount(*http_, *replays_, cfg_);
  proxy::mount(*http_, *forwarder_, cfg_);
  otlp::mount(*http_, *otlp_, *ingest_, cfg_);
  web::mount(*http_);  // last: it answers unknown non-API paths with index.html
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
  if (retention_) retention_->stop();
  if (events_) events_->shutdown();
  if (http_) http_->stop();
}

bool collector_server::is_running() const {
  return http_ && http_->is_running();
}

}  // namespace llmtrace
