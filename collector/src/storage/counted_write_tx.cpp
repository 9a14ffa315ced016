#include "storage/counted_write_tx.hpp"

#include <algorithm>

namespace llmtrace::storage {

bool counted_write_tx::session_exists(const std::string& id) {
  if (deltas_.find(id) != deltas_.end()) return true;
  return stored_session_exists(id);
}

void counted_write_tx::insert_session(const std::string& id, const std::string& name, int64_t at_ms) {
  store_session(id, name, at_ms);
  deltas_.try_emplace(id);
}

void counted_write_tx::insert_record(const model::record& r, const std::string& search_text) {
  auto& d = deltas_[r.session_id];
  if (!turn_present(r.session_id, r.turn_number)) d.turns += 1;
  store_record(r, search_text);
  d.add(r, +1);
  rollup_.add(r, +1);
  d.touched_at = std::max(d.touched_at, r.updated_at_ms);
  record_changed(change::created, r.id);
}

void counted_write_tx::update_record(const found_record& before, const model::record& after,
                                     const std::string& search_text) {
  replace_record(before, after, search_text);
  // `after` may be in another session or turn (a trace re-homed into its root's session): its counts leave
  // the old session's delta and join the new one's. std::map references survive the second insertion.
  auto& from = deltas_[before.record.session_id];
  auto& to = deltas_[after.session_id];
  from.add(before.record, -1);
  to.add(after, +1);
  rollup_.add(before.record, -1);
  rollup_.add(after, +1);
  if (after.turn_number != before.record.turn_number || after.session_id != before.record.session_id) {
    if (!turn_present(before.record.session_id, before.record.turn_number)) from.turns -= 1;
    // The moved record itself is now at the new turn: the turn is new when the record is alone there.
    if (count_at_turn(after.session_id, after.turn_number, 2) == 1) to.turns += 1;
  }
  to.touched_at = std::max(to.touched_at, after.updated_at_ms);
  record_changed(change::updated, after.id);
}

void counted_write_tx::erase_record(const found_record& r) {
  delete_record_row(r);
  auto& d = deltas_[r.record.session_id];
  d.add(r.record, -1);
  rollup_.add(r.record, -1);
  if (!turn_present(r.record.session_id, r.record.turn_number)) d.turns -= 1;
  record_changed(change::deleted, r.record.id);
}

void counted_write_tx::forget_session_records(const std::string& session_id, int64_t limit) {
  for (const auto& it : session_rollup_items(session_id, limit)) rollup_.add(it, -1);
}

void counted_write_tx::finish() {
  apply_session_deltas(deltas_);
  deltas_.clear();
  rollup_.drain([this](int64_t minute, const std::string& model, const rollup::cell& change) {
    rollup::cell row;
    const bool exists = load_rollup_row(minute, model, row);
    row.merge(change);
    if (row.calls > 0) {
      save_rollup_row(minute, model, row, exists);
    } else if (exists) {
      delete_rollup_row(minute, model);
    }
  });
}

}  // namespace llmtrace::storage
