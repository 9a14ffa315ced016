// What the ingest layer takes in and gives back: one validated record report (record_write) and what became
// of it (write_result). Plain values; the rules that turn a report into stored rows live in
// ingest/write_rules.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/record.hpp"

namespace llmtrace::model {

// One validated record report. Optional fields left empty mean "not sent": on an update they keep the stored
// value, on a create they take the defaults of model::record.
struct record_write {
  std::optional<std::string> id;  // client id; none: match a pending (session, turn) or create with a new id
  std::optional<std::string> session_id;  // none: a new session is created
  std::string new_session_name;           // name for a session this write creates; empty: the default name
  int64_t turn_number = 0;                // 0: next turn of the session (max + 1), assigned atomically
  std::optional<std::string> request_json;
  std::optional<std::string> response_json;
  record_status status = record_status::success;
  std::optional<std::string> error_message;
  std::optional<std::string> metadata_json;
  std::optional<int64_t> started_at_ms;
  std::optional<int64_t> ended_at_ms;
  std::optional<double> latency_ms;  // none: derived from started/ended when both are known
  std::optional<std::string> model;
  token_usage usage;
  std::optional<std::string> replay_of;
  std::optional<std::string> parent_id;
  std::optional<std::string> trace_id;
  std::optional<std::string> name;
  std::optional<record_kind> kind;
  std::optional<double> cost_usd;  // as sent by the client; none: priced at ingest when the model is known
  // One trace = one turn (OTLP spans): needs `id` and `trace_id`. `session_id` is then only the span's own
  // session hint; without one the record takes its trace's session, else a session named by the trace id.
  // The turn is the trace's turn in that session (a new one for the trace's first record there), and records
  // of the trace stored earlier in the trace-id session (children that came before any span with a hint)
  // move into this record's session and turn. `turn_number` is ignored.
  bool trace_turn = false;
  std::string search_text;     // message text to index for full-text search (ingest extracts it)
  int64_t received_at_ms = 0;  // 0: now
};

enum class write_outcome {
  created,  // a new record
  updated,  // merged into an existing record (same id, or the pending record of that session and turn)
  stale,    // a late `pending` for a record already final: nothing changed (still a success for the client)
};

struct write_result {
  write_outcome outcome = write_outcome::created;
  bool session_created = false;
  model::record record;  // the record as stored after this write
  // trace_turn writes only: other records of the trace this write moved into its session and turn (as stored
  // after the move), and the sessions they left (possibly empty now).
  std::vector<model::record> moved;
  std::vector<std::string> left_sessions;
};

}  // namespace llmtrace::model
