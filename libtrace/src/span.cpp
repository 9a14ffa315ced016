// span: one node of a trace tree, sent as one record when it ends (or is destroyed). Threading: the ids,
// names, session and start time are written once at construction and only read afterwards, so child() may
// run on any thread; done_ (an atomic exchange) makes the first end()/fail()/destructor the only sender.
#include <exception>

#include "client_impl.hpp"
#include "ids.hpp"

namespace llmtrace {

using steady = std::chrono::steady_clock;

namespace {
std::string random_hex(unsigned chars) {
  std::string s(chars, '0');
  detail::write_random_hex(s.data(), chars / 2);
  return s;
}
}  // namespace

span::span(std::shared_ptr<client::impl> c, std::string trace_id, std::string parent_id, std::string name,
           llmtrace::kind k, std::string session_id, int64_t turn_number) noexcept
    : impl_(std::move(c)),
      trace_id_(std::move(trace_id)),
      parent_id_(std::move(parent_id)),
      name_(std::move(name)),
      session_id_(std::move(session_id)),
      turn_number_(turn_number),
      kind_(k),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(steady::now()),
      uncaught_at_start_(std::uncaught_exceptions()) {
  try {
    id_ = random_hex(detail::k_span_id_len);
  } catch (...) {
    impl_.reset();  // out of memory: an inert span rather than an exception
  }
}

span::span(span&& o) noexcept
    : impl_(std::move(o.impl_)),
      id_(std::move(o.id_)),
      trace_id_(std::move(o.trace_id_)),
      parent_id_(std::move(o.parent_id_)),
      name_(std::move(o.name_)),
      session_id_(std::move(o.session_id_)),
      turn_number_(o.turn_number_),
      kind_(o.kind_),
      started_at_(o.started_at_),
      started_steady_(o.started_steady_),
      uncaught_at_start_(o.uncaught_at_start_),
      done_(o.done_.exchange(true, std::memory_order_acq_rel)) {}

span& span::operator=(span&& o) noexcept {
  if (this != &o) {
    if (impl_ && !done_.load(std::memory_order_acquire)) send(status::error, "span not ended", {}, {}, {});
    impl_ = std::move(o.impl_);
    id_ = std::move(o.id_);
    trace_id_ = std::move(o.trace_id_);
    parent_id_ = std::move(o.parent_id_);
    name_ = std::move(o.name_);
    session_id_ = std::move(o.session_id_);
    turn_number_ = o.turn_number_;
    kind_ = o.kind_;
    started_at_ = o.started_at_;
    started_steady_ = o.started_steady_;
    uncaught_at_start_ = o.uncaught_at_start_;
    done_.store(o.done_.exchange(true, std::memory_order_acq_rel), std::memory_order_release);
  }
  return *this;
}

span::~span() {
  if (!impl_ || done_.load(std::memory_order_acquire)) return;
  // While unwinding, the exception is not reachable here (std::current_exception is empty outside a
  // handler), so say only that one was in flight.
  const bool unwinding = std::uncaught_exceptions() > uncaught_at_start_;
  send(status::error, unwinding ? "span not ended: exception in flight" : "span not ended", {}, {}, {});
}

span span::child(std::string_view name, llmtrace::kind k) const noexcept {
  if (!impl_) return span();
  try {
    return span(impl_, trace_id_, id_, std::string(name), k, session_id_, turn_number_);
  } catch (...) {
    return span();
  }
}

trace_result span::end(std::string_view request_json, std::string_view response_json,
                       std::string_view metadata_json) noexcept {
  return send(status::success, {}, request_json, response_json, metadata_json);
}

trace_result span::fail(std::string_view error_message, std::string_view request_json,
                        std::string_view response_json) noexcept {
  return send(status::error, error_message.empty() ? "error" : error_message, request_json, response_json,
              {});
}

trace_result span::send(llmtrace::status st, std::string_view error_message, std::string_view request_json,
                        std::string_view response_json, std::string_view metadata_json) noexcept {
  if (!impl_) return trace_result::stopped;
  if (done_.exchange(true, std::memory_order_acq_rel)) return trace_result::ok;  // already sent once
  record r = basic_record(id_, session_id_, turn_number_, st, request_json, response_json, error_message,
                          metadata_json);
  r.parent_id = parent_id_;
  r.trace_id = trace_id_;
  r.name = name_;
  r.kind = kind_;
  r.write_kind = true;
  r.started_at = started_at_;
  // Wall-clock end = start + steady elapsed, so ended_at >= started_at even if the system clock steps back.
  const auto elapsed = steady::now() - started_steady_;
  r.ended_at = started_at_ + std::chrono::duration_cast<std::chrono::system_clock::duration>(elapsed);
  r.latency_ms = std::chrono::duration<double, std::milli>(elapsed).count();
  // The span's id is 16 hex digits we generated: no escaping needed.
  return impl_->trace_record(r, /*id_is_safe=*/true);
}

span client::start_span(std::string_view name, llmtrace::kind k, std::string_view session_id,
                        int64_t turn_number) noexcept {
  if (!impl_) return span();
  try {
    std::string sess(session_id);
    if (sess.empty()) {
      sess = new_id();
      if (turn_number == 0) turn_number = 1;
    }
    return span(impl_, random_hex(detail::k_trace_id_len), {}, std::string(name), k, std::move(sess),
                turn_number);
  } catch (...) {
    return span();
  }
}

}  // namespace llmtrace
