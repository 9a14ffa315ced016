// llmtrace C++ SDK: record LLM calls with trace(), which never blocks and never throws; a background flusher
// ships batches to the collector. Threading: a client is safe to use from any number of threads at once;
// trace() touches only atomics, a recycled buffer and a lock-free queue, and never wakes the flusher.
// Lifetime: destroying a client flushes within options::exit_flush_deadline and never hangs; a call or
// session must not outlive the client it came from.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace llmtrace {

// SDK version, "MAJOR.MINOR.PATCH".
const char* version() noexcept;

enum class status { pending, success, error };

// What a record (span) stands for; SPEC "Data model". llm is the default and is not written out for a plain
// record (the collector assumes it); a span always writes its kind.
enum class kind { llm, agent, tool, retrieval, embedding, chain, other };
const char* to_string(kind k) noexcept;

// What trace() does when the queue's byte budget is used up.
enum class overflow_policy {
  drop_new,  // drop the new record and count it (default: the caller never waits)
  block,     // wait up to options::block_timeout for room, then drop and count
};

// What the client sends: the collector's own batches (POST <endpoint>/api/traces), or OTLP/HTTP JSON spans
// (POST <endpoint>/v1/traces, OTel GenAI conventions) for any OpenTelemetry Collector, llmtrace's included.
enum class protocol { native, otlp_json };

// Plain aggregate: designated initializers work, e.g. llmtrace::options{.endpoint = "http://127.0.0.1:9000"}.
struct options {
  std::string endpoint = "http://127.0.0.1:8080";  // collector base URL (http only)
  std::string api_key{};                           // sent as "Authorization: Bearer <key>" when not empty
  std::size_t queue_limit_bytes = 64u << 20;       // memory budget of queued records (payload + overhead)
  std::size_t max_batch_records = 512;
  std::size_t max_batch_bytes = 1u << 20;
  // 50 ms: a lone record reaches the collector (and live viewers) within ~50 ms; idle, 20 wakes a second.
  std::chrono::milliseconds flush_interval{50};
  std::chrono::milliseconds connect_timeout{1000};
  std::chrono::milliseconds request_timeout{5000};
  int max_retries = 5;  // extra attempts of one batch after a retryable failure
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};  // cap of the exponential backoff and of Retry-After
  overflow_policy overflow = overflow_policy::drop_new;
  std::chrono::milliseconds block_timeout{10};          // only with overflow_policy::block
  bool gzip = false;                                    // compress batch bodies (Content-Encoding: gzip)
  bool disabled = false;                                // trace() is a no-op
  std::chrono::milliseconds exit_flush_deadline{2000};  // destructor / atexit flush bound
  // Receives rate-limited warnings (never a record's content). Empty: write them to stderr.
  // Called on the flusher thread or the caller's thread; must not call back into the client.
  std::function<void(std::string_view)> on_warning{};
  llmtrace::protocol protocol = llmtrace::protocol::native;  // LLMTRACE_PROTOCOL=otlp_json overrides

  // The one place that reads the environment: LLMTRACE_ENDPOINT, LLMTRACE_API_KEY, LLMTRACE_DISABLED=1,
  // LLMTRACE_PROTOCOL (native | otlp_json) override the matching fields of `base`.
  static options from_env(options base);
  static options from_env();
};

// One LLM call. Views: the strings are copied into the queue by trace(), so they only need to live
// for the duration of that call. JSON fields are embedded verbatim and must be valid JSON text
// (empty: omitted). Empty strings / unset optionals are omitted and the collector fills them.
struct record {
  std::string_view id{};          // empty: a new UUIDv7 is generated
  std::string_view session_id{};  // empty: the collector creates a session
  int64_t turn_number = 0;        // 0: the collector assigns the next turn
  std::string_view request_json{};
  std::string_view response_json{};
  llmtrace::status status = llmtrace::status::success;
  std::string_view error_message{};
  std::string_view metadata_json{};  // a JSON object
  std::string_view model{};
  std::optional<std::chrono::system_clock::time_point> started_at{};
  std::optional<std::chrono::system_clock::time_point> ended_at{};
  std::optional<double> latency_ms{};
  std::string_view parent_id{};  // for nested spans (tool calls, retrieval, agent steps)
  std::string_view trace_id{};   // shared by the records of one tree (span: 32 lowercase hex)
  std::string_view name{};       // span name, e.g. "plan", "chat", "search"
  llmtrace::kind kind = llmtrace::kind::llm;
  bool write_kind = false;  // write "kind" even when it is llm (spans do); other kinds are always written
};

