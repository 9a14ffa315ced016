#include "support/fake_upstream.hpp"

#include <nlohmann/json.hpp>

#include <strings.h>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>

namespace llmtrace::test {
namespace {

using json = nlohmann::json;

std::string text_of(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string out;
    for (const auto& part : v) {
      if (part.is_string()) out += part.get<std::string>();
      if (part.is_object() && part.contains("text") && part["text"].is_string())
        out += part["text"].get<std::string>();
    }
    return out;
  }
  return {};
}

// The text the fake model "answers" to.
std::string prompt_text(const json& body) {
  if (body.contains("messages") && body["messages"].is_array() && !body["messages"].empty()) {
    const auto& last = body["messages"].back();
    if (last.is_object() && last.contains("content")) return text_of(last["content"]);
  }
  if (body.contains("prompt")) return text_of(body["prompt"]);
  if (body.contains("input")) {
    const auto& in = body["input"];
    if (in.is_array() && !in.empty() && in.back().is_object() && in.back().contains("content")) {
      return text_of(in.back()["content"]);
    }
    return text_of(in);
  }
  return {};
}

json usage() {
  return json{{"prompt_tokens", 11}, {"completion_tokens", 5}, {"total_tokens", 16}};
}

std::string sse(const json& j) {
  return "data: " + j.dump() + "\n\n";
}

json error_body(const std::string& message, const std::string& type, const std::string& code) {
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}};
}

// Splits an answer into small pieces, as a real model streams it.
std::vector<std::string> pieces(const std::string& s, std::size_t n = 4) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size(); i += n) out.push_back(s.substr(i, n));
  if (out.empty()) out.push_back("");
  return out;
}

json chat_chunk(const std::string& id, const std::string& model, const json& delta, const json& finish) {
  return json{{"id", id},
              {"object", "chat.completion.chunk"},
              {"created", 1700000000},
              {"model", model},
              {"choices", json::array({json{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}})}};
}

}  // namespace

std::string received_request::header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return {};
}

fake_upstream::fake_upstream(fake_upstream_options options) : options_(std::move(options)) {
  if (options_.https) {
    server_ = std::make_unique<httplib::SSLServer>(options_.cert_file.c_str(), options_.key_file.c_str());
  } else {
    server_ = std::make_unique<httplib::Server>();
  }
  if (!server_->is_valid()) throw std::runtime_error("fake upstream: server not valid (certificate?)");
  server_->new_task_queue = [] { return new httplib::ThreadPool(16); };
  server_->set_tcp_nodelay(true);
  auto handler = [this](const httplib::Request& req, httplib::Response& res) { handle(req, res); };
  for (const char* p : {"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"}) {
    server_->Post(p, handler);
  }
  server_->Post(".*", [this](const httplib::Request& req, httplib::Response& res) {
    record(req);
    res.status = 404;
    res.set_content(error_body("unknown path " + req.path, "invalid_request_error", "not_found").dump(),
                    "application/json");
  });
  port_ = server_->bind_to_any_port("127.0.0.1");
  if (port_ <= 0) throw std::runtime_error("fake upstream: cannot bind");
  thread_ = std::thread([this] { server_->listen_after_bind(); });
  while (!server_->is_running()) std::this_thread::yield();
}

fake_upstream::~fake_upstream() {
  release_slow();
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string fake_upstream::base_url() const {
  return std::string(options_.https ? "https" : "http") + "://127.0.0.1:" + std::to_string(port_) + "/v1";
}

std::vector<received_request> fake_upstream::received() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_;
}

std::size_t fake_upstream::request_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return received_.size();
}

received_request fake_upstream::last() const {
  std::lock_guard<std::mutex> lock(mutex_);
  if (received_.empty()) throw std::runtime_error("fake upstream: no request received");
  return received_.back();
}

void fake_upstream::release_slow() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    released_ = true;
  }
  cv_.notify_all();
}

bool fake_upstream::slow_waiting() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slow_waiting_ > 0;
}

int fake_upstream::slow_finished() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return slow_finished_;
}

void fake_upstream::record(const httplib::Request& req) {
  std::lock_guard<std::mutex> lock(mutex_);
  received_.push_back(received_request{req.path, req.headers, req.body});
}

