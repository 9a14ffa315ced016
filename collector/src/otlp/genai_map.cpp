#include "otlp/genai_map.hpp"

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <iterator>
#include <map>
#include <optional>
#include <string_view>

#include "ingest/json_parse.hpp"

namespace llmtrace::otlp {
namespace {

using nlohmann::json;

// ---- attribute access ----

const json* attr(const json& a, std::string_view key) {
  auto it = a.find(key);
  return it == a.end() || it->is_null() ? nullptr : &*it;
}

std::string str(const json& a, std::string_view key) {
  const json* v = attr(a, key);
  if (!v) return {};
  if (v->is_string()) return v->get<std::string>();
  return v->dump(-1, ' ', false, json::error_handler_t::replace);
}

std::optional<int64_t> int_of(const json& v) {
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_float()) {
    const double d = v.get<double>();
    // Casting an out-of-range double is undefined behaviour; such a count is not a count.
    if (!(d >= -9.2e18 && d <= 9.2e18)) return std::nullopt;
    return static_cast<int64_t>(d);
  }
  if (v.is_string()) {
    const auto& s = v.get_ref<const std::string&>();
    int64_t out = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec == std::errc() && p == s.data() + s.size()) return out;
  }
  return std::nullopt;
}

std::optional<int64_t> first_int(const json& a, std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (const json* v = attr(a, k))
      if (auto n = int_of(*v)) return n;
  return std::nullopt;
}

// A string member, or `def` when absent or not a string (nlohmann's value() would throw on a wrong type).
std::string sval(const json& o, const char* key, const std::string& def) {
  if (!o.is_object()) return def;
  auto it = o.find(key);
  return it != o.end() && it->is_string() ? it->get<std::string>() : def;
}

std::string first_str(const json& a, std::initializer_list<std::string_view> keys) {
  for (auto k : keys)
    if (auto s = str(a, k); !s.empty()) return s;
  return {};
}

// A value that may be structured already (AnyValue kvlist/array) or a JSON document in a string.
json structured(const json& v) {
  if (!v.is_string()) return v;
  const auto& s = v.get_ref<const std::string&>();
  auto p = s.find_first_not_of(" \t\r\n");
  if (p == std::string::npos || (s[p] != '[' && s[p] != '{')) return v;
  auto parsed = ingest::parse_json_limited(s);
  return parsed.ok ? std::move(parsed.value) : v;
}

