'use strict';
// llmtrace for Node: trace LLM calls through the C API (libllmtrace_c.so) loaded with koffi.
// trace() never blocks the event loop (it copies the record into the library's lock-free queue); a
// background thread inside the library ships batches. flush()/shutdown() run on koffi's worker threads
// and return Promises. One Client may be used from anywhere in the process.

const fs = require('node:fs');
const path = require('node:path');
const koffi = require('koffi');
const { AsyncLocalStorage } = require('node:async_hooks');

const LT_OK = 0;
const LT_EDISABLED = -5;
// The C API's lt_status codes of lt_trace_json, 1:1 with the C++ trace_result.
const TRACE_RESULTS = new Map([
  [0, 'ok'],
  [-1, 'invalid'],
  [-3, 'queue_full'],
  [-5, 'disabled'],
  [-6, 'stopped'],
]);
const LT_OPTIONS_VERSION = 1;
const STATUSES = new Set(['pending', 'success', 'error']);
const SCRATCH_MAX = 1 << 20; // trace() texts above this get a Buffer of their own, not a kept scratch

let api = null;

/** Where a CMake install under `prefix` puts libllmtrace_c.so (GNUInstallDirs: lib, or lib/<multiarch>). */
function prefixLibs(prefix) {
  const multiarch = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' }[process.arch];
  const dirs = ['lib', ...(multiarch ? [path.join('lib', multiarch)] : []), 'lib64'];
  return dirs.map((d) => path.join(prefix, d, 'libllmtrace_c.so'));
}

/**
 * Paths to try, in order: LLMTRACE_LIB (only it, when set); beside the package (a copy placed there before
 * `npm pack`); the install prefix LLMTRACE_PREFIX; the build trees of a source checkout; the system library
 * path; /usr/local.
 */
function candidates() {
  if (process.env.LLMTRACE_LIB) return [process.env.LLMTRACE_LIB];
  const out = [path.join(__dirname, 'libllmtrace_c.so')];
  if (process.env.LLMTRACE_PREFIX) out.push(...prefixLibs(process.env.LLMTRACE_PREFIX));
  const repo = path.resolve(__dirname, '..', '..');
  try {
    for (const d of fs.readdirSync(repo).filter((d) => d.startsWith('build')).sort()) {
      out.push(path.join(repo, d, 'libtrace', 'libllmtrace_c.so'));
    }
  } catch {
    // not a source checkout
  }
  out.push('libllmtrace_c.so'); // system library path
  out.push(...prefixLibs('/usr/local'));
  return out;
}

