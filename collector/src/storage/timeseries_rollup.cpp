#include "storage/timeseries_rollup.hpp"

#include <algorithm>
#include <bit>
#include <cmath>

namespace llmtrace::storage::rollup {
namespace {

constexpr int k_sub_bits = 5;  // 32 bins per power of two
constexpr int64_t k_max_us = int64_t{1} << 50;

void put_varint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

// The bin's value when it is reported: the mean of what it holds.
double bin_mean_ms(const bin& b) {
  return static_cast<double>(b.sum_us) / static_cast<double>(b.count) / 1000.0;
}

}  // namespace

int64_t minute_of(int64_t t_ms) {
  int64_t m = t_ms / k_minute_ms;
  if (t_ms % k_minute_ms < 0) m -= 1;
  return m * k_minute_ms;
}

bool serves(const timeseries_query& q) {
  return q.from_ms % k_minute_ms == 0 && q.bucket_ms > 0 && q.bucket_ms % k_minute_ms == 0;
}

int64_t latency_us(double latency_ms) {
  if (!(latency_ms > 0)) return 0;  // also NaN
  const double us = std::round(latency_ms * 1000.0);
  return us >= static_cast<double>(k_max_us) ? k_max_us : static_cast<int64_t>(us);
}

int latency_bin(double latency_ms) {
  const auto us = static_cast<uint64_t>(latency_us(latency_ms));
  if (us < (uint64_t{1} << k_sub_bits)) return static_cast<int>(us);
  const int e = std::bit_width(us) - 1;  // us in [2^e, 2^(e+1)), e >= k_sub_bits
  const auto sub = static_cast<int>((us >> (e - k_sub_bits)) & ((1u << k_sub_bits) - 1));
  return ((e - k_sub_bits + 1) << k_sub_bits) + sub;
}

timeseries_fold::item item_of(const model::record& r) {
  timeseries_fold::item it;
  it.created_at_ms = r.created_at_ms;
  it.model = r.model;
  it.error = r.status == model::record_status::error;
  it.latency_ms = r.latency_ms;
  it.prompt_tokens = r.usage.prompt_tokens.value_or(0);
  it.completion_tokens = r.usage.completion_tokens.value_or(0);
  it.total_tokens = r.usage.total_tokens.value_or(it.prompt_tokens + it.completion_tokens);
  it.cost_usd = r.cost_usd.value_or(0.0);
  return it;
}

void cell::add(const timeseries_fold::item& it, int sign) {
  calls += sign;
  errors += it.error ? sign : 0;
  prompt += sign * it.prompt_tokens;
  completion += sign * it.completion_tokens;
  total += sign * it.total_tokens;
  cost += sign * it.cost_usd;
  if (it.latency_ms) {
    auto& b = hist[latency_bin(*it.latency_ms)];
    b.count += sign;
    b.sum_us += sign * latency_us(*it.latency_ms);
  }
}

void cell::merge(const cell& o) {
  calls += o.calls;
  errors += o.errors;
  prompt += o.prompt;
  completion += o.completion;
  total += o.total;
  cost += o.cost;
  for (const auto& [i, b] : o.hist) {
    auto& mine = hist[i];
    mine.count += b.count;
    mine.sum_us += b.sum_us;
  }
}

bool cell::zero() const {
  if (calls || errors || prompt || completion || total || cost != 0) return false;
  return std::all_of(hist.begin(), hist.end(),
                     [](const auto& kv) { return kv.second.count == 0 && kv.second.sum_us == 0; });
}

std::string cell::encode_hist() const {
  std::string out;
  int prev = 0;
  for (const auto& [i, b] : hist) {
    if (b.count <= 0) continue;
    put_varint(out, static_cast<uint64_t>(i - prev));
    put_varint(out, static_cast<uint64_t>(b.count));
    put_varint(out, static_cast<uint64_t>(std::max<int64_t>(b.sum_us, 0)));
    prev = i;
  }
  return out;
}

bool cell::add_encoded_hist(std::string_view bytes) {
  return for_each_bin(bytes, [this](int i, const bin& b) {
    auto& mine = hist[i];
    mine.count += b.count;
    mine.sum_us += b.sum_us;
  });
}

void delta::add(const timeseries_fold::item& it, int sign) {
  cells_[{minute_of(it.created_at_ms), it.model}].add(it, sign);
}

// --- reader_fold
// ---------------------------------------------------------------------------------------------

reader_fold::reader_fold(const timeseries_query& q, int64_t now_ms) : q_(q) {
  const int64_t start = std::max(q_.from_ms, minute_of(q_.to_ms));  // `to`'s minute (from is whole)
  rollup_end_ = start;
  if (start == q_.to_ms) return;  // `to` on a whole minute: rollup rows only
  // Records of `to`'s minute exist before `to` over (to - start) ms, and after it only up to now.
  const int64_t end = start + k_minute_ms;
  const int64_t before = q_.to_ms - start;
  const int64_t after = std::min(end, std::max(now_ms, q_.to_ms)) - q_.to_ms;
  subtract_ = after < before;
  if (subtract_) rollup_end_ = end;
}

reader_fold::bucket& reader_fold::at(int64_t t_ms, const std::string& model) {
  const int64_t start = q_.from_ms + (t_ms - q_.from_ms) / q_.bucket_ms * q_.bucket_ms;
  return buckets_[{start, q_.by_model ? model : std::string()}];
}

void reader_fold::cover(bucket& b, int first, int last) {
  if (b.bins.empty()) {
    b.lo = first;
    b.bins.resize(static_cast<std::size_t>(last - first + 1));
    return;
  }
  if (first < b.lo) {
    b.bins.insert(b.bins.begin(), static_cast<std::size_t>(b.lo - first), bin{});
    b.lo = first;
  }
  if (last - b.lo >= static_cast<int>(b.bins.size()))
    b.bins.resize(static_cast<std::size_t>(last - b.lo + 1));
}

void reader_fold::add_bin(bucket& b, int index, const bin& v) {
  cover(b, index, index);
  auto& mine = b.bins[static_cast<std::size_t>(index - b.lo)];
  mine.count += v.count;
  mine.sum_us += v.sum_us;
}

bool reader_fold::add_row(int64_t minute, const std::string& model, const cell& row, std::string_view hist) {
  if (minute < q_.from_ms || minute >= rollup_end()) return true;
  auto& b = at(minute, model);
  b.sum.calls += row.calls;
  b.sum.errors += row.errors;
  b.sum.prompt += row.prompt;
  b.sum.completion += row.completion;
  b.sum.total += row.total;
  b.sum.cost += row.cost;
  scratch_.clear();
  const bool ok = for_each_bin(hist, [this](int i, const bin& v) { scratch_.emplace_back(i, v); });
  if (scratch_.empty()) return ok;
  cover(b, scratch_.front().first, scratch_.back().first);
  for (const auto& [i, v] : scratch_) {
    auto& mine = b.bins[static_cast<std::size_t>(i - b.lo)];
    mine.count += v.count;
    mine.sum_us += v.sum_us;
  }
  return ok;
}

void reader_fold::add_item(timeseries_fold::item it) {
  if (it.created_at_ms < scan_from() || it.created_at_ms >= scan_to()) return;
  const int sign = subtract_ ? -1 : 1;
  auto& b = at(it.created_at_ms, it.model);
  b.sum.calls += sign;
  b.sum.errors += it.error ? sign : 0;
  b.sum.prompt += sign * it.prompt_tokens;
  b.sum.completion += sign * it.completion_tokens;
  b.sum.total += sign * it.total_tokens;
  b.sum.cost += sign * it.cost_usd;
  if (it.latency_ms) add_bin(b, latency_bin(*it.latency_ms), bin{sign, sign * latency_us(*it.latency_ms)});
}

std::vector<timeseries_row> reader_fold::rows() {
  std::vector<timeseries_row> out;
  out.reserve(buckets_.size());
  for (auto& [key, b] : buckets_) {
    if (b.sum.calls <= 0) continue;
    timeseries_row r;
    r.bucket_start_ms = key.first;
    r.model = key.second;
    r.calls = b.sum.calls;
    r.errors = b.sum.errors;
    r.prompt_tokens = b.sum.prompt;
    r.completion_tokens = b.sum.completion;
    r.total_tokens = b.sum.total;
    r.cost_usd = b.sum.cost;
    int64_t n = 0;
    for (const auto& v : b.bins) n += std::max<int64_t>(v.count, 0);
    if (n > 0) {
      // Nearest rank, as timeseries_fold: the value at rank ceil(p * n); one walk for both.
      auto rank = [n](double p) {
        return std::clamp<int64_t>(static_cast<int64_t>(std::ceil(p * static_cast<double>(n))), 1, n);
      };
      const int64_t r50 = rank(0.50), r95 = rank(0.95);
      int64_t seen = 0;
      for (const auto& v : b.bins) {
        if (v.count <= 0) continue;
        const int64_t before = seen;
        seen += v.count;
        if (before < r50 && seen >= r50) r.latency_p50_ms = bin_mean_ms(v);
        if (before < r95 && seen >= r95) {
          r.latency_p95_ms = bin_mean_ms(v);
          break;
        }
      }
    }
    out.push_back(std::move(r));
  }
  buckets_.clear();
  return out;
}

}  // namespace llmtrace::storage::rollup
