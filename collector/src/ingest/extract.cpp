#include "ingest/extract.hpp"

#include <optional>

#include "json_text/json_text.hpp"

namespace llmtrace::ingest {
namespace {

using json = nlohmann::json;

const json* member(const json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return nullptr;
  return &*it;
}

std::string string_member(const json& j, const char* key) {
  const json* v = member(j, key);
  return v && v->is_string() ? v->get<std::string>() : std::string();
}

std::optional<int64_t> token_count(const json& usage, const char* a, const char* b = nullptr) {
  for (const char* k : {a, b}) {
    if (!k) continue;
    const json* v = member(usage, k);
    if (!v) continue;
    if (v->is_number_integer() || v->is_number_unsigned()) {
      auto n = v->get<int64_t>();
      if (n >= 0) return n;
    } else if (v->is_number_float()) {
      double d = v->get<double>();
      if (d >= 0 && d < 9e15) return static_cast<int64_t>(d);
    }
  }
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> cached_token_count(const json& usage) {
  // chat.completions: prompt_tokens_details; responses API: input_tokens_details.
  for (const char* k : {"prompt_tokens_details", "input_tokens_details"}) {
    const json* d = member(usage, k);
    if (d && d->is_object())
      if (auto n = token_count(*d, "cached_tokens")) return n;
  }
  return std::nullopt;
}

namespace {

// A responses-API stream event ("response.completed") wraps the response object.
const json& unwrap_response(const json& j) {
  const json* inner = member(j, "response");
  if (inner && inner->is_object()) {
    std::string type = string_member(j, "type");
    if (type.rfind("response.", 0) == 0 || !member(j, "choices")) return *inner;
  }
  return j;
}

bool usage_from(const json& obj, model::token_usage& u) {
  const json* usage = member(unwrap_response(obj), "usage");
  if (!usage || !usage->is_object()) return false;
  u.prompt_tokens = token_count(*usage, "prompt_tokens", "input_tokens");
  u.completion_tokens = token_count(*usage, "completion_tokens", "output_tokens");
  u.total_tokens = token_count(*usage, "total_tokens");
  u.cached_tokens = cached_token_count(*usage);
  if (!u.total_tokens && u.prompt_tokens && u.completion_tokens)
    u.total_tokens = *u.prompt_tokens + *u.completion_tokens;
  if (!u.total_tokens && u.prompt_tokens && !u.completion_tokens) u.total_tokens = u.prompt_tokens;
  return u.prompt_tokens || u.completion_tokens || u.total_tokens;
}

class text_sink {
 public:
  explicit text_sink(std::size_t max) : max_(max) {}
  void add(std::string_view s) {
    if (s.empty() || full()) return;
    if (!out_.empty()) out_ += '\n';
    // Only what can be kept is copied (a 15 MiB message must not become a 15 MiB buffer for 256 KiB of
    // text), plus the bytes of the character the cut may fall in, so the cut never splits a character.
    const std::size_t room = max_ > out_.size() ? max_ - out_.size() : 0;
    out_.append(s.substr(0, room + 4));
    if (out_.size() > max_) out_.resize(json_text::utf8_prefix(out_, max_).size());
  }
  bool full() const { return out_.size() >= max_; }
  std::string take() { return std::move(out_); }

 private:
  std::size_t max_;
  std::string out_;
};

// content: a string, or an array of parts ({"type":"text"|"input_text"|"output_text","text":...} or strings).
void add_content(const json& content, text_sink& out) {
  if (content.is_string()) {
    out.add(content.get_ref<const std::string&>());
  } else if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_string()) {
        out.add(part.get_ref<const std::string&>());
      } else if (part.is_object()) {
        const json* t = member(part, "text");
        if (t && t->is_string())
          out.add(t->get_ref<const std::string&>());
        else if (t && t->is_object())
          out.add(string_member(*t, "value"));  // assistants-style text object
      }
    }
  }
}

void add_messages(const json& messages, text_sink& out) {
  if (!messages.is_array()) return;
  for (const auto& m : messages) {
    if (out.full()) return;
    if (m.is_string()) {
      out.add(m.get_ref<const std::string&>());
    } else if (m.is_object()) {
      if (const json* c = member(m, "content")) add_content(*c, out);
    }
  }
}

void add_request(const json& req, text_sink& out) {
  if (req.is_string()) {
    out.add(req.get_ref<const std::string&>());
    return;
  }
  if (!req.is_object()) return;
  if (const json* s = member(req, "system")) add_content(*s, out);
  if (const json* i = member(req, "instructions"); i && i->is_string())
    out.add(i->get_ref<const std::string&>());
  if (const json* m = member(req, "messages")) add_messages(*m, out);
  if (const json* in = member(req, "input")) {
    if (in->is_string())
      out.add(in->get_ref<const std::string&>());
    else
      add_messages(*in, out);  // responses API items and embeddings string arrays alike
  }
  if (const json* p = member(req, "prompt")) {
    if (p->is_string())
      out.add(p->get_ref<const std::string&>());
    else if (p->is_array())
      for (const auto& s : *p)
        if (s.is_string()) out.add(s.get_ref<const std::string&>());
  }
}

void add_response_object(const json& raw, text_sink& out) {
  const json& resp = unwrap_response(raw);
  if (const json* choices = member(resp, "choices"); choices && choices->is_array()) {
    for (const auto& c : *choices) {
      if (const json* msg = member(c, "message"))
        if (const json* content = member(*msg, "content")) add_content(*content, out);
      if (const json* t = member(c, "text"); t && t->is_string()) out.add(t->get_ref<const std::string&>());
    }
  }
  if (const json* ot = member(resp, "output_text"); ot && ot->is_string())
    out.add(ot->get_ref<const std::string&>());
  else if (const json* output = member(resp, "output"); output && output->is_array()) {
    for (const auto& item : *output)
      if (const json* c = member(item, "content")) add_content(*c, out);
  }
  if (const json* content = member(resp, "content")) add_content(*content, out);  // Messages-API shape
}

bool is_chunk_array(const json& resp) {
  return resp.is_array() && !resp.empty() && resp.front().is_object();
}

}  // namespace

