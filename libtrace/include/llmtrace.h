/* llmtrace C API: a plain C surface over the C++ SDK for FFI users (Python ctypes, Node koffi, C programs).
 * Conventions: every symbol is prefixed lt_; functions return 0 (LT_OK) or a negative LT_E* code, with
 * a thread-local message in lt_last_error(); output parameters come first; lt_client_free accepts NULL.
 * Threading: an lt_client may be used from any number of threads at once (lt_trace_json never blocks
 * unless overflow_policy is LT_OVERFLOW_BLOCK); lt_client_free must be called once, by one thread, when no
 * other thread uses the client. Ownership: strings passed in are copied before the call returns; the
 * library never keeps a caller's pointer. No C++ exception ever crosses this boundary. */
#ifndef LLMTRACE_H
#define LLMTRACE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LT_API __declspec(dllexport)
#else
#define LT_API __attribute__((visibility("default")))
#endif

/* Result of every lt_* call that can fail: 0 or a negative code; lt_last_error() then says more. */
typedef enum lt_status {
  LT_OK = 0,
  LT_EINVAL = -1, /* bad argument (NULL where not allowed, text not shaped like a JSON object, bad options) */
  LT_ENOMEM = -2, /* allocation failed */
  LT_EQUEUE_FULL = -3,  /* the queue's byte budget is used up: the record was dropped and counted */
  LT_ETIMEOUT = -4,     /* lt_flush / lt_shutdown only: the deadline passed before everything was delivered */
  LT_EDISABLED = -5,    /* the client is disabled (LLMTRACE_DISABLED=1 or options.disabled): nothing done */
  LT_ESTOPPED = -6,     /* the client was shut down */
  LT_EVERSION = -7,     /* lt_options.version (lt_score.version) is not one this library knows */
  LT_EINTERNAL = -8,    /* unexpected internal error */
  LT_ENOTFOUND = -9,    /* lt_score_send: the collector has no such record or session (HTTP 404) */
  LT_EREJECTED = -10,   /* lt_score_send: the collector refused it otherwise (HTTP 400 bad value, 401, ...) */
  LT_EUNREACHABLE = -11 /* lt_score_send: no answer (connection refused, timeout, not HTTP) */
} lt_status;

/* 2: adds `protocol`. Version 1 structs (without it) are still accepted. */
#define LT_OPTIONS_VERSION 2u

#define LT_PROTOCOL_NATIVE 0 /* POST <endpoint>/api/traces (the collector's own batches) */
#define LT_PROTOCOL_OTLP_JSON                                                  \
  1 /* POST <endpoint>/v1/traces, OTLP/HTTP JSON (any OpenTelemetry Collector) \
     */

#define LT_OVERFLOW_DROP_NEW 0
#define LT_OVERFLOW_BLOCK 1

/* Fill with lt_options_init() and then change fields; zero numeric fields also mean "default". */
typedef struct lt_options {
  uint32_t version;           /* LT_OPTIONS_VERSION */
  const char* endpoint;       /* collector base URL; NULL: LLMTRACE_ENDPOINT or http://127.0.0.1:8080 */
  const char* api_key;        /* NULL: LLMTRACE_API_KEY or none */
  uint64_t queue_limit_bytes; /* memory budget of queued records (default 64 MiB) */
  uint32_t max_batch_records; /* default 512 */
  uint32_t max_batch_bytes;   /* default 1 MiB */
  int32_t flush_interval_ms;  /* default 50 */
  int32_t connect_timeout_ms; /* default 1000 */
  int32_t request_timeout_ms; /* default 5000 */
  int32_t max_retries;        /* default 5 (also when 0); negative: no retries */
  int32_t max_backoff_ms;     /* default 5000 */
  int32_t overflow_policy;    /* LT_OVERFLOW_DROP_NEW (default) or LT_OVERFLOW_BLOCK */
  int32_t block_timeout_ms;   /* LT_OVERFLOW_BLOCK only; default 10 */
  int32_t gzip;               /* non-zero: gzip batch bodies */
  int32_t disabled;           /* non-zero: lt_trace_json does nothing (LLMTRACE_DISABLED=1 also disables) */
  int32_t exit_flush_deadline_ms; /* bound of the flush in lt_client_free; default 2000 */
  int32_t protocol;               /* version >= 2: LT_PROTOCOL_NATIVE (default) or LT_PROTOCOL_OTLP_JSON */
} lt_options;

