// proxy::consistent_reader, the read-after-proxy service: reads wait (bounded) for writes the recorder has
// queued but not yet committed. Real SQLite file, real ingest service and recorder; the recorder's thread is
// held inside the commit listener so a second write stays queued for as long as the test needs.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>

#include "ingest/ingest_service.hpp"
#include "model/ids.hpp"
#include "model/time.hpp"
#include "proxy/consistent_reader.hpp"
#include "proxy/recorder.hpp"
#include "storage/store.hpp"
#include "support/test_support.hpp"

namespace {

using namespace std::chrono_literals;

class gate {
 public:
  void wait() {
    std::unique_lock<std::mutex> lock(m_);
    cv_.wait(lock, [&] { return open_; });
  }
  void release() {
    {
      std::lock_guard<std::mutex> lock(m_);
      open_ = true;
    }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  bool open_ = false;
};

llmtrace::storage::record_write finished_call(const std::string& id) {
  llmtrace::storage::record_write w;
  w.id = id;
  w.session_id = "consistent-reader";
  w.request_json = R"({"model":"m","messages":[]})";
  w.response_json = R"({"choices":[]})";
  w.received_at_ms = llmtrace::model::now_ms();
  return w;
}

// A store, an ingest service whose first commit blocks until `hold` is released, and a recorder on it.
struct held_recorder {
  llmtrace::testing::temp_dir dir;
  std::unique_ptr<llmtrace::storage::store> store;
  gate hold;
  std::atomic<int> commits{0};
  std::unique_ptr<llmtrace::ingest::ingest_service> ingest;
  std::unique_ptr<llmtrace::proxy::recorder> records;

  held_recorder() {
    llmtrace::storage::sqlite_options so;
    so.path = dir.file("reader.db");
    store = llmtrace::storage::open_sqlite_store(so);
    ingest = std::make_unique<llmtrace::ingest::ingest_service>(
        *store, [this](const std::vector<llmtrace::storage::write_result>&) {
          if (commits.fetch_add(1) == 0) hold.wait();
        });
    records = std::make_unique<llmtrace::proxy::recorder>(*ingest);
  }
  ~held_recorder() {
    hold.release();
    records.reset();  // drains the queue before the ingest service and the store go
  }

  // Leaves `queued` submitted but not committed: the recorder's thread is held in the first commit.
  void queue_behind_a_held_commit(const std::string& queued) {
    records->submit(finished_call(llmtrace::model::new_record_id()));
    REQUIRE(llmtrace::testing::wait_until([&] { return commits.load() == 1; }));
    records->submit(finished_call(queued));
  }
};

}  // namespace

TEST_CASE("proxy: a read through consistent_reader waits for the recorder's queued writes") {
  held_recorder h;
  llmtrace::proxy::consistent_reader reads(*h.store, *h.records);
  const std::string id = llmtrace::model::new_record_id();
  h.queue_behind_a_held_commit(id);
  CHECK_FALSE(h.store->get_record(id).has_value());  // the store itself does not have it yet

  auto read = std::async(std::launch::async, [&] { return reads.get_record(id); });
  CHECK(read.wait_for(150ms) == std::future_status::timeout);  // waiting, not answering "not found"
  h.hold.release();
  auto found = read.get();
  REQUIRE(found.has_value());
  CHECK(found->id == id);
  CHECK(reads.list_records("consistent-reader", {}).total == 2);
}

TEST_CASE("proxy: consistent_reader's wait is bounded, and then the store answers as it is") {
  held_recorder h;
  llmtrace::proxy::consistent_reader reads(*h.store, *h.records, 100ms);
  const std::string id = llmtrace::model::new_record_id();
  h.queue_behind_a_held_commit(id);
  auto t0 = std::chrono::steady_clock::now();
  CHECK_FALSE(reads.get_record(id).has_value());  // gave up after max_wait: the store answers as it is
  auto waited = std::chrono::steady_clock::now() - t0;
  CHECK(waited >= 90ms);
  CHECK(waited < 2s);

  h.hold.release();
  REQUIRE(llmtrace::testing::wait_until([&] { return h.store->get_record(id).has_value(); }));
  CHECK(reads.get_record(id).has_value());
}
