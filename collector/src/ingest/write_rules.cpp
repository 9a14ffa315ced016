#include "ingest/write_rules.hpp"

#include <algorithm>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "model/ids.hpp"
#include "model/time.hpp"

namespace llmtrace::ingest {
namespace {

using model::record_write;
using model::write_outcome;
using model::write_result;
using storage::found_record;
using storage::write_tx;

// An empty string counts as "not sent" for ids, so a client sending "" never creates a record or session
// whose id is empty.
bool has_text(const std::optional<std::string>& v) {
  return v && !v->empty();
}

bool is_top_level(const record_write& w) {
  return !has_text(w.replay_of) && !has_text(w.parent_id);
}

// Latency from the record's own timestamps, unless the report gave one. A merge re-derives it only when the
// report brought a timestamp (a final report with ended_at completes the pending one's started_at).
void fill_latency(model::record& r, const record_write& w) {
  if (w.latency_ms) return;
  if (!r.started_at_ms || !r.ended_at_ms || *r.ended_at_ms < *r.started_at_ms) return;
  if (r.latency_ms && !w.started_at_ms && !w.ended_at_ms) return;  // nothing new to derive from
  r.latency_ms = static_cast<double>(*r.ended_at_ms - *r.started_at_ms);
}

// Overlays the fields a report sets. The large texts (request, response, metadata) are not copied here:
// lent_texts hands them over for the statement that stores the record.
void merge_into(model::record& r, const record_write& w) {
  r.status = w.status;
  if (w.error_message) r.error_message = *w.error_message;
  if (w.started_at_ms) r.started_at_ms = w.started_at_ms;
  if (w.ended_at_ms) r.ended_at_ms = w.ended_at_ms;
  if (w.latency_ms) r.latency_ms = w.latency_ms;
  if (w.model) r.model = *w.model;
  if (w.usage.prompt_tokens) r.usage.prompt_tokens = w.usage.prompt_tokens;
  if (w.usage.completion_tokens) r.usage.completion_tokens = w.usage.completion_tokens;
  if (w.usage.total_tokens) r.usage.total_tokens = w.usage.total_tokens;
  if (w.replay_of) r.replay_of = *w.replay_of;
  if (w.parent_id) r.parent_id = *w.parent_id;
  if (w.trace_id) r.trace_id = *w.trace_id;
  if (w.name) r.name = *w.name;
  if (w.kind) r.kind = *w.kind;
  if (w.cost_usd) r.cost_usd = w.cost_usd;
  fill_latency(r, w);
}

// The report's large texts, moved into the record for the statement that stores it and moved back when that
// statement is done (also when it throws), so that a transaction the store runs again finds the report
// whole. A large trace's texts so exist once during the write instead of twice; write_batch moves them into
// the results after the commit.
class lent_texts {
 public:
  lent_texts(record_write& w, model::record& r) : w_(w), r_(r) {
    if (w_.request_json) r_.request_json = std::move(*w_.request_json);
    if (w_.response_json) r_.response_json = std::move(*w_.response_json);
    if (w_.metadata_json) r_.metadata_json = std::move(*w_.metadata_json);
  }
  ~lent_texts() {
    if (w_.request_json) *w_.request_json = std::move(r_.request_json);
    if (w_.response_json) *w_.response_json = std::move(r_.response_json);
    if (w_.metadata_json) *w_.metadata_json = std::move(r_.metadata_json);
  }
  lent_texts(const lent_texts&) = delete;
  lent_texts& operator=(const lent_texts&) = delete;

