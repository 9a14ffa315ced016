#include "storage/pg_write_tx.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

#include "storage/fts_text.hpp"
#include "storage/pg_copy.hpp"
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
  // An advisory lock this transaction holds is held until it ends: only new ids need a statement.
  std::vector<std::string> ids;
  for (auto id : sorted_session_ids) {
    if (!session_stored_.count(std::string(id))) ids.emplace_back(id);
  }
  if (ids.empty()) return;
  const std::string arr = text_array(ids);
  // One lock per id in the caller's (sorted) order, which unnest keeps; a hash collision only serialises two
  // sessions more.
  c_.run("SELECT pg_advisory_xact_lock(hashtextextended(u.id, 0)) FROM unnest($1::text[]) AS u(id)", {arr});
  // Read after the locks are held (its own statement, so its snapshot is newer than any writer that held
  // them): from here until COMMIT no other writer creates or deletes these sessions.
  for (const auto& id : ids) session_stored_.try_emplace(id, false);
  auto r = c_.run("SELECT id FROM sessions WHERE id = ANY($1::text[])", {arr});
  for (int i = 0; i < r.rows(); ++i) session_stored_[r.text(i, 0)] = true;
}

void pg_write_tx::expect_records(const expected_lookups& batch) {
  std::vector<std::string> want;
  for (auto id : batch.record_ids) {
    std::string s(id);
    if (new_by_id_.count(s) || expected_.count(s)) continue;
    expected_.emplace(s, std::nullopt);
    want.push_back(std::move(s));
  }
  if (!want.empty()) {
    auto r = c_.run("SELECT " + k_record_cols + " FROM records WHERE id = ANY($1::text[]) FOR UPDATE",
                    {text_array(want)});
    for (int i = 0; i < r.rows(); ++i) {
      found_record f = read_record(r, i);
      std::string id = f.record.id;
      expected_[id] = std::move(f);
    }
  }
  want.clear();
  for (auto t : batch.trace_ids) {
    auto [it, added] = expected_traces_.try_emplace(std::string(t));
    if (added) want.push_back(it->first);
  }
  if (!want.empty()) {
    auto r = c_.run(
        "SELECT " + k_record_cols + " FROM records WHERE trace_id = ANY($1::text[]) ORDER BY rid FOR UPDATE",
        {text_array(want)});
    for (int i = 0; i < r.rows(); ++i) {
      found_record f = read_record(r, i);
      expected_traces_[f.record.trace_id].push_back(std::move(f));
    }
  }
  const auto& turns = batch.turns;
  std::vector<std::string> sessions;
  std::string turn_arr = "{";
  for (const auto& [sv, turn] : turns) {
    std::string session(sv);
    if (fresh_sessions_.count(session)) continue;
    auto [it, added] = stored_turn_.try_emplace(turn_key{session, turn}, false);
    if (!added) continue;
    if (!sessions.empty()) turn_arr += ',';
    turn_arr += std::to_string(turn);
    sessions.push_back(std::move(session));
  }
  turn_arr += '}';
  if (sessions.empty()) return;
  auto r = c_.run(
      "SELECT u.s, u.t FROM unnest($1::text[], $2::bigint[]) AS u(s, t) WHERE EXISTS (SELECT 1 FROM "
      "records r WHERE r.session_id = u.s AND r.turn_number = u.t)",
      {text_array(sessions), turn_arr});
  for (int i = 0; i < r.rows(); ++i) stored_turn_[turn_key{r.text(i, 0), r.i64(i, 1)}] = true;
}

bool pg_write_tx::stored_session_exists(const std::string& id) {
  if (auto it = session_stored_.find(id); it != session_stored_.end()) return it->second;
  return c_.run("SELECT 1 FROM sessions WHERE id = $1", {id}).rows() > 0;
}

void pg_write_tx::store_session(const std::string& id, const std::string& name, int64_t at_ms) {
  new_sessions_.emplace_back(id, name, at_ms);
  fresh_sessions_.insert(id);
}

pg_write_tx::new_row* pg_write_tx::deferred(const found_record& r) {
  if (r.row >= 0) return nullptr;
  const auto i = static_cast<std::size_t>(-(r.row + 1));
  return i < new_rows_.size() ? &new_rows_[i] : nullptr;
}

std::optional<found_record> pg_write_tx::find_record(const std::string& id) {
  if (auto it = new_by_id_.find(id); it != new_by_id_.end()) {
    return found_record{new_rows_[it->second].record, -static_cast<int64_t>(it->second) - 1};
  }
  if (auto it = expected_.find(id); it != expected_.end()) return it->second;
  auto r = c_.run("SELECT " + k_record_cols + " FROM records WHERE id = $1 FOR UPDATE", {id});
  if (r.rows() == 0) return std::nullopt;
  return read_record(r, 0);
}

