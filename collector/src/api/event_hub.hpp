// Live change feed for GET /api/events (Server-Sent Events). Publishers (ingest after COMMIT, the session
// and record routes) append to a bounded ring of recent events with monotonically increasing ids; each open
// stream waits on a condition variable (no polling) and resumes from Last-Event-ID while the ring holds it.
// Event data is rendered lazily, once, by the first stream that sends it, so ingest pays nothing without
// listeners. A record whose texts (request, response, metadata) are large is held without them and read back
// from the store when a stream first renders it (options::load_record), so the ring never holds a second copy
// of a large trace while its ingest request is still answering. Thread safety: all members may be called from
// any thread. shutdown() wakes and ends every stream.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "http/server_fwd.hpp"
#include "model/record.hpp"

namespace llmtrace::api {

class event_hub {
 public:
  struct options {
    std::size_t ring_capacity = 1024;
    std::size_t ring_bytes = 32u * 1024u * 1024u;  // approximate: stored text sizes
    int max_streams = 16;
    int max_streams_per_client = 0;  // 0: half of max_streams (at least 1)
    std::chrono::milliseconds heartbeat{15000};
    // Reads a record back by id (the store's get_record); unset: every record event holds its texts.
    std::function<std::optional<model::record>(const std::string& id)> load_record;
    // Records whose texts add up to more than this are held without them when load_record is set.
    std::size_t inline_text_bytes = 256u * 1024u;
  };

  struct deleted_ref {
    std::string kind;  // "record" | "session"
    std::string id;
  };

  // One event as it goes on the wire: "id: N\nevent: T\ndata: {...}\n\n".
  class event {
   public:
    uint64_t id = 0;
    std::string type;  // "record" | "session" | "deleted"
    const std::string& wire() const;
    std::size_t approx_bytes() const;

   private:
    friend class event_hub;
    std::variant<std::monostate, model::record, model::session, deleted_ref> payload_;
    std::string change_;
    // Set when payload_'s record was stored without its texts: they are read back with it at render time.
    std::function<std::optional<model::record>(const std::string& id)> load_;
    mutable std::once_flag rendered_;
    mutable std::string wire_;
  };
  using event_ptr = std::shared_ptr<const event>;

  explicit event_hub(options opts);
  event_hub(const event_hub&) = delete;
  event_hub& operator=(const event_hub&) = delete;

  void publish_record(const model::record& r, std::string_view change);  // "created" | "updated"
  void publish_session(const model::session& s);
  void publish_deleted(std::string_view kind, std::string_view id);

  // Stream slots: false when max_streams are open, or when `client` (the peer address) already holds
  // max_streams_per_client of them (default half, at least 1), so one client cannot take every stream (the
  // route answers 503). close_stream must get the same client.
  bool try_open_stream(const std::string& client = {});
  void close_stream(const std::string& client = {});
  int open_streams() const;

  // The first event id a new stream should send: after last_event_id when the ring still holds it
  // (or it is the newest), else only events published from now on.
  uint64_t resume_cursor(std::optional<uint64_t> last_event_id) const;

  // Blocks until an event with id >= cursor exists, the timeout passes, or shutdown. Advances cursor past
  // what it returns. Empty result: timeout (send a heartbeat) or shutdown (check stopping()).
  std::vector<event_ptr> wait_from(uint64_t& cursor, std::chrono::milliseconds timeout);

  void shutdown();
  bool stopping() const;
  uint64_t last_id() const;
  const options& opts() const { return opts_; }

 private:
  void push(std::shared_ptr<event> e);

  options opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<event_ptr> ring_;
  std::size_t ring_bytes_ = 0;
  uint64_t next_id_ = 1;
  bool stopping_ = false;
  int open_streams_ = 0;
  std::map<std::string, int> streams_by_client_;
};

// GET /api/events on the server (cfg: the API key check).
void mount_events(httplib::Server& server, event_hub& hub, const config& cfg);

}  // namespace llmtrace::api