 private:
  record_write& w_;
  model::record& r_;
};

// After the commit: the texts of the report go to the record it wrote (a stale report wrote nothing and keeps
// the stored record), and its search text, already stored, is freed.
void hand_over_texts(record_write& w, write_result& out) {
  std::string().swap(w.search_text);
  if (out.outcome == write_outcome::stale) return;
  if (w.request_json) out.record.request_json = std::move(*w.request_json);
  if (w.response_json) out.record.response_json = std::move(*w.response_json);
  if (w.metadata_json) out.record.metadata_json = std::move(*w.metadata_json);
}

// The last step of every create: the report's fields over r's placement (id, session, turn), then stored.
write_result insert_new(write_tx& tx, write_result out, record_write& w, int64_t at) {
  model::record& r = out.record;
  merge_into(r, w);
  r.created_at_ms = at;
  r.updated_at_ms = at;
  {
    lent_texts lent(w, r);
    tx.insert_record(r, w.search_text);
  }
  out.outcome = write_outcome::created;
  return out;
}

std::string session_name(const record_write& w, int64_t at) {
  return w.new_session_name.empty() ? model::format_local_session_name(at) : w.new_session_name;
}

// Every session the batch names, locked up front in one sorted call, so two batches naming the same
// sessions in a different order cannot deadlock each other.
void lock_named_sessions(write_tx& tx, const std::vector<record_write>& batch) {
  std::vector<std::string_view> ids;
  ids.reserve(batch.size());
  for (const auto& w : batch) {
    if (has_text(w.session_id)) ids.emplace_back(*w.session_id);
    // A trace's records are found and moved under its trace-id session's lock, so two writers of one trace
    // see each other's records.
    if (w.trace_turn && has_text(w.trace_id)) ids.emplace_back(*w.trace_id);
  }
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  if (!ids.empty()) tx.lock_sessions(ids);
}

// Tells the store which ids and explicit (session, turn) pairs the batch will look up (write_tx::
// expect_records), so it can read them in one go instead of one statement a record.
void announce_lookups(write_tx& tx, const std::vector<record_write>& batch) {
  storage::expected_lookups e;
  e.record_ids.reserve(batch.size());
  for (const auto& w : batch) {
    if (has_text(w.id)) e.record_ids.emplace_back(*w.id);
    if (has_text(w.session_id) && w.turn_number > 0) e.turns.emplace_back(*w.session_id, w.turn_number);
    if (w.trace_turn && has_text(w.id) && has_text(w.trace_id)) e.trace_ids.emplace_back(*w.trace_id);
  }
  tx.expect_records(e);
}

write_result update(write_tx& tx, found_record old, record_write& w, int64_t at) {
  write_result out;
  if (w.status == model::record_status::pending && old.record.status != model::record_status::pending) {
    out.outcome = write_outcome::stale;
    out.record = std::move(old.record);
    return out;
  }
  model::record r = old.record;
  merge_into(r, w);
  // The seed's flow (`pending`, then the final report, no timestamps): the time between the two arrivals.
  if (!r.latency_ms && old.record.status == model::record_status::pending &&
      w.status != model::record_status::pending && at >= old.record.created_at_ms)
    r.latency_ms = static_cast<double>(at - old.record.created_at_ms);
  // A record stays in its session; an explicit different turn moves it within the session.
  if (w.turn_number > 0) r.turn_number = w.turn_number;
  r.updated_at_ms = at;
  {
    lent_texts lent(w, r);
    tx.update_record(old, r, w.search_text);
  }
  out.outcome = write_outcome::updated;
  out.record = std::move(r);
  return out;
}

write_result create(write_tx& tx, record_write& w, int64_t at) {
  write_result out;
  model::record& r = out.record;
  // A replay or child span without a session or turn joins the record it belongs to, so it lists under
  // that record's turn instead of opening a turn (or a session) of its own.
  std::optional<found_record> anchor;
  if (w.turn_number == 0 || !has_text(w.session_id)) {
    if (has_text(w.parent_id)) {
      anchor = tx.find_record(*w.parent_id);
    } else if (has_text(w.replay_of)) {
      anchor = tx.find_record(*w.replay_of);
    }
  }
  if (anchor && !has_text(w.session_id)) {
    r.session_id = anchor->record.session_id;
    tx.lock_sessions({r.session_id});
  } else if (has_text(w.session_id)) {
    r.session_id = *w.session_id;
    if (!tx.session_exists(r.session_id)) {
      tx.insert_session(r.session_id, session_name(w, at), at);
      out.session_created = true;
    }
  } else {
    r.session_id = model::new_session_id();  // new, so no other writer can hold it
    tx.insert_session(r.session_id, session_name(w, at), at);
    out.session_created = true;
  }
  r.id = has_text(w.id) ? *w.id : model::new_record_id();
  if (w.turn_number > 0) {
    r.turn_number = w.turn_number;
  } else if (anchor && anchor->record.session_id == r.session_id) {
    r.turn_number = anchor->record.turn_number;
  } else {
    r.turn_number = tx.max_top_level_turn(r.session_id) + 1;
  }
  return insert_new(tx, std::move(out), w, at);
}

// One trace = one turn (record_write::trace_turn). The session: the span's own hint, else the session of a
// record of the trace that is not in the trace-id fallback session (a root first), else the record's own when
// it exists, else the trace id. The turn: the trace's turn in that session, else the next one there. Records
// of the trace waiting in the trace-id fallback session (children that came before any hinted span) move in.
write_result apply_trace(write_tx& tx, record_write& w, int64_t at) {
  const std::string& trace_id = *w.trace_id;
  std::vector<found_record> trace = tx.find_trace_records(trace_id);
  std::optional<found_record> self;
  for (auto it = trace.begin(); it != trace.end(); ++it) {
    if (it->record.id == *w.id) {
      self = std::move(*it);
      trace.erase(it);
      break;
    }
  }
  if (!self) self = tx.find_record(*w.id);  // the id exists outside this trace: update it there (idempotent)

  std::string session;
  if (has_text(w.session_id)) {
    session = *w.session_id;
  } else {
    const found_record* home = nullptr;
    for (const auto& r : trace) {
      if (r.record.session_id == trace_id) continue;
      if (!home || (!home->record.parent_id.empty() && r.record.parent_id.empty())) home = &r;
    }
    if (home) {
      session = home->record.session_id;
    } else if (self) {
      session = self->record.session_id;
    } else {
      session = trace_id;
    }
  }
  tx.lock_sessions({session});

  write_result out;
  int64_t turn = 0;
  if (self && self->record.session_id == session) turn = self->record.turn_number;
  for (const auto& r : trace)
    if (turn == 0 && r.record.session_id == session) turn = r.record.turn_number;
  if (!tx.session_exists(session)) {
    tx.insert_session(session, session_name(w, at), at);
    out.session_created = true;
  }
  if (turn == 0) turn = tx.max_top_level_turn(session) + 1;

  if (session != trace_id) {
    bool left_fallback = false;  // the trace-id session is locked up front (lock_named_sessions)
    for (const auto& r : trace) {
      if (r.record.session_id != trace_id) continue;
      left_fallback = true;
      model::record moved = r.record;
      moved.session_id = session;
      moved.turn_number = turn;
      moved.updated_at_ms = at;
      tx.update_record(r, moved, {});
      out.moved.push_back(std::move(moved));
    }
    if (left_fallback) out.left_sessions.push_back(trace_id);
  }

  if (self) {
    if (w.status == model::record_status::pending && self->record.status != model::record_status::pending) {
      out.outcome = write_outcome::stale;
      out.record = std::move(self->record);
      return out;
    }
    model::record r = self->record;
    merge_into(r, w);
    if (r.session_id != session) out.left_sessions.push_back(r.session_id);
    r.session_id = session;
    r.turn_number = turn;
    r.updated_at_ms = at;
    {
      lent_texts lent(w, r);
      tx.update_record(*self, r, w.search_text);
    }
    out.outcome = write_outcome::updated;
    out.record = std::move(r);
    return out;
  }
  model::record& r = out.record;
  r.id = *w.id;
  r.session_id = session;
  r.turn_number = turn;
  return insert_new(tx, std::move(out), w, at);
}

write_result apply(write_tx& tx, record_write& w, int64_t now) {
  const int64_t at = w.received_at_ms > 0 ? w.received_at_ms : now;
  if (w.trace_turn && has_text(w.id) && has_text(w.trace_id)) return apply_trace(tx, w, at);
  std::optional<found_record> existing;
  if (has_text(w.id)) {
    existing = tx.find_record(*w.id);
  } else if (has_text(w.session_id) && w.turn_number > 0 && is_top_level(w)) {
    existing = tx.find_pending_top_level(*w.session_id, w.turn_number);
  }
  if (existing) return update(tx, std::move(*existing), w, at);
  return create(tx, w, at);
}

}  // namespace

std::vector<write_result> write_batch_moving(storage::store_writer& store, std::vector<record_write>& batch) {
  std::vector<write_result> out;
  if (batch.empty()) return out;
  const int64_t now = model::now_ms();
  store.write([&](write_tx& tx) {
    out.clear();  // the store may run this again after an aborted attempt
    out.reserve(batch.size());
    lock_named_sessions(tx, batch);
    announce_lookups(tx, batch);
    for (auto& w : batch) out.push_back(apply(tx, w, now));
  });
  for (std::size_t i = 0; i < out.size(); ++i) hand_over_texts(batch[i], out[i]);
  return out;
}

std::vector<write_result> write_batch(storage::store_writer& store, const std::vector<record_write>& batch) {
  std::vector<record_write> copy = batch;
  return write_batch_moving(store, copy);
}

}  // namespace llmtrace::ingest