std::optional<found_record> pg_write_tx::find_pending_top_level(const std::string& session_id, int64_t turn) {
  if (!fresh_sessions_.count(session_id)) {
    auto r = c_.run("SELECT " + k_record_cols +
                        " FROM records WHERE session_id = $1 AND turn_number = $2 AND nested = 0 AND "
                        "status = 'pending' AND replay_of IS NULL AND parent_id IS NULL ORDER BY rid LIMIT 1 "
                        "FOR UPDATE",
                    {session_id, std::to_string(turn)});
    if (r.rows() > 0) return read_record(r, 0);
  }
  for (std::size_t i = 0; i < new_rows_.size(); ++i) {
    const auto& n = new_rows_[i];
    const model::record& rec = n.record;
    if (!n.erased && rec.session_id == session_id && rec.turn_number == turn &&
        rec.status == model::record_status::pending && rec.replay_of.empty() && rec.parent_id.empty()) {
      return found_record{rec, -static_cast<int64_t>(i) - 1};
    }
  }
  return std::nullopt;
}

int64_t pg_write_tx::max_top_level_turn(const std::string& session_id) {
  int64_t top = 0;
  if (!fresh_sessions_.count(session_id)) {
    auto r = c_.run(
        "SELECT turn_number FROM records WHERE session_id = $1 AND nested = 0 ORDER BY turn_number DESC "
        "LIMIT 1",
        {session_id});
    if (r.rows()) top = r.i64(0, 0);
  }
  for (const auto& n : new_rows_) {
    if (!n.erased && n.record.session_id == session_id && n.record.replay_of.empty() &&
        n.record.parent_id.empty())
      top = std::max(top, n.record.turn_number);
  }
  return top;
}

std::vector<found_record> pg_write_tx::find_trace_records(const std::string& trace_id) {
  std::vector<found_record> out;
  if (auto it = expected_traces_.find(trace_id); it != expected_traces_.end()) {
    out = it->second;
  } else {
    auto r = c_.run("SELECT " + k_record_cols + " FROM records WHERE trace_id = $1 ORDER BY rid FOR UPDATE",
                    {trace_id});
    for (int i = 0; i < r.rows(); ++i) out.push_back(read_record(r, i));
  }
  for (std::size_t i = 0; i < new_rows_.size(); ++i) {
    if (!new_rows_[i].erased && new_rows_[i].record.trace_id == trace_id)
      out.push_back(found_record{new_rows_[i].record, -static_cast<int64_t>(i) - 1});
  }
  return out;
}

int64_t pg_write_tx::count_at_turn(const std::string& session_id, int64_t turn, int64_t limit) {
  turn_key key{session_id, turn};
  int64_t n = 0;
  if (auto it = new_at_turn_.find(key); it != new_at_turn_.end()) n = it->second;
  if (n >= limit || fresh_sessions_.count(session_id)) return std::min(n, limit);
  const int64_t want = limit - n;
  if (want == 1) {
    if (auto it = stored_turn_.find(key); it != stored_turn_.end()) return n + (it->second ? 1 : 0);
  }
  const int64_t stored = c_.run(
                               "SELECT COUNT(*) FROM (SELECT 1 FROM records WHERE session_id = $1 AND "
                               "turn_number = $2 LIMIT $3) t",
                               {session_id, std::to_string(turn), std::to_string(want)})
                             .i64(0, 0);
  stored_turn_[std::move(key)] = stored > 0;
  return n + stored;
}

void pg_write_tx::store_record(const model::record& r, const std::string& search_text) {
  new_by_id_[r.id] = new_rows_.size();
  ++new_at_turn_[turn_key{r.session_id, r.turn_number}];
  new_rows_.push_back(new_row{r, search_text.empty() ? std::string() : fts_index_text(search_text), false});
}

namespace {

// The indexed text after an update brought `added` (fts_index_text's output), as SQLite merges its index:
// the new text replaces the old only when it contains it; otherwise both are kept. nullopt: unchanged.
std::optional<std::string> merged_index(const std::string& prev, std::string added) {
  if (prev.empty()) return added;
  if (prev.find(added) != std::string::npos) return std::nullopt;
  if (added.find(prev) == std::string::npos) added = prev + "\n" + added;
  return added;
}

}  // namespace

