// A multi-turn agent against any OpenAI-compatible endpoint, tracing every call with llmtrace's RAII helper.
//   OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_API_KEY, OPENAI_MODEL (default gpt-4o-mini),
//   LLMTRACE_ENDPOINT (default http://127.0.0.1:8080), LLMTRACE_SESSION (optional session id).
// Usage: llmtrace-example-agent [prompt...]   (each prompt is one turn; the conversation carries over)
// Prints the session id on stdout, then one line per turn.
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "llmtrace/llmtrace.hpp"

namespace {

std::string env_or(const char* name, const char* fallback) {
  const char* v = std::getenv(name);
  return v && *v ? v : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> prompts(argv + 1, argv + argc);
  if (prompts.empty()) prompts = {"Plan a three-step trip.", "Add a budget.", "Summarise it in one line."};

  const std::string base = env_or("OPENAI_BASE_URL", "https://api.openai.com/v1");
  const std::string key = env_or("OPENAI_API_KEY", "");
  const std::string model = env_or("OPENAI_MODEL", "gpt-4o-mini");

  // "http://host:port/v1" -> httplib client on scheme+host, requests on the path.
  const auto scheme_end = base.find("://");
  const auto path_at = base.find('/', scheme_end == std::string::npos ? 0 : scheme_end + 3);
  const std::string origin = path_at == std::string::npos ? base : base.substr(0, path_at);
  std::string prefix = path_at == std::string::npos ? "" : base.substr(path_at);
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();

  httplib::Client http(origin);
  http.set_tcp_nodelay(true);
  http.set_read_timeout(std::chrono::seconds(60));
  if (!key.empty()) http.set_bearer_token_auth(key);

  llmtrace::client tracer;  // options::from_env(): LLMTRACE_ENDPOINT, LLMTRACE_API_KEY, LLMTRACE_DISABLED
  llmtrace::session session(tracer, env_or("LLMTRACE_SESSION", ""));
  std::cout << session.id() << std::endl;

  nlohmann::json messages = nlohmann::json::array();
  messages.push_back({{"role", "system"}, {"content", "You are a concise assistant."}});
  int failures = 0;
  for (const auto& prompt : prompts) {
    messages.push_back({{"role", "user"}, {"content", prompt}});
    const nlohmann::json request = {{"model", model}, {"messages", messages}};
    const std::string body = request.dump();

    auto call = session.start_call(body, model);  // pending record now; final record when finished
    auto res = http.Post(prefix + "/chat/completions", body, "application/json");
    if (!res) {
      call.fail("upstream unreachable: " + httplib::to_string(res.error()));
      std::cout << "turn " << call.turn_number() << ": error (unreachable)" << std::endl;
      ++failures;
      continue;
    }
    if (res->status != 200) {
      call.fail("upstream HTTP " + std::to_string(res->status),
                nlohmann::json::accept(res->body) ? res->body : "");
      std::cout << "turn " << call.turn_number() << ": error (HTTP " << res->status << ")" << std::endl;
      ++failures;
      messages.erase(messages.end() - 1);  // drop the failed turn from the conversation
      continue;
    }
    call.finish(res->body);
    auto reply = nlohmann::json::parse(res->body, nullptr, false);
    std::string text;
    if (!reply.is_discarded() && reply.contains("choices") && !reply["choices"].empty())
      text = reply["choices"][0]["message"].value("content", "");
    messages.push_back({{"role", "assistant"}, {"content", text}});
    std::cout << "turn " << call.turn_number() << ": " << text << std::endl;
  }

  const auto flushed = tracer.shutdown(std::chrono::seconds(5));
  const auto s = tracer.stats();
  std::cerr << "llmtrace: " << llmtrace::to_string(flushed) << ", sent " << s.sent << ", failed " << s.failed
            << ", dropped " << s.dropped << std::endl;
  return flushed == llmtrace::flush_result::ok ? 0 : 2;
}