// Tool-call arguments travel as a JSON string in the OpenAI shape.
std::string as_arguments(const json& v) {
  if (v.is_null()) return "{}";
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string as_text(const json& v) {
  if (v.is_null()) return {};
  if (v.is_string()) return v.get<std::string>();
  return v.dump(-1, ' ', false, json::error_handler_t::replace);
}

// Flattened attributes "prefix.{i}.rest" (OpenLLMetry, OpenInference) grouped by index: i -> {rest: value}.
std::map<std::size_t, json> indexed_groups(const json& a, std::string_view prefix) {
  std::map<std::size_t, json> out;
  if (!a.is_object()) return out;
  // Keys are sorted, so the ones with this prefix form one run.
  const auto& obj = a.get_ref<const json::object_t&>();
  for (auto it = obj.lower_bound(prefix); it != obj.end(); ++it) {
    std::string_view k = it->first;
    if (k.substr(0, prefix.size()) != prefix) break;
    k.remove_prefix(prefix.size());
    std::size_t i = 0;
    auto [p, ec] = std::from_chars(k.data(), k.data() + k.size(), i);
    if (ec != std::errc() || p == k.data() || p == k.data() + k.size() || *p != '.') continue;
    auto& g = out[i];
    if (g.is_null()) g = json::object();
    g[std::string(p + 1, k.data() + k.size())] = it->second;
  }
  return out;
}

json tool_call(std::string id, std::string name, const json& arguments) {
  return {{"id", std::move(id)},
          {"type", "function"},
          {"function", {{"name", std::move(name)}, {"arguments", as_arguments(arguments)}}}};
}

// ---- dialect: OTel GenAI semconv, current (structured messages with parts) ----

struct parts_view {
  std::string text;
  bool has_text = false;
  json tool_calls = json::array();
  std::vector<std::pair<std::string, json>> tool_responses;  // id, response
};

parts_view read_parts(const json& parts) {
  parts_view pv;
  if (!parts.is_array()) return pv;
  for (const auto& p : parts) {
    if (!p.is_object()) continue;
    const std::string type = sval(p, "type", "");
    if (type == "text" || (type.empty() && p.contains("content"))) {
      if (pv.has_text) pv.text += "\n";
      pv.text += as_text(p.value("content", json()));
      pv.has_text = true;
    } else if (type == "tool_call") {
      pv.tool_calls.push_back(tool_call(as_text(p.value("id", json())), as_text(p.value("name", json())),
                                        p.value("arguments", json())));
    } else if (type == "tool_call_response") {
      pv.tool_responses.emplace_back(as_text(p.value("id", json())), p.value("response", json()));
    }
  }
  return pv;
}

void semconv_message(const json& m, json& out) {
  if (!m.is_object()) return;
  const std::string role = sval(m, "role", "user");
  // Some emitters put plain `content` instead of parts.
  parts_view pv = m.contains("parts") ? read_parts(m["parts"]) : parts_view{};
  if (!m.contains("parts") && m.contains("content")) {
    pv.text = as_text(m["content"]);
    pv.has_text = true;
  }
  for (auto& [id, resp] : pv.tool_responses)
    out.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", as_text(resp)}});
  if (!pv.tool_responses.empty() && !pv.has_text && pv.tool_calls.empty()) return;
  json msg = {{"role", role == "tool" && pv.tool_responses.size() ? "user" : role},
              {"content", pv.has_text ? json(pv.text) : json()}};
  if (!pv.tool_calls.empty()) msg["tool_calls"] = pv.tool_calls;
  out.push_back(std::move(msg));
}

json semconv_inputs(const json& a) {
  json msgs = json::array();
  if (const json* si = attr(a, "gen_ai.system_instructions")) {
    json v = structured(*si);
    parts_view pv = v.is_array() ? read_parts(v) : parts_view{};
    if (v.is_string()) pv.text = v.get<std::string>(), pv.has_text = true;
    if (pv.has_text) msgs.push_back({{"role", "system"}, {"content", pv.text}});
  }
  if (const json* im = attr(a, "gen_ai.input.messages")) {
    json v = structured(*im);
    if (v.is_array())
      for (const auto& m : v) semconv_message(m, msgs);
  }
  return msgs;
}

json semconv_choices(const json& a) {
  json choices = json::array();
  const json* om = attr(a, "gen_ai.output.messages");
  if (!om) return choices;
  json v = structured(*om);
  if (!v.is_array()) return choices;
  for (const auto& m : v) {
    if (!m.is_object()) continue;
    json msgs = json::array();
    semconv_message(m, msgs);
    if (msgs.empty()) continue;
    json choice = {{"index", choices.size()}, {"message", msgs.back()}};
    if (m.contains("finish_reason")) choice["finish_reason"] = m["finish_reason"];
    choices.push_back(std::move(choice));
  }
  return choices;
}

// ---- dialect: OpenLLMetry (gen_ai.prompt.{i}.*, gen_ai.completion.{i}.*) ----

json openllmetry_message(const json& g, bool output) {
  std::string role = sval(g, "role", output ? "assistant" : "user");
  json content = g.contains("content") ? structured(g["content"]) : json();
  // Multimodal content arrives as a JSON array string; keep only the text for the chat view and replay.
  if (content.is_array() && !content.empty() && content[0].is_object() && content[0].contains("type")) {
    std::string text;
    bool only_text = true;
    for (const auto& part : content) {
      if (sval(part, "type", "") == "text")
        text += (text.empty() ? "" : "\n") + as_text(part.value("text", json()));
      else
        only_text = false;
    }
    if (only_text) content = text;
  } else if (!content.is_null() && !content.is_string()) {
    content = g["content"];
  }
  json msg = {{"role", role}, {"content", content}};
  auto calls = indexed_groups(g, "tool_calls.");
  if (!calls.empty()) {
    json tc = json::array();
    for (auto& [i, c] : calls)
      tc.push_back(tool_call(str(c, "id"), str(c, "name"), c.value("arguments", json())));
    msg["tool_calls"] = tc;
  }
  if (g.contains("tool_call_id")) msg["tool_call_id"] = as_text(g["tool_call_id"]);
  if (output && g.contains("finish_reason")) msg["__finish_reason"] = g["finish_reason"];
  return msg;
}

// ---- dialect: OpenInference (llm.input_messages.{i}.message.*) ----

json openinference_message(const json& g) {
  json msg = {{"role", str(g, "message.role").empty() ? "user" : str(g, "message.role")},
              {"content", nullptr}};
  if (const json* c = attr(g, "message.content")) {
    msg["content"] = as_text(*c);
  } else {
    std::string text;
    bool any = false;
    for (auto& [i, part] : indexed_groups(g, "message.contents.")) {
      if (const json* t = attr(part, "message_content.text")) {
        text += (any ? "\n" : "") + as_text(*t);
        any = true;
      }
    }
    if (any) msg["content"] = text;
  }
  auto calls = indexed_groups(g, "message.tool_calls.");
  if (!calls.empty()) {
    json tc = json::array();
    for (auto& [i, c] : calls)
      tc.push_back(tool_call(str(c, "tool_call.id"), str(c, "tool_call.function.name"),
                             c.value("tool_call.function.arguments", json())));
    msg["tool_calls"] = tc;
  }
  if (const json* id = attr(g, "message.tool_call_id")) msg["tool_call_id"] = as_text(*id);
  if (const json* n = attr(g, "message.name")) msg["name"] = as_text(*n);
  return msg;
}

// ---- dialect: older semconv, content as events / log records ----

struct content_event {
  std::string name;
  uint64_t time = 0;
  uint64_t observed = 0;
  json payload;  // the log body, or the event's attributes
};

bool is_content_event(std::string_view name) {
  return name == "gen_ai.system.message" || name == "gen_ai.user.message" ||
         name == "gen_ai.assistant.message" || name == "gen_ai.tool.message" || name == "gen_ai.choice";
}

json event_tool_calls(const json& p) {
  json tc = json::array();
  const json* calls = attr(p, "tool_calls");
  if (!calls) return tc;
  json v = structured(*calls);
  if (!v.is_array()) return tc;
  for (const auto& c : v) {
    if (!c.is_object()) continue;
    json fn = c.value("function", json::object());
    if (!fn.is_object()) fn = json::object();
    tc.push_back(tool_call(as_text(c.value("id", json())), as_text(fn.value("name", json())),
                           fn.value("arguments", json())));
  }
  return tc;
}

json event_message(const content_event& e, std::string role) {
  json p = e.payload.is_object() ? e.payload : json{{"content", e.payload}};
  // Older Python instrumentations put the body in one JSON string attribute.
  if (const json* c = attr(p, "gen_ai.event.content")) {
    json inner = structured(*c);
    if (inner.is_object()) p = inner;
  }
  if (const json* r = attr(p, "role"); r && r->is_string()) role = r->get<std::string>();
  json msg = {{"role", role}, {"content", p.contains("content") ? json(as_text(p["content"])) : json()}};
  json tc = event_tool_calls(p);
  if (!tc.empty()) msg["tool_calls"] = tc;
  if (role == "tool" && p.contains("id")) msg["tool_call_id"] = as_text(p["id"]);
  return msg;
}

void messages_from_events(const std::vector<content_event>& events, json& messages, json& choices) {
  for (const auto& e : events) {
    if (e.name == "gen_ai.choice") {
      json p = e.payload.is_object() ? e.payload : json::object();
      if (const json* c = attr(p, "gen_ai.event.content")) {
        json inner = structured(*c);
        if (inner.is_object()) p = inner;
      }
      content_event inner{e.name, e.time, e.observed, p.value("message", json::object())};
      json choice = {{"index", int_of(p.value("index", json(0))).value_or(0)},
                     {"message", event_message(inner, "assistant")}};
      if (p.contains("finish_reason")) choice["finish_reason"] = p["finish_reason"];
      choices.push_back(std::move(choice));
      continue;
    }
    std::string role = e.name.substr(std::string_view("gen_ai.").size());
    role = role.substr(0, role.find('.'));
    messages.push_back(event_message(e, role));
  }
}

std::vector<content_event> content_events_of(const span& s, const std::vector<const log_record*>* logs) {
  std::vector<content_event> out;
  for (const auto& e : s.events)
    if (is_content_event(e.name)) out.push_back({e.name, e.time_unix_nano, 0, e.attributes});
  if (logs)
    for (const log_record* l : *logs)
      if (is_content_event(l->event_name)) {
        json p = l->body.is_object() ? l->body : json::object();
        if (!l->body.is_object() && !l->body.is_null()) p["content"] = l->body;
        out.push_back({l->event_name, l->time_unix_nano ? l->time_unix_nano : l->observed_time_unix_nano,
                       l->observed_time_unix_nano, p});
      }
  std::stable_sort(out.begin(), out.end(), [](const auto& x, const auto& y) {
    // Choices after the prompt, whatever their timestamps say.
    const bool cx = x.name == "gen_ai.choice", cy = y.name == "gen_ai.choice";
    // Instrumentations stamp all messages of a call with one time; the observed time (when each was emitted)
    // then breaks the tie, and arrival order after that (stable sort).
    if (cx != cy) return cy;
    return x.time != y.time ? x.time < y.time : x.observed < y.observed;
  });
  return out;
}

// ---- kinds, requests, responses ----

std::string upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  return s;
}

