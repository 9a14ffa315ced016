// The smallest use of the SDK: one record, then a small span tree (agent -> llm -> tool), flushed before
// exit.
#include <iostream>

#include "llmtrace/llmtrace.hpp"

int main() {
  llmtrace::client tracer;  // LLMTRACE_ENDPOINT or http://127.0.0.1:8080
  const auto t = tracer.trace(llmtrace::record{
      .session_id = "hello-session",
      .request_json = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
      .response_json = R"({"choices":[{"message":{"role":"assistant","content":"hello"}}]})"});
  {
    // Each span is sent once, when it ends; all three share a trace id, a session and turn 1.
    auto agent = tracer.start_span("plan", llmtrace::kind::agent, "hello-spans", 1);
    auto llm = agent.child("chat");
    auto tool = llm.child("lookup", llmtrace::kind::tool);
    tool.end(R"({"q":"greeting"})", R"({"hits":["hello"]})");
    llm.end(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
            R"({"choices":[{"message":{"role":"assistant","content":"hello"}}]})");
    agent.end();
  }
  const auto r = tracer.flush(std::chrono::seconds(5));
  std::cout << "trace: " << llmtrace::to_string(t) << ", flush: " << llmtrace::to_string(r) << std::endl;
  return r == llmtrace::flush_result::ok ? 0 : 1;
}