void pg_write_tx::replace_record(const found_record& before, const model::record& after,
                                 const std::string& search_text) {
  if (new_row* n = deferred(before)) {
    --new_at_turn_[turn_key{n->record.session_id, n->record.turn_number}];
    ++new_at_turn_[turn_key{after.session_id, after.turn_number}];
    n->record = after;
    if (!search_text.empty()) {
      if (auto m = merged_index(n->indexed, fts_index_text(search_text))) n->indexed = std::move(*m);
    }
    return;
  }
  flush_sessions();  // `after` may be in a session created here
  forget_read_ahead(before.record);
  forget_read_ahead(after);
  fresh_sessions_.erase(after.session_id);  // a stored record is in it now
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
  auto old = c_.run("SELECT search_text FROM records WHERE rid = $1", {std::to_string(before.row)});
  const std::string prev = (old.rows() && !old.null(0, 0)) ? old.text(0, 0) : std::string();
  auto indexed = merged_index(prev, fts_index_text(search_text));
  if (!indexed) return;
  // The pad too (its default, see schema v4), so that the new tsvector is stored out of line.
  c_.run(
      "WITH t AS (UPDATE records SET search_text = $2 WHERE rid = $1) INSERT INTO record_terms (rid, "
      "search_vec) VALUES ($1, $3::tsvector) ON CONFLICT (rid) DO UPDATE SET search_vec = "
      "EXCLUDED.search_vec, pad = EXCLUDED.pad",
      {std::to_string(before.row), *indexed, tsvector_literal(*indexed)});
}

void pg_write_tx::forget_read_ahead(const model::record& r) {
  stored_turn_.erase(turn_key{r.session_id, r.turn_number});
  expected_.erase(r.id);
  if (!r.trace_id.empty()) expected_traces_.erase(r.trace_id);
}

void pg_write_tx::delete_record_row(const found_record& r) {
  c_.run("DELETE FROM scores WHERE target = 'record' AND target_id = $1", {r.record.id});
  if (new_row* n = deferred(r)) {
    n->erased = true;
    --new_at_turn_[turn_key{n->record.session_id, n->record.turn_number}];
    new_by_id_.erase(n->record.id);
    return;
  }
  forget_read_ahead(r.record);
  c_.run("DELETE FROM records WHERE rid = $1", {std::to_string(r.row)});
}

std::vector<timeseries_fold::item> pg_write_tx::session_rollup_items(const std::string& session_id,
                                                                     int64_t limit) {
  flush_records();
  auto r = c_.run("SELECT " + k_rollup_cols + " FROM records WHERE session_id = $1 ORDER BY rid LIMIT $2",
                  {session_id, std::to_string(limit)});
  std::vector<timeseries_fold::item> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(read_rollup_item(r, i));
  return out;
}

void pg_write_tx::flush_sessions() {
  if (new_sessions_.empty()) return;
  std::vector<std::string> ids, names;
  std::string at = "{";
  for (const auto& [id, name, at_ms] : new_sessions_) {
    if (!ids.empty()) at += ',';
    at += std::to_string(at_ms);
    ids.push_back(id);
    names.push_back(name);
  }
  at += '}';
  c_.run(
      "INSERT INTO sessions (id, name, created_at, updated_at) SELECT u.id, u.name, u.at, u.at FROM "
      "unnest($1::text[], $2::text[], $3::bigint[]) AS u(id, name, at)",
      {text_array(ids), text_array(names), at});
  new_sessions_.clear();
}

