"""ctypes binding of <llmtrace.h>. Standard library only."""

import atexit
import contextvars
import ctypes
import enum
import ctypes.util
import json
import os
import queue
import sys
import sysconfig
import threading
import weakref

LT_OK = 0
LT_EINVAL = -1
LT_ENOMEM = -2
LT_EQUEUE_FULL = -3
LT_ETIMEOUT = -4
LT_EDISABLED = -5
LT_ESTOPPED = -6
LT_EVERSION = -7
LT_EINTERNAL = -8
LT_OPTIONS_VERSION = 1

_STATUSES = ("pending", "success", "error")


class LLMTraceError(RuntimeError):
    """A setup call of the C library failed (bad options, library not found)."""

    def __init__(self, code, message):
        super().__init__(f"llmtrace error {code}: {message}")
        self.code = code


class _Options(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_uint32),
        ("endpoint", ctypes.c_char_p),
        ("api_key", ctypes.c_char_p),
        ("queue_limit_bytes", ctypes.c_uint64),
        ("max_batch_records", ctypes.c_uint32),
        ("max_batch_bytes", ctypes.c_uint32),
        ("flush_interval_ms", ctypes.c_int32),
        ("connect_timeout_ms", ctypes.c_int32),
        ("request_timeout_ms", ctypes.c_int32),
        ("max_retries", ctypes.c_int32),
        ("max_backoff_ms", ctypes.c_int32),
        ("overflow_policy", ctypes.c_int32),
        ("block_timeout_ms", ctypes.c_int32),
        ("gzip", ctypes.c_int32),
        ("disabled", ctypes.c_int32),
        ("exit_flush_deadline_ms", ctypes.c_int32),
        ("protocol", ctypes.c_int32),  # lt_options version 2
    ]


class TraceResult(enum.Enum):
    """What trace() did with a record (the C API's lt_status, 1:1). Truthy only when the record was queued,
    so `if client.trace(...)` keeps working; compare with TraceResult members to learn why not."""

    OK = "ok"
    QUEUE_FULL = "queue_full"  # the queue's byte budget is used up: dropped and counted in stats()["dropped"]
    DISABLED = "disabled"      # LLMTRACE_DISABLED=1 or disabled=True
    STOPPED = "stopped"        # shutdown() was called
    INVALID = "invalid"        # the text is not shaped like a JSON object

    def __bool__(self):
        return self is TraceResult.OK


_TRACE_RESULTS = {LT_OK: TraceResult.OK, LT_EQUEUE_FULL: TraceResult.QUEUE_FULL,
                  LT_EDISABLED: TraceResult.DISABLED, LT_ESTOPPED: TraceResult.STOPPED,
                  LT_EINVAL: TraceResult.INVALID}


class _Stats(ctypes.Structure):  # lt_client_stats
    _fields_ = [
        (name, ctypes.c_uint64)
        for name in ("enqueued", "dropped", "sent", "failed", "retried", "discarded", "queue_bytes", "requests",
                     "invalid")
    ]


_lib = None
_lib_lock = threading.Lock()


def _prefix_libdirs(prefix):
    """Where a CMake install under `prefix` puts libllmtrace_c.so (GNUInstallDirs: lib, or lib/<multiarch>)."""
    multiarch = sysconfig.get_config_var("MULTIARCH")
    dirs = ["lib"] + ([os.path.join("lib", multiarch)] if multiarch else []) + ["lib64"]
    return [os.path.join(prefix, d, "libllmtrace_c.so") for d in dirs]


def _candidates():
    """Paths to try, in order: LLMTRACE_LIB (only it, when set); beside the package (a wheel that bundles the
    library); the install prefix (LLMTRACE_PREFIX now, or the one recorded when the package was built, or the
    Python prefix itself); the build trees of a source checkout; the system library path; /usr/local."""
    env = os.environ.get("LLMTRACE_LIB")
    if env:
        yield env
        return
    here = os.path.dirname(os.path.abspath(__file__))
    yield os.path.join(here, "libllmtrace_c.so")
    prefixes = [os.environ.get("LLMTRACE_PREFIX")]
    try:
        from ._prefix import PREFIX  # written by setup.py when built with LLMTRACE_PREFIX set

        prefixes.append(PREFIX)
    except ImportError:
        pass
    prefixes.append(sys.prefix)
    for prefix in prefixes:
        if prefix:
            yield from _prefix_libdirs(prefix)
    # The build trees of a source checkout: <repo>/bindings/python/llmtrace -> <repo>/build*/libtrace
    repo = os.path.abspath(os.path.join(here, "..", "..", ".."))
    try:
        builds = sorted(d for d in os.listdir(repo) if d.startswith("build"))
    except OSError:
        builds = []
    for d in builds:
        yield os.path.join(repo, d, "libtrace", "libllmtrace_c.so")
    found = ctypes.util.find_library("llmtrace_c")
    if found:
        yield found
    yield "libllmtrace_c.so"
    yield from _prefix_libdirs("/usr/local")