void fake_upstream::handle(const httplib::Request& req, httplib::Response& res) {
  record(req);
  json body = json::parse(req.body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    res.status = 400;
    res.set_content(error_body("We could not parse the JSON body of your request.", "invalid_request_error",
                               "invalid_json")
                        .dump(),
                    "application/json");
    return;
  }
  const std::string model = body.value("model", std::string("fake-model"));
  const bool stream = body.value("stream", false);
  const bool include_usage = body.contains("stream_options") && body["stream_options"].is_object() &&
                             body["stream_options"].value("include_usage", false);
  // "fake-echo-key" repeats the Authorization it got, as real APIs do in "Incorrect API key provided: ...".
  const std::string answer = model == "fake-echo-key" ? "you sent " + req.get_header_value("Authorization")
                                                      : "echo: " + prompt_text(body);
  int n;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    n = ++counter_;
  }
  const std::string id = "chatcmpl-fake-" + std::to_string(n);
  res.set_header("x-request-id", "req_fake_" + std::to_string(n));
  res.set_header("Set-Cookie", "upstream_session=should-not-pass");

  if (model == "fake-429") {
    res.status = 429;
    res.set_header("retry-after", "1");
    res.set_content(
        error_body("Rate limit reached for fake-model in organization org-fake on requests per min.",
                   "requests", "rate_limit_exceeded")
            .dump(),
        "application/json");
    return;
  }
  if (model == "fake-401-echo") {
    res.status = 401;
    res.set_content(error_body("Incorrect API key provided: " + req.get_header_value("Authorization"),
                               "invalid_request_error", "invalid_api_key")
                        .dump(),
                    "application/json");
    return;
  }
  if (model == "fake-500") {
    res.status = 500;
    res.set_content(
        error_body("The server had an error while processing your request.", "server_error", "internal_error")
            .dump(),
        "application/json");
    return;
  }
  if (model == "fake-redirect") {
    res.status = 302;
    res.set_header("Location", "http://127.0.0.1:1/elsewhere");
    res.set_content("{}", "application/json");
    return;
  }
  if (model == "fake-huge") {
    res.set_content(std::string(1u << 20, 'x'), "text/plain");
    return;
  }

  const std::string endpoint = req.path.substr(3);  // after "/v1"
  if (endpoint == "/embeddings") {
    res.set_content(json{{"object", "list"},
                         {"data", json::array({json{{"object", "embedding"},
                                                    {"index", 0},
                                                    {"embedding", json::array({0.25, -0.5, 0.125})}}})},
                         {"model", model},
                         {"usage", {{"prompt_tokens", 3}, {"total_tokens", 3}}}}
                        .dump(),
                    "application/json");
    return;
  }
  if (endpoint == "/responses") {
    json response = {
        {"id", "resp_fake_" + std::to_string(n)},
        {"object", "response"},
        {"created_at", 1700000000},
        {"status", "completed"},
        {"model", model},
        {"output",
         json::array({json{{"type", "message"},
                           {"id", "msg_fake"},
                           {"role", "assistant"},
                           {"content", json::array({json{{"type", "output_text"}, {"text", answer}}})}}})},
        {"usage", {{"input_tokens", 11}, {"output_tokens", 5}, {"total_tokens", 16}}}};
    if (!stream) {
      res.set_content(response.dump(), "application/json");
      return;
    }
    std::string out;
    json created = response;
    created["status"] = "in_progress";
    created["output"] = json::array();
    out += "event: response.created\n" + sse(json{{"type", "response.created"}, {"response", created}});
    for (const auto& p : pieces(answer)) {
      out += "event: response.output_text.delta\n" + sse(json{{"type", "response.output_text.delta"},
                                                              {"output_index", 0},
                                                              {"content_index", 0},
                                                              {"delta", p}});
    }
    out += "event: response.completed\n" + sse(json{{"type", "response.completed"}, {"response", response}});
    res.set_content(out, "text/event-stream");
    return;
  }
  if (endpoint == "/completions") {
    if (!stream) {
      res.set_content(
          json{{"id", "cmpl-fake-" + std::to_string(n)},
               {"object", "text_completion"},
               {"created", 1700000000},
               {"model", model},
               {"choices",
                json::array({json{
                    {"index", 0}, {"text", answer}, {"finish_reason", "stop"}, {"logprobs", nullptr}}})},
               {"usage", usage()}}
              .dump(),
          "application/json");
      return;
    }
    std::string out;
    for (const auto& p : pieces(answer)) {
      out +=
          sse(json{{"id", "cmpl-fake"},
                   {"object", "text_completion"},
                   {"created", 1700000000},
                   {"model", model},
                   {"choices", json::array({json{{"index", 0}, {"text", p}, {"finish_reason", nullptr}}})}});
    }
    out += sse(json{{"id", "cmpl-fake"},
                    {"object", "text_completion"},
                    {"created", 1700000000},
                    {"model", model},
                    {"choices", json::array({json{{"index", 0}, {"text", ""}, {"finish_reason", "stop"}}})}});
    if (include_usage) {
      out += sse(json{{"id", "cmpl-fake"},
                      {"object", "text_completion"},
                      {"created", 1700000000},
                      {"model", model},
                      {"choices", json::array()},
                      {"usage", usage()}});
    }
    out += "data: [DONE]\n\n";
    res.set_content(out, "text/event-stream");
    return;
  }

  // /chat/completions
  const bool tools = model == "fake-tools";
  if (!stream) {
    json message = {{"role", "assistant"}, {"content", answer}};
    std::string finish = "stop";
    if (tools) {
      message["content"] = nullptr;
      message["tool_calls"] =
          json::array({json{{"id", "call_fake_1"},
                            {"type", "function"},
                            {"function", {{"name", "get_weather"}, {"arguments", "{\"city\":\"Paris\"}"}}}}});
      finish = "tool_calls";
    }
    res.set_content(
        json{{"id", id},
             {"object", "chat.completion"},
             {"created", 1700000000},
             {"model", model},
             {"choices",
              json::array({json{
                  {"index", 0}, {"message", message}, {"finish_reason", finish}, {"logprobs", nullptr}}})},
             {"usage", usage()}}
            .dump(),
        "application/json");
    return;
  }

  std::vector<std::string> chunks;
  chunks.push_back(sse(chat_chunk(id, model, json{{"role", "assistant"}, {"content", ""}}, nullptr)));
  if (tools) {
    chunks.push_back(sse(chat_chunk(
        id, model,
        json{{"tool_calls", json::array({json{{"index", 0},
                                              {"id", "call_fake_1"},
                                              {"type", "function"},
                                              {"function", {{"name", "get_"}, {"arguments", ""}}}}})}},
        nullptr)));
    chunks.push_back(sse(chat_chunk(
        id, model,
        json{{"tool_calls",
              json::array(
                  {json{{"index", 0}, {"function", {{"name", "weather"}, {"arguments", "{\"city\":"}}}}})}},
        nullptr)));
    chunks.push_back(sse(chat_chunk(
        id, model,
        json{{"tool_calls", json::array({json{{"index", 0}, {"function", {{"arguments", "\"Paris\"}"}}}}})}},
        nullptr)));
    chunks.push_back(sse(chat_chunk(id, model, json::object(), "tool_calls")));
  } else {
    for (const auto& p : pieces(answer))
      chunks.push_back(sse(chat_chunk(id, model, json{{"content", p}}, nullptr)));
    chunks.push_back(sse(chat_chunk(id, model, json::object(), "stop")));
  }
  if (include_usage) {
    json u = chat_chunk(id, model, json::object(), nullptr);
    u["choices"] = json::array();
    u["usage"] = usage();
    chunks.push_back(sse(u));
  }
  chunks.push_back("data: [DONE]\n\n");

  const bool slow = model == "fake-slow";
  const bool breaks = model == "fake-break";
  if (!slow && !breaks) {
    std::string all;
    for (const auto& c : chunks) all += c;
    res.set_content(all, "text/event-stream");
    return;
  }
  if (slow) {
    // Pad the answer so the stream has enough chunks for a disconnect to be noticed.
    std::vector<std::string> more;
    for (int i = 0; i < options_.slow_chunks; ++i) {
      more.push_back(sse(chat_chunk(id, model, json{{"content", " more" + std::to_string(i)}}, nullptr)));
    }
    chunks.insert(chunks.begin() + 2, more.begin(), more.end());
  }
  auto state = std::make_shared<std::size_t>(0);
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, chunks, state, slow, breaks](size_t, httplib::DataSink& sink) {
        std::size_t& next = *state;
        if (breaks && next == 3) return false;  // role + two pieces, then the connection drops
        if (slow && next == 2) {
          std::unique_lock<std::mutex> lock(mutex_);
          ++slow_waiting_;
          cv_.wait_for(lock, std::chrono::milliseconds(options_.slow_gate_timeout_ms),
                       [this] { return released_; });
          --slow_waiting_;
        } else if (slow && next > 2) {
          std::this_thread::sleep_for(std::chrono::milliseconds(options_.slow_delay_ms));  // pacing, not sync
        }
        if (next >= chunks.size()) {
          sink.done();
          return true;
        }
        const std::string& c = chunks[next++];
        if (!sink.write(c.data(), c.size())) return false;
        return true;
      },
      [this, slow](bool) {
        if (slow) {
          std::lock_guard<std::mutex> lock(mutex_);
          ++slow_finished_;
        }
      });
}

