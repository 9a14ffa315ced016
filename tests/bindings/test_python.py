"""Python binding (ctypes over libllmtrace_c.so) against a fake collector over real loopback HTTP, and
wrap_openai with a small OpenAI-style client object (plain, streamed and failing calls)."""

import asyncio
import json
import os
import sys
import time
import unittest
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "bindings", "python"))
sys.path.insert(0, HERE)

import llmtrace  # noqa: E402
from harness import FakeCollector, FakeUpstream  # noqa: E402


class _Obj:
    """Attribute access over a dict, like the official client's response models."""

    def __init__(self, d):
        self._d = d
        for k, v in d.items():
            setattr(self, k, _wrap(v))

    def model_dump(self):
        return self._d


def _wrap(v):
    if isinstance(v, dict):
        return _Obj(v)
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


class FakeOpenAI:
    """Just enough of openai.OpenAI: client.chat.completions.create(**kwargs), over real HTTP."""

    class _Completions:
        def __init__(self, base_url):
            self.base_url = base_url

        def create(self, **kwargs):
            req = urllib.request.Request(self.base_url + "/chat/completions", data=json.dumps(kwargs).encode(),
                                         headers={"Content-Type": "application/json"})
            try:
                resp = urllib.request.urlopen(req, timeout=5)
            except urllib.error.HTTPError as e:
                raise RuntimeError(f"upstream HTTP {e.code}") from None
            if kwargs.get("stream"):
                return self._stream(resp)
            with resp:
                return _Obj(json.loads(resp.read()))

        @staticmethod
        def _stream(resp):
            with resp:
                for line in resp:
                    line = line.strip()
                    if not line.startswith(b"data: "):
                        continue
                    data = line[6:]
                    if data == b"[DONE]":
                        return
                    yield _Obj(json.loads(data))

    class _Chat:
        def __init__(self, base_url):
            self.completions = FakeOpenAI._Completions(base_url)

    def __init__(self, base_url):
        self.chat = FakeOpenAI._Chat(base_url)


class FakeAsyncOpenAI:
    """The async shape (openai.AsyncOpenAI): awaitable create(), async-iterable streams; HTTP in a thread."""

    class _Completions:
        def __init__(self, base_url):
            self._sync = FakeOpenAI._Completions(base_url)

        async def create(self, **kwargs):
            result = await asyncio.to_thread(self._sync.create, **kwargs)
            if kwargs.get("stream"):
                chunks = await asyncio.to_thread(list, result)

                async def agen():
                    for c in chunks:
                        yield c

                return agen()
            return result

    def __init__(self, base_url):
        self.chat = type("Chat", (), {})()
        self.chat.completions = FakeAsyncOpenAI._Completions(base_url)