std::string kind_of(const json& a) {
  if (auto oi = upper(str(a, "openinference.span.kind")); !oi.empty()) {
    if (oi == "LLM") return "llm";
    if (oi == "EMBEDDING") return "embedding";
    if (oi == "TOOL") return "tool";
    if (oi == "AGENT") return "agent";
    if (oi == "CHAIN") return "chain";
    if (oi == "RETRIEVER" || oi == "RERANKER") return "retrieval";
    return "other";
  }
  const std::string op = str(a, "gen_ai.operation.name");
  if (op == "chat" || op == "text_completion" || op == "generate_content" || op == "completion") return "llm";
  if (op == "embeddings" || op == "embedding") return "embedding";
  if (op == "execute_tool") return "tool";
  if (op == "invoke_agent" || op == "create_agent") return "agent";
  if (auto tl = str(a, "traceloop.span.kind"); !tl.empty()) {
    if (tl == "tool") return "tool";
    if (tl == "agent") return "agent";
    if (tl == "workflow" || tl == "task") return "chain";
  }
  const std::string rt = str(a, "llm.request.type");
  if (rt == "chat" || rt == "completion") return "llm";
  if (rt == "embedding") return "embedding";
  if (rt == "rerank") return "retrieval";
  if (attr(a, "gen_ai.system") || attr(a, "gen_ai.provider.name") || attr(a, "gen_ai.request.model") ||
      attr(a, "llm.model_name"))
    return "llm";
  return "other";
}

