// Ingest: turns validated trace JSON (or ready record_writes from replay/proxy) into store writes through the
// ingest rules (write_rules.hpp), one transaction per call, and reports committed changes to a listener (the
// event feed) AFTER the commit.
// Thread safety: every member may be called concurrently; the store serialises writes. Store errors
// (storage::store_busy / store_unavailable) propagate to the caller, and then nothing of the call is stored.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ingest/pricing.hpp"
#include "ingest/raw_spans.hpp"
#include "ingest/record_parser.hpp"
#include "storage/store.hpp"

namespace llmtrace::ingest {

struct item_result {
  std::size_t index = 0;
  std::optional<storage::write_result> result;  // set when stored
  field_error error;                            // set when rejected
};

struct ingest_counters {
  std::atomic<uint64_t> created{0};
  std::atomic<uint64_t> updated{0};
  std::atomic<uint64_t> stale{0};
  std::atomic<uint64_t> batches{0};
  // Known cost of the reports stored (created or updated with a cost_usd, sent or priced), in nano-USD so
  // that it adds atomically without a lock.
  std::atomic<uint64_t> cost_nano_usd{0};
};

class ingest_service {
 public:
  // Called after every committed write with its results (in order). Must not throw.
  using commit_listener = std::function<void(const std::vector<storage::write_result>&)>;

  // `prices` (owned by the caller, outlives the service) prices every write that has a model and usage but
  // no cost_usd of its own; null: nothing is priced.
  explicit ingest_service(storage::store& store, commit_listener on_commit = {},
                          const pricing* prices = nullptr);

  // One trace object. Invalid: returns the error (nothing stored). `raw`: the spans of its request/response/
  // metadata in the body as sent (scan_trace_spans), stored as is; null: the parsed values are serialised.
  // `parsed`, when set, is called once the trace has become a write and before it is stored: trace and raw
  // are not used after it, so the caller may free the body and its tree there (a large body then is not
  // held three times while it is written).
  item_result ingest_one(const nlohmann::json& trace, const raw_spans* raw = nullptr,
                         const std::function<void()>& parsed = {});

  // An array of trace objects: valid items are stored in ONE transaction, invalid ones reported by index.
  // `raw`: one entry per item (scan_batch_spans), or null.
  std::vector<item_result> ingest_batch(const nlohmann::json& traces,
                                        const std::vector<raw_spans>* raw = nullptr);

  // Ready writes from replay/proxy: fills model/usage/search_text when unset, stores them in one transaction
  // (write_rules), publishes, returns the results in order.
  std::vector<storage::write_result> write(std::vector<storage::record_write> writes);

  // Counts a rejection under its reason (also used by routes for body-level rejections).
  void count_rejected(const std::string& reason);

  // Ingest requests currently admitted by the routes (per server, for the 503 admission limit).
  std::atomic<int>& inflight() { return inflight_; }

  const ingest_counters& counters() const { return counters_; }
  std::map<std::string, uint64_t> rejected_by_reason() const;

 private:
  // Stores `writes` (their texts move into the results: write_batch_moving) and publishes the results.
  std::vector<storage::write_result> commit(std::vector<storage::record_write>& writes);
  void drop_emptied_sessions(const std::vector<storage::write_result>& results);
  void price(storage::record_write& w) const;

  storage::store& store_;
  commit_listener on_commit_;
  const pricing* prices_;
  ingest_counters counters_;
  std::atomic<int> inflight_{0};
  mutable std::mutex rejected_mu_;
  std::map<std::string, uint64_t> rejected_;
};

}  // namespace llmtrace::ingest
