// The one JSON rendering of sessions and records for every route, event and export (others reuse it).
// Stored JSON text (request/response/metadata) is returned as JSON values, times as RFC 3339 UTC with ms,
// empty optional references as null. Thread safety: pure functions.
//
// Read paths use the append_* / render_* writers: they emit the response text directly and splice the stored
// JSON text verbatim (ingest validated it), which avoids re-parsing every stored body into a DOM only to dump
// it again (that was ~80% of a records page's CPU). The output is the same JSON as to_json(...) dumped: same
// keys in the same (sorted) order, same values; the nlohmann to_json functions stay for callers that need a
// DOM to edit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http/json_text.hpp"  // append_json_string
#include "model/record.hpp"
#include "storage/store.hpp"

namespace httplib {
struct Response;
}

namespace llmtrace::http {

nlohmann::json to_json(const model::record& r);
nlohmann::json to_json(const model::session& s);
nlohmann::json to_json(const model::token_usage& u);
nlohmann::json to_json(const storage::store_stats& s);
nlohmann::json to_json(const model::score& sc);

// {"items":[...],"page","size","total"} (+ "index_lag" on a search the full-text index had not caught up
// with)
template <class T>
nlohmann::json to_json(const storage::page<T>& p) {
  nlohmann::json items = nlohmann::json::array();
  for (const auto& item : p.items) items.push_back(to_json(item));
  return {{"items", std::move(items)}, {"page", p.page}, {"size", p.size}, {"total", p.total}};
}

// Parses stored JSON text back into a value; text that is not valid JSON comes back as a JSON string.
nlohmann::json stored_json(const std::string& text);

// --- text writers (no DOM) ---
// Each writes the bytes dump_json() writes for the same value, so a route can build its answer as text and
// still answer exactly what the nlohmann object would have dumped.

// An integer.
void append_int(std::string& out, int64_t v);
// A double through nlohmann's own conversion (not std::to_chars, which differs in digits and notation for
// some values): "0.1", "1.0", "-0.0", "1e-07", "1e+21"; null when not finite, as dump_json() writes NaN/inf.
void append_double(std::string& out, double v);
// A time as a quoted RFC 3339 UTC string with ms, "2026-11-26T06:32:05.123Z": model::format_rfc3339_ms's
// text, without its snprintf.
void append_time(std::string& out, int64_t ms);

// One JSON object, member by member, appended to `out`: the braces, commas and quoted keys in one place, one
// method per kind of value. Callers name the members in the order nlohmann's (sorted) objects dump them, so
// the text equals the nlohmann object's dump_json(). Keys are written as given (they are the callers' own
// ASCII literals, never escaped). The object is open until close(); the writer holds a reference to `out`,
// so it must not outlive it. Not thread-safe (one writer per string).
//   http::object_writer o(out);
//   o.integer("calls", 3);
//   o.opt_number("latency_ms", std::nullopt);  // "latency_ms":null
//   o.close();                                 // {"calls":3,"latency_ms":null}
class object_writer {
 public:
  explicit object_writer(std::string& out) : out_(out) { out_ += '{'; }
  object_writer(const object_writer&) = delete;
  object_writer& operator=(const object_writer&) = delete;

  void null(std::string_view key) { member(key).append("null", 4); }
  void string(std::string_view key, std::string_view v) { append_json_string(member(key), v); }
  // An empty string is "not set": null.
  void opt_string(std::string_view key, std::string_view v);
  void integer(std::string_view key, int64_t v) { append_int(member(key), v); }
  void opt_integer(std::string_view key, const std::optional<int64_t>& v);
  void number(std::string_view key, double v) { append_double(member(key), v); }
  void opt_number(std::string_view key, const std::optional<double>& v);
  void time(std::string_view key, int64_t ms) { append_time(member(key), ms); }
  void opt_time(std::string_view key, const std::optional<int64_t>& ms);
  // Stored JSON text as a value (append_stored_json).
  void stored(std::string_view key, std::string_view text, bool as_object = false);
  // Writes `"key":` and returns the string, for the caller to append the value itself (an array, a nested
  // object_writer).
  std::string& member(std::string_view key);
  void close() { out_ += '}'; }

 private:
  std::string& out_;
  bool first_ = true;
};

// Appends stored JSON text as a JSON value: empty text as null; well-formed JSON verbatim (insignificant
// whitespace removed, so the result never holds a raw newline and fits an SSE data line or an NDJSON line);
// anything else exactly as stored_json() renders it. With as_object, a value that is not an object becomes
// {}.
void append_stored_json(std::string& out, std::string_view text, bool as_object = false);

// The JSON of to_json(r); a non-empty change adds "change" (the SSE record event's field).
void append_json(std::string& out, const model::record& r, std::string_view change = {});
void append_json(std::string& out, const model::session& s);
void append_json(std::string& out, const model::score& sc);

std::string render_json(const model::record& r);
std::string render_json(const model::session& s);

// Bytes to reserve for one item's JSON (a little more than it takes, so a page is built without regrowing).
inline std::size_t reserve_size(const model::record& r) {
  return 640 + r.request_json.size() + r.response_json.size() + r.metadata_json.size() +
         r.error_message.size() + (r.scores ? r.scores->size() * 320 : 0);
}
inline std::size_t reserve_size(const model::session& s) {
  return 320 + s.name.size();
}

// {"items":[...],"page","size","total"} (+ "index_lag" on a search the full-text index had not caught up
// with)
template <class T>
std::string render_page(const storage::page<T>& p) {
  std::size_t bytes = 96;
  for (const auto& item : p.items) bytes += reserve_size(item);
  std::string out;
  out.reserve(bytes);
  out += "{\"items\":[";
  bool first = true;
  for (const auto& item : p.items) {
    if (!first) out += ',';
    first = false;
    append_json(out, item);
  }
  out += "],\"page\":";
  out += std::to_string(p.page);
  out += ",\"size\":";
  out += std::to_string(p.size);
  out += ",\"total\":";
  out += std::to_string(p.total);
  if (p.index_lag > 0) {
    out += ",\"index_lag\":";
    out += std::to_string(p.index_lag);
  }
  out += '}';
  return out;
}

// Sets a JSON body already rendered as text (moved, not copied) and its status.
void write_json_text(httplib::Response& res, int status, std::string body);

}  // namespace llmtrace::http