void put_if(json& obj, const char* key, const json* v) {
  if (v && !obj.contains(key)) obj[key] = *v;
}

json tools_of(const json& a) {
  json tools = json::array();
  if (const json* d = attr(a, "gen_ai.tool.definitions")) {
    json v = structured(*d);
    if (v.is_array())
      for (const auto& t : v) {
        if (!t.is_object()) continue;
        if (t.contains("function"))
          tools.push_back(t);
        else
          tools.push_back({{"type", sval(t, "type", "function")},
                           {"function",
                            {{"name", t.value("name", json())},
                             {"description", t.value("description", json())},
                             {"parameters", structured(t.value("parameters", json::object()))}}}});
      }
  }
  if (tools.empty())
    for (auto& [i, g] : indexed_groups(a, "llm.tools.")) {
      json v = structured(g.value("tool.json_schema", json()));
      if (v.is_object()) tools.push_back(v);
    }
  if (tools.empty())
    for (auto& [i, g] : indexed_groups(a, "llm.request.functions.")) {
      json fn = {{"name", str(g, "name")}};
      if (g.contains("description")) fn["description"] = g["description"];
      fn["parameters"] = structured(g.value("parameters", json::object()));
      tools.push_back({{"type", "function"}, {"function", fn}});
    }
  return tools;
}

