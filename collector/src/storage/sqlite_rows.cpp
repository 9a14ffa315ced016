#include "storage/sqlite_rows.hpp"

#include <optional>

namespace llmtrace::storage::sqlite {

const std::string k_record_cols =
    "rid, id, session_id, turn_number, request, response, status, error_message, metadata, created_at, "
    "updated_at, started_at, ended_at, latency_ms, model, prompt_tokens, completion_tokens, total_tokens, "
    "replay_of, parent_id, trace_id, name, kind, cost_usd";
const std::string k_record_cols_r =
    "r.rid, r.id, r.session_id, r.turn_number, r.request, r.response, r.status, r.error_message, r.metadata, "
    "r.created_at, r.updated_at, r.started_at, r.ended_at, r.latency_ms, r.model, r.prompt_tokens, "
    "r.completion_tokens, r.total_tokens, r.replay_of, r.parent_id, r.trace_id, r.name, r.kind, r.cost_usd";
const std::string k_session_cols =
    "id, name, created_at, updated_at, record_count, turn_count, error_count, total_tokens, cost_usd";

namespace {

std::optional<int64_t> opt_int(const SQLite::Statement& s, int i) {
  if (s.isColumnNull(i)) return std::nullopt;
  return s.getColumn(i).getInt64();
}

std::string text_or_empty(const SQLite::Statement& s, int i) {
  if (s.isColumnNull(i)) return {};
  return s.getColumn(i).getString();
}

void bind_opt(SQLite::Statement& s, int i, const std::optional<int64_t>& v) {
  if (v) {
    s.bind(i, *v);
  } else {
    s.bind(i);
  }
}

void bind_text_or_null(SQLite::Statement& s, int i, const std::string& v) {
  if (v.empty()) {
    s.bind(i);
  } else {
    s.bindNoCopy(i, v);
  }
}

}  // namespace

found_record read_record(const SQLite::Statement& s) {
  found_record out;
  out.row = s.getColumn(0).getInt64();
  model::record& r = out.record;
  r.id = s.getColumn(1).getString();
  r.session_id = s.getColumn(2).getString();
  r.turn_number = s.getColumn(3).getInt64();
  r.request_json = s.getColumn(4).getString();
  r.response_json = s.getColumn(5).getString();
  r.status = model::parse_status(s.getColumn(6).getString()).value_or(model::record_status::pending);
  r.error_message = s.getColumn(7).getString();
  r.metadata_json = s.getColumn(8).getString();
  r.created_at_ms = s.getColumn(9).getInt64();
  r.updated_at_ms = s.getColumn(10).getInt64();
  r.started_at_ms = opt_int(s, 11);
  r.ended_at_ms = opt_int(s, 12);
  if (!s.isColumnNull(13)) r.latency_ms = s.getColumn(13).getDouble();
  r.model = text_or_empty(s, 14);
  r.usage.prompt_tokens = opt_int(s, 15);
  r.usage.completion_tokens = opt_int(s, 16);
  r.usage.total_tokens = opt_int(s, 17);
  r.replay_of = text_or_empty(s, 18);
  r.parent_id = text_or_empty(s, 19);
  r.trace_id = text_or_empty(s, 20);
  r.name = text_or_empty(s, 21);
  r.kind = model::parse_kind(s.getColumn(22).getString()).value_or(model::record_kind::other);
  if (!s.isColumnNull(23)) r.cost_usd = s.getColumn(23).getDouble();
  return out;
}

model::session read_session(const SQLite::Statement& s) {
  model::session out;
  out.id = s.getColumn(0).getString();
  out.name = s.getColumn(1).getString();
  out.created_at_ms = s.getColumn(2).getInt64();
  out.updated_at_ms = s.getColumn(3).getInt64();
  out.record_count = s.getColumn(4).getInt64();
  out.turn_count = s.getColumn(5).getInt64();
  out.error_count = s.getColumn(6).getInt64();
  out.total_tokens = s.getColumn(7).getInt64();
  out.cost_usd = s.getColumn(8).getDouble();
  return out;
}

void bind_record(SQLite::Statement& s, const model::record& r, int first) {
  int i = first;
  s.bindNoCopy(i++, r.id);
  s.bindNoCopy(i++, r.session_id);
  s.bind(i++, r.turn_number);
  s.bind(i++, (r.replay_of.empty() && r.parent_id.empty()) ? 0 : 1);
  s.bindNoCopy(i++, r.request_json);
  s.bindNoCopy(i++, r.response_json);
  s.bind(i++, std::string(model::to_string(r.status)));
  s.bindNoCopy(i++, r.error_message);
  s.bindNoCopy(i++, r.metadata_json);
  s.bind(i++, r.created_at_ms);
  s.bind(i++, r.updated_at_ms);
  bind_opt(s, i++, r.started_at_ms);
  bind_opt(s, i++, r.ended_at_ms);
  if (r.latency_ms) {
    s.bind(i++, *r.latency_ms);
  } else {
    s.bind(i++);
  }
  bind_text_or_null(s, i++, r.model);
  bind_opt(s, i++, r.usage.prompt_tokens);
  bind_opt(s, i++, r.usage.completion_tokens);
  bind_opt(s, i++, r.usage.total_tokens);
  bind_text_or_null(s, i++, r.replay_of);
  bind_text_or_null(s, i++, r.parent_id);
  bind_text_or_null(s, i++, r.trace_id);
  bind_text_or_null(s, i++, r.name);
  s.bind(i++, std::string(model::to_string(r.kind)));
  if (r.cost_usd) {
    s.bind(i++, *r.cost_usd);
  } else {
    s.bind(i++);
  }
}

const std::string k_rollup_cols =
    "created_at, model, status, latency_ms, prompt_tokens, completion_tokens, total_tokens, cost_usd";

timeseries_fold::item read_rollup_item(const SQLite::Statement& s) {
  timeseries_fold::item it;
  it.created_at_ms = s.getColumn(0).getInt64();
  if (!s.isColumnNull(1)) it.model = s.getColumn(1).getString();
  it.error = s.getColumn(2).getString() == "error";
  if (!s.isColumnNull(3)) it.latency_ms = s.getColumn(3).getDouble();
  it.prompt_tokens = s.getColumn(4).getInt64();
  it.completion_tokens = s.getColumn(5).getInt64();
  it.total_tokens = s.isColumnNull(6) ? it.prompt_tokens + it.completion_tokens : s.getColumn(6).getInt64();
  it.cost_usd = s.getColumn(7).getDouble();
  return it;
}

const std::string k_rollup_row_cols =
    "calls, errors, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_hist";

std::string_view read_rollup_row(const SQLite::Statement& s, int first, rollup::cell& row) {
  row.calls = s.getColumn(first).getInt64();
  row.errors = s.getColumn(first + 1).getInt64();
  row.prompt = s.getColumn(first + 2).getInt64();
  row.completion = s.getColumn(first + 3).getInt64();
  row.total = s.getColumn(first + 4).getInt64();
  row.cost = s.getColumn(first + 5).getDouble();
  const auto hist = s.getColumn(first + 6);
  return {static_cast<const char*>(hist.getBlob()), static_cast<std::size_t>(hist.getBytes())};
}

}  // namespace llmtrace::storage::sqlite
