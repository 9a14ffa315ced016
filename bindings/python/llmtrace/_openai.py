"""wrap_openai: trace an OpenAI-style client's chat.completions.create without changing call sites.

Works with any object shaped like the official client (client.chat.completions.create(**kwargs) returning a
response object or, with stream=True, an iterable of chunks), sync or async (AsyncOpenAI: awaitables and
async iterables). Streamed chunks are passed through as they come
and the assembled response is recorded when the stream ends (or fails, or is closed early).
"""

import datetime
import functools
import inspect
import threading
import time

from ._client import Client, default_client, new_id


def _to_plain(obj):
    """Response objects (pydantic models, dicts, simple objects) -> JSON-able values."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {str(k): _to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_plain(v) for v in obj]
    for attr in ("model_dump", "to_dict", "dict"):
        fn = getattr(obj, attr, None)
        if callable(fn):
            try:
                return _to_plain(fn())
            except Exception:
                pass
    if hasattr(obj, "__dict__"):
        return {k: _to_plain(v) for k, v in vars(obj).items() if not k.startswith("_")}
    return str(obj)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class _Assembler:
    """Folds chat.completion.chunk objects into one chat.completion."""

    def __init__(self):
        self.id = None
        self.model = None
        self.created = None
        self.choices = {}
        self.usage = None

    def add(self, chunk):
        c = _to_plain(chunk)
        if not isinstance(c, dict):
            return
        self.id = self.id or c.get("id")
        self.model = self.model or c.get("model")
        self.created = self.created or c.get("created")
        if c.get("usage"):
            self.usage = c["usage"]
        for ch in c.get("choices") or []:
            idx = ch.get("index", 0)
            acc = self.choices.setdefault(idx, {"index": idx, "message": {"role": "assistant", "content": ""},
                                                "finish_reason": None})
            delta = ch.get("delta") or {}
            if delta.get("role"):
                acc["message"]["role"] = delta["role"]
            if delta.get("content"):
                acc["message"]["content"] += delta["content"]
            for tc in delta.get("tool_calls") or []:
                calls = acc["message"].setdefault("tool_calls", [])
                i = tc.get("index", len(calls))
                while len(calls) <= i:
                    calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    calls[i]["id"] = tc["id"]
                fn = tc.get("function") or {}
                if fn.get("name"):
                    calls[i]["function"]["name"] += fn["name"]
                if fn.get("arguments"):
                    calls[i]["function"]["arguments"] += fn["arguments"]
            if ch.get("finish_reason"):
                acc["finish_reason"] = ch["finish_reason"]

    def result(self):
        out = {"id": self.id, "object": "chat.completion", "created": self.created, "model": self.model,
               "choices": [self.choices[k] for k in sorted(self.choices)]}
        if self.usage:
            out["usage"] = self.usage
        return out


class _TracedStream:
    """Yields the upstream's chunks unchanged; records the assembled response once, at the end."""

    def __init__(self, stream, finish):
        self._stream = stream
        self._finish = finish
        self._asm = _Assembler()
        self._done = False

    def __iter__(self):
        return self

    def __next__(self):
        try:
            chunk = next(self._it())
        except StopIteration:
            self._end(None)
            raise
        except BaseException as e:
            self._end(e)
            raise
        self._asm.add(chunk)
        return chunk

    def _it(self):
        if not hasattr(self, "_iter"):
            self._iter = iter(self._stream)
        return self._iter

    def _end(self, error):
        if self._done:
            return
        self._done = True
        self._finish(self._asm.result(), error)

    def close(self):
        try:
            close = getattr(self._stream, "close", None)
            if callable(close):
                close()
        finally:
            self._end(None if self._asm.choices else RuntimeError("stream closed before completion"))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __del__(self):
        if not self._done:
            try:
                self._end(RuntimeError("stream abandoned"))
            except Exception:
                pass

    def __getattr__(self, name):  # e.g. .response on the official Stream
        return getattr(self._stream, name)


class _TracedAsyncStream:
    """The async twin of _TracedStream (AsyncOpenAI's streams)."""

    def __init__(self, stream, finish):
        self._stream = stream
        self._finish = finish
        self._asm = _Assembler()
        self._done = False
        self._it = None

    def __aiter__(self):
        return self

    async def __anext__(self):
        if self._it is None:
            self._it = self._stream.__aiter__()
        try:
            chunk = await self._it.__anext__()
        except StopAsyncIteration:
            self._end(None)
            raise
        except BaseException as e:
            self._end(e)
            raise
        self._asm.add(chunk)
        return chunk

    def _end(self, error):
        if self._done:
            return
        self._done = True
        self._finish(self._asm.result(), error)

    async def close(self):
        try:
            close = getattr(self._stream, "close", None) or getattr(self._stream, "aclose", None)
            if close is not None:
                r = close()
                if inspect.isawaitable(r):
                    await r
        finally:
            self._end(None if self._asm.choices else RuntimeError("stream closed before completion"))

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        await self.close()
        return False

    def __getattr__(self, name):
        return getattr(self._stream, name)


async def _await_traced(awaitable, stream, finish):
    try:
        result = await awaitable
    except BaseException as e:
        finish(None, e)
        raise
    if stream:
        return _TracedAsyncStream(result, finish)
    finish(_to_plain(result), None)
    return result


def wrap_openai(client, session_id=None, *, tracer=None, metadata=None):
    """Makes client.chat.completions.create trace each call, numbering turns 1, 2, 3... in one session
    (generated when not given). `tracer` is the llmtrace.Client to record into (default: a process-wide client
    from LLMTRACE_ENDPOINT / LLMTRACE_API_KEY); it may also be passed as the second positional argument.
    Returns the same client object; its session id is in client._llmtrace_session_id."""
    if isinstance(session_id, Client):
        tracer, session_id = session_id, None
    if tracer is None:
        tracer = default_client()
    completions = client.chat.completions
    original = completions.create
    session = session_id or new_id()
    lock = threading.Lock()
    state = {"turn": 0}

    @functools.wraps(original)
    def create(*args, **kwargs):
        with lock:
            state["turn"] += 1
            turn = state["turn"]
        rid = new_id()
        request = _to_plain(kwargs)
        model = kwargs.get("model")
        started = _now_iso()
        t0 = time.monotonic()
        tracer.trace(session_id=session, turn_number=turn, request=request, status="pending", id=rid,
                     model=model, started_at=started, metadata=metadata)

        def finish(response, error):
            latency = (time.monotonic() - t0) * 1000.0
            if error is None:
                tracer.trace(session_id=session, turn_number=turn, request=request, response=response,
                             status="success", id=rid, model=model, started_at=started, ended_at=_now_iso(),
                             latency_ms=latency, metadata=metadata)
            else:
                tracer.trace(session_id=session, turn_number=turn, request=request, response=response,
                             status="error", error_message=f"{type(error).__name__}: {error}", id=rid,
                             model=model, started_at=started, ended_at=_now_iso(), latency_ms=latency,
                             metadata=metadata)

        try:
            result = original(*args, **kwargs)
        except BaseException as e:
            finish(None, e)
            raise
        if inspect.isawaitable(result):  # AsyncOpenAI: trace when the caller awaits
            return _await_traced(result, kwargs.get("stream"), finish)
        if kwargs.get("stream"):
            return _TracedStream(result, finish)
        finish(_to_plain(result), None)
        return result

    completions.create = create
    client._llmtrace_session_id = session
    return client


instrument = wrap_openai
