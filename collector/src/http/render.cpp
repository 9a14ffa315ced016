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

// A string literal, without strlen.
template <std::size_t N>
void put(std::string& out, const char (&text)[N]) {
  out.append(text, N - 1);
}

void append_2(char* p, unsigned v) {
  p[0] = static_cast<char>('0' + v / 10);
  p[1] = static_cast<char>('0' + v % 10);
}

void append_usage(std::string& out, const model::token_usage& u) {
  object_writer o(out);
  o.opt_integer("completion_tokens", u.completion_tokens);
  o.opt_integer("prompt_tokens", u.prompt_tokens);
  o.opt_integer("total_tokens", u.total_tokens);
  o.close();
}

}  // namespace

void append_int(std::string& out, int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    put(out, "null");
    return;
  }
  // nlohmann's own conversion, the one its serializer calls: std::to_chars differs from it (shortest digits
  // where nlohmann's Grisu2 writes one more, fixed notation for 1e15..1e17 and for 1e-5..1e-4 where nlohmann
  // writes an exponent), and these answers promise dump_json()'s bytes. The buffer is the serializer's size.
  char buf[64];
  char* end = nlohmann::detail::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

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

void object_writer::opt_string(std::string_view key, std::string_view v) {
  if (v.empty())
    null(key);
  else
    string(key, v);
}

void object_writer::opt_integer(std::string_view key, const std::optional<int64_t>& v) {
  if (v)
    integer(key, *v);
  else
    null(key);
}

void object_writer::opt_number(std::string_view key, const std::optional<double>& v) {
  if (v)
    number(key, *v);
  else
    null(key);
}

void object_writer::opt_time(std::string_view key, const std::optional<int64_t>& ms) {
  if (ms)
    time(key, *ms);
  else
    null(key);
}

void object_writer::stored(std::string_view key, std::string_view text, bool as_object) {
  append_stored_json(member(key), text, as_object);
}

std::string& object_writer::member(std::string_view key) {
  if (!first_) out_ += ',';
  first_ = false;
  out_ += '"';
  out_.append(key);
  put(out_, "\":");
  return out_;
}

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
          {"db_size_bytes", s.db_size_bytes},
          {"search_index_lag", s.search_index_lag},
          {"search_summaries_pending", s.search_summaries_pending}};
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
  object_writer o(out);
  o.opt_string("comment", sc.comment);
  o.time("created_at", sc.created_at_ms);
  o.string("id", sc.id);
  o.string("name", sc.name);
  o.string("session_id", sc.session_id);
  o.string("target", sc.target == model::score_target::record ? "record" : "session");
  o.string("target_id", sc.target_id);
  o.stored("value", sc.value_json);
  o.close();
}

namespace {
// "scores" only when the reader asked for them (absent otherwise, as in to_json).
void append_scores(object_writer& o, const std::optional<std::vector<model::score>>& scores) {
  if (!scores) return;
  std::string& out = o.member("scores");
  out += '[';
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
  object_writer o(out);
  if (!change.empty()) o.string("change", change);
  o.opt_number("cost_usd", r.cost_usd);
  o.time("created_at", r.created_at_ms);
  o.opt_time("ended_at", r.ended_at_ms);
  o.string("error_message", r.error_message);
  o.string("id", r.id);
  o.string("kind", model::to_string(r.kind));
  o.opt_number("latency_ms", r.latency_ms);
  o.stored("metadata", r.metadata_json, true);
  o.opt_string("model", r.model);
  o.opt_string("name", r.name);
  o.opt_string("parent_id", r.parent_id);
  o.opt_string("replay_of", r.replay_of);
  o.stored("request", r.request_json);
  o.stored("response", r.response_json);
  append_scores(o, r.scores);
  o.string("session_id", r.session_id);
  o.opt_time("started_at", r.started_at_ms);
  o.string("status", model::to_string(r.status));
  o.opt_string("trace_id", r.trace_id);
  o.integer("turn_number", r.turn_number);
  o.time("updated_at", r.updated_at_ms);
  append_usage(o.member("usage"), r.usage);
  o.close();
}

void append_json(std::string& out, const model::session& s) {
  object_writer o(out);
  o.number("cost_usd", s.cost_usd);
  o.time("created_at", s.created_at_ms);
  o.integer("error_count", s.error_count);
  o.string("id", s.id);
  o.string("name", s.name);
  o.integer("record_count", s.record_count);
  append_scores(o, s.scores);
  o.integer("total_tokens", s.total_tokens);
  o.integer("turn_count", s.turn_count);
  o.time("updated_at", s.updated_at_ms);
  o.close();
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
