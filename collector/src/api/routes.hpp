// The collector's own REST routes: ingest (/api/trace, /api/traces), sessions, records, search, stats,
// events, /healthz and /metrics. Handlers only parse, call the ingest service or the store, and encode.
// Mounted once by the composition root. Lifetime: everything in api_deps outlives the server.
#pragma once

#include "http/server_fwd.hpp"

namespace llmtrace::storage {
class store_reader;
class store_writer;
}  // namespace llmtrace::storage
namespace llmtrace::ingest {
class ingest_service;
}

namespace llmtrace::api {

class event_hub;
class metrics;

// What the API routes use, handed over by the composition root.
struct api_deps {
  const config& cfg;
  // Reads that see every record of a call already answered (the root wraps the store so reads wait for
  // queued proxy records); the routes never need to know.
  storage::store_reader& reads;
  storage::store_writer& writes;
  ingest::ingest_service& ingest;
  event_hub& events;
  const metrics& request_metrics;
};

void mount_api(httplib::Server& server, const api_deps& deps);

// POST /api/trace and /api/traces (ingest_routes.cpp).
void mount_ingest(httplib::Server& server, const api_deps& deps);

}  // namespace llmtrace::api
