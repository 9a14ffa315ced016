#include "upstream/stream_assembler.hpp"

#include <algorithm>

namespace llmtrace::upstream {
namespace {

using json = nlohmann::json;

std::string string_or_empty(const json& j, const char* key) {
  auto it = j.find(key);
  if (it != j.end() && it->is_string()) return it->get<std::string>();
  return {};
}

int64_t int_or(const json& j, const char* key, int64_t fallback) {
  auto it = j.find(key);
  if (it != j.end() && it->is_number_integer()) return it->get<int64_t>();
  return fallback;
}

std::string error_text(const json& error) {
  if (error.is_string()) return error.get<std::string>();
  if (error.is_object()) {
    std::string message = string_or_empty(error, "message");
    std::string code = string_or_empty(error, "code");
    if (code.empty()) code = string_or_empty(error, "type");
    if (!code.empty() && !message.empty()) return code + ": " + message;
    if (!message.empty()) return message;
    if (!code.empty()) return code;
  }
  return error.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace

void sse_parser::feed(std::string_view bytes, std::vector<sse_event>& out) {
  for (char c : bytes) {
    if (c == '\n' && last_was_cr_) {  // the LF of a CRLF split across or within feeds
      last_was_cr_ = false;
      continue;
    }
    last_was_cr_ = false;
    if (c == '\r' || c == '\n') {
      last_was_cr_ = c == '\r';
      process_line(out);
      line_.clear();
      continue;
    }
    line_.push_back(c);
  }
}

void sse_parser::process_line(std::vector<sse_event>& out) {
  if (line_.empty()) {  // blank line: dispatch
    if (has_data_ || !event_.empty()) {
      out.push_back(sse_event{event_, data_, id_});
    }
    event_.clear();
    data_.clear();
    has_data_ = false;
    return;
  }
  if (line_.front() == ':') return;  // comment / keep-alive
  std::string_view line(line_);
  std::string_view field = line;
  std::string_view value;
  auto colon = line.find(':');
  if (colon != std::string_view::npos) {
    field = line.substr(0, colon);
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  } else if (field == "event") {
    event_ = std::string(value);
  } else if (field == "id") {
    id_ = std::string(value);
  }
}

void stream_assembler::feed(std::string_view bytes, int64_t now_ms) {
  pending_.clear();
  parser_.feed(bytes, pending_);
  for (const auto& e : pending_) feed_data(e.data, e.event, now_ms);
  pending_.clear();
}

void stream_assembler::feed_data(std::string_view data, std::string_view event_name, int64_t now_ms) {
  if (data == "[DONE]") {
    finished_ = true;
    return;
  }
  json j = json::parse(data.begin(), data.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return;  // not ours to judge: a non-JSON keep-alive payload
  ++events_;
  if (auto it = j.find("error");
      it != j.end() && !it->is_null() && !j.contains("choices") && !j.contains("type")) {
    stream_error_ = error_text(*it);
    return;
  }
  std::string type = string_or_empty(j, "type");
  if (type.empty() && !event_name.empty() && event_name.rfind("response.", 0) == 0)
    type = std::string(event_name);
  if (type.rfind("response.", 0) == 0 || type == "error") {
    kind_ = kind::responses;
    on_responses_event(j, now_ms);
    return;
  }
  on_chat_or_completion(j, now_ms);
}

void stream_assembler::mark_token(int64_t now_ms) {
  if (!first_token_ms_) first_token_ms_ = now_ms;
}

stream_assembler::choice& stream_assembler::choice_at(int64_t index) {
  for (auto& c : choices_) {
    if (c.index == index) return c;
  }
  choices_.emplace_back();
  choices_.back().index = index;
  return choices_.back();
}

void stream_assembler::on_chat_or_completion(const json& chunk, int64_t now_ms) {
  std::string object = string_or_empty(chunk, "object");
  if (kind_ == kind::unknown) {
    if (object == "text_completion") {
      kind_ = kind::completion;
    } else {
      kind_ = kind::chat;
    }
  }
  auto keep = [&](json& slot, const char* key) {
    auto it = chunk.find(key);
    if (it != chunk.end() && !it->is_null()) slot = *it;
  };
  keep(id_, "id");
  keep(created_, "created");
  keep(model_, "model");
  keep(system_fingerprint_, "system_fingerprint");
  keep(service_tier_, "service_tier");
  keep(usage_, "usage");

  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) return;
  for (const auto& ch : *choices) {
    if (!ch.is_object()) continue;
    choice& c = choice_at(int_or(ch, "index", 0));
    if (auto fr = ch.find("finish_reason"); fr != ch.end() && !fr->is_null()) c.finish_reason = *fr;
    if (auto lp = ch.find("logprobs"); lp != ch.end() && !lp->is_null()) {
      // Token logprobs arrive per chunk: keep them all, in order, like the non-streamed shape.
      if (lp->is_object() && lp->contains("content") && (*lp)["content"].is_array()) {
        if (c.logprobs.is_null()) c.logprobs = json{{"content", json::array()}};
        for (const auto& item : (*lp)["content"]) c.logprobs["content"].push_back(item);
      } else {
        c.logprobs = *lp;
      }
    }
    if (auto text = ch.find("text"); text != ch.end() && text->is_string()) {  // /completions
      const auto& s = text->get_ref<const std::string&>();
      if (!s.empty()) mark_token(now_ms);
      c.content += s;
      c.has_content = true;
    }
    auto delta = ch.find("delta");
    if (delta == ch.end() || !delta->is_object()) continue;
    if (auto role = delta->find("role"); role != delta->end() && role->is_string())
      c.role = role->get<std::string>();
    if (auto content = delta->find("content"); content != delta->end() && content->is_string()) {
      const auto& s = content->get_ref<const std::string&>();
      if (!s.empty()) mark_token(now_ms);
      c.content += s;
      c.has_content = true;
    }
    if (auto refusal = delta->find("refusal"); refusal != delta->end() && refusal->is_string()) {
      const auto& s = refusal->get_ref<const std::string&>();
      if (!s.empty()) mark_token(now_ms);
      c.refusal += s;
      c.has_refusal = true;
    }
    auto calls = delta->find("tool_calls");
    if (calls == delta->end() || !calls->is_array()) continue;
    for (const auto& tc : *calls) {
      if (!tc.is_object()) continue;
      int64_t idx = int_or(tc, "index", 0);
      auto found = std::find_if(c.tool_calls.begin(), c.tool_calls.end(),
                                [&](const auto& p) { return p.first == idx; });
      if (found == c.tool_calls.end()) {
        c.tool_calls.emplace_back(idx, tool_call{});
        found = std::prev(c.tool_calls.end());
      }
      tool_call& call = found->second;
      mark_token(now_ms);
      call.id += string_or_empty(tc, "id");
      if (auto t = string_or_empty(tc, "type"); !t.empty()) call.type = t;
      if (auto fn = tc.find("function"); fn != tc.end() && fn->is_object()) {
        call.is_function = true;
        call.name += string_or_empty(*fn, "name");
        call.arguments += string_or_empty(*fn, "arguments");
      }
    }
  }
}

void stream_assembler::on_responses_event(const json& event, int64_t now_ms) {
  std::string type = string_or_empty(event, "type");
  if (type == "error") {
    stream_error_ = error_text(event.contains("error") ? event["error"] : event);
    return;
  }
  if (auto r = event.find("response"); r != event.end() && r->is_object()) {
    if (!response_final_) response_ = *r;
    if (type == "response.completed" || type == "response.failed" || type == "response.incomplete") {
      response_ = *r;
      response_final_ = true;
      finished_ = true;
      if (type == "response.failed") {
        auto err = r->find("error");
        stream_error_ =
            err != r->end() && !err->is_null() ? error_text(*err) : std::string("response failed");
      }
    }
    return;
  }
  if (type == "response.output_text.delta" || type == "response.refusal.delta" ||
      type == "response.function_call_arguments.delta") {
    auto d = event.find("delta");
    if (d != event.end() && d->is_string()) {
      if (!d->get_ref<const std::string&>().empty()) mark_token(now_ms);
      if (type == "response.output_text.delta") response_text_ += d->get_ref<const std::string&>();
    }
  }
}

json stream_assembler::assembled() const {
  if (kind_ == kind::responses) {
    if (response_final_) return response_;
    json r = response_.is_object() ? response_ : json::object();
    if (!r.contains("object")) r["object"] = "response";
    if (!response_text_.empty()) {
      // No final snapshot (the stream broke): keep what the model said so far.
      r["output"] = json::array(
          {json{{"type", "message"},
                {"role", "assistant"},
                {"content", json::array({json{{"type", "output_text"}, {"text", response_text_}}})}}});
    }
    return r;
  }
  if (kind_ == kind::unknown) return nullptr;

  json out = json::object();
  if (!id_.is_null()) out["id"] = id_;
  out["object"] = kind_ == kind::completion ? "text_completion" : "chat.completion";
  if (!created_.is_null()) out["created"] = created_;
  if (!model_.is_null()) out["model"] = model_;
  if (!system_fingerprint_.is_null()) out["system_fingerprint"] = system_fingerprint_;
  if (!service_tier_.is_null()) out["service_tier"] = service_tier_;

  std::vector<const choice*> ordered;
  for (const auto& c : choices_) ordered.push_back(&c);
  std::sort(ordered.begin(), ordered.end(),
            [](const choice* a, const choice* b) { return a->index < b->index; });
  json choices = json::array();
  for (const choice* c : ordered) {
    json item = json::object();
    item["index"] = c->index;
    if (kind_ == kind::completion) {
      item["text"] = c->content;
    } else {
      json message = json::object();
      message["role"] = c->role.empty() ? "assistant" : c->role;
      // The non-streamed API answers content null for a pure tool call.
      message["content"] = c->has_content || c->tool_calls.empty() ? json(c->content) : json(nullptr);
      if (c->has_refusal) message["refusal"] = c->refusal;
      if (!c->tool_calls.empty()) {
        auto calls = c->tool_calls;
        std::stable_sort(calls.begin(), calls.end(),
                         [](const auto& a, const auto& b) { return a.first < b.first; });
        json arr = json::array();
        for (const auto& [idx, call] : calls) {
          json t = json::object();
          t["id"] = call.id;
          t["type"] = call.type.empty() ? "function" : call.type;
          if (call.is_function || call.type.empty() || call.type == "function") {
            t["function"] = json{{"name", call.name}, {"arguments", call.arguments}};
          }
          arr.push_back(std::move(t));
        }
        message["tool_calls"] = std::move(arr);
      }
      item["message"] = std::move(message);
    }
    item["logprobs"] = c->logprobs;
    item["finish_reason"] = c->finish_reason;
    choices.push_back(std::move(item));
  }
  out["choices"] = std::move(choices);
  if (!usage_.is_null()) out["usage"] = usage_;
  return out;
}

}  // namespace llmtrace::upstream
