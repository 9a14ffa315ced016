// `llmtrace-collector copy --from A --to B`: every session, record and score of one store into another (any
// pair of SQLite / PostgreSQL). Records go in their source creation order (oldest first, in keyset pages of
// store_reader::records_after, so the read is linear in the record count), so creation-ordered answers
// (search, a turn's replays) come out the same; a record whose id the target already has is skipped, so an
// interrupted copy is simply run again (resumable, idempotent). Sessions keep their names and last activity;
// search text is extracted again from each record's request and response, as at ingest. Thread safety: one
// copy at a time per target; the source should not be written meanwhile (what is written during a copy may be
// missed; a second run picks it up).
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "storage/store.hpp"

namespace llmtrace::ingest {

struct copy_progress {
  int64_t records_done = 0;    // read from the source so far
  int64_t records_total = 0;   // in the source at the start
  int64_t records_copied = 0;  // written (the rest were in the target already)
  int64_t sessions = 0;
  int64_t scores_copied = 0;
};

// Copies and then compares the counts (sessions, records, errors, pending, tokens) of both stores: empty when
// they agree, else what differs. progress is called every batch (and at the end).
std::string copy_store(storage::store& from, storage::store& to,
                       const std::function<void(const copy_progress&)>& progress, copy_progress& out);

}  // namespace llmtrace::ingest
