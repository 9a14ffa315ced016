// call: one in-flight LLM call, recorded as a pending record at start and a final one at finish, fail or
// destruction (with the in-flight exception's message when unwinding).
#include <exception>

#include "client_impl.hpp"

namespace llmtrace {

using steady = std::chrono::steady_clock;

namespace {
// A call's records carry the id it generated, which needs no escaping.
void trace_via(const std::shared_ptr<client::impl>& p, const record& r) noexcept {
  if (p) (void)p->trace_record(r, /*id_is_safe=*/true);
}
}  // namespace

call::call(std::shared_ptr<client::impl> c, std::string session_id, int64_t turn_number,
           std::string request_json, std::string model)
    : impl_(std::move(c)),
      id_(new_id()),
      session_id_(std::move(session_id)),
      turn_number_(turn_number),
      request_json_(std::move(request_json)),
      model_(std::move(model)),
      started_at_(std::chrono::system_clock::now()),
      started_steady_(steady::now()),
      uncaught_at_start_(std::uncaught_exceptions()) {
  record r = basic_record(id_, session_id_, turn_number_, status::pending, request_json_, {}, {}, {});
  r.model = model_;
  r.started_at = started_at_;
  trace_via(impl_, r);
}

call::call(call&& o) noexcept
    : impl_(std::move(o.impl_)),
      id_(std::move(o.id_)),
      session_id_(std::move(o.session_id_)),
      turn_number_(o.turn_number_),
      request_json_(std::move(o.request_json_)),
      model_(std::move(o.model_)),
      started_at_(o.started_at_),
      started_steady_(o.started_steady_),
      uncaught_at_start_(o.uncaught_at_start_),
      done_(o.done_) {
  o.done_ = true;
}

call& call::operator=(call&& o) noexcept {
  if (this != &o) {
    if (!done_) send_final(status::error, {}, "abandoned", {});
    impl_ = std::move(o.impl_);
    id_ = std::move(o.id_);
    session_id_ = std::move(o.session_id_);
    turn_number_ = o.turn_number_;
    request_json_ = std::move(o.request_json_);
    model_ = std::move(o.model_);
    started_at_ = o.started_at_;
    started_steady_ = o.started_steady_;
    uncaught_at_start_ = o.uncaught_at_start_;
    done_ = o.done_;
    o.done_ = true;
  }
  return *this;
}

call::~call() {
  if (done_) return;
  std::string msg = "abandoned";
  if (std::uncaught_exceptions() > uncaught_at_start_) {
    msg = "abandoned: exception in flight";
    try {
      if (auto e = std::current_exception()) std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      msg = std::string("abandoned: ") + ex.what();
    } catch (...) {
    }
  }
  send_final(status::error, {}, msg, {});
}

void call::finish(std::string_view response_json, std::string_view metadata_json) noexcept {
  if (done_) return;
  send_final(status::success, response_json, {}, metadata_json);
}

void call::fail(std::string_view error_message, std::string_view response_json) noexcept {
  if (done_) return;
  send_final(status::error, response_json, error_message.empty() ? "error" : error_message, {});
}

void call::send_final(llmtrace::status st, std::string_view response_json, std::string_view error_message,
                      std::string_view metadata_json) noexcept {
  done_ = true;
  record r = basic_record(id_, session_id_, turn_number_, st, request_json_, response_json, error_message,
                          metadata_json);
  r.model = model_;
  r.started_at = started_at_;
  r.ended_at = std::chrono::system_clock::now();
  r.latency_ms = std::chrono::duration<double, std::milli>(steady::now() - started_steady_).count();
  trace_via(impl_, r);
}

}  // namespace llmtrace