class ClientTests(unittest.TestCase):
    def setUp(self):
        self.fc = FakeCollector()

    def tearDown(self):
        self.fc.close()

    def test_trace_flush_delivers_records_with_ids(self):
        c = llmtrace.Client(endpoint=self.fc.endpoint)
        self.assertTrue(c.trace(session_id="py-1", turn_number=1, request={"model": "m", "messages": []},
                                response={"choices": []}, metadata={"k": "v"}))
        self.assertTrue(c.trace(session_id="py-1", turn_number=2, request='{"raw": true}', status="error",
                                error_message="boom \"quoted\" \u00e9"))
        self.assertTrue(c.flush(5.0))
        with self.fc.lock:
            recs = list(self.fc.records)
        self.assertEqual(len(recs), 2)
        self.assertEqual(recs[0]["session_id"], "py-1")
        self.assertEqual(recs[0]["request"]["model"], "m")
        self.assertEqual(recs[0]["metadata"], {"k": "v"})
        self.assertEqual(recs[1]["request"], {"raw": True})
        self.assertEqual(recs[1]["status"], "error")
        self.assertEqual(recs[1]["error_message"], "boom \"quoted\" \u00e9")
        for r in recs:
            self.assertEqual(len(r["id"]), 36)
        s = c.stats()
        self.assertEqual(s["enqueued"], 2)
        self.assertEqual(s["sent"], 2)
        self.assertEqual(s["dropped"], 0)
        self.assertTrue(c.shutdown(2.0))
        self.assertFalse(c.trace(session_id="py-1"))
        self.assertIs(c.trace(session_id="py-1"), llmtrace.TraceResult.STOPPED)

    def test_non_ascii_text_arrives_intact_and_a_lone_surrogate_is_dropped_and_counted(self):
        # trace() writes non-ASCII as \u escapes (emoji as a surrogate pair); the receiver decodes the same text.
        c = llmtrace.Client(endpoint=self.fc.endpoint)
        text = "你好，世界 é 😀"
        self.assertTrue(c.trace(session_id="对话-1", request={"messages": [{"role": "user", "content": text}]},
                                metadata={"标签": text}))
        self.assertTrue(c.trace(session_id="lone", request={"content": "bad \ud800 half"}))  # not valid text
        self.assertTrue(c.trace(session_id="nan", latency_ms=float("nan")))  # NaN is not JSON
        self.assertTrue(c.flush(5.0))
        with self.fc.lock:
            recs = list(self.fc.records)
        self.assertEqual([r["session_id"] for r in recs], ["对话-1"])
        self.assertEqual(recs[0]["request"]["messages"][0]["content"], text)
        self.assertEqual(recs[0]["metadata"], {"标签": text})
        s = c.stats()
        self.assertEqual((s["sent"], s["invalid"], s["failed"]), (1, 2, 2))
        loop = {}
        loop["self"] = loop
        with self.assertRaises((RecursionError, ValueError)):
            c.trace(session_id="loop", request=loop)
        c.shutdown(2.0)

    def test_results_say_why_and_invalid_json_is_counted_not_sent(self):
        c = llmtrace.Client(endpoint=self.fc.endpoint)
        self.assertIs(c.trace_json("[1]"), llmtrace.TraceResult.INVALID)
        self.assertIs(c.trace_json('{"session_id":"ok-1"}'), llmtrace.TraceResult.OK)
        # Shaped like an object, so queued; the library's flusher finds it invalid, drops and counts it.
        self.assertIs(c.trace_json('{"session_id":"bad", "request":{]}'), llmtrace.TraceResult.OK)
        self.assertTrue(c.flush(5.0))
        with self.fc.lock:
            recs = list(self.fc.records)
        self.assertEqual([r["session_id"] for r in recs], ["ok-1"])
        self.assertEqual(len(recs[0]["id"]), 36)
        s = c.stats()
        self.assertEqual(s["invalid"], 1)
        self.assertEqual(s["failed"], 1)
        self.assertEqual(s["sent"], 1)
        c.shutdown(2.0)
        d = llmtrace.Client(endpoint=self.fc.endpoint, disabled=True)
        self.assertIs(d.trace(session_id="x"), llmtrace.TraceResult.DISABLED)
        self.assertFalse(d.trace(session_id="x"))

    def test_bad_status_raises_and_new_id_is_uuidv7(self):
        c = llmtrace.Client(endpoint=self.fc.endpoint)
        with self.assertRaises(ValueError):
            c.trace(status="done")
        i = llmtrace.new_id()
        self.assertEqual(len(i), 36)
        self.assertEqual(i[14], "7")
        c.shutdown(1.0)

    def test_invalid_endpoint_is_an_error(self):
        with self.assertRaises(llmtrace.LLMTraceError):
            llmtrace.Client(endpoint="ftp://x")

    def test_shutdown_times_out_against_a_server_that_never_answers(self):
        import socket
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        try:
            c = llmtrace.Client(endpoint=f"http://127.0.0.1:{srv.getsockname()[1]}", flush_interval_ms=10)
            c.trace(session_id="hang")
            t0 = time.monotonic()
            self.assertFalse(c.shutdown(1.0))
            self.assertLess(time.monotonic() - t0, 1.5)
        finally:
            srv.close()

    def test_collecting_an_unflushed_client_does_not_block_the_collecting_thread(self):
        # Before: __del__ freed the handle inline, flushing for up to the 2 s exit deadline on the GC's thread.
        import gc
        import socket
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(8)
        try:
            c = llmtrace.Client(endpoint=f"http://127.0.0.1:{srv.getsockname()[1]}", flush_interval_ms=10)
            c.trace(session_id="gc")
            t0 = time.monotonic()
            del c
            gc.collect()
            elapsed = time.monotonic() - t0
            print(f"Client.__del__ of an undeliverable client returned in {elapsed * 1000:.1f} ms")
            self.assertLess(elapsed, 0.5)
        finally:
            srv.close()

    def test_library_loaded_from_LLMTRACE_LIB(self):
        lib = llmtrace.load_library()
        self.assertTrue(lib.lt_version().decode())
        if os.environ.get("LLMTRACE_LIB"):
            self.assertEqual(os.path.realpath(lib._name), os.path.realpath(os.environ["LLMTRACE_LIB"]))


