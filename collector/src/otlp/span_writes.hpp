// Record drafts (genai_map.hpp) to what the ingest rules store: one model::record_write per span under the
// rule "one trace = one turn" (record_write::trace_turn), and for content log records that arrive after
// their span, the update of the stored record with its messages filled in. Also a small bounded holding
// area for content log records whose span has not arrived yet.
// Thread safety: the free functions are pure; pending_content is internally locked.
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "model/record.hpp"
#include "model/record_write.hpp"
#include "otlp/genai_map.hpp"
#include "otlp/otlp_model.hpp"

namespace llmtrace::otlp {

// id = span id, trace_id, parent_id, name, kind, times, status, model, usage, request/response as JSON text,
// metadata, session_id = the session hint (when any), search_text from the messages, trace_turn set.
model::record_write to_record_write(const record_draft& d);

// The update for a stored record whose content log records came later: nullopt when the logs add nothing
// (the record already has its messages, or the logs hold none), so a message is never stored twice.
std::optional<model::record_write> content_update(const model::record& stored,
                                                  const std::vector<const log_record*>& logs);

// Content log records whose span is not stored yet (an exporter may send logs first), by trace and span id,
// until the span arrives. Bounded in records and age; the oldest go first.
class pending_content {
 public:
  explicit pending_content(std::size_t max_records = 10'000,
                           std::chrono::seconds max_age = std::chrono::seconds(300));

  void hold(const std::string& trace_id, const std::string& span_id, const log_record& r);
  // Moves out the records held for these spans (as one logs_request); empty when none.
  logs_request take(const traces_request& spans);
  // Moves out the records held for one span; empty when none.
  std::vector<log_record> take_span(const std::string& trace_id, const std::string& span_id);
  std::size_t size() const;

 private:
  struct held {
    std::vector<log_record> records;
    std::chrono::steady_clock::time_point since;
  };
  void expire_locked(std::chrono::steady_clock::time_point now);

  const std::size_t max_records_;
  const std::chrono::seconds max_age_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, held> by_span_;  // key: trace_id + span_id
  std::deque<std::pair<std::string, std::chrono::steady_clock::time_point>> order_;  // one per key opened
  std::size_t count_ = 0;
};

}  // namespace llmtrace::otlp
