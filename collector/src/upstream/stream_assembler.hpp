// Turns a streamed OpenAI-compatible response (Server-Sent Events) back into the single response object a
// non-streamed call would have returned, so a streamed call is stored like any other. Pure: no I/O, no clock
// (the caller passes the time of each feed), bytes may be split anywhere, even inside a line or a UTF-8 char.
// Threading: one instance per stream, used from one thread at a time.
#pragma once

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace llmtrace::upstream {

struct sse_event {
  std::string event;  // the `event:` field; empty when not sent
  std::string data;   // `data:` lines joined with '\n'
  std::string id;
};

// Incremental SSE parser (WHATWG rules: LF, CRLF or CR line ends; ':' comments; one optional space after
// ':').
class sse_parser {
 public:
  // Appends every event completed by these bytes to out.
  void feed(std::string_view bytes, std::vector<sse_event>& out);
  std::vector<sse_event> feed(std::string_view bytes) {
    std::vector<sse_event> out;
    feed(bytes, out);
    return out;
  }
  // Bytes still waiting for a line end or blank line.
  std::size_t buffered() const noexcept { return line_.size() + data_.size(); }

 private:
  void process_line(std::vector<sse_event>& out);

  std::string line_;
  bool last_was_cr_ = false;
  std::string event_;
  std::string data_;
  bool has_data_ = false;
  std::string id_;
};

// Assembles chat.completion chunks, text_completion chunks and Responses API events.
class stream_assembler {
 public:
  // Feed raw SSE bytes as they arrive; now_ms is the caller's clock (for time to first token).
  void feed(std::string_view bytes, int64_t now_ms);
  // One already-parsed `data:` payload (a JSON text, or "[DONE]").
  void feed_data(std::string_view data, std::string_view event_name, int64_t now_ms);

  // The assembled response: an object shaped like the non-streamed response; null when nothing arrived.
  nlohmann::json assembled() const;
  // The stream ended properly ([DONE], response.completed/failed/incomplete).
  bool finished() const noexcept { return finished_; }
  std::size_t event_count() const noexcept { return events_; }
  // When the first content (text, tool call, refusal) arrived, in the caller's clock.
  std::optional<int64_t> first_token_ms() const noexcept { return first_token_ms_; }
  // An error reported inside the stream ({"error":{...}} payload or a response.failed/error event).
  const std::optional<std::string>& stream_error() const noexcept { return stream_error_; }

 private:
  struct tool_call {
    std::string id;
    std::string type;
    std::string name;
    std::string arguments;
    bool is_function = false;
  };
  struct choice {
    int64_t index = 0;
    std::string role;
    std::string content;
    bool has_content = false;
    std::string refusal;
    bool has_refusal = false;
    std::vector<std::pair<int64_t, tool_call>> tool_calls;  // by tool call index, in arrival order
    nlohmann::json finish_reason;                           // null until sent
    nlohmann::json logprobs;
  };
  enum class kind { unknown, chat, completion, responses };

  choice& choice_at(int64_t index);
  void mark_token(int64_t now_ms);
  void on_chat_or_completion(const nlohmann::json& chunk, int64_t now_ms);
  void on_responses_event(const nlohmann::json& event, int64_t now_ms);

  sse_parser parser_;
  std::vector<sse_event> pending_;
  kind kind_ = kind::unknown;
  std::size_t events_ = 0;
  bool finished_ = false;
  std::optional<int64_t> first_token_ms_;
  std::optional<std::string> stream_error_;

  // chat / completions
  nlohmann::json id_;
  nlohmann::json created_;
  nlohmann::json model_;
  nlohmann::json system_fingerprint_;
  nlohmann::json service_tier_;
  nlohmann::json usage_;
  std::vector<choice> choices_;

  // responses
  nlohmann::json response_;  // latest full snapshot (created / in_progress / completed)
  bool response_final_ = false;
  std::string response_text_;  // output_text deltas, used when no final snapshot arrived
};

}  // namespace llmtrace::upstream
