// Replay as a service: re-sends a stored (optionally edited) request to the configured upstream and stores
// the answer as a new record linked to the original (replay_of, same session and turn). The upstream's
// failure is data (a record with status "error", error_message "upstream 429: ..."), not a failed replay.
// Made by the composition root. Thread safety: replay() runs concurrently on request threads; store errors
// (storage::store_busy / store_unavailable) propagate to the caller. Lifetime: every reference outlives it.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "http/errors.hpp"
#include "model/record.hpp"
#include "upstream/upstream_client.hpp"

namespace llmtrace::storage {
class store_reader;
}
namespace llmtrace::ingest {
class ingest_service;
}
namespace llmtrace::upstream {
class call_limiter;
}

namespace llmtrace::replay {

struct replay_outcome {
  std::optional<model::record> record;  // the stored replay
  http::failure error;                  // when there is no record
};

class replay_service {
 public:
  // reads: the reader to find originals with (one that sees records of calls already answered).
  // client: null when the configured upstream is unusable (client_problem says why).
  replay_service(storage::store_reader& reads, ingest::ingest_service& ingest,
                 std::shared_ptr<upstream::upstream_client> client, std::string client_problem,
                 upstream::call_limiter& limiter, std::string collector_api_key);

  // body: the route's body as sent: empty, or {"request": {...} | "<JSON text of an object>"}.
  // local_addr/local_port: where the request arrived (an upstream pointing there is refused as a loop).
  // client: the caller's peer address; one address holds at most call_limiter::max_per_client() of the
  // upstream slots (replays all spend the collector's key, so the address is what tells callers apart),
  // and its next replay gets 503 + Retry-After while another address still gets a slot. Empty: counted in
  // the total only.
  replay_outcome replay(const std::string& id, std::string_view body, const std::string& local_addr,
                        int local_port, const std::string& client = {});

 private:
  storage::store_reader& reads_;
  ingest::ingest_service& ingest_;
  std::shared_ptr<upstream::upstream_client> client_;
  std::string client_problem_;
  upstream::call_limiter& limiter_;
  std::string collector_api_key_;
};

}  // namespace llmtrace::replay
