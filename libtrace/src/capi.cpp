// The C API boundary: converts lt_* calls to the C++ client and catches every exception.
#include <iterator>
#include <new>
#include <string>

#include "ids.hpp"
#include "llmtrace.h"
#include "llmtrace/llmtrace.hpp"

struct lt_client {
  llmtrace::client c;
};

struct lt_span {
  llmtrace::span s;
};

namespace {

thread_local std::string g_last_error;

lt_status fail(lt_status code, const char* msg) noexcept {
  try {
    g_last_error = msg;
  } catch (...) {
  }
  return code;
}

lt_status ok() noexcept {
  g_last_error.clear();
  return LT_OK;
}

lt_status from_flush(llmtrace::flush_result r, const char* what) noexcept {
  switch (r) {
    case llmtrace::flush_result::ok:
      return ok();
    case llmtrace::flush_result::timeout:
      return fail(LT_ETIMEOUT, what);
    case llmtrace::flush_result::disabled:
      return fail(LT_EDISABLED, "client is disabled");
    case llmtrace::flush_result::stopped:
      return fail(LT_ESTOPPED, "client was shut down");
  }
  return fail(LT_EINTERNAL, "unknown result");
}

// 1:1 with the C++ result, so C and C++ callers learn the same thing.
lt_status from_trace(llmtrace::trace_result r) noexcept {
  switch (r) {
    case llmtrace::trace_result::ok:
      return ok();
    case llmtrace::trace_result::queue_full:
      return fail(LT_EQUEUE_FULL, "record dropped: queue full");
    case llmtrace::trace_result::disabled:
      return fail(LT_EDISABLED, "client is disabled");
    case llmtrace::trace_result::stopped:
      return fail(LT_ESTOPPED, "client was shut down");
    case llmtrace::trace_result::invalid:
      return fail(LT_EINVAL, "record is not a JSON object");
  }
  return fail(LT_EINTERNAL, "unknown result");
}

// Indexed by llmtrace::score_status.
constexpr lt_status k_score_codes[] = {LT_OK,           LT_EINVAL,    LT_ENOTFOUND, LT_EREJECTED,
                                       LT_EUNREACHABLE, LT_EDISABLED, LT_ESTOPPED,  LT_EINTERNAL};
static_assert(std::size(k_score_codes) == static_cast<std::size_t>(llmtrace::score_status::internal) + 1);

lt_status from_score(const llmtrace::score_result& r) noexcept {
  if (r) return ok();
  const auto code = k_score_codes[static_cast<std::size_t>(r.status)];
  try {
    std::string msg = r.message;
    if (!r.field.empty()) msg += " (field: " + r.field + ")";
    return fail(code, msg.c_str());
  } catch (...) {
    return fail(code, "score not stored");
  }
}

}  // namespace