std::string extract_model(const json& request, const json& response) {
  if (response.is_object()) {
    std::string m = string_member(unwrap_response(response), "model");
    if (!m.empty()) return m;
  } else if (is_chunk_array(response)) {
    for (const auto& chunk : response) {
      std::string m = string_member(unwrap_response(chunk), "model");
      if (!m.empty()) return m;
    }
  }
  return string_member(request, "model");
}

model::token_usage extract_usage(const json& response) {
  model::token_usage u;
  if (response.is_object()) {
    usage_from(response, u);
  } else if (is_chunk_array(response)) {
    // The chunk that has it: with stream_options.include_usage that is the last one.
    for (auto it = response.rbegin(); it != response.rend(); ++it) {
      model::token_usage c;
      if (usage_from(*it, c)) return c;
    }
  }
  return u;
}

std::string extract_search_text(const json& request, const json& response, std::size_t max_bytes) {
  text_sink out(max_bytes);
  add_request(request, out);
  if (response.is_string()) {
    out.add(response.get_ref<const std::string&>());
  } else if (response.is_object()) {
    add_response_object(response, out);
  } else if (is_chunk_array(response)) {
    std::string streamed;
    for (const auto& chunk : response) {
      if (const json* choices = member(chunk, "choices"); choices && choices->is_array())
        for (const auto& c : *choices)
          if (const json* d = member(c, "delta"))
            if (const json* content = member(*d, "content"); content && content->is_string())
              streamed += content->get_ref<const std::string&>();
      std::string type = string_member(chunk, "type");
      if (type == "response.output_text.delta") streamed += string_member(chunk, "delta");
      if (streamed.size() > max_bytes) break;
    }
    out.add(streamed);
  }
  return out.take();
}

extracted_fields extract_all(const json& request, const json& response) {
  return {extract_model(request, response), extract_usage(response), extract_search_text(request, response)};
}

}  // namespace llmtrace::ingest