/** Loads libllmtrace_c.so once: LLMTRACE_LIB, else beside the package, the build tree, the system path. */
function loadLibrary() {
  if (api) return api;
  const errors = [];
  let lib = null;
  let loadedFrom = null;
  for (const p of candidates()) {
    if (p.includes(path.sep) && !fs.existsSync(p)) continue;
    try {
      lib = koffi.load(p);
      loadedFrom = p;
      break;
    } catch (e) {
      errors.push(`${p}: ${e.message}`);
    }
  }
  if (!lib) throw new Error('llmtrace: cannot load libllmtrace_c.so (set LLMTRACE_LIB): ' + errors.join('; '));

  const ltClient = koffi.opaque('lt_client');
  const ltOptions = koffi.struct('lt_options', {
    version: 'uint32_t',
    endpoint: 'const char *',
    api_key: 'const char *',
    queue_limit_bytes: 'uint64_t',
    max_batch_records: 'uint32_t',
    max_batch_bytes: 'uint32_t',
    flush_interval_ms: 'int32_t',
    connect_timeout_ms: 'int32_t',
    request_timeout_ms: 'int32_t',
    max_retries: 'int32_t',
    max_backoff_ms: 'int32_t',
    overflow_policy: 'int32_t',
    block_timeout_ms: 'int32_t',
    gzip: 'int32_t',
    disabled: 'int32_t',
    exit_flush_deadline_ms: 'int32_t',
    protocol: 'int32_t', // lt_options version 2
  });
  const ltStats = koffi.struct('lt_client_stats', {
    enqueued: 'uint64_t',
    dropped: 'uint64_t',
    sent: 'uint64_t',
    failed: 'uint64_t',
    retried: 'uint64_t',
    discarded: 'uint64_t',
    queue_bytes: 'uint64_t',
    requests: 'uint64_t',
    invalid: 'uint64_t',
  });
  const clientPtr = koffi.pointer(ltClient);
  const ltSpan = koffi.opaque('lt_span');
  const spanPtr = koffi.pointer(ltSpan);
  api = {
    path: loadedFrom,
    ltOptions,
    version: lib.func('lt_version', 'const char *', []),
    lastError: lib.func('lt_last_error', 'const char *', []),
    optionsInit: lib.func('lt_options_init', 'void', [koffi.out(koffi.pointer(ltOptions))]),
    clientNew: lib.func('lt_client_new', 'int', [koffi.out(koffi.pointer(ltClient, 2)), koffi.pointer(ltOptions)]),
    traceJson: lib.func('lt_trace_json', 'int', [clientPtr, 'const char *', 'size_t']),
    flush: lib.func('lt_flush', 'int', [clientPtr, 'int32_t']),
    shutdown: lib.func('lt_shutdown', 'int', [clientPtr, 'int32_t']),
    free: lib.func('lt_client_free', 'void', [clientPtr]),
    stats: lib.func('lt_stats', 'int', [koffi.out(koffi.pointer(ltStats)), clientPtr]),
    newId: lib.func('lt_new_id', 'int', ['void *', 'size_t']),
    spanStart: lib.func('lt_span_start', 'int', [koffi.out(koffi.pointer(ltSpan, 2)), clientPtr, spanPtr,
      'const char *', 'int', 'const char *', 'int64_t']),
    spanEnd: lib.func('lt_span_end', 'int', [spanPtr, 'const char *', 'const char *', 'const char *']),
    spanFail: lib.func('lt_span_fail', 'int', [spanPtr, 'const char *', 'const char *', 'const char *']),
    spanFree: lib.func('lt_span_free', 'void', [spanPtr]),
    spanId: lib.func('lt_span_id', 'const char *', [spanPtr]),
    spanTraceId: lib.func('lt_span_trace_id', 'const char *', [spanPtr]),
    spanParentId: lib.func('lt_span_parent_id', 'const char *', [spanPtr]),
    spanSessionId: lib.func('lt_span_session_id', 'const char *', [spanPtr]),
  };
  return api;
}

/** A new time-ordered UUIDv7. */
function newId() {
  const a = loadLibrary();
  const buf = Buffer.alloc(37);
  a.newId(buf, 37);
  return buf.toString('utf8', 0, 36);
}

function jsonText(v) {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') {
    try {
      JSON.parse(v);
      return v;
    } catch {
      return JSON.stringify(v);
    }
  }
  return JSON.stringify(v);
}

const KINDS = ['llm', 'agent', 'tool', 'retrieval', 'embedding', 'chain', 'other']; // lt_kind order
const currentSpan = new AsyncLocalStorage(); // { client, span } of the enclosing client.span() callback
// The C handle lives until the Span object is collected, so children can still be started from an ended
// span; a span collected without end()/fail() is sent as an error "span not ended" by lt_span_free.
const spanHandles = new FinalizationRegistry(({ a, h }) => a.spanFree(h));

/** One node of a trace tree, sent as one record at end()/fail() (see Client.startSpan / Client.span). */
class Span {
  constructor(client, h, name, kind) {
    const a = client._a;
    this._client = client;
    this._h = h;
    this.name = name;
    this.kind = kind;
    this.id = a.spanId(h);
    this.traceId = a.spanTraceId(h);
    this.parentId = a.spanParentId(h) || null;
    this.sessionId = a.spanSessionId(h);
    /** Set these before the span ends (client.span callbacks): sent with the record. */
    this.request = undefined;
    this.response = undefined;
    this.metadata = undefined;
    spanHandles.register(this, { a, h });
  }

  /** A child span (same trace, session and turn). */
  child(name, opts = {}) {
    return this._client.startSpan(name, { ...opts, parent: this });
  }

