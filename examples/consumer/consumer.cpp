// A program outside the llmtrace tree that links the C++ SDK (llmtrace::llmtrace): one record, flushed.
// Usage: consumer-cpp [session-id]   (LLMTRACE_ENDPOINT selects the collector)
#include <iostream>
#include <string>

#include <llmtrace/llmtrace.hpp>

int main(int argc, char** argv) {
  const std::string session = argc > 1 ? argv[1] : "consumer-cpp";
  llmtrace::client tracer;  // LLMTRACE_ENDPOINT or http://127.0.0.1:8080
  tracer.trace(llmtrace::record{
      .session_id = session,
      .request_json = R"({"model":"consumer-model","messages":[{"role":"user","content":"hi from C++"}]})",
      .response_json = R"({"choices":[{"message":{"role":"assistant","content":"hello"}}]})"});
  const auto r = tracer.shutdown(std::chrono::seconds(5));
  std::cout << "shutdown: " << llmtrace::to_string(r) << std::endl;
  return r == llmtrace::flush_result::ok ? 0 : 1;
}