/* Counters of a client (lt_stats). Named lt_client_stats so that the function can be lt_stats. */
typedef struct lt_client_stats {
  uint64_t enqueued;    /* records accepted into the queue */
  uint64_t dropped;     /* records refused because the queue was full */
  uint64_t sent;        /* records the collector committed */
  uint64_t failed;      /* records rejected by the collector, whose batch failed for good, or invalid */
  uint64_t retried;     /* batch attempts repeated after a retryable failure */
  uint64_t discarded;   /* records abandoned at a shutdown deadline */
  uint64_t queue_bytes; /* memory held by queued records now */
  uint64_t requests;    /* HTTP requests made */
  uint64_t invalid;     /* of failed: records found not to be valid JSON by the flusher (never sent) */
} lt_client_stats;

typedef struct lt_client lt_client; /* opaque */

/* Library version, e.g. "0.1.0". Static string. */
LT_API const char* lt_version(void);

/* Message of the last failed lt_* call on this thread (set by every call that returns an error; "" after a
 * success). Valid until the next lt_* call on this thread. */
LT_API const char* lt_last_error(void);

/* Sets version and the defaults. */
LT_API void lt_options_init(lt_options* opts);

/* Creates a client and starts its flusher. opts NULL: defaults plus environment. On success *out owns
 * a client to release with lt_client_free. */
LT_API lt_status lt_client_new(lt_client** out, const lt_options* opts);

/* Queues one record given as a JSON object in the POST /api/trace shape (session_id, turn_number, request,
 * response, status, error_message, metadata, optional id, model, started_at, ended_at, latency_ms,
 * parent_id, trace_id, name, kind). The calling thread only checks the shape (first non-space byte '{', last
 * '}') and copies the text once, with a new "id" member in front so that retries are idempotent (a record
 * with its own top-level "id" keeps it). The flusher then validates the JSON fully: an invalid record is
 * dropped and counted in lt_client_stats.invalid, never sent. Never blocks (unless LT_OVERFLOW_BLOCK).
 * Returns LT_OK, LT_EINVAL, LT_EQUEUE_FULL, LT_EDISABLED or LT_ESTOPPED (same as C++ client::trace_json). */
LT_API lt_status lt_trace_json(lt_client* c, const char* json, size_t len);

/* Waits until everything queued before the call is delivered or dropped. LT_ETIMEOUT on deadline. */
LT_API lt_status lt_flush(lt_client* c, int32_t timeout_ms);

/* Flushes, then stops the flusher; returns within timeout_ms even if the collector never answers
 * (LT_ETIMEOUT then). Later lt_trace_json calls return LT_ESTOPPED. */
LT_API lt_status lt_shutdown(lt_client* c, int32_t timeout_ms);

/* Shuts down (bounded by exit_flush_deadline_ms) and frees. Accepts NULL. */
LT_API void lt_client_free(lt_client* c);

/* Copies the client's counters into *out (output parameter first, like every lt_* call). */
LT_API lt_status lt_stats(lt_client_stats* out, const lt_client* c);

/* ---- Spans: a tree of records (agent step -> LLM calls -> tool calls) sharing a trace id. ----
 * lt_span_start makes a span: a root (parent NULL) gets a new trace id (32 lowercase hex) and, when
 * session_id is NULL or "", a new session id with turn 1, so the tree lands in one session and one turn; a
 * child (parent given) takes the parent's client, trace id, session and turn (c must be the parent's
 * client; session_id/turn_number are ignored). Its span id (16 lowercase hex) is the record id; the start
 * time is taken now. lt_span_end / lt_span_fail send the span's ONE record (end time and latency taken then,
 * JSON texts NUL terminated and embedded verbatim, NULL: null); only the first end/fail sends, later ones
 * return LT_OK and do nothing. lt_span_free releases the handle; a span freed without end/fail is sent as an
 * error "span not ended". Parents may be freed before their children (a child copies what it needs).
 * Threading: lt_span_start with a parent, lt_span_id/lt_span_trace_id and the first lt_span_end may run on
 * different threads at once; lt_span_free must be the last call on a span, by one thread. A span keeps
 * its client's internal state alive: ending it after lt_client_free is safe and returns LT_ESTOPPED. None
 * of these block or do I/O. */
