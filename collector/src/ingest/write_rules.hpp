// The ingest rules, once, for any store: how a batch of record reports becomes stored records. Auto session
// (none sent: a new one; unknown: created with that id and the default name), next turn (max + 1 under the
// session lock), pending->final merge by id and by (session, turn), a late pending never overwrites a final
// status (outcome stale), idempotent ids, replays and children joining the turn of the record they point at,
// latency derived from the timestamps; one trace = one turn for spans (record_write::trace_turn: the span's
// session hint, else its trace's session, else the trace id; children stored before a hinted span move into
// its session and turn). They run inside store_writer::write on write_tx primitives only.
// Thread safety: stateless; concurrent calls are serialised per session by the store's lock_sessions.
#pragma once

#include <vector>

#include "model/record_write.hpp"
#include "storage/store.hpp"

namespace llmtrace::ingest {

// Applies the rules to `batch` in ONE store transaction; returns one result per item, in order, after COMMIT.
// Items see the items before them (a pending and its final in one batch are one record). Store errors
// propagate and then nothing of the batch is stored.
std::vector<model::write_result> write_batch(storage::store_writer& store,
                                             const std::vector<model::record_write>& batch);

// The same, without copying the reports' texts: request/response/metadata move from `batch` into the results
// (a stale item's stay in `batch`), and the search texts are freed after the commit, so a large report exists
// once in memory rather than twice. The other fields of `batch` are left as they were.
std::vector<model::write_result> write_batch_moving(storage::store_writer& store,
                                                    std::vector<model::record_write>& batch);

}  // namespace llmtrace::ingest
