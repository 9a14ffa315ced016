// The smallest use of the SDK: one record, flushed before exit.
#include <iostream>

#include "llmtrace/llmtrace.hpp"

int main() {
  llmtrace::client tracer;  // LLMTRACE_ENDPOINT or http://127.0.0.1:8080
  const auto t = tracer.trace(llmtrace::record{
      .session_id = "hello-session",
      .request_json = R"({"model":"m","messages":[{"role":"user","content":"hi"}]})",
      .response_json = R"({"choices":[{"message":{"role":"assistant","content":"hello"}}]})"});
  const auto r = tracer.flush(std::chrono::seconds(5));
  std::cout << "trace: " << llmtrace::to_string(t) << ", flush: " << llmtrace::to_string(r) << std::endl;
  return r == llmtrace::flush_result::ok ? 0 : 1;
}