  /** Sends the record (success). Returns 'ok' | 'queue_full' | 'disabled' | 'stopped'; later calls send nothing. */
  end({ request, response, metadata } = {}) {
    const rc = this._client._a.spanEnd(this._h, jsonText(request ?? this.request),
      jsonText(response ?? this.response), jsonText(metadata ?? this.metadata));
    return TRACE_RESULTS.get(rc) ?? 'invalid';
  }

  /** Sends the record as an error. */
  fail(error, { request, response } = {}) {
    const msg = error instanceof Error ? `${error.name}: ${error.message}` : String(error ?? 'error');
    const rc = this._client._a.spanFail(this._h, msg, jsonText(request ?? this.request),
      jsonText(response ?? this.response));
    return TRACE_RESULTS.get(rc) ?? 'invalid';
  }
}

// Clients not shut down yet, held weakly: a Client the program dropped can be collected. At exit the ones
// still alive are flushed (synchronous, bounded: the process is going away); a collected one is flushed and
// freed by the registry's callback, asynchronously (the library's own thread waits, never the event loop).
const live = new Set(); // of WeakRef<Client>
const clientHandles = new FinalizationRegistry(({ a, h, ref, timeoutMs }) => {
  live.delete(ref);
  a.shutdown.async(h, timeoutMs, () => a.free(h));
});
process.on('exit', () => {
  for (const ref of live) {
    const c = ref.deref();
    if (c) c.shutdownSync(c.exitTimeoutMs);
  }
});
/** How many Clients are tracked for the exit flush (for tests: collected ones must not stay). */
function liveClientCount() {
  let n = 0;
  for (const ref of live) if (ref.deref()) n++;
  return n;
}

class Client {
  /**
   * @param {object} [opts] endpoint, apiKey (default: LLMTRACE_ENDPOINT / LLMTRACE_API_KEY), flushIntervalMs,
   *   maxRetries, queueLimitBytes, gzip, disabled, exitTimeoutMs
   */
  constructor(opts = {}) {
    const a = loadLibrary();
    const o = {};
    a.optionsInit(o);
    o.version = LT_OPTIONS_VERSION;
    o.endpoint = opts.endpoint || null;
    o.api_key = opts.apiKey || null;
    if (opts.flushIntervalMs != null) o.flush_interval_ms = opts.flushIntervalMs;
    if (opts.maxRetries != null) o.max_retries = opts.maxRetries;
    if (opts.queueLimitBytes != null) o.queue_limit_bytes = opts.queueLimitBytes;
    if (opts.requestTimeoutMs != null) o.request_timeout_ms = opts.requestTimeoutMs;
    o.gzip = opts.gzip ? 1 : 0;
    o.disabled = opts.disabled ? 1 : 0;
    const out = [null];
    const rc = a.clientNew(out, o);
    if (rc !== LT_OK) {
      const err = new Error(`llmtrace: ${a.lastError()} (code ${rc})`);
      err.code = rc;
      throw err;
    }
    this._a = a;
    this._h = out[0];
    this._endpoint = opts.endpoint || null;
    this._apiKey = opts.apiKey ?? null;
    this._stopped = false;
    this._inflight = 0;
    this._freeWhenIdle = false;
    this.exitTimeoutMs = opts.exitTimeoutMs ?? 2000;
    this._scratch = Buffer.allocUnsafe(16384); // trace()'s UTF-8 text (see _utf8)
    this._utf8Len = 0;
    this._ref = new WeakRef(this);
    live.add(this._ref);
    clientHandles.register(this, { a, h: this._h, ref: this._ref, timeoutMs: this.exitTimeoutMs }, this._ref);
  }

