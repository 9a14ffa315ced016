#include "api/render.hpp"

#include "model/time.hpp"

namespace llmtrace::api {
namespace {

using json = nlohmann::json;

json opt_time(const std::optional<int64_t>& ms) {
  return ms ? json(model::format_rfc3339_ms(*ms)) : json(nullptr);
}
json opt_int(const std::optional<int64_t>& v) { return v ? json(*v) : json(nullptr); }
json opt_string(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json stored_json(const std::string& text) {
  if (text.empty()) return nullptr;
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return text;
  return j;
}

json to_json(const model::token_usage& u) {
  return {{"prompt_tokens", opt_int(u.prompt_tokens)},
          {"completion_tokens", opt_int(u.completion_tokens)},
          {"total_tokens", opt_int(u.total_tokens)}};
}

json to_json(const model::record& r) {
  json metadata = stored_json(r.metadata_json);
  if (!metadata.is_object()) metadata = json::object();
  return {{"id", r.id},
          {"session_id", r.session_id},
          {"turn_number", r.turn_number},
          {"request", stored_json(r.request_json)},
          {"response", stored_json(r.response_json)},
          {"status", model::to_string(r.status)},
          {"error_message", r.error_message},
          {"metadata", std::move(metadata)},
          {"created_at", model::format_rfc3339_ms(r.created_at_ms)},
          {"updated_at", model::format_rfc3339_ms(r.updated_at_ms)},
          {"started_at", opt_time(r.started_at_ms)},
          {"ended_at", opt_time(r.ended_at_ms)},
          {"latency_ms", r.latency_ms ? json(*r.latency_ms) : json(nullptr)},
          {"model", opt_string(r.model)},
          {"usage", to_json(r.usage)},
          {"replay_of", opt_string(r.replay_of)},
          {"parent_id", opt_string(r.parent_id)}};
}

json to_json(const model::session& s) {
  return {{"id", s.id},
          {"name", s.name},
          {"created_at", model::format_rfc3339_ms(s.created_at_ms)},
          {"updated_at", model::format_rfc3339_ms(s.updated_at_ms)},
          {"record_count", s.record_count},
          {"turn_count", s.turn_count},
          {"error_count", s.error_count},
          {"total_tokens", s.total_tokens}};
}

json to_json(const storage::store_stats& s) {
  return {{"sessions", s.sessions},
          {"records", s.records},
          {"errors", s.errors},
          {"pending", s.pending},
          {"prompt_tokens", s.prompt_tokens},
          {"completion_tokens", s.completion_tokens},
          {"total_tokens", s.total_tokens},
          {"db_size_bytes", s.db_size_bytes}};
}

}  // namespace llmtrace::api
