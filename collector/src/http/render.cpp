#include "http/render.hpp"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>

#include <httplib.h>

#include "http/errors.hpp"
#include "http/json_text.hpp"
#include "model/time.hpp"

namespace llmtrace::http {
namespace {

using json = nlohmann::json;

json opt_time(const std::optional<int64_t>& ms) {
  return ms ? json(model::format_rfc3339_ms(*ms)) : json(nullptr);
}
json opt_int(const std::optional<int64_t>& v) {
  return v ? json(*v) : json(nullptr);
}
json opt_string(const std::string& s) {
  return s.empty() ? json(nullptr) : json(s);
}

// --- scalars ---

// A string literal, without strlen.
template <std::size_t N>
void put(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// As nlohmann dumps a double: shortest round-trip digits, ".0" on integral values, null when not finite.
void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    put(out, "null");
    return;
  }
  char buf[64];
  const double a = std::fabs(v);
  const bool fixed = a == 0 || (a >= 1e-5 && a < 1e15);
  auto r = fixed ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                 : std::to_chars(buf, buf + sizeof buf, v);
  if (r.ec != std::errc{}) {
    out += dump_json(json(v));
    return;
  }
  out.append(buf, r.ptr);
  if (std::find_if(buf, r.ptr, [](char c) { return c == '.' || c == 'e' || c == 'E'; }) == r.ptr)
    put(out, ".0");
}

void append_2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

// "2026-11-26T06:32:05.123Z", quoted; the same text as model::format_rfc3339_ms, without snprintf.
void append_time(std::string& out, int64_t ms) {
  constexpr int64_t max_ms = 253402300799999;  // 9999-12-31T23:59:59.999Z
  if (ms < 0 || ms > max_ms) {
    append_json_string(out, model::format_rfc3339_ms(ms));
    return;
  }
  using namespace std::chrono;
  const int64_t day_count = ms / 86'400'000;
  const int64_t rem = ms % 86'400'000;
  const year_month_day ymd{sys_days{std::chrono::days{day_count}}};
  const auto y = static_cast<unsigned>(static_cast<int>(ymd.year()));
  char b[26] = {'"'};
  append_2(b + 1, y / 100);
  append_2(b + 3, y % 100);
  b[5] = '-';
  append_2(b + 6, static_cast<unsigned>(ymd.month()));
  b[8] = '-';
  append_2(b + 9, static_cast<unsigned>(ymd.day()));
  b[11] = 'T';
  append_2(b + 12, static_cast<unsigned>(rem / 3'600'000));
  b[14] = ':';
  append_2(b + 15, static_cast<unsigned>(rem / 60'000 % 60));
  b[17] = ':';
  append_2(b + 18, static_cast<unsigned>(rem / 1000 % 60));
  b[20] = '.';
  const auto milli = static_cast<unsigned>(rem % 1000);
  b[21] = static_cast<char>('0' + milli / 100);
  append_2(b + 22, milli % 100);
  b[24] = 'Z';
  b[25] = '"';
  out.append(b, sizeof b);
}

void append_opt_time(std::string& out, const std::optional<int64_t>& ms) {
  if (ms)
    append_time(out, *ms);
  else
    put(out, "null");
}

void append_opt_int(std::string& out, const std::optional<int64_t>& v) {
  if (v)
    append_int(out, *v);
  else
    put(out, "null");
}

void append_opt_string(std::string& out, const std::string& s) {
  if (s.empty())
    put(out, "null");
  else
    append_json_string(out, s);
}

void append_usage(std::string& out, const model::token_usage& u) {
  put(out, "{\"completion_tokens\":");
  append_opt_int(out, u.completion_tokens);
  put(out, ",\"prompt_tokens\":");
  append_opt_int(out, u.prompt_tokens);
  put(out, ",\"total_tokens\":");
  append_opt_int(out, u.total_tokens);
  out += '}';
}

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

json to_json(const model::score& sc) {
  return {{"id", sc.id},
          {"target", sc.target == model::score_target::record ? "record" : "session"},
          {"target_id", sc.target_id},
          {"session_id", sc.session_id},
          {"name", sc.name},
          {"value", stored_json(sc.value_json)},
          {"comment", opt_string(sc.comment)},
          {"created_at", model::format_rfc3339_ms(sc.created_at_ms)}};
}

namespace {
json scores_json(const std::vector<model::score>& scores) {
  json out = json::array();
  for (const auto& sc : scores) out.push_back(to_json(sc));
  return out;
}
}  // namespace

json to_json(const model::record& r) {
  json metadata = stored_json(r.metadata_json);
  if (!metadata.is_object()) metadata = json::object();
  json out = {{"id", r.id},
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
              {"parent_id", opt_string(r.parent_id)},
              {"trace_id", opt_string(r.trace_id)},
              {"name", opt_string(r.name)},
              {"kind", model::to_string(r.kind)},
              {"cost_usd", r.cost_usd ? json(*r.cost_usd) : json(nullptr)}};
  if (r.scores) out["scores"] = scores_json(*r.scores);
  return out;
}

json to_json(const model::session& s) {
  json out = {{"id", s.id},
              {"name", s.name},
              {"created_at", model::format_rfc3339_ms(s.created_at_ms)},
              {"updated_at", model::format_rfc3339_ms(s.updated_at_ms)},
              {"record_count", s.record_count},
              {"turn_count", s.turn_count},
              {"error_count", s.error_count},
              {"total_tokens", s.total_tokens},
              {"cost_usd", s.cost_usd}};
  if (s.scores) out["scores"] = scores_json(*s.scores);
  return out;
}

json to_json(const storage::store_stats& s) {
  return {{"sessions", s.sessions},
          {"records", s.records},
          {"errors", s.errors},
          {"pending", s.pending},
          {"prompt_tokens", s.prompt_tokens},
          {"completion_tokens", s.completion_tokens},
          {"total_tokens", s.total_tokens},
          {"cost_usd", s.cost_usd},
          {"db_size_bytes", s.db_size_bytes}};
}

void append_stored_json(std::string& out, std::string_view text, bool as_object) {
  if (text.empty()) {
    out += as_object ? "{}" : "null";
    return;
  }
  const json_text::scan_result s = json_text::scan(text);
  if (!s.ok) {
    // Not what ingest stores (or nested past the scanner's depth): exactly the DOM path's answer.
    json j = stored_json(std::string(text));
    if (as_object && !j.is_object())
      put(out, "{}");
    else
      out += dump_json(j);
    return;
  }
  if (as_object && s.value.front() != '{') {
    put(out, "{}");
    return;
  }
  if (s.inner_space)
    json_text::append_minified(out, s.value);
  else
    out.append(s.value);
}

void append_json(std::string& out, const model::score& sc) {
  put(out, "{\"comment\":");
  append_opt_string(out, sc.comment);
  put(out, ",\"created_at\":");
  append_time(out, sc.created_at_ms);
  put(out, ",\"id\":");
  append_json_string(out, sc.id);
  put(out, ",\"name\":");
  append_json_string(out, sc.name);
  put(out, ",\"session_id\":");
  append_json_string(out, sc.session_id);
  if (sc.target == model::score_target::record)
    put(out, ",\"target\":\"record\"");
  else
    put(out, ",\"target\":\"session\"");
  put(out, ",\"target_id\":");
  append_json_string(out, sc.target_id);
  put(out, ",\"value\":");
  append_stored_json(out, sc.value_json);
  out += '}';
}

namespace {
void append_scores(std::string& out, const std::optional<std::vector<model::score>>& scores) {
  if (!scores) return;
  put(out, ",\"scores\":[");
  bool first = true;
  for (const auto& sc : *scores) {
    if (!first) out += ',';
    first = false;
    append_json(out, sc);
  }
  out += ']';
}
}  // namespace

void append_json(std::string& out, const model::record& r, std::string_view change) {
  // Keys in the order nlohmann's (sorted) objects dump them, so both renderings are the same text.
  out += '{';
  if (!change.empty()) {
    put(out, "\"change\":");
    append_json_string(out, change);
    out += ',';
  }
  put(out, "\"cost_usd\":");
  if (r.cost_usd)
    append_double(out, *r.cost_usd);
  else
    put(out, "null");
  put(out, ",\"created_at\":");
  append_time(out, r.created_at_ms);
  put(out, ",\"ended_at\":");
  append_opt_time(out, r.ended_at_ms);
  put(out, ",\"error_message\":");
  append_json_string(out, r.error_message);
  put(out, ",\"id\":");
  append_json_string(out, r.id);
  put(out, ",\"kind\":\"");
  out += model::to_string(r.kind);
  put(out, "\",\"latency_ms\":");
  if (r.latency_ms)
    append_double(out, *r.latency_ms);
  else
    put(out, "null");
  put(out, ",\"metadata\":");
  append_stored_json(out, r.metadata_json, true);
  put(out, ",\"model\":");
  append_opt_string(out, r.model);
  put(out, ",\"name\":");
  append_opt_string(out, r.name);
  put(out, ",\"parent_id\":");
  append_opt_string(out, r.parent_id);
  put(out, ",\"replay_of\":");
  append_opt_string(out, r.replay_of);
  put(out, ",\"request\":");
  append_stored_json(out, r.request_json);
  put(out, ",\"response\":");
  append_stored_json(out, r.response_json);
  append_scores(out, r.scores);
  put(out, ",\"session_id\":");
  append_json_string(out, r.session_id);
  put(out, ",\"started_at\":");
  append_opt_time(out, r.started_at_ms);
  put(out, ",\"status\":\"");
  out += model::to_string(r.status);
  put(out, "\",\"trace_id\":");
  append_opt_string(out, r.trace_id);
  put(out, ",\"turn_number\":");
  append_int(out, r.turn_number);
  put(out, ",\"updated_at\":");
  append_time(out, r.updated_at_ms);
  put(out, ",\"usage\":");
  append_usage(out, r.usage);
  out += '}';
}

void append_json(std::string& out, const model::session& s) {
  put(out, "{\"cost_usd\":");
  append_double(out, s.cost_usd);
  put(out, ",\"created_at\":");
  append_time(out, s.created_at_ms);
  put(out, ",\"error_count\":");
  append_int(out, s.error_count);
  put(out, ",\"id\":");
  append_json_string(out, s.id);
  put(out, ",\"name\":");
  append_json_string(out, s.name);
  put(out, ",\"record_count\":");
  append_int(out, s.record_count);
  append_scores(out, s.scores);
  put(out, ",\"total_tokens\":");
  append_int(out, s.total_tokens);
  put(out, ",\"turn_count\":");
  append_int(out, s.turn_count);
  put(out, ",\"updated_at\":");
  append_time(out, s.updated_at_ms);
  out += '}';
}

std::string render_json(const model::record& r) {
  std::string out;
  out.reserve(reserve_size(r));
  append_json(out, r);
  return out;
}

std::string render_json(const model::session& s) {
  std::string out;
  out.reserve(256);
  append_json(out, s);
  return out;
}

void write_json_text(httplib::Response& res, int status, std::string body) {
  res.status = status;
  res.headers.erase("Content-Type");
  // cpp-httplib 0.11 compresses every application/json body on the fly, with brotli at quality 11 whenever
  // the client offers `br` (every browser does): ~2 s for a 200-record page and ~4 s for a 1 MB record on a
  // loaded 2-core machine, which is most of the UI's wait. It sends a sized content provider as is, so large
  // bodies take that path; small ones keep the old one (compressing them is cheap).
  constexpr std::size_t k_send_as_is_from = 16 * 1024;
  if (body.size() >= k_send_as_is_from) {
    auto shared = std::make_shared<const std::string>(std::move(body));
    res.set_content_provider(shared->size(), "application/json",
                             [shared](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
                               if (offset >= shared->size()) return true;
                               return sink.write(shared->data() + offset,
                                                 std::min(length, shared->size() - offset));
                             });
    return;
  }
  res.body = std::move(body);
  res.set_header("Content-Type", "application/json");
}

}  // namespace llmtrace::http