  /** Queues one record; returns true when queued (traceJson() says why not). Never blocks, never throws for
   * a full queue. The JSON is validated by the library's flusher: an invalid record is counted in
   * stats().invalid, never sent. */
  trace(r = {}) {
    const status = r.status ?? 'success';
    if (!STATUSES.has(status)) throw new TypeError(`status must be pending, success or error, got ${status}`);
    if (r.kind != null && !KINDS.includes(r.kind)) throw new TypeError(`kind must be one of ${KINDS.join(', ')}`);
    if (!this._h || this._stopped) return false;
    // One JSON.stringify of the whole record, not one per member plus a join and a Buffer copy: the binding's
    // cost stays near the serialisation it replaces (bench/node_trace.js). JSON text given as a string is
    // spliced in as is. koffi writes the string's UTF-8 straight into the call's memory.
    const w = { status };
    let raw = '';
    if (r.id) w.id = String(r.id);
    if (r.sessionId) w.session_id = String(r.sessionId);
    if (r.turnNumber) w.turn_number = Math.trunc(Number(r.turnNumber));
    for (const [key, v] of [['request', r.request], ['response', r.response], ['metadata', r.metadata]]) {
      if (typeof v === 'string') raw += ',"' + key + '":' + jsonText(v);
      else if (v != null) w[key] = v;
      else if (key !== 'metadata') w[key] = null;
    }
    if (r.errorMessage) w.error_message = String(r.errorMessage);
    if (r.model) w.model = String(r.model);
    if (r.parentId) w.parent_id = String(r.parentId);
    if (r.traceId) w.trace_id = String(r.traceId);
    if (r.name) w.name = String(r.name);
    if (r.kind) w.kind = r.kind;
    if (r.latencyMs != null) w.latency_ms = Number(r.latencyMs);
    if (r.startedAt) w.started_at = new Date(r.startedAt).toISOString();
    if (r.endedAt) w.ended_at = new Date(r.endedAt).toISOString();
    let text = JSON.stringify(w);
    if (raw) text = text.slice(0, -1) + raw + '}'; // w always has "status": the text ends with a member
    const b = this._utf8(text);
    return this._a.traceJson(this._h, b, this._utf8Len) === LT_OK;
  }

  /** A Buffer holding the string's UTF-8 (its length in this._utf8Len): a per-client scratch Buffer (one
   * pass, no allocation; lt_trace_json copies it before returning, and JS runs one call at a time). Large
   * texts get a Buffer of their own. */
  _utf8(text) {
    let b = this._scratch;
    if (text.length * 3 > b.length) {
      const need = Buffer.byteLength(text, 'utf8');
      if (need > SCRATCH_MAX) {
        const own = Buffer.from(text, 'utf8');
        this._utf8Len = own.length;
        return own;
      }
      if (need > b.length) b = this._scratch = Buffer.allocUnsafe(Math.max(need, 2 * b.length));
    }
    this._utf8Len = b.write(text, 0, 'utf8');
    return b;
  }

  /** Queues a record given as JSON text in the POST /api/trace shape (an "id" is added unless it has one).
   * Returns 'ok', 'queue_full', 'disabled', 'stopped' or 'invalid' (not shaped like a JSON object). */
  traceJson(json) {
    if (!this._h || this._stopped) return 'stopped';
    const text = Buffer.isBuffer(json) ? json : Buffer.from(String(json), 'utf8');
    return TRACE_RESULTS.get(this._a.traceJson(this._h, text, text.length)) ?? 'invalid';
  }

  /**
   * Starts a span and returns it (call end() or fail()). opts: kind ('llm' default | 'agent' | 'tool' |
   * 'retrieval' | 'embedding' | 'chain' | 'other'), parent (a Span; default: the span of the enclosing
   * client.span() callback), sessionId / turnNumber (roots only; default: a new session, turn 1).
   */
  startSpan(name, opts = {}) {
    const kind = opts.kind ?? 'llm';
    const k = KINDS.indexOf(kind);
    if (k < 0) throw new TypeError(`kind must be one of ${KINDS.join(', ')}, got ${kind}`);
    let parent = opts.parent;
    if (parent === undefined) {
      const cur = currentSpan.getStore();
      if (cur && cur.client === this) parent = cur.span;
    }
    if (!this._h) throw new Error('llmtrace: client was shut down');
    const out = [null];
    const rc = this._a.spanStart(out, this._h, parent ? parent._h : null, String(name), k,
      opts.sessionId || null, Math.trunc(Number(opts.turnNumber ?? 0)));
    if (rc !== LT_OK) {
      const err = new Error(`llmtrace: ${this._a.lastError()} (code ${rc})`);
      err.code = rc;
      throw err;
    }
    return new Span(this, out[0], String(name), kind);
  }

