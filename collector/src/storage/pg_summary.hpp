// Search summaries of sealed record_terms partitions (schema v7): for each partition whose rids have all been
// handed out, every lexeme's postings (the rows whose tsvector holds it), built once in the background. A
// search of plain words takes its exact total, and its page when the page lies there, from these postings
// instead of the GIN index and one heap page per match (PostgreSQL proves each match visible on its heap
// page; at 1M records a pair of words in ~8,000 records cost ~25 ms, ~15 of it such visits; two words' p95
// under ingest went from 39-58 ms to 16-17, docs/BENCHMARKS.md). A row trigger on a summarized partition
// marks its summary stale in the transaction that changes the partition, so a search never reads a summary
// older than the rows it stands for; the next build replaces it. Thread safety: functions of one connection,
// used by one thread at a time.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "storage/pg_connection.hpp"

namespace llmtrace::storage::pg {

// record_terms' partitions (schema v6): partition k holds the rids [k * width, (k + 1) * width).
inline constexpr int64_t k_terms_partition_rids = 131072;
// A lexeme's postings in a partition are the offsets (rid - the partition's first rid) of its rows,
// ascending, stored as a bitmap of the partition's rids (this many bytes, bit i of byte i / 8 from the
// lowest) when they are at least a quarter of that in 32-bit offsets, as little-endian 32-bit offsets
// otherwise.
inline constexpr std::size_t k_postings_bitmap_bytes = k_terms_partition_rids / 8;

// The stored form of ascending offsets.
std::string encode_postings(const std::vector<uint32_t>& offsets);
// The offsets in every one of these stored postings (none given: none): how many, and the `newest` highest of
// them, descending. Throws std::runtime_error for a value that is neither form.
struct postings_match {
  int64_t count = 0;
  std::vector<uint32_t> newest;
};
postings_match intersect_postings(const std::vector<std::string>& stored, std::size_t newest);
// bytea's text output (hex format, "\x0a1b...") as bytes.
std::string bytea_from_hex(const std::string& text);

// Builds the summary of the newest sealed partition that has no ready one, in one transaction: it locks the
// partition against writers (lock_timeout 1 s), reads its tsvectors, writes the postings, puts the trigger on
// the partition and marks the summary ready. One collector builds at a time (an advisory lock; the others
// return at once). A partition is sealed when the rid sequence has gone k_seal_margin past its end. Returns
// the partition's number, or -1 when none is pending, another collector is building, or `stop` was set (the
// transaction is rolled back). Throws pg_error.
int64_t summarize_next(connection& c, const std::atomic<bool>& stop);
// How many sealed partitions have no ready summary.
int64_t summaries_pending(connection& c);
inline constexpr int64_t k_seal_margin = k_terms_partition_rids / 16;

}  // namespace llmtrace::storage::pg