void parameters_into(const json& a, json& req) {
  put_if(req, "temperature", attr(a, "gen_ai.request.temperature"));
  put_if(req, "max_tokens", attr(a, "gen_ai.request.max_tokens"));
  put_if(req, "top_p", attr(a, "gen_ai.request.top_p"));
  put_if(req, "frequency_penalty", attr(a, "gen_ai.request.frequency_penalty"));
  put_if(req, "presence_penalty", attr(a, "gen_ai.request.presence_penalty"));
  put_if(req, "seed", attr(a, "gen_ai.request.seed"));
  put_if(req, "stop", attr(a, "gen_ai.request.stop_sequences"));
  put_if(req, "n", attr(a, "gen_ai.request.choice.count"));
  put_if(req, "frequency_penalty", attr(a, "llm.frequency_penalty"));
  put_if(req, "presence_penalty", attr(a, "llm.presence_penalty"));
  put_if(req, "top_p", attr(a, "llm.top_p"));
  if (const json* s = attr(a, "llm.is_streaming"); s && s->is_boolean() && s->get<bool>())
    req["stream"] = true;
  if (const json* ip = attr(a, "llm.invocation_parameters")) {
    json v = structured(*ip);
    if (v.is_object())
      for (auto it = v.begin(); it != v.end(); ++it)
        if (it.key() != "messages" && !req.contains(it.key())) req[it.key()] = it.value();
  }
}

// Finish reasons kept in a side key by the flattened dialects move into their choice.
json choices_from_messages(json msgs) {
  json choices = json::array();
  for (auto& m : msgs) {
    json choice = {{"index", choices.size()}};
    if (m.contains("__finish_reason")) {
      choice["finish_reason"] = m["__finish_reason"];
      m.erase("__finish_reason");
    }
    choice["message"] = std::move(m);
    choices.push_back(std::move(choice));
  }
  return choices;
}

struct conversation {
  json messages = json::array();
  json choices = json::array();
  std::string dialect;
};

conversation conversation_of(const json& a, const std::vector<content_event>& events) {
  conversation c;
  // Inputs: the first source that has any.
  c.messages = semconv_inputs(a);
  if (!c.messages.empty()) c.dialect = "otel_genai";
  if (c.messages.empty()) {
    for (auto& [i, g] : indexed_groups(a, "llm.input_messages."))
      c.messages.push_back(openinference_message(g));
    if (!c.messages.empty()) c.dialect = "openinference";
  }
  if (c.messages.empty()) {
    for (auto& [i, g] : indexed_groups(a, "gen_ai.prompt.")) {
      json m = openllmetry_message(g, false);
      m.erase("__finish_reason");
      c.messages.push_back(std::move(m));
    }
    if (!c.messages.empty()) c.dialect = "openllmetry";
  }
  // Outputs likewise.
  c.choices = semconv_choices(a);
  if (c.choices.empty()) {
    json out = json::array();
    for (auto& [i, g] : indexed_groups(a, "llm.output_messages.")) out.push_back(openinference_message(g));
    c.choices = choices_from_messages(std::move(out));
  }
  if (c.choices.empty()) {
    json out = json::array();
    for (auto& [i, g] : indexed_groups(a, "gen_ai.completion.")) out.push_back(openllmetry_message(g, true));
    c.choices = choices_from_messages(std::move(out));
  }
  // Events and log records fill only what the attributes did not carry.
  if (!events.empty() && (c.messages.empty() || c.choices.empty())) {
    json em = json::array(), ec = json::array();
    messages_from_events(events, em, ec);
    if (c.messages.empty() && !em.empty()) c.messages = std::move(em), c.dialect = "otel_genai";
    if (c.choices.empty() && !ec.empty()) c.choices = std::move(ec);
    if (c.dialect.empty()) c.dialect = "otel_genai";
  }
  return c;
}