  /**
   * Runs fn(span) inside a new span: spans started in fn (also after awaits) are its children. The span
   * ends when fn returns or its promise resolves (with span.request / span.response), or fails with the
   * error it threw or rejected with (rethrown). Returns what fn returns.
   */
  span(name, opts, fn) {
    if (typeof opts === 'function') {
      fn = opts;
      opts = {};
    }
    const s = this.startSpan(name, opts ?? {});
    return currentSpan.run({ client: this, span: s }, () => {
      let r;
      try {
        r = fn(s);
      } catch (e) {
        s.fail(e);
        throw e;
      }
      if (r && typeof r.then === 'function') {
        return r.then((v) => { s.end(); return v; }, (e) => { s.fail(e); throw e; });
      }
      s.end();
      return r;
    });
  }

  _async(fn, timeoutMs) {
    if (!this._h) return Promise.resolve(false);
    this._inflight++;
    return new Promise((resolve) => {
      fn.async(this._h, Math.max(0, Math.trunc(timeoutMs)), (err, rc) => {
        this._inflight--;
        if (this._freeWhenIdle && this._inflight === 0) this._free();
        resolve(!err && (rc === LT_OK || rc === LT_EDISABLED));
      });
    });
  }

  /**
   * Attaches a score (thumbs up/down as true/false, a number, or a label string, plus an optional comment) to
   * a record ({ recordId }: the id you passed to trace()) or a session ({ sessionId }). Sent at once, not
   * through the trace queue (flush() first if the record may still be queued). Resolves to the stored score;
   * rejects when the collector refuses it (unknown id: err.status 404, bad value: 400) or is unreachable.
   */
  score(name, value, { recordId, sessionId, comment, timeoutMs } = {}) {
    if ((recordId == null) === (sessionId == null))
      return Promise.reject(new TypeError('pass exactly one of recordId and sessionId'));
    const { postScore } = require('./score');
    return postScore({
      endpoint: this._endpoint,
      apiKey: this._apiKey,
      target: recordId != null ? 'record' : 'session',
      id: recordId != null ? recordId : sessionId,
      name,
      value,
      comment,
      timeoutMs,
    });
  }

  /** Resolves true once everything traced so far is delivered or dropped, false on timeout. */
  flush(timeoutMs = 5000) {
    return this._async(this._a.flush, timeoutMs);
  }

  /** Flushes and stops; resolves false if the deadline passed. Later trace() calls return false. */
  async shutdown(timeoutMs = 5000) {
    if (!this._h) return true;
    this._stopped = true;
    this._untrack();
    const ok = await this._async(this._a.shutdown, timeoutMs);
    this._freeWhenIdle = true;
    if (this._inflight === 0) this._free();
    return ok;
  }

  flushSync(timeoutMs = 5000) {
    if (!this._h) return false;
    const rc = this._a.flush(this._h, Math.max(0, Math.trunc(timeoutMs)));
    return rc === LT_OK || rc === LT_EDISABLED;
  }

  shutdownSync(timeoutMs = 5000) {
    if (!this._h) return true;
    this._stopped = true;
    this._untrack();
    const rc = this._a.shutdown(this._h, Math.max(0, Math.trunc(timeoutMs)));
    this._freeWhenIdle = true;
    if (this._inflight === 0) this._free();
    return rc === LT_OK || rc === LT_EDISABLED;
  }

  _untrack() {
    live.delete(this._ref);
    clientHandles.unregister(this._ref); // shut down explicitly: the registry must not free the handle too
  }

  _free() {
    if (!this._h) return;
    const h = this._h;
    this._h = null;
    this._a.free(h);
  }

  /** Counters: enqueued, dropped, sent, failed, retried, discarded, queue_bytes, requests, invalid. */
  stats() {
    const s = {};
    if (this._h) this._a.stats(s, this._h);
    const out = {};
    const names = ['enqueued', 'dropped', 'sent', 'failed', 'retried', 'discarded', 'queue_bytes', 'requests', 'invalid'];
    for (const k of names) {
      out[k] = Number(s[k] ?? 0);
    }
    return out;
  }
}

let defaultClient = null;
/** A process-wide Client from the environment, created on first use. */
function getDefaultClient() {
  if (!defaultClient) defaultClient = new Client();
  return defaultClient;
}

module.exports = { Client, Span, KINDS, newId, loadLibrary, getDefaultClient, liveClientCount, ...require('./openai') };