typedef enum lt_kind {
  LT_KIND_LLM = 0,
  LT_KIND_AGENT = 1,
  LT_KIND_TOOL = 2,
  LT_KIND_RETRIEVAL = 3,
  LT_KIND_EMBEDDING = 4,
  LT_KIND_CHAIN = 5,
  LT_KIND_OTHER = 6
} lt_kind;

typedef struct lt_span lt_span; /* opaque */

LT_API lt_status lt_span_start(lt_span** out, lt_client* c, const lt_span* parent, const char* name,
                               lt_kind kind, const char* session_id, int64_t turn_number);
/* Returns what sending did: LT_OK (queued), LT_EQUEUE_FULL, LT_EDISABLED, LT_ESTOPPED, LT_EINVAL. */
LT_API lt_status lt_span_end(lt_span* s, const char* request_json, const char* response_json,
                             const char* metadata_json);
LT_API lt_status lt_span_fail(lt_span* s, const char* error_message, const char* request_json,
                              const char* response_json);
LT_API void lt_span_free(lt_span* s); /* accepts NULL */
/* The span's id, trace id, parent id ("" for a root) and session id: valid until lt_span_free. */
LT_API const char* lt_span_id(const lt_span* s);
LT_API const char* lt_span_trace_id(const lt_span* s);
LT_API const char* lt_span_parent_id(const lt_span* s);
LT_API const char* lt_span_session_id(const lt_span* s);

/* ---- Scores: feedback or an evaluation attached to a record (a turn's call) or a session. ----
 * lt_score_send makes ONE direct POST to <endpoint>/api/records/<id>/scores (or /api/sessions/<id>/scores)
 * with the client's API key and connect/request timeouts; it does not go through the trace queue (lt_flush
 * first if the record may still be queued), blocks for that request and is never retried (a repeated POST
 * would store the score twice). Returns LT_OK (stored), LT_EINVAL (NULL/empty id or name, a bad target or
 * type, a number that is not finite, a version this library does not know: LT_EVERSION), LT_ENOTFOUND,
 * LT_EREJECTED (lt_last_error has the collector's message and the field it named), LT_EUNREACHABLE,
 * LT_EDISABLED, LT_ESTOPPED or LT_ENOMEM. Fill the struct with lt_score_init, then set its fields. */
typedef enum lt_score_target { LT_SCORE_RECORD = 0, LT_SCORE_SESSION = 1 } lt_score_target;
typedef enum lt_score_type {
  LT_SCORE_BOOL = 0,   /* thumbs up (non-zero) / down (0): sent as true / false */
  LT_SCORE_NUMBER = 1, /* a finite number, e.g. 0.8 */
  LT_SCORE_LABEL = 2   /* a string, e.g. "hallucination" (the collector takes up to 1024 bytes) */
} lt_score_type;

#define LT_SCORE_VERSION 1u

typedef struct lt_score {
  uint32_t version;      /* LT_SCORE_VERSION */
  int32_t target;        /* lt_score_target (default LT_SCORE_RECORD) */
  const char* target_id; /* the record's or the session's id, NUL terminated */
  const char* name;      /* e.g. "thumbs", NUL terminated, not empty */
  int32_t type;          /* lt_score_type: which one of the three value fields below is sent */
  int32_t boolean;       /* LT_SCORE_BOOL: non-zero true, 0 false */
  double number;         /* LT_SCORE_NUMBER */
  const char* label;     /* LT_SCORE_LABEL: NUL terminated (NULL: "") */
  const char* comment;   /* optional, NUL terminated; NULL or "": none */
} lt_score;

/* Sets version and the defaults (record target, boolean false, no comment). */
LT_API void lt_score_init(lt_score* s);
LT_API lt_status lt_score_send(lt_client* c, const lt_score* s);

/* Writes a new time-ordered UUIDv7 and a NUL into buf; len must be at least 37. */
LT_API lt_status lt_new_id(char* buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* LLMTRACE_H */