std::string dialect_of(const json& a) {
  for (auto it = a.begin(); it != a.end(); ++it) {
    std::string_view k = it.key();
    if (k.substr(0, 14) == "openinference.") return "openinference";
    if (k.substr(0, 10) == "traceloop." || k.substr(0, 14) == "gen_ai.prompt." || k.substr(0, 4) == "llm.")
      return k.substr(0, 4) == "llm." && attr(a, "llm.model_name") ? "openinference" : "openllmetry";
  }
  return "otel_genai";
}

std::string session_of(const json& a) {
  return first_str(
      a, {"gen_ai.conversation.id", "session.id", "traceloop.association.properties.session_id",
          "traceloop.association.properties.sessionId", "traceloop.association.properties.conversation_id",
          "traceloop.association.properties.thread_id"});
}

const char* span_kind_name(span_kind k) {
  // Indexed by the OTLP enum value (span_kind's numbering); anything outside it reads as unspecified.
  static constexpr const char* k_names[] = {"unspecified", "internal", "server",
                                            "client",      "producer", "consumer"};
  static_assert(std::size(k_names) == static_cast<std::size_t>(span_kind::consumer) + 1);
  const auto i = static_cast<std::size_t>(k);
  return i < std::size(k_names) ? k_names[i] : k_names[0];
}

void fill_llm(record_draft& d, const json& a, const std::vector<content_event>& events) {
  // OpenInference's llm.model_name is the model that answered; the requested one is in the parameters.
  std::string request_model = first_str(a, {"gen_ai.request.model", "llm.request.model"});
  if (request_model.empty())
    if (const json* ip = attr(a, "llm.invocation_parameters")) {
      json v = structured(*ip);
      if (v.is_object() && v.contains("model") && v["model"].is_string()) request_model = v["model"];
    }
  if (request_model.empty()) request_model = str(a, "llm.model_name");
  const std::string response_model =
      first_str(a, {"gen_ai.response.model", "llm.response.model", "llm.model_name"});
  d.model = response_model.empty() ? request_model : response_model;

  auto& u = d.usage;
  u.prompt_tokens = first_int(a, {"gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens",
                                  "llm.token_count.prompt", "llm.usage.prompt_tokens"});
  u.completion_tokens = first_int(a, {"gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens",
                                      "llm.token_count.completion", "llm.usage.completion_tokens"});
  u.total_tokens =
      first_int(a, {"llm.usage.total_tokens", "llm.token_count.total", "gen_ai.usage.total_tokens"});
  if (!u.total_tokens && u.prompt_tokens && u.completion_tokens)
    u.total_tokens = *u.prompt_tokens + *u.completion_tokens;

  conversation c = conversation_of(a, events);
  d.dialect = c.dialect.empty() ? dialect_of(a) : c.dialect;

  json req = json::object();
  req["model"] = request_model.empty() ? d.model : request_model;
  req["messages"] = std::move(c.messages);
  if (json tools = tools_of(a); !tools.empty()) req["tools"] = std::move(tools);
  parameters_into(a, req);
  if (d.kind == "embedding") {
    req.erase("messages");
    if (const json* in = attr(a, "embedding.text")) req["input"] = *in;
  }
  d.request = std::move(req);

  if (d.status == model::record_status::error && c.choices.empty()) return;
  // Finish reasons the choices did not carry come from the span-level list.
  if (const json* fr = attr(a, "gen_ai.response.finish_reasons"); fr && fr->is_array())
    for (std::size_t i = 0; i < c.choices.size() && i < fr->size(); ++i)
      if (!c.choices[i].contains("finish_reason")) c.choices[i]["finish_reason"] = (*fr)[i];
  if (const json* fr = attr(a, "llm.finish_reason");
      fr && c.choices.size() == 1 && !c.choices[0].contains("finish_reason"))
    c.choices[0]["finish_reason"] = *fr;
  // The semconv says "tool_call" where the chat completion shape says "tool_calls".
  for (auto& ch : c.choices)
    if (ch.contains("finish_reason") && ch["finish_reason"] == "tool_call")
      ch["finish_reason"] = "tool_calls";
  json resp = {{"object", d.kind == "embedding" ? "list" : "chat.completion"}};
  if (auto id = first_str(a, {"gen_ai.response.id", "llm.response.id"}); !id.empty()) resp["id"] = id;
  resp["model"] = d.model;
  if (d.kind != "embedding") resp["choices"] = std::move(c.choices);
  json usage = json::object();
  if (u.prompt_tokens) usage["prompt_tokens"] = *u.prompt_tokens;
  if (u.completion_tokens) usage["completion_tokens"] = *u.completion_tokens;
  if (u.total_tokens) usage["total_tokens"] = *u.total_tokens;
  if (!usage.empty()) resp["usage"] = std::move(usage);
  d.response = std::move(resp);
}

