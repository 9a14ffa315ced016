#include "ingest/ingest_service.hpp"

#include "ingest/write_rules.hpp"
#include "model/time.hpp"

#include <spdlog/spdlog.h>

namespace llmtrace::ingest {

ingest_service::ingest_service(storage::store& store, commit_listener on_commit, const pricing* prices)
    : store_(store), on_commit_(std::move(on_commit)), prices_(prices) {}

void ingest_service::price(storage::record_write& w) const {
  // The client's own cost wins; a report without usage (the seed's `pending`) stays unpriced, and its final
  // report is priced when it arrives.
  if (w.cost_usd || !prices_ || !w.model) return;
  w.cost_usd = prices_->cost(*w.model, w.usage);
}

// A trace whose children waited in the trace-id session before its root came has moved out of it; the empty
// session would list as a ghost. Deleted only while still empty: a span of that trace arriving meanwhile
// joins the trace's new session, never this one, so nothing is lost.
void ingest_service::drop_emptied_sessions(const std::vector<storage::write_result>& results) {
  for (const auto& r : results) {
    for (const auto& id : r.left_sessions) {
      try {
        auto s = store_.get_session(id);
        if (s && s->record_count == 0) store_.delete_session(id);
      } catch (const std::exception& e) {
        spdlog::warn("empty session {} left in place: {}", id, e.what());
      }
    }
  }
}

std::vector<storage::write_result> ingest_service::commit(std::vector<storage::record_write>& writes) {
  if (writes.empty()) return {};
  auto results = write_batch_moving(store_, writes);
  counters_.batches.fetch_add(1, std::memory_order_relaxed);
  for (std::size_t k = 0; k < results.size() && k < writes.size(); ++k) {
    if (results[k].outcome != storage::write_outcome::stale && writes[k].cost_usd && *writes[k].cost_usd > 0)
      counters_.cost_nano_usd.fetch_add(static_cast<uint64_t>(*writes[k].cost_usd * 1e9 + 0.5),
                                        std::memory_order_relaxed);
  }
  for (const auto& r : results) {
    switch (r.outcome) {
      case storage::write_outcome::created:
        counters_.created.fetch_add(1, std::memory_order_relaxed);
        break;
      case storage::write_outcome::updated:
        counters_.updated.fetch_add(1, std::memory_order_relaxed);
        break;
      case storage::write_outcome::stale:
        counters_.stale.fetch_add(1, std::memory_order_relaxed);
        break;
    }
  }
  drop_emptied_sessions(results);
  if (on_commit_) on_commit_(results);
  return results;
}

item_result ingest_service::ingest_one(const nlohmann::json& trace, const raw_spans* raw,
                                       const std::function<void()>& parsed) {
  item_result out;
  storage::record_write w;
  const bool ok = parse_trace(trace, model::now_ms(), w, out.error, raw);
  if (parsed) parsed();  // trace and raw are not used past this point
  if (!ok) {
    count_rejected(out.error.code);
    return out;
  }
  price(w);
  std::vector<storage::record_write> batch;
  batch.push_back(std::move(w));
  auto results = commit(batch);
  if (!results.empty()) out.result = std::move(results.front());
  return out;
}

std::vector<item_result> ingest_service::ingest_batch(const nlohmann::json& traces,
                                                      const std::vector<raw_spans>* raw) {
  if (raw && raw->size() != traces.size()) raw = nullptr;  // not the layout the tree has: dump instead
  std::vector<item_result> out(traces.size());
  std::vector<storage::record_write> writes;
  std::vector<std::size_t> positions;  // index in `out` of each write
  writes.reserve(traces.size());
  const int64_t now = model::now_ms();
  std::size_t i = 0;
  for (const auto& t : traces) {
    out[i].index = i;
    storage::record_write w;
    if (parse_trace(t, now, w, out[i].error, raw ? &(*raw)[i] : nullptr)) {
      price(w);
      writes.push_back(std::move(w));
      positions.push_back(i);
    } else {
      count_rejected(out[i].error.code);
    }
    ++i;
  }
  auto results = commit(writes);
  for (std::size_t k = 0; k < results.size() && k < positions.size(); ++k)
    out[positions[k]].result = std::move(results[k]);
  return out;
}

std::vector<storage::write_result> ingest_service::write(std::vector<storage::record_write> writes) {
  for (auto& w : writes) {
    fill_derived_fields(w);
    price(w);
  }
  return commit(writes);
}

void ingest_service::count_rejected(const std::string& reason) {
  std::lock_guard lock(rejected_mu_);
  ++rejected_[reason.empty() ? std::string("invalid") : reason];
}

std::map<std::string, uint64_t> ingest_service::rejected_by_reason() const {
  std::lock_guard lock(rejected_mu_);
  return rejected_;
}

}  // namespace llmtrace::ingest
