#include "ingest/record_parser.hpp"

#include <cmath>
#include <cstdint>
#include <span>
#include <string_view>

#include "ingest/extract.hpp"
#include "ingest/json_parse.hpp"
#include "ingest/raw_spans.hpp"
#include "model/time.hpp"

namespace llmtrace::ingest {
namespace {

using json = nlohmann::json;

bool fail(field_error& err, std::string field, std::string message, std::string code = "invalid_field") {
  err.code = std::move(code);
  err.message = std::move(message);
  err.field = std::move(field);
  return false;
}

// Ids travel in URL paths: no '/', no control characters.
bool valid_id_text(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c == 0x7f || c == '/') return false;
  return true;
}

bool get_id(const json& v, const char* field, std::size_t max, std::optional<std::string>& out,
            field_error& err) {
  if (v.is_null()) return true;
  if (!v.is_string()) return fail(err, field, std::string(field) + " must be a string");
  auto s = v.get<std::string>();
  if (s.empty()) return true;  // "" means "not sent"
  if (s.size() > max)
    return fail(err, field, std::string(field) + " is longer than " + std::to_string(max) + " bytes");
  if (!valid_id_text(s))
    return fail(err, field, std::string(field) + " must not contain '/' or control characters");
  out = std::move(s);
  return true;
}

bool get_time(const json& v, const char* field, std::optional<int64_t>& out, field_error& err) {
  if (v.is_null()) return true;
  if (v.is_string()) {
    auto ms = model::parse_rfc3339_ms(v.get<std::string>());
    if (!ms) return fail(err, field, std::string(field) + " must be an RFC 3339 time or epoch milliseconds");
    out = *ms;
    return true;
  }
  if (v.is_number()) {
    double d = v.get<double>();
    if (!std::isfinite(d) || d < 0 || d > 253402300799999.0)
      return fail(err, field, std::string(field) + " is out of range (epoch milliseconds expected)");
    out = static_cast<int64_t>(d);
    return true;
  }
  return fail(err, field, std::string(field) + " must be an RFC 3339 time or epoch milliseconds");
}

bool get_count(const json& usage, const char* name, const char* alias, std::optional<int64_t>& out,
               field_error& err) {
  for (const char* k : {name, alias}) {
    if (!k) continue;
    auto it = usage.find(k);
    if (it == usage.end() || it->is_null()) continue;
    std::string field = std::string("usage.") + k;
    if (it->is_number_unsigned() || it->is_number_integer()) {
      if (it->is_number_integer() && it->get<int64_t>() < 0) return fail(err, field, field + " must be >= 0");
      if (it->is_number_unsigned() && it->get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
        return fail(err, field, field + " is too large");
      out = it->get<int64_t>();
      return true;
    }
    if (it->is_number_float()) {
      double d = it->get<double>();
      if (d < 0 || d != std::floor(d) || d > 9e15)
        return fail(err, field, field + " must be an integer >= 0");
      out = static_cast<int64_t>(d);
      return true;
    }
    return fail(err, field, field + " must be an integer");
  }
  return true;
}

// A request/response sent as a string that holds a JSON object or array is kept as the JSON it holds
// (byte for byte), so the API returns it as a value; any other string stays a JSON string. `raw` is the
// value's bytes as the client sent them (empty when unknown): stored as is, which saves a re-serialisation.
// `parsed` points at the value to extract from: `v` itself, or `owned` when a string held JSON.
void take_body(const json& v, std::string_view raw, std::optional<std::string>& text, const json*& parsed,
               json& owned) {
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    std::size_t i = 0;
    while (i < s.size() && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t')) ++i;
    if (i < s.size() && (s[i] == '{' || s[i] == '[')) {
      auto r = parse_json_limited(s);
      if (r.ok) {
        text = s;
        owned = std::move(r.value);
        parsed = &owned;
        return;
      }
    }
  }
  text = (!raw.empty() && !v.is_string()) ? std::string(raw) : to_stored_text(v);
  parsed = &v;
}

const std::string_view ignored_fields[] = {"created_at", "updated_at", "change"};
const std::string_view known_fields[] = {"id",       "session_id", "session_name", "turn_number",
                                         "request",  "response",   "status",       "error_message",
                                         "metadata", "started_at", "ended_at",     "latency_ms",
                                         "model",    "usage",      "replay_of",    "parent_id",
                                         "trace_id", "name",       "kind",         "cost_usd"};

bool is_one_of(std::string_view k, std::span<const std::string_view> set) {
  for (auto s : set)
    if (s == k) return true;
  return false;
}

}  // namespace

std::string to_stored_text(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

bool parse_trace(const json& trace, int64_t now_ms, storage::record_write& w, field_error& err) {
  return parse_trace(trace, now_ms, w, err, nullptr);
}

bool parse_trace(const json& trace, int64_t now_ms, storage::record_write& w, field_error& err,
                 const raw_spans* raw) {
  if (!trace.is_object()) return fail(err, "", "a trace must be a JSON object", "invalid_body");
  w = storage::record_write{};
  w.received_at_ms = now_ms;
  const json null_value;
  auto at = [&](const char* k) -> const json& {
    auto it = trace.find(k);
    return it == trace.end() ? null_value : *it;
  };

  if (!get_id(at("id"), "id", max_id_length, w.id, err)) return false;
  if (!get_id(at("session_id"), "session_id", max_session_id_length, w.session_id, err)) return false;
  if (!get_id(at("replay_of"), "replay_of", max_id_length, w.replay_of, err)) return false;
  if (!get_id(at("parent_id"), "parent_id", max_id_length, w.parent_id, err)) return false;
  if (!get_id(at("trace_id"), "trace_id", max_id_length, w.trace_id, err)) return false;

  if (const json& n = at("name"); !n.is_null()) {
    if (!n.is_string() || n.get_ref<const std::string&>().size() > max_name_length)
      return fail(err, "name", "name must be a string of at most 1024 bytes");
    if (!n.get_ref<const std::string&>().empty()) w.name = n.get<std::string>();
  }

  if (const json& k = at("kind"); !k.is_null()) {
    std::optional<model::record_kind> kind;
    if (k.is_string()) kind = model::parse_kind(k.get_ref<const std::string&>());
    if (!kind)
      return fail(err, "kind", "kind must be one of llm, agent, tool, retrieval, embedding, chain, other");
    w.kind = kind;
  }

  if (const json& c = at("cost_usd"); !c.is_null()) {
    if (!c.is_number() || !std::isfinite(c.get<double>()) || c.get<double>() < 0)
      return fail(err, "cost_usd", "cost_usd must be a number >= 0");
    w.cost_usd = c.get<double>();
  }

  if (const json& n = at("session_name"); !n.is_null()) {
    if (!n.is_string() || n.get_ref<const std::string&>().empty() ||
        n.get_ref<const std::string&>().size() > max_session_name_length)
      return fail(err, "session_name", "session_name must be a non-empty string of at most 200 bytes");
    w.new_session_name = n.get<std::string>();
  }

  if (const json& t = at("turn_number"); !t.is_null()) {
    int64_t turn = -1;
    if (t.is_number_unsigned()) {
      turn = t.get<uint64_t>() > 1000000000ull ? -2 : static_cast<int64_t>(t.get<uint64_t>());
    } else if (t.is_number_integer()) {
      turn = t.get<int64_t>();
    } else if (t.is_number_float() && t.get<double>() == std::floor(t.get<double>())) {
      double d = t.get<double>();
      turn = d > 1e9 ? -2 : (d < 0 ? -1 : static_cast<int64_t>(d));
    } else {
      return fail(err, "turn_number", "turn_number must be an integer >= 0 (0 or absent: next turn)");
    }
    if (turn == -2 || turn > 1000000000) return fail(err, "turn_number", "turn_number is too large");
    if (turn < 0) return fail(err, "turn_number", "turn_number must be >= 0 (0 or absent: next turn)");
    w.turn_number = turn;
  }

  if (const json& s = at("status"); !s.is_null()) {
    if (!s.is_string()) return fail(err, "status", "status must be one of pending, success, error");
    auto st = model::parse_status(s.get_ref<const std::string&>());
    if (!st) return fail(err, "status", "status must be one of pending, success, error");
    w.status = *st;
  } else {
    w.status = model::record_status::success;
  }

  if (const json& e = at("error_message"); !e.is_null()) {
    if (!e.is_string()) return fail(err, "error_message", "error_message must be a string");
    w.error_message = e.get<std::string>();
  }

  const json* request_value = &null_value;
  const json* response_value = &null_value;
  json request_owned, response_owned;
  if (auto it = trace.find("request"); it != trace.end())
    take_body(*it, raw ? raw->request : std::string_view(), w.request_json, request_value, request_owned);
  if (auto it = trace.find("response"); it != trace.end())
    take_body(*it, raw ? raw->response : std::string_view(), w.response_json, response_value, response_owned);

  if (!get_time(at("started_at"), "started_at", w.started_at_ms, err)) return false;
  if (!get_time(at("ended_at"), "ended_at", w.ended_at_ms, err)) return false;

  if (const json& l = at("latency_ms"); !l.is_null()) {
    if (!l.is_number() || !std::isfinite(l.get<double>()) || l.get<double>() < 0)
      return fail(err, "latency_ms", "latency_ms must be a number >= 0");
    w.latency_ms = l.get<double>();
  }

  if (const json& m = at("model"); !m.is_null()) {
    if (!m.is_string()) return fail(err, "model", "model must be a string");
    if (!m.get_ref<const std::string&>().empty()) w.model = m.get<std::string>();
  }

  if (const json& u = at("usage"); !u.is_null()) {
    if (!u.is_object()) return fail(err, "usage", "usage must be an object");
    if (!get_count(u, "prompt_tokens", "input_tokens", w.usage.prompt_tokens, err)) return false;
    if (!get_count(u, "completion_tokens", "output_tokens", w.usage.completion_tokens, err)) return false;
    if (!get_count(u, "total_tokens", nullptr, w.usage.total_tokens, err)) return false;
    if (!w.usage.total_tokens && w.usage.prompt_tokens && w.usage.completion_tokens)
      w.usage.total_tokens = *w.usage.prompt_tokens + *w.usage.completion_tokens;
    w.usage.cached_tokens = cached_token_count(u);
  }

  // Metadata: the object sent, plus every unknown top-level field under its own key (never an error).
  const json* sent_metadata = nullptr;
  if (const json& m = at("metadata"); !m.is_null()) {
    if (!m.is_object()) return fail(err, "metadata", "metadata must be a JSON object");
    sent_metadata = &m;
  }
  bool has_unknown = false;
  for (auto it = trace.begin(); it != trace.end() && !has_unknown; ++it)
    has_unknown = !is_one_of(it.key(), known_fields) && !is_one_of(it.key(), ignored_fields);
  if (!has_unknown) {
    // The common case: stored as sent (no copy of the tree, no re-serialisation).
    if (sent_metadata)
      w.metadata_json =
          (raw && !raw->metadata.empty()) ? std::string(raw->metadata) : to_stored_text(*sent_metadata);
  } else {
    json metadata = sent_metadata ? *sent_metadata : json::object();
    for (auto it = trace.begin(); it != trace.end(); ++it) {
      if (is_one_of(it.key(), known_fields) || is_one_of(it.key(), ignored_fields)) continue;
      if (!metadata.contains(it.key())) metadata[it.key()] = it.value();
    }
    w.metadata_json = to_stored_text(metadata);
  }

  // Derived fields from the values we already hold (no re-parse).
  if (!w.model) {
    auto m = extract_model(*request_value, *response_value);
    if (!m.empty()) w.model = std::move(m);
  }
  if (!w.usage.prompt_tokens && !w.usage.completion_tokens && !w.usage.total_tokens)
    w.usage = extract_usage(*response_value);
  w.search_text = extract_search_text(*request_value, *response_value);
  return true;
}

void fill_derived_fields(storage::record_write& w) {
  bool need_usage = !w.usage.prompt_tokens && !w.usage.completion_tokens && !w.usage.total_tokens;
  if (w.model && w.search_text.size() > 0 && !need_usage) return;
  json request_value, response_value;
  if (w.request_json) {
    auto r = parse_json_limited(*w.request_json);
    if (r.ok) request_value = std::move(r.value);
  }
  if (w.response_json) {
    auto r = parse_json_limited(*w.response_json);
    if (r.ok) response_value = std::move(r.value);
  }
  if (!w.model) {
    auto m = extract_model(request_value, response_value);
    if (!m.empty()) w.model = std::move(m);
  }
  if (need_usage) w.usage = extract_usage(response_value);
  if (w.search_text.empty()) w.search_text = extract_search_text(request_value, response_value);
}

}  // namespace llmtrace::ingest