// What trace() did with a record. Only ok means it was queued; every other result is counted nowhere else
// but here (queue_full also in stats::dropped).
enum class trace_result {
  ok,          // queued; the flusher will deliver it (or count it in stats)
  queue_full,  // the queue's byte budget is used up: dropped and counted in stats::dropped
  disabled,    // the client is disabled (options::disabled or LLMTRACE_DISABLED=1): nothing done
  stopped,     // shutdown() was called (or the client was moved from)
  invalid,     // trace_json(): the text is not shaped like one JSON object: nothing queued
};
const char* to_string(trace_result r) noexcept;

struct stats {
  uint64_t enqueued = 0;     // records accepted into the queue
  uint64_t dropped = 0;      // records refused because the queue was full (never enqueued)
  uint64_t sent = 0;         // records the collector committed
  uint64_t failed = 0;       // records rejected by the collector, whose batch failed for good, or invalid
  uint64_t invalid = 0;      // of `failed`: records the flusher found not to be valid JSON (never sent)
  uint64_t retried = 0;      // batch attempts repeated after a retryable failure
  uint64_t discarded = 0;    // enqueued records abandoned at shutdown or inherited by a forked child
  uint64_t queue_bytes = 0;  // memory currently held by queued records
  uint64_t requests = 0;     // HTTP requests made
};

enum class flush_result {
  ok,        // everything enqueued before the call was delivered or dropped
  timeout,   // the deadline passed first
  disabled,  // the client is disabled
  stopped,   // the client was shut down
};
const char* to_string(flush_result r) noexcept;

// What a score is attached to (client::score): one record (a turn's call) or one session.
enum class score_target { record, session };

// A score's value: thumbs up/down (true/false), a number (finite), or a label ("hallucination"). Implicit
// from bool, int, double and strings, so client.score(..., false) and client.score(..., "wrong") read well.
// A label is a view: it must live for the duration of the score() call.
struct score_value {
  enum class type { boolean, number, label };
  score_value(bool v) noexcept : t(type::boolean), b(v) {}                // NOLINT: implicit on purpose
  score_value(int v) noexcept : t(type::number), n(v) {}                  // NOLINT
  score_value(double v) noexcept : t(type::number), n(v) {}               // NOLINT
  score_value(const char* v) noexcept : t(type::label), s(v ? v : "") {}  // NOLINT
  score_value(std::string_view v) noexcept : t(type::label), s(v) {}      // NOLINT
  score_value(const std::string& v) noexcept : t(type::label), s(v) {}    // NOLINT
  type t;
  bool b = false;
  double n = 0;
  std::string_view s{};
};

enum class score_status {
  ok,           // stored (HTTP 201)
  invalid,      // refused before sending: empty id or name, or a number that is not finite
  not_found,    // the collector has no such record or session (HTTP 404)
  rejected,     // the collector refused it for another reason (HTTP 400 bad value/name/comment, 401, ...)
  unreachable,  // no answer: connection refused, timeout, or not an HTTP answer
  disabled,     // the client is disabled: nothing sent
  stopped,      // the client was shut down (or moved from): nothing sent
  internal,     // unexpected error inside the SDK (out of memory): nothing sent
};
const char* to_string(score_status s) noexcept;

struct score_result {
  score_status status = score_status::invalid;
  int http_status = 0;     // the collector's answer; 0 when none came
  std::string message;     // why it failed, readable (the collector's own message when it sent one)
  std::string field;       // the field the collector named in a 4xx ("value", "name", "id"), else empty
  std::string score_json;  // ok: the stored score as the collector returned it (id, created_at, ...)
  explicit operator bool() const noexcept { return status == score_status::ok; }
};

// A time-ordered UUIDv7 ("xxxxxxxx-xxxx-7xxx-yxxx-xxxxxxxxxxxx").
std::string new_id();

class call;
class session;
class span;
struct detail_access;  // defined in src/ (client_access.hpp): builds a client around a chosen exporter

