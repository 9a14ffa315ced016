// Rows of the SQLite schema (sqlite_schema.cpp) to and from model values: the column lists every SELECT
// uses, reading a record or session row, binding a record's columns.
// Thread safety: pure functions on a statement the caller owns.
#pragma once

#include <SQLiteCpp/Column.h>
#include <SQLiteCpp/Statement.h>

#include <string>
#include <string_view>

#include "model/record.hpp"
#include "storage/timeseries_fold.hpp"
#include "storage/timeseries_rollup.hpp"
#include "storage/write_tx.hpp"

namespace llmtrace::storage::sqlite {

// rid, id, session_id, turn_number, request, ... parent_id, trace_id, name, kind, cost_usd: the order
// read_record expects.
extern const std::string k_record_cols;
// The same list qualified with the table alias r, for joins.
extern const std::string k_record_cols_r;
// id, name, created_at, updated_at, record_count, turn_count, error_count, total_tokens, cost_usd.
extern const std::string k_session_cols;

// A record row selected with k_record_cols; row = rid.
found_record read_record(const SQLite::Statement& s);
model::session read_session(const SQLite::Statement& s);

// Binds id, session_id, turn_number, nested, request, ... cost_usd (k_record_cols without rid, with the
// derived `nested` after turn_number) to parameters first, first + 1, ... The strings are bound without a
// copy: r must outlive the statement's execution.
void bind_record(SQLite::Statement& s, const model::record& r, int first);

// created_at, model, status, latency_ms, tokens, cost_usd: what the timeseries rollup reads of a record, in
// read_rollup_item's order.
extern const std::string k_rollup_cols;
timeseries_fold::item read_rollup_item(const SQLite::Statement& s);

// calls, errors, prompt_tokens, completion_tokens, total_tokens, cost_usd, latency_hist: a stored ts_rollup
// row, in read_rollup_row's order.
extern const std::string k_rollup_row_cols;
// Reads the row's counters (selected with k_rollup_row_cols from column `first` on) into `row` (row.hist is
// not touched) and returns its encoded histogram, a view into the statement's current row.
std::string_view read_rollup_row(const SQLite::Statement& s, int first, rollup::cell& row);

}  // namespace llmtrace::storage::sqlite