void fill_other(record_draft& d, const json& a) {
  if (d.kind == "tool") {
    json req = json::object();
    req["name"] = first_str(a, {"gen_ai.tool.name", "tool.name", "traceloop.entity.name"});
    if (req["name"] == "") req["name"] = d.name;
    if (auto id = first_str(a, {"gen_ai.tool.call.id", "tool_call.id"}); !id.empty())
      req["tool_call_id"] = id;
    if (const json* args = attr(a, "gen_ai.tool.call.arguments"))
      req["arguments"] = structured(*args);
    else if (const json* in = attr(a, "input.value"))
      req["arguments"] = structured(*in);
    else if (const json* tin = attr(a, "traceloop.entity.input"))
      req["arguments"] = structured(*tin);
    d.request = std::move(req);
    if (const json* r = attr(a, "gen_ai.tool.call.result"))
      d.response = {{"result", structured(*r)}};
    else if (const json* out = attr(a, "output.value"))
      d.response = {{"result", structured(*out)}};
    else if (const json* tout = attr(a, "traceloop.entity.output"))
      d.response = {{"result", structured(*tout)}};
    return;
  }
  if (const json* in = attr(a, "input.value"))
    d.request = {{"input", structured(*in)}};
  else if (const json* tin = attr(a, "traceloop.entity.input"))
    d.request = {{"input", structured(*tin)}};
  if (const json* out = attr(a, "output.value"))
    d.response = {{"output", structured(*out)}};
  else if (const json* tout = attr(a, "traceloop.entity.output"))
    d.response = {{"output", structured(*tout)}};
}

}  // namespace

const std::vector<const log_record*>* content_index::find(const std::string& trace_id,
                                                          const std::string& span_id) const {
  const std::string key = trace_id + span_id;
  auto it = std::lower_bound(by_span.begin(), by_span.end(), key,
                             [](const auto& e, const std::string& k) { return e.first < k; });
  return it != by_span.end() && it->first == key ? &it->second : nullptr;
}

content_index index_content_logs(const logs_request& logs) {
  std::map<std::string, std::vector<const log_record*>> m;
  for (const auto& l : logs.records)
    if (!l.span_id.empty() && !l.trace_id.empty()) m[l.trace_id + l.span_id].push_back(&l);
  content_index idx;
  for (auto& [k, v] : m) idx.by_span.emplace_back(k, std::move(v));
  return idx;
}

