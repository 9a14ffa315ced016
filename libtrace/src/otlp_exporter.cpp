#include "otlp_exporter.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>

#include <nlohmann/json.hpp>

#ifndef LLMTRACE_VERSION
#define LLMTRACE_VERSION "0.0.0"
#endif

namespace llmtrace::detail {
namespace {

using nlohmann::json;

bool is_hex(std::string_view s, std::size_t n) {
  if (s.size() != n) return false;
  bool nonzero = false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    nonzero = nonzero || c != '0';
  }
  return nonzero;
}

uint64_t fnv1a(std::string_view s, uint64_t h = 0xcbf29ce484222325ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h ? h : 1;  // never all zero
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// An OTel span id for a record id: kept when it is one already, else a stable hash (so a parent_id given as
// a record id still points at the same span).
std::string span_id_of(std::string_view id) {
  if (is_hex(id, 16)) return std::string(id);
  return hex64(fnv1a(id));
}

std::string trace_id_of(std::string_view trace_id, std::string_view record_id) {
  if (is_hex(trace_id, 32)) return std::string(trace_id);
  // No trace: the record is a trace of its own.
  std::string_view seed = trace_id.empty() ? record_id : trace_id;
  return hex64(fnv1a(seed)) + hex64(fnv1a(seed, 0x84222325cbf29ce4ull));
}

// "2026-11-26T06:42:15.260Z" (what the SDK writes) to Unix nanoseconds as a decimal string; empty otherwise.
std::string unix_nanos(const json& v) {
  if (!v.is_string()) return {};
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, s = 0, ms = 0;
  if (std::sscanf(v.get_ref<const std::string&>().c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ", &y, &mo, &d, &h,
                  &mi, &s, &ms) < 6)
    return {};
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = s;
  const int64_t secs = static_cast<int64_t>(timegm(&tm));
  return std::to_string(secs * 1'000'000'000 + static_cast<int64_t>(ms) * 1'000'000);
}

// A member's string value; "" when absent or not a string (user JSON may hold anything).
std::string str_of(const json& o, const char* key, const char* fallback = "") {
  const auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : std::string(fallback);
}

json str_attr(std::string_view key, std::string_view v) {
  return {{"key", key}, {"value", {{"stringValue", v}}}};
}
json int_attr(std::string_view key, int64_t v) {
  return {{"key", key}, {"value", {{"intValue", std::to_string(v)}}}};
}
json dbl_attr(std::string_view key, double v) {
  return {{"key", key}, {"value", {{"doubleValue", v}}}};
}
std::string dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

// An OpenAI chat message to a GenAI semconv message ({role, parts}).
json semconv_message(const json& m) {
  json parts = json::array();
  const std::string role = str_of(m, "role", "user");
  if (!m.is_object()) return {{"role", "assistant"}, {"parts", json::array()}};
  const json content = m.value("content", json());
  if (role == "tool") {
    parts.push_back({{"type", "tool_call_response"},
                     {"id", str_of(m, "tool_call_id")},
                     {"response", content.is_string() ? content : json(dump(content))}});
  } else if (content.is_string()) {
    parts.push_back({{"type", "text"}, {"content", content}});
  } else if (content.is_array()) {
    for (const auto& p : content)
      if (p.is_object() && str_of(p, "type") == "text")
        parts.push_back({{"type", "text"}, {"content", str_of(p, "text")}});
  }
  if (const auto tc = m.find("tool_calls"); tc != m.end() && tc->is_array()) {
    for (const auto& c : *tc) {
      if (!c.is_object()) continue;
      const json fn = c.value("function", json::object());
      if (!fn.is_object()) continue;
      json args = fn.value("arguments", json());
      if (args.is_string()) {
        json parsed = json::parse(args.get_ref<const std::string&>(), nullptr, false);
        if (!parsed.is_discarded()) args = std::move(parsed);
      }
      parts.push_back({{"type", "tool_call"},
                       {"id", str_of(c, "id")},
                       {"name", str_of(fn, "name")},
                       {"arguments", args}});
    }
  }
  return {{"role", role}, {"parts", std::move(parts)}};
}

const char* operation_of(std::string_view kind) {
  if (kind == "llm" || kind.empty()) return "chat";
  if (kind == "tool") return "execute_tool";
  if (kind == "agent") return "invoke_agent";
  if (kind == "embedding") return "embeddings";
  return nullptr;
}

json span_of(const json& r) {
  const std::string id = str_of(r, "id");
  const std::string kind = str_of(r, "kind", "llm");
  const json request = r.value("request", json());
  const json response = r.value("response", json());
  json attrs = json::array();
  if (const char* op = operation_of(kind)) attrs.push_back(str_attr("gen_ai.operation.name", op));
  attrs.push_back(str_attr("llmtrace.kind", kind));
  attrs.push_back(str_attr("llmtrace.record_id", id));
  if (r.contains("session_id") && r["session_id"].is_string())
    attrs.push_back(str_attr("gen_ai.conversation.id", r["session_id"].get<std::string>()));
  if (r.contains("turn_number") && r["turn_number"].is_number_integer())
    attrs.push_back(int_attr("llmtrace.turn_number", r["turn_number"].get<int64_t>()));

  if (kind == "tool") {
    attrs.push_back(str_attr("gen_ai.tool.name", str_of(r, "name")));
    if (!request.is_null()) attrs.push_back(str_attr("gen_ai.tool.call.arguments", dump(request)));
    if (!response.is_null()) attrs.push_back(str_attr("gen_ai.tool.call.result", dump(response)));
  } else if (request.is_object() && (request.contains("messages") || request.contains("model"))) {
    if (request.contains("model") && request["model"].is_string())
      attrs.push_back(str_attr("gen_ai.request.model", request["model"].get<std::string>()));
    if (const auto m = request.find("messages"); m != request.end() && m->is_array()) {
      json in = json::array();
      for (const auto& msg : *m)
        if (msg.is_object()) in.push_back(semconv_message(msg));
      attrs.push_back(str_attr("gen_ai.input.messages", dump(in)));
    }
    if (const auto t = request.find("tools"); t != request.end() && t->is_array())
      attrs.push_back(str_attr("gen_ai.tool.definitions", dump(*t)));
    for (const char* p : {"temperature", "top_p", "frequency_penalty", "presence_penalty"})
      if (request.contains(p) && request[p].is_number())
        attrs.push_back(dbl_attr(std::string("gen_ai.request.") + p, request[p].get<double>()));
    if (request.contains("max_tokens") && request["max_tokens"].is_number_integer())
      attrs.push_back(int_attr("gen_ai.request.max_tokens", request["max_tokens"].get<int64_t>()));
  } else if (!request.is_null()) {
    attrs.push_back(str_attr("input.value", dump(request)));
  }
  if (kind != "tool" && response.is_object()) {
    if (const auto c = response.find("choices"); c != response.end() && c->is_array()) {
      json out = json::array();
      for (const auto& ch : *c) {
        if (!ch.is_object()) continue;
        json m = semconv_message(ch.value("message", json::object()));
        m["role"] = "assistant";
        if (ch.contains("finish_reason") && ch["finish_reason"].is_string()) {
          // The semconv spells the OpenAI "tool_calls" finish reason "tool_call".
          const std::string fr = ch["finish_reason"].get<std::string>();
          m["finish_reason"] = fr == "tool_calls" ? std::string("tool_call") : fr;
        }
        out.push_back(std::move(m));
      }
      attrs.push_back(str_attr("gen_ai.output.messages", dump(out)));
    } else {
      attrs.push_back(str_attr("output.value", dump(response)));
    }
    if (response.contains("id") && response["id"].is_string())
      attrs.push_back(str_attr("gen_ai.response.id", response["id"].get<std::string>()));
    if (const auto u = response.find("usage"); u != response.end() && u->is_object()) {
      if ((*u).contains("prompt_tokens") && (*u)["prompt_tokens"].is_number_integer())
        attrs.push_back(int_attr("gen_ai.usage.input_tokens", (*u)["prompt_tokens"].get<int64_t>()));
      if ((*u).contains("completion_tokens") && (*u)["completion_tokens"].is_number_integer())
        attrs.push_back(int_attr("gen_ai.usage.output_tokens", (*u)["completion_tokens"].get<int64_t>()));
    }
  }
  // The model that answered: the record's own, else the response's (the SDK leaves it to the collector).
  std::string model = str_of(r, "model");
  if (model.empty() && response.is_object()) model = str_of(response, "model");
  if (!model.empty()) attrs.push_back(str_attr("gen_ai.response.model", model));
  if (const auto md = r.find("metadata"); md != r.end() && md->is_object())
    for (const auto& [k, v] : md->items())
      attrs.push_back(str_attr("llmtrace.metadata." + k, v.is_string() ? v.get<std::string>() : dump(v)));

  std::string start = unix_nanos(r.value("started_at", json()));
  std::string end = unix_nanos(r.value("ended_at", json()));
  if (start.empty() || end.empty()) {
    const auto now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    if (end.empty()) end = std::to_string(now);
    if (start.empty()) {
      int64_t lat = r.contains("latency_ms") && r["latency_ms"].is_number()
                        ? static_cast<int64_t>(r["latency_ms"].get<double>() * 1e6)
                        : 0;
      start = std::to_string(std::stoll(end) - lat);
    }
  }
  json s = {{"traceId", trace_id_of(str_of(r, "trace_id"), id)},
            {"spanId", span_id_of(id)},
            {"name", str_of(r, "name", kind == "llm" ? "chat" : kind.c_str())},
            {"kind", kind == "llm" || kind == "embedding" ? 3 : 1},  // CLIENT for model calls, else INTERNAL
            {"startTimeUnixNano", start},
            {"endTimeUnixNano", end},
            {"attributes", std::move(attrs)}};
  if (const std::string parent = str_of(r, "parent_id"); !parent.empty())
    s["parentSpanId"] = span_id_of(parent);
  const std::string status = str_of(r, "status", "success");
  if (status == "error")
    s["status"] = {{"code", 2}, {"message", str_of(r, "error_message")}};
  else if (status == "success")
    s["status"] = {{"code", 1}};
  return s;
}

// ExportTraceServiceResponse: partialSuccess.rejectedSpans (an int64, as a string or a number).
uint64_t rejected_spans(const std::string& body, uint64_t) {
  const json j = json::parse(body, nullptr, false);
  if (!j.is_object() || !j.contains("partialSuccess") || !j["partialSuccess"].is_object()) return 0;
  const json& rs = j["partialSuccess"].value("rejectedSpans", json());
  if (rs.is_number_unsigned()) return rs.get<uint64_t>();
  if (rs.is_string()) return std::strtoull(rs.get_ref<const std::string&>().c_str(), nullptr, 10);
  return 0;
}

}  // namespace

std::string record_to_otlp_span(std::string_view record_json) {
  json r = json::parse(record_json, nullptr, false);
  if (!r.is_object()) return {};
  return dump(span_of(r));
}

otlp_json_exporter::otlp_json_exporter(const options& opts)
    : transport_(opts, "/v1/traces", {"OTLP receiver", "spans", &rejected_spans}, 0x9E3779B97F4A7C15ull) {}

void otlp_json_exporter::shutdown(steady_clock::time_point) noexcept {
  transport_.shutdown();
}

export_outcome otlp_json_exporter::export_batch(std::span<const std::string_view> records,
                                                export_context& ctx) noexcept {
  try {
    std::string body =
        "{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{"
        "\"stringValue\":"
        "\"llmtrace-sdk\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"llmtrace\",\"version\":"
        "\"" LLMTRACE_VERSION "\"},\"spans\":[";
    uint64_t n = 0, invalid = 0;
    for (auto r : records) {
      std::string s = record_to_otlp_span(r);
      if (s.empty()) {
        ++invalid;
        continue;
      }
      if (n++) body += ',';
      body += s;
    }
    body += "]}]}]}";
    if (n == 0) return {export_result::success, 0, invalid};
    export_outcome out = transport_.post(body, n, ctx);
    if (out.result == export_result::success) out.rejected += invalid;
    return out;
  } catch (...) {
    ctx.warn(warn_kind::internal, "exporter error");
    return {};
  }
}

}  // namespace llmtrace::detail