class client {
 public:
  explicit client(options opts = options::from_env());
  ~client();  // flushes within options::exit_flush_deadline, then stops the flusher
  client(client&&) noexcept;
  client& operator=(client&&) noexcept;
  client(const client&) = delete;
  client& operator=(const client&) = delete;

  // Queue one record. Embedded JSON fields are validated on the flusher: a record that is not valid JSON is
  // dropped there and counted in stats::invalid (never sent half).
  trace_result trace(const record& r) noexcept;
  trace_result trace(std::string_view session_id, int64_t turn_number, std::string_view request_json,
                     std::string_view response_json, llmtrace::status st = llmtrace::status::success,
                     std::string_view error_message = {}, std::string_view metadata_json = {}) noexcept;
  // Queue one record already serialised as a JSON object in the POST /api/trace shape (what the C API and
  // the bindings call). The caller's thread checks only the shape (first byte '{', last '}') and copies the
  // text once, with a new "id" member written in front; the flusher validates it fully and, when the record
  // has its own top-level "id", keeps that one instead. Returns invalid for a text not shaped like an object.
  trace_result trace_json(std::string_view record_json) noexcept;

  // RAII helper: sends a pending record now; finish()/fail() (or the destructor) send the final one.
  call start_call(std::string_view session_id, std::string_view request_json, int64_t turn_number = 0,
                  std::string_view model = {});

  // Root span of a new trace (see class span). Empty session_id: a new one is generated and the tree takes
  // turn 1 of it, so the whole tree lands in one session and one turn; with a session_id and turn 0 the
  // collector assigns the turn.
  span start_span(std::string_view name, llmtrace::kind k = llmtrace::kind::llm,
                  std::string_view session_id = {}, int64_t turn_number = 0) noexcept;

  // Attaches a score (feedback or an evaluation, with an optional comment; empty: none) to a record or a
  // session: ONE direct POST to <endpoint>/api/{records|sessions}/<id>/scores with the client's API key and
  // connect/request timeouts, not through the trace queue (flush() first if the record may still be queued).
  // Blocks for that request; never retried (a repeated POST would store the score twice); never throws.
  score_result score(score_target target, std::string_view target_id, std::string_view name,
                     score_value value, std::string_view comment = {}) noexcept;

  flush_result flush(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;
  // Flushes, then stops the flusher; returns within `timeout` even if the collector never answers
  // (timeout is then reported and unsent records are counted as discarded). Later trace() calls drop.
  flush_result shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;

  llmtrace::stats stats() const noexcept;
  bool disabled() const noexcept;
  bool stopped() const noexcept;  // shutdown() was called (or the client was moved from)

  struct impl;

 private:
  friend struct detail_access;  // white-box tests and in-process exporters (src/)
  explicit client(std::shared_ptr<impl> p) noexcept;
  std::shared_ptr<impl> impl_;
};

// One in-flight LLM call. Movable, not copyable. If destroyed without finish() or fail(), records an
// error: the in-flight exception's message when unwinding, else "abandoned".
class call {
 public:
  call(call&&) noexcept;
  call& operator=(call&&) noexcept;
  call(const call&) = delete;
  call& operator=(const call&) = delete;
  ~call();

  void finish(std::string_view response_json, std::string_view metadata_json = {}) noexcept;
  void fail(std::string_view error_message, std::string_view response_json = {}) noexcept;

  const std::string& id() const noexcept { return id_; }
  const std::string& session_id() const noexcept { return session_id_; }
  int64_t turn_number() const noexcept { return turn_number_; }
  bool done() const noexcept { return done_; }

 private:
  friend class client;
  call(std::shared_ptr<client::impl> c, std::string session_id, int64_t turn_number, std::string request_json,
       std::string model);
  void send_final(llmtrace::status st, std::string_view response_json, std::string_view error_message,
                  std::string_view metadata_json) noexcept;