record_draft map_span(const span& s, const json& resource_attributes, const scope_info& scope,
                      const std::vector<const log_record*>* logs) {
  const json& a = s.attributes;
  record_draft d;
  d.id = s.span_id;
  d.trace_id = s.trace_id;
  d.parent_id = s.parent_span_id;
  d.name = s.name;
  d.kind = kind_of(a);
  d.started_at_ms = static_cast<int64_t>(s.start_time_unix_nano / 1'000'000);
  d.ended_at_ms = static_cast<int64_t>(s.end_time_unix_nano / 1'000'000);
  if (s.end_time_unix_nano >= s.start_time_unix_nano)
    d.latency_ms = static_cast<double>(s.end_time_unix_nano - s.start_time_unix_nano) / 1e6;

  if (s.status == status_code::error) {
    d.status = model::record_status::error;
    d.error_message = s.status_message;
    if (d.error_message.empty())
      for (const auto& e : s.events)
        if (e.name == "exception")
          d.error_message = first_str(e.attributes, {"exception.message", "exception.type"});
    if (d.error_message.empty()) d.error_message = first_str(a, {"error.type"});
  }

  d.metadata = a;
  d.metadata["otel.resource"] = resource_attributes;
  d.metadata["otel.scope"] = {{"name", scope.name}, {"version", scope.version}};
  d.metadata["otel.span_kind"] = span_kind_name(s.kind);
  json other_events = json::array();
  for (const auto& e : s.events)
    if (!is_content_event(e.name))
      other_events.push_back(
          {{"name", e.name}, {"time_unix_nano", e.time_unix_nano}, {"attributes", e.attributes}});
  if (!other_events.empty()) d.metadata["otel.events"] = std::move(other_events);
  if (!s.links.empty()) {
    json links = json::array();
    for (const auto& l : s.links) links.push_back({{"trace_id", l.trace_id}, {"span_id", l.span_id}});
    d.metadata["otel.links"] = std::move(links);
  }

  d.session_hint = session_of(a);
  if (d.kind == "llm" || d.kind == "embedding")
    fill_llm(d, a, content_events_of(s, logs));
  else
    fill_other(d, a);
  return d;
}

std::vector<record_draft> map_spans(const traces_request& req, const content_index* logs) {
  static const json no_resource = json::object();
  static const scope_info no_scope;
  std::vector<record_draft> out;
  out.reserve(req.spans.size());
  for (const auto& s : req.spans) {
    const json& res = s.resource_index < req.resources.size() ? req.resources[s.resource_index] : no_resource;
    const scope_info& sc = s.scope_index < req.scopes.size() ? req.scopes[s.scope_index] : no_scope;
    out.push_back(map_span(s, res, sc, logs ? logs->find(s.trace_id, s.span_id) : nullptr));
  }
  return out;
}

json to_json(const record_draft& d) {
  json usage = json::object();
  if (d.usage.prompt_tokens) usage["prompt_tokens"] = *d.usage.prompt_tokens;
  if (d.usage.completion_tokens) usage["completion_tokens"] = *d.usage.completion_tokens;
  if (d.usage.total_tokens) usage["total_tokens"] = *d.usage.total_tokens;
  return {{"id", d.id},
          {"trace_id", d.trace_id},
          {"parent_id", d.parent_id.empty() ? json() : json(d.parent_id)},
          {"name", d.name},
          {"kind", d.kind},
          {"started_at_ms", d.started_at_ms},
          {"ended_at_ms", d.ended_at_ms},
          {"latency_ms", d.latency_ms},
          {"status", model::to_string(d.status)},
          {"error_message", d.error_message},
          {"model", d.model.empty() ? json() : json(d.model)},
          {"usage", usage.empty() ? json() : usage},
          {"request", d.request},
          {"response", d.response},
          {"metadata", d.metadata},
          {"session_hint", d.session_hint.empty() ? json() : json(d.session_hint)},
          {"dialect", d.dialect}};
}

bool apply_content_logs(json& request, json& response, const std::vector<const log_record*>& logs) {
  span none;
  auto events = content_events_of(none, &logs);
  if (events.empty()) return false;
  json msgs = json::array(), choices = json::array();
  messages_from_events(events, msgs, choices);
  bool changed = false;
  if (!request.is_object()) request = json::object();
  if (!msgs.empty() && (!request.contains("messages") || request["messages"].empty())) {
    request["messages"] = std::move(msgs);
    changed = true;
  }
  if (!choices.empty()) {
    if (!response.is_object()) response = {{"object", "chat.completion"}};
    if (!response.contains("choices") || response["choices"].empty()) {
      response["choices"] = std::move(choices);
      changed = true;
    }
  }
  return changed;
}

}  // namespace llmtrace::otlp
