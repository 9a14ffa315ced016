// What a route module needs, wired once by main.cpp (config -> logger -> store -> services -> routes).
// Lifetime: every referenced object outlives the HTTP server.
#pragma once

namespace llmtrace {

struct config;
namespace storage {
class store;
}
namespace ingest {
class ingest_service;
}
namespace api {
class event_hub;
class metrics;
}  // namespace api
namespace proxy {
class recorder;
}

struct app_context {
  const config& cfg;
  storage::store& store;
  ingest::ingest_service& ingest;
  api::event_hub& events;
  api::metrics* metrics = nullptr;            // optional: request metrics for /metrics
  proxy::recorder* proxy_recorder = nullptr;  // set by proxy::mount: API reads wait for its queued records
};

}  // namespace llmtrace