def load_library():
    """Loads libllmtrace_c.so once: LLMTRACE_LIB, else beside the package, the build tree, the system path."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        errors = []
        for path in _candidates():
            if os.path.sep in path and not os.path.exists(path):
                continue
            try:
                lib = ctypes.CDLL(path)
                break
            except OSError as e:
                errors.append(f"{path}: {e}")
        else:
            raise LLMTraceError(LT_EINVAL, "cannot load libllmtrace_c.so (set LLMTRACE_LIB): " + "; ".join(errors))
        lib.lt_version.restype = ctypes.c_char_p
        lib.lt_last_error.restype = ctypes.c_char_p
        lib.lt_options_init.argtypes = [ctypes.POINTER(_Options)]
        lib.lt_options_init.restype = None
        lib.lt_client_new.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(_Options)]
        lib.lt_client_new.restype = ctypes.c_int
        lib.lt_trace_json.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t]
        lib.lt_trace_json.restype = ctypes.c_int
        lib.lt_flush.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.lt_flush.restype = ctypes.c_int
        lib.lt_shutdown.argtypes = [ctypes.c_void_p, ctypes.c_int32]
        lib.lt_shutdown.restype = ctypes.c_int
        lib.lt_client_free.argtypes = [ctypes.c_void_p]
        lib.lt_client_free.restype = None
        lib.lt_stats.argtypes = [ctypes.POINTER(_Stats), ctypes.c_void_p]
        lib.lt_stats.restype = ctypes.c_int
        lib.lt_new_id.argtypes = [ctypes.c_char_p, ctypes.c_size_t]
        lib.lt_new_id.restype = ctypes.c_int
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        lib.lt_span_start.argtypes = [ctypes.POINTER(vp), vp, vp, cp, ctypes.c_int, cp, ctypes.c_int64]
        lib.lt_span_start.restype = ctypes.c_int
        lib.lt_span_end.argtypes = [vp, cp, cp, cp]
        lib.lt_span_end.restype = ctypes.c_int
        lib.lt_span_fail.argtypes = [vp, cp, cp, cp]
        lib.lt_span_fail.restype = ctypes.c_int
        lib.lt_span_free.argtypes = [vp]
        lib.lt_span_free.restype = None
        for fn in ("lt_span_id", "lt_span_trace_id", "lt_span_parent_id", "lt_span_session_id"):
            getattr(lib, fn).argtypes = [vp]
            getattr(lib, fn).restype = cp
        _lib = lib
        return lib


def new_id():
    """A new time-ordered UUIDv7 string."""
    lib = load_library()
    buf = ctypes.create_string_buffer(37)
    lib.lt_new_id(buf, 37)
    return buf.value.decode()


# One encoder for every record: json.dumps with non-default arguments builds a new JSONEncoder per call.
# ASCII output (non-ASCII as \uXXXX escapes; the collector stores the same text): CPython's ASCII string encoder
# is ~1 us faster per 2 KB record than the non-ASCII one, and the str -> UTF-8 bytes step is then a copy.
_encoder = json.JSONEncoder(default=str, separators=(",", ":"))


def _make_record_chunks():
    """trace()'s record encoder: CPython's C encoder built once, without the circular-reference check (a
    JSONEncoder builds it on every encode() and keeps a dict of the containers it is in: ~2 us of a 12 us
    2 KB record, bench/python_trace.py). Called as chunks(obj, 0), it returns the text's pieces to join. A
    self-referencing record then raises RecursionError instead of ValueError. None where the C accelerator
    is missing (other interpreters): trace() then uses _encoder.encode."""
    try:
        from json.encoder import c_encode_basestring_ascii, c_make_encoder
        # (markers, default, encoder, indent, key_separator, item_separator, sort_keys, skipkeys, allow_nan)
        chunks = c_make_encoder(None, str, c_encode_basestring_ascii, None, ":", ",", False, False, True)
        probe = {"a": [1, 2.5, "\u00e9", None, True], "b": {}}
        if "".join(chunks(probe, 0)) == _encoder.encode(probe):
            return chunks
    except (ImportError, TypeError):
        pass
    return None


_record_chunks = _make_record_chunks()
_TEXT = (str, bytes, bytearray)  # a request/response/metadata given as JSON text, spliced in as is


def _json_text(value):
    """dict/list/number -> JSON text; str is taken as JSON text when it parses, else as a JSON string."""
    if value is None:
        return None
    if isinstance(value, (bytes, bytearray)):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except ValueError:
            return json.dumps(value)
    return _encoder.encode(value)


_live = weakref.WeakSet()

KINDS = ("llm", "agent", "tool", "retrieval", "embedding", "chain", "other")  # lt_kind order
_current_span = contextvars.ContextVar("llmtrace_current_span", default=None)


def _enc(value):
    text = _json_text(value)
    return None if text is None else text.encode("utf-8", "surrogatepass")


class Span:
    """One node of a trace tree, sent as one record when it ends (see Client.span). Use it as a context
    manager: the record is sent at exit, as an error with the exception's message when the block raised.
    Inside the block, Client.span() (or span.span()) makes children of it. Attributes: id (16 hex),
    trace_id (32 hex), parent_id (None for a root), session_id, name, kind. end()/fail() may be called from
    any thread; only the first one sends."""

    def __init__(self, client, handle, name, kind):
        self._client = client
        self._lib = client._lib
        self._h = handle
        self.name = name
        self.kind = kind
        self.id = self._lib.lt_span_id(handle).decode()
        self.trace_id = self._lib.lt_span_trace_id(handle).decode()
        self.parent_id = self._lib.lt_span_parent_id(handle).decode() or None
        self.session_id = self._lib.lt_span_session_id(handle).decode()
        self.request = None  # set these inside the block; sent at exit
        self.response = None
        self.metadata = None
        self._token = None

    def span(self, name, kind="llm"):
        """A child span of this one."""
        return self._client.span(name, kind=kind, parent=self)

    child = span

    def end(self, request=None, response=None, metadata=None):
        """Sends the record (success); returns a TraceResult. Later calls send nothing."""
        h = self._h
        if h is None:
            return TraceResult.STOPPED
        rc = self._lib.lt_span_end(h, _enc(request if request is not None else self.request),
                                   _enc(response if response is not None else self.response),
                                   _enc(metadata if metadata is not None else self.metadata))
        return TraceResult.OK if rc == LT_OK else _TRACE_RESULTS.get(rc, TraceResult.INVALID)

    def fail(self, error_message, request=None, response=None):
        """Sends the record as an error; returns a TraceResult. Later calls send nothing."""
        h = self._h
        if h is None:
            return TraceResult.STOPPED
        rc = self._lib.lt_span_fail(h, str(error_message or "error").encode("utf-8", "replace"),
                                    _enc(request if request is not None else self.request),
                                    _enc(response if response is not None else self.response))
        return TraceResult.OK if rc == LT_OK else _TRACE_RESULTS.get(rc, TraceResult.INVALID)

    def __enter__(self):
        self._token = _current_span.set((self._client, self))
        return self

    def __exit__(self, exc_type, exc, tb):
        if self._token is not None:
            _current_span.reset(self._token)
            self._token = None
        if exc_type is not None:
            self.fail(f"{exc_type.__name__}: {exc}")
        else:
            self.end()
        self._free()
        return False

    def _free(self):
        h, self._h = self._h, None
        if h is not None:
            self._lib.lt_span_free(h)  # sent as "span not ended" when neither end() nor fail() ran

    def __del__(self):
        try:
            self._free()
        except Exception:
            pass


# Handles of Clients collected without shutdown(): freeing one flushes it for up to its exit deadline, which
# must not happen on whatever thread the garbage collector runs on. __del__ only queues the handle
# (SimpleQueue.put is safe there); this daemon thread frees it, and exit waits for what is left.
_reap_queue = queue.SimpleQueue()
_reaper = None
_reaper_lock = threading.Lock()


def _reap_loop():
    while True:
        item = _reap_queue.get()
        if item is None:
            return
        lib, h = item
        try:
            lib.lt_client_free(h)
        except Exception:
            pass


def _start_reaper():
    global _reaper
    with _reaper_lock:
        if _reaper is None:
            _reaper = threading.Thread(target=_reap_loop, name="llmtrace-reaper", daemon=True)
            _reaper.start()


@atexit.register
def _flush_all_at_exit():
    for c in list(_live):
        try:
            c.shutdown(c._exit_timeout)
        except Exception:
            pass
    if _reaper is not None:
        # Collected Clients still flushing: each free is bounded by the library's exit deadline.
        _reap_queue.put(None)
        _reaper.join(timeout=10.0)


class Client:
    """A tracing client. endpoint/api_key default to LLMTRACE_ENDPOINT / LLMTRACE_API_KEY."""

    def __init__(self, endpoint=None, api_key=None, *, flush_interval_ms=None, max_retries=None,
                 queue_limit_bytes=None, gzip=False, disabled=None, exit_timeout=2.0):
        self._lib = load_library()
        opts = _Options()
        self._lib.lt_options_init(ctypes.byref(opts))
        # Keep the encoded strings alive for the duration of lt_client_new (the library copies them).
        self._endpoint = endpoint
        self._api_key = api_key
        self._endpoint_b = endpoint.encode() if endpoint else None
        self._api_key_b = api_key.encode() if api_key else None
        opts.endpoint = self._endpoint_b
        opts.api_key = self._api_key_b
        if flush_interval_ms is not None:
            opts.flush_interval_ms = int(flush_interval_ms)
        if max_retries is not None:
            opts.max_retries = int(max_retries)
        if queue_limit_bytes is not None:
            opts.queue_limit_bytes = int(queue_limit_bytes)
        opts.gzip = 1 if gzip else 0
        if disabled:
            opts.disabled = 1
        handle = ctypes.c_void_p()
        rc = self._lib.lt_client_new(ctypes.byref(handle), ctypes.byref(opts))
        if rc != LT_OK:
            raise LLMTraceError(rc, self._lib.lt_last_error().decode(errors="replace"))
        self._h = handle
        self._lock = threading.Lock()
        self._stopped = False
        self._shutdown_ok = True
        self._exit_timeout = exit_timeout
        _start_reaper()
        _live.add(self)

    def trace(self, session_id=None, turn_number=None, request=None, response=None, status="success",
              error_message="", metadata=None, *, id=None, model=None, parent_id=None, latency_ms=None,
              started_at=None, ended_at=None, trace_id=None, name=None, kind=None):
        """Queue one record; returns a TraceResult (truthy when queued). Never blocks; never raises for a full
        queue. The JSON is validated by the library's background thread: an invalid record is dropped there
        and counted in stats()["invalid"]."""
        if status not in _STATUSES:
            raise ValueError(f"status must be one of {_STATUSES}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        # One encoder pass over the whole record (a cached C encoder, compact separators), not one json.dumps
        # per member plus a join: the binding's cost stays near the serialisation it replaces
        # (bench/python_trace.py). JSON text given as str/bytes is spliced in as is.
        d = {"status": status}
        raw = None
        if id:
            d["id"] = str(id)
        if session_id:
            d["session_id"] = str(session_id)
        if turn_number:
            d["turn_number"] = int(turn_number)
        if not (isinstance(request, _TEXT) or isinstance(response, _TEXT) or isinstance(metadata, _TEXT)):
            d["request"] = request  # the common case: objects, encoded with the rest below
            d["response"] = response
            if metadata is not None:
                d["metadata"] = metadata
        else:
            for key, value in (("request", request), ("response", response), ("metadata", metadata)):
                if isinstance(value, _TEXT):
                    text = _json_text(value)
                    raw = [(key, text)] if raw is None else raw + [(key, text)]
                elif value is not None or key != "metadata":
                    d[key] = value
        if error_message:
            d["error_message"] = str(error_message)
        if model:
            d["model"] = str(model)
        if parent_id:
            d["parent_id"] = str(parent_id)
        if trace_id:
            d["trace_id"] = str(trace_id)
        if name:
            d["name"] = str(name)
        if kind:
            d["kind"] = kind
        if latency_ms is not None:
            d["latency_ms"] = float(latency_ms)
        if started_at:
            d["started_at"] = str(started_at)
        if ended_at:
            d["ended_at"] = str(ended_at)
        chunks = _record_chunks
        text = "".join(chunks(d, 0)) if chunks is not None else _encoder.encode(d)
        if raw:  # d always has "status", so the text ends "...}" after at least one member
            text = text[:-1] + "".join(',"%s":%s' % kv for kv in raw) + "}"
        h = self._h
        if h is None:
            return TraceResult.STOPPED
        data = text.encode("utf-8", "surrogatepass")
        rc = self._lib.lt_trace_json(h, data, len(data))
        return TraceResult.OK if rc == LT_OK else _TRACE_RESULTS.get(rc, TraceResult.INVALID)

    def span(self, name, kind="llm", *, parent=None, session_id=None, turn_number=0):
        """Starts a span (a Span; use `with`). parent: a Span, else the span whose `with` block of this client
        encloses the call (contextvars: per thread and per asyncio task), else none: a root with a new trace
        id and, without session_id, a new session on turn 1. Ids and the start time are taken now; the one
        record is sent when it ends. Raises ValueError for an unknown kind."""
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if parent is None:
            cur = _current_span.get()
            if cur is not None and cur[0] is self:
                parent = cur[1]
        h = self._h
        if h is None:
            raise LLMTraceError(LT_ESTOPPED, "client was freed")
        out = ctypes.c_void_p()
        rc = self._lib.lt_span_start(ctypes.byref(out), h, parent._h if parent is not None else None,
                                     str(name).encode("utf-8", "replace"), KINDS.index(kind),
                                     session_id.encode() if session_id else None, int(turn_number or 0))
        if rc != LT_OK:
            raise LLMTraceError(rc, self._lib.lt_last_error().decode(errors="replace"))
        return Span(self, out, str(name), kind)

    def score(self, name, value, *, record_id=None, session_id=None, comment=None, timeout=5.0):
        """Attach a score (thumbs up/down as True/False, a number, or a label string, plus an optional comment)
        to a record (record_id: the id you passed to trace(), or one from the API) or to a session. Sent at
        once (not through the trace queue); returns the stored score as a dict; raises LLMTraceError when the
        collector refuses it (unknown id, bad value) or cannot be reached. Send the record itself first
        (flush()) if it may still be queued."""
        from ._score import post_score

        if (record_id is None) == (session_id is None):
            raise ValueError("pass exactly one of record_id and session_id")
        target, target_id = ("record", record_id) if record_id is not None else ("session", session_id)
        return post_score(self._endpoint, self._api_key, target, target_id, name, value, comment, timeout)

    def trace_json(self, text):
        """Queue a record given as JSON text in the POST /api/trace shape; returns a TraceResult. An "id" is
        added unless the record has one."""
        h = self._h
        if h is None:
            return TraceResult.STOPPED
        data = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else bytes(text)
        rc = self._lib.lt_trace_json(h, data, len(data))
        return TraceResult.OK if rc == LT_OK else _TRACE_RESULTS.get(rc, TraceResult.INVALID)

    def flush(self, timeout=5.0):
        """Waits until everything traced so far is delivered or dropped; False on timeout."""
        h = self._h
        if h is None:
            return False
        return self._lib.lt_flush(h, int(timeout * 1000)) == LT_OK

    def shutdown(self, timeout=5.0):
        """Flushes and stops the background thread; False when the deadline passed. Later trace() calls
        return TraceResult.STOPPED. The C handle is freed when this object is garbage collected."""
        with self._lock:
            if self._stopped:
                return self._shutdown_ok
            self._stopped = True
        rc = self._lib.lt_shutdown(self._h, int(timeout * 1000))
        self._shutdown_ok = rc in (LT_OK, LT_EDISABLED)
        _live.discard(self)
        return self._shutdown_ok

    close = shutdown

    def stats(self):
        """Counters: enqueued, dropped, sent, failed, retried, discarded, queue_bytes, requests, invalid."""
        s = _Stats()
        h = self._h
        if h is not None:
            self._lib.lt_stats(ctypes.byref(s), h)
        return {name: getattr(s, name) for name, _ in _Stats._fields_}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.shutdown(self._exit_timeout)
        return False

    def __del__(self):
        try:
            h, self._h = getattr(self, "_h", None), None
            if h is not None:
                # lt_client_free flushes within exit_flush_deadline_ms when shutdown() was not called: done
                # by the reaper thread, so the collecting thread never waits for the network.
                _reap_queue.put((self._lib, h))
        except Exception:
            pass


_default = None


def default_client():
    """A process-wide Client built from the environment on first use (flushed at exit)."""
    global _default
    with _lib_lock:
        if _default is not None:
            return _default
    c = Client()
    with _lib_lock:
        if _default is None:
            _default = c
        return _default