class WrapOpenAITests(unittest.TestCase):
    def setUp(self):
        self.fc = FakeCollector()
        self.up = FakeUpstream()
        self.tracer = llmtrace.Client(endpoint=self.fc.endpoint, flush_interval_ms=20)
        self.oa = llmtrace.wrap_openai(FakeOpenAI(self.up.base_url), session_id="wrap-1", tracer=self.tracer)

    def tearDown(self):
        self.tracer.shutdown(2.0)
        self.fc.close()
        self.up.close()

    def finals(self):
        self.assertTrue(self.tracer.flush(5.0))
        with self.fc.lock:
            return [r for r in self.fc.records if r["status"] != "pending"]

    def test_plain_call_is_traced_without_changing_the_call_site(self):
        resp = self.oa.chat.completions.create(model="gpt-x", messages=[{"role": "user", "content": "hi"}])
        self.assertEqual(resp.choices[0].message.content, "echo: hi")
        finals = self.finals()
        self.assertEqual(len(finals), 1)
        r = finals[0]
        self.assertEqual(r["session_id"], "wrap-1")
        self.assertEqual(r["turn_number"], 1)
        self.assertEqual(r["status"], "success")
        self.assertEqual(r["model"], "gpt-x")
        self.assertEqual(r["response"]["usage"]["total_tokens"], 12)
        self.assertGreaterEqual(r["latency_ms"], 0)
        with self.fc.lock:
            pend = [x for x in self.fc.records if x["status"] == "pending"]
        self.assertEqual(pend[0]["id"], r["id"])

    def test_stream_passes_chunks_through_and_records_the_assembled_response(self):
        stream = self.oa.chat.completions.create(model="gpt-x", stream=True,
                                                 stream_options={"include_usage": True},
                                                 messages=[{"role": "user", "content": "stream me"}])
        text = ""
        n = 0
        for chunk in stream:
            n += 1
            if chunk.choices:
                text += chunk.choices[0].delta.content or "" if hasattr(chunk.choices[0].delta, "content") else ""
        self.assertGreater(n, 3)
        self.assertEqual(text, "echo: stream me")
        finals = self.finals()
        self.assertEqual(len(finals), 1)
        r = finals[0]
        self.assertEqual(r["status"], "success")
        self.assertEqual(r["response"]["choices"][0]["message"]["content"], "echo: stream me")
        self.assertEqual(r["response"]["choices"][0]["finish_reason"], "stop")
        self.assertEqual(r["response"]["usage"]["total_tokens"], 12)

    def test_failing_call_is_recorded_as_error_and_reraised(self):
        self.oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "ok"}])
        with self.assertRaises(RuntimeError):
            self.oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "please fail"}])
        finals = self.finals()
        self.assertEqual([r["turn_number"] for r in finals], [1, 2])
        self.assertEqual(finals[1]["status"], "error")
        self.assertIn("upstream HTTP 500", finals[1]["error_message"])


class WrapAsyncOpenAITests(unittest.TestCase):
    def setUp(self):
        self.fc = FakeCollector()
        self.up = FakeUpstream()
        self.tracer = llmtrace.Client(endpoint=self.fc.endpoint, flush_interval_ms=20)

    def tearDown(self):
        self.tracer.shutdown(2.0)
        self.fc.close()
        self.up.close()

    def test_async_plain_stream_and_failure_are_traced_when_awaited(self):
        oa = llmtrace.wrap_openai(FakeAsyncOpenAI(self.up.base_url), session_id="async-1", tracer=self.tracer)

        async def run():
            r = await oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "a"}])
            self.assertEqual(r.choices[0].message.content, "echo: a")
            s = await oa.chat.completions.create(model="m", stream=True, messages=[{"role": "user", "content": "b"}])
            text = ""
            async for chunk in s:
                if chunk.choices and hasattr(chunk.choices[0].delta, "content"):
                    text += chunk.choices[0].delta.content or ""
            self.assertEqual(text, "echo: b")
            with self.assertRaises(RuntimeError):
                await oa.chat.completions.create(model="m", messages=[{"role": "user", "content": "fail"}])

        asyncio.run(run())
        self.assertTrue(self.tracer.flush(5.0))
        with self.fc.lock:
            finals = [r for r in self.fc.records if r["status"] != "pending"]
        self.assertEqual([(r["turn_number"], r["status"]) for r in finals], [(1, "success"), (2, "success"), (3, "error")])
        self.assertEqual(finals[1]["response"]["choices"][0]["message"]["content"], "echo: b")


