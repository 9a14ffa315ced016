// The per-minute rollup behind GET /api/stats/timeseries: for every (minute of created_at, model) the
// record count, error count, token and cost sums, and a latency histogram. Every store keeps one row per
// non-empty (minute, model) in its table `ts_rollup`, changed in the same write transaction as the records
// (rollup_delta, summed like session_delta and applied before COMMIT), so a query over 24 h reads at most
// 1,440 x models rows instead of every record.
//
// Latency histogram: log-linear bins over whole microseconds (values below 32 us exact, then 32 bins per
// power of two), each bin holding its count and the sum of its values. A percentile is the mean of the bin
// that holds the nearest-rank value, so it is exact when that bin holds one distinct value and otherwise
// within 1/32 (3.125 %) of the true nearest-rank percentile (both lie in a bin at most 1/32 of its lower
// bound wide). Bins are computed from integers, so a record removed later always leaves the bin it entered.
//
// Which queries the rollup serves (rollup_serves): `from` on a whole minute and a bucket of whole minutes.
// Then bucket boundaries are minute boundaries. A `to` inside a minute is answered from the records of that
// minute on the cheaper side of `to` (an index range on created_at): either the minute's rollup row less the
// records created at or after `to` (the usual case, `to` = now: none or the few of the last milliseconds), or
// the records from the minute's start up to `to` (a `to` well in the past). Any other query is answered by
// the record scan (timeseries_fold).
// Not thread-safe: plain values, one per transaction or query.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "model/record.hpp"
#include "model/time.hpp"
#include "storage/store.hpp"
#include "storage/timeseries_fold.hpp"

namespace llmtrace::storage::rollup {

inline constexpr int64_t k_minute_ms = 60000;

// The start of the minute holding t (floor, also for times before 1970).
int64_t minute_of(int64_t t_ms);

// The query is served from the rollup (plus the records of a partial last minute).
bool serves(const timeseries_query& q);

// Latency in ms -> histogram bin (0..~1900); clamped to [0, 2^50] us.
int latency_bin(double latency_ms);
int64_t latency_us(double latency_ms);

struct bin {
  int64_t count = 0;
  int64_t sum_us = 0;
};

// What one (minute, model) row holds, or a change to it (counts may be negative in a change).
struct cell {
  int64_t calls = 0, errors = 0, prompt = 0, completion = 0, total = 0;
  double cost = 0;
  std::map<int, bin> hist;

  // One record's contribution, added (sign +1) or removed (sign -1).
  void add(const timeseries_fold::item& it, int sign);
  void merge(const cell& other);
  // Nothing changes (a change that cancelled out).
  bool zero() const;
  // Bins with a count of 0 or less are dropped (a stored row only holds positive bins).
  std::string encode_hist() const;
  // Adds the encoded bins (encode_hist's bytes) to hist; false: malformed.
  bool add_encoded_hist(std::string_view bytes);
};

// Calls fn(index, bin) for every bin of an encoded histogram in index order; false: malformed (the bins
// before the fault were passed). Inline: the query runs it for every bin of every row it reads.
// Reads one LEB128 varint at p (< end); nullptr: truncated or longer than 64 bits.
inline const unsigned char* read_varint(const unsigned char* p, const unsigned char* end, uint64_t& v) {
  if (p < end && *p < 0x80) {  // the common case: counts, steps and small sums fit one byte
    v = *p;
    return p + 1;
  }
  v = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const unsigned char b = *p++;
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if ((b & 0x80) == 0) return p;
  }
  return nullptr;
}
template <class F>
bool for_each_bin(std::string_view bytes, F&& fn) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const auto* end = p + bytes.size();
  uint64_t index = 0;
  while (p < end) {
    uint64_t step = 0, count = 0, sum = 0;
    if (!(p = read_varint(p, end, step)) || !(p = read_varint(p, end, count)) ||
        !(p = read_varint(p, end, sum)))
      return false;
    index += step;
    if (index > 4096 || count > static_cast<uint64_t>(INT64_MAX) || sum > static_cast<uint64_t>(INT64_MAX))
      return false;
    fn(static_cast<int>(index), bin{static_cast<int64_t>(count), static_cast<int64_t>(sum)});
  }
  return true;
}

// One record as the rollup sees it.
timeseries_fold::item item_of(const model::record& r);

// The changes of one write transaction, by (minute, model) in key order (PostgreSQL locks rows in it).
class delta {
 public:
  void add(const timeseries_fold::item& it, int sign);
  void add(const model::record& r, int sign) { add(item_of(r), sign); }
  // Calls fn(minute, model, change) for every change that does not cancel out, then clears.
  template <class F>
  void drain(F&& fn) {
    for (const auto& [key, c] : cells_)
      if (!c.zero()) fn(key.first, key.second, c);
    cells_.clear();
  }
  bool empty() const { return cells_.empty(); }

 private:
  std::map<std::pair<int64_t, std::string>, cell> cells_;
};

// Folds rollup rows (and the records of a partial last minute) into the query's buckets.
class reader_fold {
 public:
  // now_ms: the store's clock, to tell how much of `to`'s minute can hold records yet.
  explicit reader_fold(const timeseries_query& q, int64_t now_ms = model::now_ms());
  // The end of the minutes read from the rollup (rows with minute < rollup_end()).
  int64_t rollup_end() const { return rollup_end_; }
  // The records in [scan_from(), scan_to()) are read from the records and passed to add_item: added when
  // they lie before `to`, taken out (their minute's row was read whole) when at or after it. Empty when `to`
  // is on a whole minute.
  int64_t scan_from() const { return subtract_ ? q_.to_ms : rollup_end_; }
  int64_t scan_to() const { return subtract_ ? rollup_end_ : q_.to_ms; }
  // A stored row: its counts and sums (row.hist is not read) and its encoded histogram. false: the
  // histogram is malformed (the row's counts are still taken).
  bool add_row(int64_t minute, const std::string& model, const cell& row, std::string_view hist);
  void add_item(timeseries_fold::item it);
  std::vector<timeseries_row> rows();

 private:
  struct bucket {
    cell sum;
    // Dense bins from lo (latencies of one bucket span a few powers of two).
    int lo = 0;
    std::vector<bin> bins;
  };
  static void add_bin(bucket& b, int index, const bin& v);
  // Makes b.bins cover [first, last].
  static void cover(bucket& b, int first, int last);
  std::vector<std::pair<int, bin>> scratch_;  // one row's decoded bins
  bucket& at(int64_t t_ms, const std::string& model);
  timeseries_query q_;
  bool subtract_ = false;
  int64_t rollup_end_ = 0;
  std::map<std::pair<int64_t, std::string>, bucket> buckets_;
};

}  // namespace llmtrace::storage::rollup
