// The public facade: client, session and the default client forward to client::impl (client_impl.hpp);
// options::from_env is the one place that reads the environment.
#include <cstdlib>
#include <iterator>
#include <utility>

#include "client_access.hpp"
#include "enum_names.hpp"
#include "fork.hpp"
#include "http_exporter.hpp"
#include "ids.hpp"
#include "otlp_exporter.hpp"

#ifndef LLMTRACE_VERSION
#define LLMTRACE_VERSION "0.0.0"
#endif

namespace llmtrace {

using std::chrono::milliseconds;

const char* version() noexcept {
  return LLMTRACE_VERSION;
}

namespace {
constexpr const char* k_flush_names[] = {"ok", "timeout", "disabled", "stopped"};
static_assert(std::size(k_flush_names) == static_cast<std::size_t>(flush_result::stopped) + 1);
constexpr const char* k_trace_names[] = {"ok", "queue_full", "disabled", "stopped", "invalid"};
static_assert(std::size(k_trace_names) == static_cast<std::size_t>(trace_result::invalid) + 1);
constexpr const char* k_kind_names[] = {"llm", "agent", "tool", "retrieval", "embedding", "chain", "other"};
static_assert(std::size(k_kind_names) == static_cast<std::size_t>(kind::other) + 1);
}  // namespace

const char* to_string(flush_result r) noexcept {
  return detail::name_of(r, k_flush_names, "unknown");
}
const char* to_string(trace_result r) noexcept {
  return detail::name_of(r, k_trace_names, "unknown");
}
const char* to_string(kind k) noexcept {
  return detail::name_of(k, k_kind_names, "other");
}

std::string new_id() {
  std::string s(detail::k_id_len, '\0');
  detail::write_uuid_v7(s.data());
  return s;
}

options options::from_env() {
  return from_env(options{});
}

options options::from_env(options base) {
  if (const char* e = std::getenv("LLMTRACE_ENDPOINT"); e && *e) base.endpoint = e;
  if (const char* k = std::getenv("LLMTRACE_API_KEY"); k && *k) base.api_key = k;
  if (const char* d = std::getenv("LLMTRACE_DISABLED"); d && *d) {
    const std::string v = d;
    base.disabled = (v == "1" || v == "true" || v == "TRUE" || v == "yes" || v == "on");
  }
  if (const char* p = std::getenv("LLMTRACE_PROTOCOL"); p && *p) {
    const std::string v = p;
    if (v == "otlp_json" || v == "otlp" || v == "http/json") base.protocol = protocol::otlp_json;
    if (v == "native") base.protocol = protocol::native;
  }
  return base;
}

// ---------------------------------------------------------------- impl lifetime

client::impl::impl(options o, detail::exporter_factory f)
    : opts(std::move(o)),
      make_exporter(std::move(f)),
      rt(std::make_unique<runtime>(make_exporter())),
      warnings(opts.on_warning) {
  register_for_fork(this);
}

client::impl::~impl() {
  unregister_for_fork(this);
  // A runtime whose thread was detached at a deadline is only destroyed once that thread let go of us,
  // so the std::thread here is never joinable.
  if (rt && rt->thread.joinable()) rt->thread.detach();
}

client detail_access::make(options o, detail::exporter_factory f) {
  auto p = std::make_shared<client::impl>(std::move(o), std::move(f));
  if (!p->opts.disabled) p->start_flusher();
  return client(std::move(p));
}

// ---------------------------------------------------------------- client

client::client(std::shared_ptr<impl> p) noexcept : impl_(std::move(p)) {}

client::client(options opts) {
  const options http_opts = opts;
  impl_ = std::make_shared<impl>(std::move(opts), [http_opts]() -> std::unique_ptr<detail::exporter> {
    if (http_opts.protocol == protocol::otlp_json)
      return std::make_unique<detail::otlp_json_exporter>(http_opts);
    return std::make_unique<detail::http_exporter>(http_opts);
  });
  if (!impl_->opts.disabled) impl_->start_flusher();
}

client::~client() {
  if (impl_ && !impl_->opts.disabled) impl_->shutdown(impl_->opts.exit_flush_deadline);
}

client::client(client&&) noexcept = default;
client& client::operator=(client&& o) noexcept {
  if (this != &o) {
    if (impl_ && !impl_->opts.disabled) impl_->shutdown(impl_->opts.exit_flush_deadline);
    impl_ = std::move(o.impl_);
  }
  return *this;
}

trace_result client::trace(const record& r) noexcept {
  return impl_ ? impl_->trace_record(r, /*id_is_safe=*/false) : trace_result::stopped;
}

trace_result client::trace(std::string_view session_id, int64_t turn_number, std::string_view request_json,
                           std::string_view response_json, llmtrace::status st,
                           std::string_view error_message, std::string_view metadata_json) noexcept {
  return trace(basic_record({}, session_id, turn_number, st, request_json, response_json, error_message,
                            metadata_json));
}

trace_result client::trace_json(std::string_view record_json) noexcept {
  return impl_ ? impl_->trace_json(record_json) : trace_result::stopped;
}

call client::start_call(std::string_view session_id, std::string_view request_json, int64_t turn_number,
                        std::string_view model) {
  return call(impl_, std::string(session_id), turn_number, std::string(request_json), std::string(model));
}

flush_result client::flush(milliseconds timeout) noexcept {
  if (!impl_ || impl_->opts.disabled) return flush_result::disabled;
  return impl_->flush(timeout);
}

flush_result client::shutdown(milliseconds timeout) noexcept {
  if (!impl_ || impl_->opts.disabled) return flush_result::disabled;
  return impl_->shutdown(timeout);
}

llmtrace::stats client::stats() const noexcept {
  llmtrace::stats s;
  if (!impl_) return s;
  const impl& p = *impl_;
  s.enqueued = p.enqueued.load(std::memory_order_relaxed);
  s.dropped = p.dropped.load(std::memory_order_relaxed);
  s.sent = p.sent.load(std::memory_order_relaxed);
  s.failed = p.failed.load(std::memory_order_relaxed);
  s.invalid = p.invalid.load(std::memory_order_relaxed);
  s.retried = p.retried.load(std::memory_order_relaxed);
  s.discarded = p.discarded.load(std::memory_order_relaxed);
  s.queue_bytes = p.queue_bytes.load(std::memory_order_relaxed);
  s.requests = p.requests.load(std::memory_order_relaxed);
  return s;
}

bool client::disabled() const noexcept {
  return !impl_ || impl_->opts.disabled;
}
bool client::stopped() const noexcept {
  return !impl_ || !impl_->accepting.load(std::memory_order_relaxed);
}

// ---------------------------------------------------------------- session

session::session(client& c, std::string id) : client_(c), id_(id.empty() ? new_id() : std::move(id)) {}

call session::start_call(std::string_view request_json, std::string_view model) {
  return client_.start_call(id_, request_json, next_turn(), model);
}

span session::start_span(std::string_view name, llmtrace::kind k) noexcept {
  return client_.start_span(name, k, id_, next_turn());
}

trace_result session::trace(record r) noexcept {
  r.session_id = id_;
  if (r.turn_number == 0) r.turn_number = next_turn();
  return client_.trace(r);
}

// ---------------------------------------------------------------- default client

client& default_client() {
  static client* c = [] {
    auto* p = new client(options::from_env());
    std::atexit([] {
      client& d = default_client();
      if (!d.disabled()) d.shutdown(options::from_env().exit_flush_deadline);
    });
    return p;
  }();
  return *c;
}

}  // namespace llmtrace
