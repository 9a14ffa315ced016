#include "storage/pg_write_tx.hpp"

#include <algorithm>
#include <cstdio>

#include "storage/fts_text.hpp"
#include "storage/pg_search.hpp"

namespace llmtrace::storage::pg {
namespace {

std::optional<std::string> opt(const std::optional<int64_t>& v) {
  if (!v) return std::nullopt;
  return std::to_string(*v);
}
std::optional<std::string> dbl(const std::optional<double>& v) {
  if (!v) return std::nullopt;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", *v);
  return std::string(buf);
}
std::optional<std::string> text_or_null(const std::string& v) {
  if (v.empty()) return std::nullopt;
  return v;
}

// $1..$24 in the column order of k_insert / k_update.
params record_params(const model::record& r) {
  return {r.id,
          r.session_id,
          std::to_string(r.turn_number),
          (r.replay_of.empty() && r.parent_id.empty()) ? "0" : "1",
          r.request_json,
          r.response_json,
          std::string(model::to_string(r.status)),
          r.error_message,
          r.metadata_json,
          std::to_string(r.created_at_ms),
          std::to_string(r.updated_at_ms),
          opt(r.started_at_ms),
          opt(r.ended_at_ms),
          dbl(r.latency_ms),
          text_or_null(r.model),
          opt(r.usage.prompt_tokens),
          opt(r.usage.completion_tokens),
          opt(r.usage.total_tokens),
          text_or_null(r.replay_of),
          text_or_null(r.parent_id),
          text_or_null(r.trace_id),
          text_or_null(r.name),
          std::string(model::to_string(r.kind)),
          dbl(r.cost_usd)};
}

std::string text_or_empty(const result& r, int row, int col) {
  return r.null(row, col) ? std::string() : r.text(row, col);
}

}  // namespace

const std::string k_record_cols =
    "rid, id, session_id, turn_number, request, response, status, error_message, metadata, created_at, "
    "updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, completion_tokens, total_tokens, "
    "replay_of, parent_id, trace_id, name, kind, cost_usd";
const std::string k_session_cols =
    "id, name, created_at, updated_at, record_count, turn_count, error_count, total_tokens, cost_usd";

found_record read_record(const result& s, int row) {
  found_record out;
  out.row = s.i64(row, 0);
  model::record& r = out.record;
  r.id = s.text(row, 1);
  r.session_id = s.text(row, 2);
  r.turn_number = s.i64(row, 3);
  r.request_json = s.text(row, 4);
  r.response_json = s.text(row, 5);
  r.status = model::parse_status(s.text(row, 6)).value_or(model::record_status::pending);
  r.error_message = s.text(row, 7);
  r.metadata_json = s.text(row, 8);
  r.created_at_ms = s.i64(row, 9);
  r.updated_at_ms = s.i64(row, 10);
  r.started_at_ms = s.opt_i64(row, 11);
  r.ended_at_ms = s.opt_i64(row, 12);
  if (!s.null(row, 13)) r.latency_ms = s.f64(row, 13);
  r.model = text_or_empty(s, row, 14);
  r.usage.prompt_tokens = s.opt_i64(row, 15);
  r.usage.completion_tokens = s.opt_i64(row, 16);
  r.usage.total_tokens = s.opt_i64(row, 17);
  r.replay_of = text_or_empty(s, row, 18);
  r.parent_id = text_or_empty(s, row, 19);
  r.trace_id = text_or_empty(s, row, 20);
  r.name = text_or_empty(s, row, 21);
  r.kind = model::parse_kind(s.text(row, 22)).value_or(model::record_kind::other);
  if (!s.null(row, 23)) r.cost_usd = s.f64(row, 23);
  return out;
}

const std::string k_rollup_cols =
    "created_at, model, status, latency_ms, prompt_tokens, completion_tokens, total_tokens, cost_usd";

timeseries_fold::item read_rollup_item(const result& s, int row, int first) {
  const int k = first;
  timeseries_fold::item it;
  it.created_at_ms = s.i64(row, k);
  if (!s.null(row, k + 1)) it.model = s.text(row, k + 1);
  it.error = s.text(row, k + 2) == "error";
  if (!s.null(row, k + 3)) it.latency_ms = s.f64(row, k + 3);
  it.prompt_tokens = s.null(row, k + 4) ? 0 : s.i64(row, k + 4);
  it.completion_tokens = s.null(row, k + 5) ? 0 : s.i64(row, k + 5);
  it.total_tokens = s.null(row, k + 6) ? it.prompt_tokens + it.completion_tokens : s.i64(row, k + 6);
  it.cost_usd = s.null(row, k + 7) ? 0 : s.f64(row, k + 7);
  return it;
}

const std::string k_rollup_row_cols =
    "calls, errors, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_hist";

void read_rollup_row(const result& r, int i, int first, rollup::cell& row, std::string& hist) {
  row.calls = r.i64(i, first);
  row.errors = r.i64(i, first + 1);
  row.prompt = r.i64(i, first + 2);
  row.completion = r.i64(i, first + 3);
  row.total = r.i64(i, first + 4);
  row.cost = r.f64(i, first + 5);
  if (!from_bytea_hex(r.text(i, first + 6), hist)) hist.clear();
}

std::string bytea_hex(std::string_view bytes) {
  static const char k_hex[] = "0123456789abcdef";
  std::string out = "\\x";
  out.reserve(2 + 2 * bytes.size());
  for (unsigned char b : bytes) {
    out.push_back(k_hex[b >> 4]);
    out.push_back(k_hex[b & 15]);
  }
  return out;
}

bool from_bytea_hex(std::string_view text, std::string& out) {
  out.clear();
  if (text.size() < 2 || text[0] != '\\' || text[1] != 'x' || text.size() % 2) return false;
  auto nibble = [](char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
  };
  out.reserve(text.size() / 2 - 1);
  for (std::size_t i = 2; i < text.size(); i += 2) {
    const int hi = nibble(text[i]), lo = nibble(text[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

model::session read_session(const result& s, int row) {
  model::session out;
  out.id = s.text(row, 0);
  out.name = s.text(row, 1);
  out.created_at_ms = s.i64(row, 2);
  out.updated_at_ms = s.i64(row, 3);
  out.record_count = s.i64(row, 4);
  out.turn_count = s.i64(row, 5);
  out.error_count = s.i64(row, 6);
  out.total_tokens = s.i64(row, 7);
  out.cost_usd = s.f64(row, 8);
  return out;
}

void pg_write_tx::lock_sessions(const std::vector<std::string_view>& sorted_session_ids) {
  // One lock per id in the caller's (sorted) order; a hash collision only serialises two sessions more.
  for (auto id : sorted_session_ids) {
    c_.run("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", {std::string(id)});
  }
}

bool pg_write_tx::stored_session_exists(const std::string& id) {
  return c_.run("SELECT 1 FROM sessions WHERE id = $1", {id}).rows() > 0;
}

void pg_write_tx::store_session(const std::string& id, const std::string& name, int64_t at_ms) {
  c_.run("INSERT INTO sessions (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)",
         {id, name, std::to_string(at_ms)});
}

std::optional<found_record> pg_write_tx::find_record(const std::string& id) {
  auto r = c_.run("SELECT " + k_record_cols + " FROM records WHERE id = $1 FOR UPDATE", {id});
  if (r.rows() == 0) return std::nullopt;
  return read_record(r, 0);
}

std::optional<found_record> pg_write_tx::find_pending_top_level(const std::string& session_id, int64_t turn) {
  auto r = c_.run("SELECT " + k_record_cols +
                      " FROM records WHERE session_id = $1 AND turn_number = $2 AND nested = 0 AND "
                      "status = 'pending' AND replay_of IS NULL AND parent_id IS NULL ORDER BY rid LIMIT 1 "
                      "FOR UPDATE",
                  {session_id, std::to_string(turn)});
  if (r.rows() == 0) return std::nullopt;
  return read_record(r, 0);
}

int64_t pg_write_tx::max_top_level_turn(const std::string& session_id) {
  auto r = c_.run(
      "SELECT turn_number FROM records WHERE session_id = $1 AND nested = 0 ORDER BY turn_number DESC LIMIT "
      "1",
      {session_id});
  return r.rows() ? r.i64(0, 0) : 0;
}

std::vector<found_record> pg_write_tx::find_trace_records(const std::string& trace_id) {
  auto r = c_.run("SELECT " + k_record_cols + " FROM records WHERE trace_id = $1 ORDER BY rid FOR UPDATE",
                  {trace_id});
  std::vector<found_record> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_record(r, i));
  return out;
}

int64_t pg_write_tx::count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) {
  return c_
      .run(
          "SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE session_id = $1 AND turn_number = $2 LIMIT $3) "
          "t",
          {session_id, std::to_string(turn), std::to_string(limit)})
      .i64(0, 0);
}

void pg_write_tx::store_record(const model::record& r, const std::string& search_text) {
  params p = record_params(r);
  if (search_text.empty()) {
    p.emplace_back(std::nullopt);
    p.emplace_back(std::nullopt);
  } else {
    std::string indexed = fts_index_text(search_text);
    p.emplace_back(tsvector_literal(indexed));
    p.emplace_back(std::move(indexed));
  }
  c_.run(
      "INSERT INTO records (id, session_id, turn_number, nested, request, response, status, error_message, "
      "metadata, created_at, updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, "
      "completion_tokens, total_tokens, replay_of, parent_id, trace_id, name, kind, cost_usd, search_vec, "
      "search_text) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, "
      "$19, $20, $21, $22, $23, $24, $25::tsvector, $26)",
      p);
}

void pg_write_tx::replace_record(const found_record& before, const model::record& after,
                                 const std::string& search_text) {
  params p = record_params(after);
  p.emplace_back(std::to_string(before.row));
  c_.run(
      "UPDATE records SET id = $1, session_id = $2, turn_number = $3, nested = $4, request = $5, "
      "response = $6, status = $7, error_message = $8, metadata = $9, created_at = $10, updated_at = $11, "
      "started_at = $12, ended_at = $13, latency_ms = $14, model = $15, prompt_tokens = $16, "
      "completion_tokens = $17, total_tokens = $18, replay_of = $19, parent_id = $20, trace_id = $21, "
      "name = $22, kind = $23, cost_usd = $24 WHERE rid = $25",
      p);
  if (search_text.empty()) return;
  // As SQLite: new text replaces the old only when it contains it; otherwise both are kept.
  std::string indexed = fts_index_text(search_text);
  auto old = c_.run("SELECT search_text FROM records WHERE rid = $1", {std::to_string(before.row)});
  const std::string prev = (old.rows() && !old.null(0, 0)) ? old.text(0, 0) : std::string();
  if (!prev.empty()) {
    if (prev.find(indexed) != std::string::npos) return;
    if (indexed.find(prev) == std::string::npos) indexed = prev + "\n" + indexed;
  }
  c_.run("UPDATE records SET search_text = $2, search_vec = $3::tsvector WHERE rid = $1",
         {std::to_string(before.row), indexed, tsvector_literal(indexed)});
}

void pg_write_tx::delete_record_row(const found_record& r) {
  c_.run("DELETE FROM records WHERE rid = $1", {std::to_string(r.row)});
  c_.run("DELETE FROM scores WHERE target = 'record' AND target_id = $1", {r.record.id});
}

std::vector<timeseries_fold::item> pg_write_tx::session_rollup_items(const std::string& session_id,
                                                                     int64_t limit) {
  auto r = c_.run("SELECT " + k_rollup_cols + " FROM records WHERE session_id = $1 ORDER BY rid LIMIT $2",
                  {session_id, std::to_string(limit)});
  std::vector<timeseries_fold::item> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_rollup_item(r, i));
  return out;
}

void pg_write_tx::apply_session_deltas(const std::map<std::string, session_delta>& deltas) {
  for (const auto& [id, d] : deltas) {
    c_.run(
        "UPDATE sessions SET record_count = record_count + $2, turn_count = turn_count + $3, "
        "error_count = error_count + $4, pending_count = pending_count + $5, "
        "prompt_tokens = prompt_tokens + $6, completion_tokens = completion_tokens + $7, "
        "total_tokens = total_tokens + $8, updated_at = GREATEST(updated_at, $9), "
        "cost_usd = GREATEST(cost_usd + $10, 0) WHERE id = $1",
        {id, std::to_string(d.records), std::to_string(d.turns), std::to_string(d.errors),
         std::to_string(d.pending), std::to_string(d.prompt), std::to_string(d.completion),
         std::to_string(d.total), std::to_string(d.touched_at), *dbl(d.cost)});
  }
}

bool pg_write_tx::load_rollup_row(int64_t minute, const std::string& model, rollup::cell& row) {
  auto cur =
      c_.run("SELECT " + k_rollup_row_cols + " FROM ts_rollup WHERE minute = $1 AND model = $2 FOR UPDATE",
             {std::to_string(minute), model});
  if (cur.rows() == 0) return false;
  std::string bytes;
  read_rollup_row(cur, 0, 0, row, bytes);
  row.add_encoded_hist(bytes);
  return true;
}

void pg_write_tx::save_rollup_row(int64_t minute, const std::string& model, const rollup::cell& row,
                                  bool exists) {
  params p = {std::to_string(minute),      model,
              std::to_string(row.calls),   std::to_string(row.errors),
              std::to_string(row.prompt),  std::to_string(row.completion),
              std::to_string(row.total),   dbl(row.cost),
              bytea_hex(row.encode_hist())};
  if (exists) {
    c_.run(
        "UPDATE ts_rollup SET calls = $3, errors = $4, prompt_tokens = $5, completion_tokens = $6, "
        "total_tokens = $7, cost_usd = $8, latency_hist = $9::bytea WHERE minute = $1 AND model = $2",
        p);
  } else {
    // A concurrent writer that inserted this row first fails this on the key: the batch is run again.
    c_.run(
        "INSERT INTO ts_rollup (minute, model, calls, errors, prompt_tokens, completion_tokens, "
        "total_tokens, cost_usd, latency_hist) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bytea)",
        p);
  }
}

void pg_write_tx::delete_rollup_row(int64_t minute, const std::string& model) {
  c_.run("DELETE FROM ts_rollup WHERE minute = $1 AND model = $2", {std::to_string(minute), model});
}

void pg_write_tx::record_changed(change what, const std::string& record_id) {
  changed_.emplace_back(record_id, what);
}

void pg_write_tx::notify(const std::string& kind, const std::string& change, const std::string& id) {
  if (notify_as_.empty() || id.size() > 4000) return;  // a NOTIFY payload stays under 8000 bytes
  c_.run("SELECT pg_notify('llmtrace_changes', $1)", {notify_as_ + "\t" + kind + "\t" + change + "\t" + id});
}

void pg_write_tx::finish() {
  counted_write_tx::finish();
  for (const auto& [id, what] : changed_) {
    notify("record",
           what == change::created   ? "created"
           : what == change::updated ? "updated"
                                     : "deleted",
           id);
  }
  changed_.clear();
}

}  // namespace llmtrace::storage::pg
