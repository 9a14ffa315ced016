#include "otlp/span_writes.hpp"

#include <utility>

#include "ingest/extract.hpp"

namespace llmtrace::otlp {
namespace {

using nlohmann::json;

std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

json parse_or_null(const std::optional<std::string>& text) {
  if (!text || text->empty()) return nullptr;
  json j = json::parse(*text, nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

}  // namespace

model::record_write to_record_write(const record_draft& d) {
  model::record_write w;
  w.trace_turn = true;
  w.id = d.id;
  w.trace_id = d.trace_id;
  if (!d.parent_id.empty()) w.parent_id = d.parent_id;
  w.name = d.name;
  w.kind = model::parse_kind(d.kind).value_or(model::record_kind::other);
  if (d.started_at_ms > 0) w.started_at_ms = d.started_at_ms;
  if (d.ended_at_ms > 0) w.ended_at_ms = d.ended_at_ms;
  w.latency_ms = d.latency_ms;
  w.status = d.status;
  if (!d.error_message.empty()) w.error_message = d.error_message;
  if (!d.model.empty()) w.model = d.model;
  w.usage = d.usage;
  if (!d.request.is_null()) w.request_json = dump(d.request);
  if (!d.response.is_null()) w.response_json = dump(d.response);
  w.metadata_json = dump(d.metadata);
  if (!d.session_hint.empty()) w.session_id = d.session_hint;
  w.search_text = ingest::extract_search_text(d.request, d.response);
  return w;
}

std::optional<model::record_write> content_update(const model::record& stored,
                                                  const std::vector<const log_record*>& logs) {
  json request = parse_or_null(stored.request_json);
  json response = parse_or_null(stored.response_json);
  if (!apply_content_logs(request, response, logs)) return std::nullopt;
  model::record_write w;
  w.id = stored.id;
  w.status = stored.status;  // the span decided it; content changes nothing there
  w.request_json = dump(request);
  w.response_json = dump(response);
  w.search_text = ingest::extract_search_text(request, response);
  return w;
}

pending_content::pending_content(std::size_t max_records, std::chrono::seconds max_age)
    : max_records_(max_records), max_age_(max_age) {}

void pending_content::expire_locked(std::chrono::steady_clock::time_point now) {
  while (!order_.empty() && (count_ > max_records_ || order_.size() > 2 * max_records_ ||
                             now - order_.front().second > max_age_)) {
    auto it = by_span_.find(order_.front().first);
    if (it != by_span_.end() && it->second.since == order_.front().second) {
      count_ -= it->second.records.size();
      by_span_.erase(it);
    }
    order_.pop_front();
  }
}

void pending_content::hold(const std::string& trace_id, const std::string& span_id, const log_record& r) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mu_);
  std::string key = trace_id + span_id;
  auto [it, fresh] = by_span_.try_emplace(key);
  if (fresh) {
    it->second.since = now;
    order_.emplace_back(std::move(key), now);
  }
  log_record copy = r;
  copy.resource_index = 0;
  copy.scope_index = 0;
  it->second.records.push_back(std::move(copy));
  ++count_;
  expire_locked(now);
}

logs_request pending_content::take(const traces_request& spans) {
  logs_request out;
  std::lock_guard lock(mu_);
  if (by_span_.empty()) return out;
  expire_locked(std::chrono::steady_clock::now());
  for (const auto& s : spans.spans) {
    auto it = by_span_.find(s.trace_id + s.span_id);
    if (it == by_span_.end()) continue;
    count_ -= it->second.records.size();
    for (auto& r : it->second.records) out.records.push_back(std::move(r));
    by_span_.erase(it);  // its order_ entry expires harmlessly (the key's `since` no longer matches)
  }
  if (!out.records.empty()) {
    out.resources.emplace_back(json::object());
    out.scopes.emplace_back();
  }
  return out;
}

std::vector<log_record> pending_content::take_span(const std::string& trace_id, const std::string& span_id) {
  std::lock_guard lock(mu_);
  auto it = by_span_.find(trace_id + span_id);
  if (it == by_span_.end()) return {};
  std::vector<log_record> out = std::move(it->second.records);
  count_ -= out.size();
  by_span_.erase(it);
  return out;
}

std::size_t pending_content::size() const {
  std::lock_guard lock(mu_);
  return count_;
}

}  // namespace llmtrace::otlp