extern "C" {

const char* lt_version(void) {
  return llmtrace::version();
}

const char* lt_last_error(void) {
  return g_last_error.c_str();
}

void lt_options_init(lt_options* o) {
  if (!o) return;
  const llmtrace::options d;
  *o = lt_options{};
  o->version = LT_OPTIONS_VERSION;
  o->endpoint = nullptr;
  o->api_key = nullptr;
  o->queue_limit_bytes = d.queue_limit_bytes;
  o->max_batch_records = static_cast<uint32_t>(d.max_batch_records);
  o->max_batch_bytes = static_cast<uint32_t>(d.max_batch_bytes);
  o->flush_interval_ms = static_cast<int32_t>(d.flush_interval.count());
  o->connect_timeout_ms = static_cast<int32_t>(d.connect_timeout.count());
  o->request_timeout_ms = static_cast<int32_t>(d.request_timeout.count());
  o->max_retries = d.max_retries;
  o->max_backoff_ms = static_cast<int32_t>(d.max_backoff.count());
  o->overflow_policy = LT_OVERFLOW_DROP_NEW;
  o->block_timeout_ms = static_cast<int32_t>(d.block_timeout.count());
  o->gzip = 0;
  o->disabled = 0;
  o->exit_flush_deadline_ms = static_cast<int32_t>(d.exit_flush_deadline.count());
  o->protocol = LT_PROTOCOL_NATIVE;
}

lt_status lt_client_new(lt_client** out, const lt_options* o) {
  if (!out) return fail(LT_EINVAL, "out is NULL");
  *out = nullptr;
  try {
    using std::chrono::milliseconds;
    llmtrace::options opts = llmtrace::options::from_env();
    if (o) {
      // Version 1 callers compiled against the older header pass a struct without `protocol`: never read it.
      if (o->version != LT_OPTIONS_VERSION && o->version != 1u)
        return fail(LT_EVERSION, "lt_options.version is not LT_OPTIONS_VERSION");
      if (o->endpoint) opts.endpoint = o->endpoint;
      if (o->api_key) opts.api_key = o->api_key;
      if (o->queue_limit_bytes) opts.queue_limit_bytes = o->queue_limit_bytes;
      if (o->max_batch_records) opts.max_batch_records = o->max_batch_records;
      if (o->max_batch_bytes) opts.max_batch_bytes = o->max_batch_bytes;
      if (o->flush_interval_ms > 0) opts.flush_interval = milliseconds(o->flush_interval_ms);
      if (o->connect_timeout_ms > 0) opts.connect_timeout = milliseconds(o->connect_timeout_ms);
      if (o->request_timeout_ms > 0) opts.request_timeout = milliseconds(o->request_timeout_ms);
      // 0 keeps the default so that a zero-initialised struct behaves like lt_options_init; negative: none.
      if (o->max_retries != 0) opts.max_retries = o->max_retries < 0 ? 0 : o->max_retries;
      if (o->max_backoff_ms > 0) opts.max_backoff = milliseconds(o->max_backoff_ms);
      if (o->overflow_policy != LT_OVERFLOW_DROP_NEW && o->overflow_policy != LT_OVERFLOW_BLOCK)
        return fail(LT_EINVAL, "overflow_policy must be LT_OVERFLOW_DROP_NEW or LT_OVERFLOW_BLOCK");
      opts.overflow = o->overflow_policy == LT_OVERFLOW_BLOCK ? llmtrace::overflow_policy::block
                                                              : llmtrace::overflow_policy::drop_new;
      if (o->block_timeout_ms > 0) opts.block_timeout = milliseconds(o->block_timeout_ms);
      opts.gzip = o->gzip != 0;
      if (o->disabled) opts.disabled = true;
      if (o->exit_flush_deadline_ms > 0) opts.exit_flush_deadline = milliseconds(o->exit_flush_deadline_ms);
      if (o->version >= 2u) {
        if (o->protocol != LT_PROTOCOL_NATIVE && o->protocol != LT_PROTOCOL_OTLP_JSON)
          return fail(LT_EINVAL, "protocol must be LT_PROTOCOL_NATIVE or LT_PROTOCOL_OTLP_JSON");
        if (o->protocol == LT_PROTOCOL_OTLP_JSON) opts.protocol = llmtrace::protocol::otlp_json;
      }
    }
    if (opts.endpoint.rfind("http://", 0) != 0 && opts.endpoint.rfind("https://", 0) != 0)
      return fail(LT_EINVAL, "endpoint must start with http:// or https://");
    *out = new lt_client{llmtrace::client(std::move(opts))};
    return ok();
  } catch (const std::bad_alloc&) {
    return fail(LT_ENOMEM, "out of memory");
  } catch (const std::exception& e) {
    return fail(LT_EINTERNAL, e.what());
  } catch (...) {
    return fail(LT_EINTERNAL, "unknown error");
  }
}

lt_status lt_trace_json(lt_client* c, const char* json, size_t len) {
  if (!c) return fail(LT_EINVAL, "client is NULL");
  if (!json) return fail(LT_EINVAL, "json is NULL");
  return from_trace(c->c.trace_json(std::string_view(json, len)));  // noexcept
}

lt_status lt_flush(lt_client* c, int32_t timeout_ms) {
  if (!c) return fail(LT_EINVAL, "client is NULL");
  if (timeout_ms < 0) timeout_ms = 0;
  return from_flush(c->c.flush(std::chrono::milliseconds(timeout_ms)), "flush timed out");
}

lt_status lt_shutdown(lt_client* c, int32_t timeout_ms) {
  if (!c) return fail(LT_EINVAL, "client is NULL");
  if (timeout_ms < 0) timeout_ms = 0;
  return from_flush(c->c.shutdown(std::chrono::milliseconds(timeout_ms)), "shutdown timed out");
}

void lt_client_free(lt_client* c) {
  try {
    delete c;
  } catch (...) {
  }
}

lt_status lt_stats(lt_client_stats* out, const lt_client* c) {
  if (!out) return fail(LT_EINVAL, "out is NULL");
  if (!c) return fail(LT_EINVAL, "client is NULL");
  const llmtrace::stats s = c->c.stats();
  out->enqueued = s.enqueued;
  out->dropped = s.dropped;
  out->sent = s.sent;
  out->failed = s.failed;
  out->retried = s.retried;
  out->discarded = s.discarded;
  out->queue_bytes = s.queue_bytes;
  out->requests = s.requests;
  out->invalid = s.invalid;
  return ok();
}

lt_status lt_span_start(lt_span** out, lt_client* c, const lt_span* parent, const char* name, lt_kind kind,
                        const char* session_id, int64_t turn_number) {
  if (!out) return fail(LT_EINVAL, "out is NULL");
  *out = nullptr;
  if (!c) return fail(LT_EINVAL, "client is NULL");
  if (static_cast<int>(kind) < LT_KIND_LLM || static_cast<int>(kind) > LT_KIND_OTHER)
    return fail(LT_EINVAL, "kind must be one of LT_KIND_*");
  if (turn_number < 0) return fail(LT_EINVAL, "turn_number must be >= 0");
  const auto k = static_cast<llmtrace::kind>(static_cast<int>(kind));
  const std::string_view nm = name ? name : "";
  auto* s = new (std::nothrow) lt_span{};
  if (!s) return fail(LT_ENOMEM, "out of memory");
  s->s = parent ? parent->s.child(nm, k) : c->c.start_span(nm, k, session_id ? session_id : "", turn_number);
  if (s->s.id().empty()) {  // inert: out of memory, or a client that was moved from
    delete s;
    return fail(c->c.stopped() ? LT_ESTOPPED : LT_ENOMEM, "span could not be started");
  }
  *out = s;
  return ok();
}

lt_status lt_span_end(lt_span* s, const char* request_json, const char* response_json,
                      const char* metadata_json) {
  if (!s) return fail(LT_EINVAL, "span is NULL");
  return from_trace(s->s.end(request_json ? request_json : "", response_json ? response_json : "",
                             metadata_json ? metadata_json : ""));
}

lt_status lt_span_fail(lt_span* s, const char* error_message, const char* request_json,
                       const char* response_json) {
  if (!s) return fail(LT_EINVAL, "span is NULL");
  return from_trace(s->s.fail(error_message ? error_message : "", request_json ? request_json : "",
                              response_json ? response_json : ""));
}

void lt_span_free(lt_span* s) {
  try {
    delete s;
  } catch (...) {
  }
}

const char* lt_span_id(const lt_span* s) {
  return s ? s->s.id().c_str() : "";
}
const char* lt_span_trace_id(const lt_span* s) {
  return s ? s->s.trace_id().c_str() : "";
}
const char* lt_span_parent_id(const lt_span* s) {
  return s ? s->s.parent_id().c_str() : "";
}
const char* lt_span_session_id(const lt_span* s) {
  return s ? s->s.session_id().c_str() : "";
}

void lt_score_init(lt_score* s) {
  if (!s) return;
  *s = lt_score{};
  s->version = LT_SCORE_VERSION;
  s->target = LT_SCORE_RECORD;
  s->type = LT_SCORE_BOOL;
}

lt_status lt_score_send(lt_client* c, const lt_score* s) {
  if (!c) return fail(LT_EINVAL, "client is NULL");
  if (!s) return fail(LT_EINVAL, "score is NULL");
  if (s->version != LT_SCORE_VERSION) return fail(LT_EVERSION, "lt_score.version is not LT_SCORE_VERSION");
  if (s->target != LT_SCORE_RECORD && s->target != LT_SCORE_SESSION)
    return fail(LT_EINVAL, "target must be LT_SCORE_RECORD or LT_SCORE_SESSION");
  if (!s->target_id || !*s->target_id) return fail(LT_EINVAL, "target_id is NULL or empty");
  if (!s->name || !*s->name) return fail(LT_EINVAL, "name is NULL or empty");
  const auto target =
      s->target == LT_SCORE_SESSION ? llmtrace::score_target::session : llmtrace::score_target::record;
  const std::string_view comment = s->comment ? s->comment : "";
  switch (s->type) {
    case LT_SCORE_BOOL:
      return from_score(c->c.score(target, s->target_id, s->name, s->boolean != 0, comment));
    case LT_SCORE_NUMBER:
      return from_score(c->c.score(target, s->target_id, s->name, s->number, comment));
    case LT_SCORE_LABEL:
      return from_score(c->c.score(target, s->target_id, s->name, s->label ? s->label : "", comment));
    default:
      return fail(LT_EINVAL, "type must be LT_SCORE_BOOL, LT_SCORE_NUMBER or LT_SCORE_LABEL");
  }
}

lt_status lt_new_id(char* buf, size_t len) {
  if (!buf || len < 37) return fail(LT_EINVAL, "buffer must hold 37 bytes");
  llmtrace::detail::write_uuid_v7(buf);
  buf[36] = '\0';
  return ok();
}

}  // extern "C"
