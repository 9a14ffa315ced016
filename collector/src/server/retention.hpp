// Bounded disk (SPEC "Deployment"): a background worker that deletes whole sessions, oldest activity first,
// while they are older than --retain-days or while the stored data is over --max-db-mb. A session is deleted
// in transactions of at most records_per_step records (delete_session_step), so ingest waits at most for one
// such small step, however large the session; each deleted session is published as a `deleted` event so the
// live UI drops it.
// Threading: one worker thread, started by the constructor when a limit is set, joined by the destructor
// (stop() wakes it early). The store and the publisher must outlive the object.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace llmtrace::storage {
class store;
}

namespace llmtrace::server {

struct retention_options {
  int retain_days = 0;          // 0: no age limit
  int64_t max_db_mb = 0;        // 0: no size limit (MiB of used_bytes())
  int interval_ms = 60'000;     // time between passes (the first pass runs at once)
  int batch = 20;               // sessions read per oldest_sessions() call
  int records_per_step = 1000;  // records deleted per transaction (store::delete_session_step)
};

class retention {
 public:
  // on_deleted(session_id) runs after each committed deletion (the collector publishes the event there).
  retention(storage::store& store, retention_options o, std::function<void(const std::string&)> on_deleted);
  ~retention();
  retention(const retention&) = delete;
  retention& operator=(const retention&) = delete;

  // One pass: deletes until no session is past the age limit and the data is under the size limit (or
  // nothing is left to delete). Returns the number of sessions deleted. Store errors propagate.
  int run_once();
  void stop();

 private:
  void loop();
  bool stopping();

  storage::store& store_;
  retention_options opts_;
  std::function<void(const std::string&)> on_deleted_;
  std::mutex m_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread worker_;
};

}  // namespace llmtrace::server