class SpanTests(unittest.TestCase):
    """Spans through the C library to a fake collector: nesting by `with`, explicit parents, errors."""

    def setUp(self):
        self.fc = FakeCollector()
        self.c = llmtrace.Client(endpoint=self.fc.endpoint, flush_interval_ms=20)

    def tearDown(self):
        self.c.shutdown(2.0)
        self.fc.close()

    def by_name(self):
        return {r["name"]: r for r in self.fc.records}

    def test_nested_with_blocks_make_one_tree(self):
        hexd = set("0123456789abcdef")
        with self.c.span("plan", kind="agent") as agent:
            with self.c.span("chat") as llm:  # child of the enclosing span
                llm.request = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
                llm.response = {"choices": []}
                with llm.span("search", kind="tool") as tool:
                    tool.request = {"q": "x"}
            with agent.span("lookup", kind="retrieval"):
                pass
        with self.c.span("second-root", kind="chain") as other:
            pass
        self.assertTrue(self.c.flush(5.0))
        m = self.by_name()
        self.assertEqual(len(self.fc.records), 5)
        a, l, t, r = m["plan"], m["chat"], m["search"], m["lookup"]
        self.assertEqual(a["id"], agent.id)
        self.assertEqual(len(a["id"]), 16)
        self.assertTrue(set(a["id"]) <= hexd)
        self.assertEqual(len(a["trace_id"]), 32)
        self.assertTrue(set(a["trace_id"]) <= hexd)
        self.assertNotIn("parent_id", a)
        self.assertIsNone(agent.parent_id)
        self.assertEqual(l["parent_id"], a["id"])
        self.assertEqual(t["parent_id"], l["id"])
        self.assertEqual(r["parent_id"], a["id"])
        for x in (l, t, r):
            self.assertEqual(x["trace_id"], a["trace_id"])
            self.assertEqual(x["session_id"], a["session_id"])
            self.assertEqual(x["turn_number"], 1)
        self.assertEqual([a["kind"], l["kind"], t["kind"], r["kind"]], ["agent", "llm", "tool", "retrieval"])
        self.assertEqual(l["request"]["messages"][0]["content"], "hi")
        self.assertEqual(t["request"], {"q": "x"})
        self.assertLessEqual(a["started_at"], l["started_at"])
        self.assertLessEqual(t["ended_at"], a["ended_at"])
        for x in m.values():
            self.assertLessEqual(x["started_at"], x["ended_at"])
            self.assertEqual(x["status"], "success")
        self.assertNotEqual(m["second-root"]["trace_id"], a["trace_id"])
        self.assertNotIn("parent_id", m["second-root"])
        self.assertEqual(other.kind, "chain")

    def test_exception_in_block_records_error_and_propagates(self):
        with self.assertRaises(KeyError):
            with self.c.span("root", kind="agent", session_id="py-span-sess", turn_number=4):
                with self.c.span("tool-call", kind="tool"):
                    raise KeyError("missing")
        s = self.c.span("never-ended")
        del s  # freed without end: sent as an error
        with self.assertRaises(ValueError):
            self.c.span("x", kind="nope")
        self.assertTrue(self.c.flush(5.0))
        m = self.by_name()
        self.assertEqual(m["tool-call"]["status"], "error")
        self.assertIn("KeyError", m["tool-call"]["error_message"])
        self.assertEqual(m["root"]["status"], "error")
        self.assertEqual(m["root"]["session_id"], "py-span-sess")
        self.assertEqual(m["tool-call"]["turn_number"], 4)
        self.assertEqual(m["never-ended"]["error_message"], "span not ended")

    def test_plain_trace_takes_span_fields(self):
        self.assertTrue(self.c.trace(session_id="plain", name="step", kind="tool", trace_id="ab" * 16,
                                     parent_id="cd" * 8))
        with self.assertRaises(ValueError):
            self.c.trace(kind="bogus")
        self.assertTrue(self.c.flush(5.0))
        r = self.fc.records[0]
        self.assertEqual((r["name"], r["kind"], r["trace_id"], r["parent_id"]), ("step", "tool", "ab" * 16, "cd" * 8))

    def test_end_on_another_thread_sends_once(self):
        import threading
        root = self.c.span("threaded", kind="agent")
        kids = [root.span(f"k{i}", kind="tool") for i in range(4)]
        ts = [threading.Thread(target=k.end) for k in kids] + [threading.Thread(target=root.end)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        self.assertEqual(root.end(), llmtrace.TraceResult.OK)  # second end: nothing more sent
        self.assertTrue(self.c.flush(5.0))
        self.assertEqual(len(self.fc.records), 5)
        for i in range(4):
            self.assertEqual(self.by_name()[f"k{i}"]["parent_id"], root.id)


if __name__ == "__main__":
    unittest.main()
