// The publish-after-commit policy: what the live feed (event_hub) announces for committed writes. Each
// stored record is published as "created" or "updated" (stale writes changed nothing and are skipped), then
// each session the writes touched, read back after the commit so its counts are current. The composition
// root plugs this into the ingest service as its commit listener, so every writer (ingest routes, replay,
// the proxy recorder) publishes alike. Thread safety: called on the writing thread; the hub and the reader
// are thread-safe. Never throws (a session that cannot be read is skipped and logged).
#pragma once

#include "ingest/ingest_service.hpp"

namespace llmtrace::storage {
class store_reader;
}

namespace llmtrace::api {

class event_hub;

// reads: must not wait for writes queued behind this one (use the store itself, not a read-after-write
// decorator: the proxy recorder's own thread runs this listener).
ingest::ingest_service::commit_listener publish_after_commit(event_hub& hub, storage::store_reader& reads);

}  // namespace llmtrace::api