  std::shared_ptr<client::impl> impl_;  // keeps working if the client object is moved
  std::string id_;
  std::string session_id_;
  int64_t turn_number_ = 0;
  std::string request_json_;
  std::string model_;
  std::chrono::system_clock::time_point started_at_;
  std::chrono::steady_clock::time_point started_steady_;
  int uncaught_at_start_ = 0;
  bool done_ = false;
};

// Owns a session id (generated when not given) and numbers turns 1, 2, 3... atomically.
// Not movable (the counter is shared by all threads using it); must not outlive its client.
class session {
 public:
  explicit session(client& c, std::string id = {});
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  const std::string& id() const noexcept { return id_; }
  int64_t next_turn() noexcept { return next_turn_.fetch_add(1, std::memory_order_relaxed) + 1; }

  call start_call(std::string_view request_json, std::string_view model = {});
  // Root span of a new trace in this session, on the next turn.
  span start_span(std::string_view name, llmtrace::kind k = llmtrace::kind::llm) noexcept;
  // Fills session_id and, when 0, turn_number.
  trace_result trace(record r) noexcept;

 private:
  client& client_;
  std::string id_;
  std::atomic<int64_t> next_turn_{0};
};

// One node of a trace tree (agent step, LLM call, tool call, ...), sent as ONE record when it ends:
// `id` = span id (16 lowercase hex), `trace_id` (32 lowercase hex, shared by the tree), `parent_id` (the
// parent span's id; absent on a root), `name`, `kind`, `started_at` (taken at start), `ended_at` and
// `latency_ms` (taken at end), and the session and turn of its root.
//   auto agent = client.start_span("plan", llmtrace::kind::agent);
//   auto llm = agent.child("chat", llmtrace::kind::llm);
//   llm.end(request_json, response_json);   // sent now
//   agent.end();                            // children may end before or after their parent
// A span destroyed without end()/fail() is sent as an error "span not ended" ("span not ended: exception in
// flight" while unwinding). Nothing throws and nothing blocks: start/child only generate ids
// and copy strings, end() is one trace(). end()/fail() may be called from any thread, concurrently with
// child() on others; only the first end()/fail() sends. Movable, not copyable; keeps the client's state
// alive, so it works even after the client object is moved. A default-constructed or moved-from span is
// inert (end() does nothing, ids empty).
class span {
 public:
  span() noexcept = default;
  span(span&&) noexcept;
  span& operator=(span&&) noexcept;
  span(const span&) = delete;
  span& operator=(const span&) = delete;
  ~span();

  // A child span: same trace, session and turn; parent_id = this span's id.
  span child(std::string_view name, llmtrace::kind k = llmtrace::kind::llm) const noexcept;

  // Sends the record (status success). JSON texts are embedded verbatim (empty: null / omitted).
  trace_result end(std::string_view request_json = {}, std::string_view response_json = {},
                   std::string_view metadata_json = {}) noexcept;
  // Sends the record with status error.
  trace_result fail(std::string_view error_message, std::string_view request_json = {},
                    std::string_view response_json = {}) noexcept;

  const std::string& id() const noexcept { return id_; }  // span id, 16 lowercase hex
  const std::string& trace_id() const noexcept { return trace_id_; }
  const std::string& parent_id() const noexcept { return parent_id_; }
  const std::string& name() const noexcept { return name_; }
  const std::string& session_id() const noexcept { return session_id_; }
  int64_t turn_number() const noexcept { return turn_number_; }
  llmtrace::kind kind() const noexcept { return kind_; }
  bool ended() const noexcept { return !impl_ || done_.load(std::memory_order_acquire); }

 private:
  friend class client;
  span(std::shared_ptr<client::impl> c, std::string trace_id, std::string parent_id, std::string name,
       llmtrace::kind k, std::string session_id, int64_t turn_number) noexcept;
  trace_result send(llmtrace::status st, std::string_view error_message, std::string_view request_json,
                    std::string_view response_json, std::string_view metadata_json) noexcept;

  std::shared_ptr<client::impl> impl_;
  std::string id_, trace_id_, parent_id_, name_, session_id_;
  int64_t turn_number_ = 0;
  llmtrace::kind kind_ = llmtrace::kind::llm;
  std::chrono::system_clock::time_point started_at_{};
  std::chrono::steady_clock::time_point started_steady_{};
  int uncaught_at_start_ = 0;
  std::atomic<bool> done_{false};
};

// A process-wide client built from options::from_env() on first use; flushed at exit (atexit) within
// its exit_flush_deadline. Never destroyed, so it is safe to use from other static destructors.
client& default_client();

}  // namespace llmtrace