void pg_write_tx::flush_records() {
  flush_sessions();
  std::size_t count = 0;
  std::size_t bytes = 64, terms_bytes = 64;
  for (const auto& n : new_rows_) {
    if (n.erased) continue;
    ++count;
    const model::record& r = n.record;
    // The texts and ~200 bytes of other fields and lengths; a tsvector is ~1.5x its indexed text.
    bytes += r.request_json.size() + r.response_json.size() + r.metadata_json.size() + n.indexed.size() + 256;
    terms_bytes += 3 * n.indexed.size() / 2 + 32;
  }
  if (count > 0) {
    // The rows' rids first (one statement, ascending, in the order the rows were made), so the record and
    // its record_terms row (schema v4) are written with the same key by two COPYs. In the same statement,
    // since record_terms is partitioned by rid (schema v6): the partitions of these rids, and of the next
    // half partition's, are made to exist before the COPY needs them. Almost always
    // they do, and the function only looks them up; it makes a missing one in this transaction, so a batch
    // that rolls back takes its partition with it and the next batch makes it again.
    auto ids = c_.run(
        "WITH ids AS MATERIALIZED (SELECT nextval('records_rid_seq') AS rid FROM generate_series(1, $1)), "
        "made AS (SELECT llmtrace_terms_partitions(MIN(rid), MAX(rid) + 65536) FROM ids) "
        "SELECT rid FROM ids, made ORDER BY rid",
        {std::to_string(count)});
    binary_copy out, terms;
    out.reserve(bytes);
    terms.reserve(terms_bytes);
    bool any_terms = false;
    int k = 0;
    for (const auto& n : new_rows_) {
      if (n.erased) continue;
      const int64_t rid = ids.i64(k++, 0);
      const model::record& r = n.record;
      out.row(26);
      out.int8(rid);
      out.text(r.id);
      out.text(r.session_id);
      out.int8(r.turn_number);
      out.int2((r.replay_of.empty() && r.parent_id.empty()) ? 0 : 1);
      out.text(r.request_json);
      out.text(r.response_json);
      out.text(model::to_string(r.status));
      out.text(r.error_message);
      out.text(r.metadata_json);
      out.int8(r.created_at_ms);
      out.int8(r.updated_at_ms);
      out.int8(r.started_at_ms);
      out.int8(r.ended_at_ms);
      out.float8(r.latency_ms);
      out.text_or_null(r.model);
      out.int8(r.usage.prompt_tokens);
      out.int8(r.usage.completion_tokens);
      out.int8(r.usage.total_tokens);
      out.text_or_null(r.replay_of);
      out.text_or_null(r.parent_id);
      out.text_or_null(r.trace_id);
      out.text_or_null(r.name);
      out.text(model::to_string(r.kind));
      out.float8(r.cost_usd);
      if (n.indexed.empty()) {
        out.null();
        continue;
      }
      out.text(n.indexed);
      terms.row(2);
      terms.int8(rid);
      if (!terms.tsvector(tsvector_literal(n.indexed))) throw std::logic_error("malformed tsvector literal");
      any_terms = true;
    }
    c_.copy_in(
        "COPY records (rid, id, session_id, turn_number, nested, request, response, status, error_message, "
        "metadata, created_at, updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, "
        "completion_tokens, total_tokens, replay_of, parent_id, trace_id, name, kind, cost_usd, search_text) "
        "FROM STDIN WITH (FORMAT binary)",
        out.take());
    if (any_terms)
      c_.copy_in("COPY record_terms (rid, search_vec) FROM STDIN WITH (FORMAT binary)", terms.take());
  }
  // The rows are stored now: what was read ahead, and the deferred handles, are void.
  new_rows_.clear();
  new_by_id_.clear();
  new_at_turn_.clear();
  fresh_sessions_.clear();
  expected_.clear();
  expected_traces_.clear();
  stored_turn_.clear();
}

void pg_write_tx::apply_session_deltas(const std::map<std::string, session_delta>& deltas) {
  if (deltas.empty()) return;
  std::vector<std::string> ids;
  std::string cols[9];
  for (auto& c : cols) c.push_back('{');
  for (const auto& [id, d] : deltas) {
    const std::string v[9] = {
        std::to_string(d.records), std::to_string(d.turns),      std::to_string(d.errors),
        std::to_string(d.pending), std::to_string(d.prompt),     std::to_string(d.completion),
        std::to_string(d.total),   std::to_string(d.touched_at), *dbl(d.cost)};
    for (int k = 0; k < 9; ++k) {
      if (!ids.empty()) cols[k] += ',';
      cols[k] += v[k];
    }
    ids.push_back(id);
  }
  for (auto& c : cols) c += '}';
  c_.run(
      "UPDATE sessions s SET record_count = s.record_count + d.records, turn_count = s.turn_count + d.turns, "
      "error_count = s.error_count + d.errors, pending_count = s.pending_count + d.pending, "
      "prompt_tokens = s.prompt_tokens + d.prompt, completion_tokens = s.completion_tokens + d.completion, "
      "total_tokens = s.total_tokens + d.total, updated_at = GREATEST(s.updated_at, d.touched), "
      "cost_usd = GREATEST(s.cost_usd + d.cost, 0) FROM unnest($1::text[], $2::bigint[], $3::bigint[], "
      "$4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], "
      "$10::float8[]) AS d(id, records, turns, errors, pending, prompt, completion, total, touched, cost) "
      "WHERE s.id = d.id",
      {text_array(ids), cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], cols[6], cols[7], cols[8]});
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

void pg_write_tx::finish() {
  flush_records();
  counted_write_tx::finish();
  if (notify_as_.empty() || changed_.empty()) return;
  // One statement for all of them, in the order written; a NOTIFY payload stays under 8000 bytes.
  std::vector<std::string> payloads;
  payloads.reserve(changed_.size());
  for (const auto& [id, what] : changed_) {
    if (id.size() > 4000) continue;
    const char* kind = what == change::created ? "created" : what == change::updated ? "updated" : "deleted";
    payloads.push_back(notify_as_ + "\trecord\t" + kind + "\t" + id);
  }
  changed_.clear();
  if (payloads.empty()) return;
  c_.run("SELECT pg_notify('llmtrace_changes', u.p) FROM unnest($1::text[]) AS u(p)", {text_array(payloads)});
}

}  // namespace llmtrace::storage::pg
