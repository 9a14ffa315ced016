// Read-after-proxy consistency as a read-side service: a storage::store_reader that, before each read, waits
// (bounded, 2 s by default) until the proxy recorder has committed every write submitted before the read, so
// a client that reads right after its proxied call was answered finds the record. Free when nothing is
// queued. The composition root hands this reader to the API and replay; handlers never ask for it.
// Thread safety: as the wrapped reader. Lifetime: the inner reader and the recorder outlive it.
#pragma once

#include <chrono>

#include "storage/store.hpp"

namespace llmtrace::proxy {

class recorder;

class consistent_reader final : public storage::store_reader {
 public:
  consistent_reader(storage::store_reader& inner, recorder& records,
                    std::chrono::milliseconds max_wait = std::chrono::milliseconds(2000));

  storage::page<model::session> list_sessions(const storage::page_request& p) override;
  std::optional<model::session> get_session(const std::string& id) override;
  storage::page<model::record> list_records(const std::string& session_id,
                                            const storage::page_request& p) override;
  std::optional<model::record> get_record(const std::string& id) override;
  storage::page<model::record> search(const storage::search_query& q) override;
  storage::store_stats stats() override;
  void for_each_record(const std::string& session_id,
                       const std::function<bool(const model::record&)>& fn) override;
  std::vector<model::score> list_scores(model::score_target target,
                                        const std::vector<std::string>& target_ids) override;
  std::vector<storage::timeseries_row> timeseries(const storage::timeseries_query& q) override;
  // Retention's reads: passed through (no settle; they need not see the recorder's queue).
  std::vector<std::string> oldest_sessions(int64_t older_than_ms, int limit) override {
    return inner_.oldest_sessions(older_than_ms, limit);
  }
  int64_t used_bytes() override { return inner_.used_bytes(); }
  // Copy's bulk read: passed through (no settle; a bulk read need not see the recorder's queue).
  std::vector<model::record> records_after(int64_t& after, int limit) override {
    return inner_.records_after(after, limit);
  }

 private:
  void settle();

  storage::store_reader& inner_;
  recorder& records_;
  std::chrono::milliseconds max_wait_;
};

}  // namespace llmtrace::proxy