test_pki::test_pki() {
  char tmpl[] = "/tmp/llmtrace-pki-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
  dir = tmpl;
  ca_file = dir + "/ca.pem";
  other_ca_file = dir + "/other-ca.pem";
  server_cert = dir + "/server.pem";
  server_key = dir + "/server.key";
  const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes ";
  const std::string ca_ext =
      " -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign ";
  std::string script =
      "set -e; cd '" + dir + "'; exec >openssl.log 2>&1;" + "openssl req -x509" + ec +
      "-keyout ca.key -out ca.pem -days 2 -subj '/CN=llmtrace test CA'" + ca_ext + ";" + "openssl req -x509" +
      ec + "-keyout other.key -out other-ca.pem -days 2 -subj '/CN=untrusted CA'" + ca_ext + ";" +
      "openssl req" + ec + "-keyout server.key -out server.csr -subj '/CN=127.0.0.1';" +
      "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nbasicConstraints=CA:FALSE\\n"
      "extendedKeyUsage=serverAuth\\n' > ext.cnf;" +
      "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem "
      "-days 2 -extfile ext.cnf";
  std::string cmd = "sh -c \"" + script + "\"";
  // The script holds no double quotes, so one level of quoting is enough.
  if (std::system(cmd.c_str()) != 0) throw std::runtime_error("openssl failed, see " + dir + "/openssl.log");
}

test_pki::~test_pki() {
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace llmtrace::test
