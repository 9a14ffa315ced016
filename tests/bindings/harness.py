"""Shared test harness for the bindings and examples suites (standard library only):

- FakeCollector: an http.server speaking POST /api/traces like the collector, remembering records by id.
- FakeUpstream: an OpenAI-compatible /v1/chat/completions (plain and streamed); a last user message containing
  "fail" gets a 500, so tests can script a failing call. Counts requests.
- RealCollector: starts the built llmtrace-collector (path in LLMTRACE_COLLECTOR) on a free loopback port with a
  temp database, waits for /healthz, and offers get_json() for the REST API.
Every server binds 127.0.0.1 on a free port and is stopped by close().
"""

import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_until(pred, timeout=10.0, interval=0.01):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(interval)
    return pred()


class _Server:
    def __init__(self, handler_cls):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_cls)
        self.httpd.daemon_threads = True
        self.httpd.owner = self
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeCollector(_Server):
    def __init__(self):
        self.lock = threading.Lock()
        self.records = []
        self.requests = 0
        super().__init__(_CollectorHandler)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"


class _CollectorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        owner = self.server.owner
        try:
            doc = json.loads(body)
            traces = doc["traces"] if self.path == "/api/traces" else [doc]
        except Exception:
            self._send(400, {"error": {"code": "bad_json", "message": "bad body", "field": None}})
            return
        with owner.lock:
            owner.requests += 1
            owner.records.extend(traces)
        self._send(200, {"accepted": len(traces), "rejected": 0, "results": []})

    def _send(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


USAGE = {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12}


class FakeUpstream(_Server):
    """OpenAI-compatible fake. base_url ends in /v1 like OPENAI_BASE_URL."""

    def __init__(self):
        self.lock = threading.Lock()
        self.requests = []
        super().__init__(_UpstreamHandler)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"


class _UpstreamHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        try:
            req = json.loads(self.rfile.read(n) or b"{}")
        except ValueError:
            req = {}
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(req)
        if not self.path.endswith("/chat/completions"):
            self._json(404, {"error": {"message": "not found"}})
            return
        msgs = req.get("messages") or []
        last = ""
        for m in msgs:
            if m.get("role") == "user" and isinstance(m.get("content"), str):
                last = m["content"]
        if "fail" in last:
            self._json(500, {"error": {"message": "scripted upstream failure", "type": "server_error"}})
            return
        answer = f"echo: {last}"
        model = req.get("model", "fake-model")
        if req.get("stream"):
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Connection", "close")
            self.end_headers()
            base = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1700000000, "model": model}
            pieces = [answer[i:i + 4] for i in range(0, len(answer), 4)]
            chunks = [dict(base, choices=[{"index": 0, "delta": {"role": "assistant", "content": ""},
                                           "finish_reason": None}])]
            chunks += [dict(base, choices=[{"index": 0, "delta": {"content": p}, "finish_reason": None}])
                       for p in pieces]
            chunks.append(dict(base, choices=[{"index": 0, "delta": {}, "finish_reason": "stop"}]))
            if (req.get("stream_options") or {}).get("include_usage"):
                chunks.append(dict(base, choices=[], usage=USAGE))
            for c in chunks:
                self.wfile.write(b"data: " + json.dumps(c).encode() + b"\n\n")
                self.wfile.flush()
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True
            return
        self._json(200, {
            "id": "chatcmpl-fake", "object": "chat.completion", "created": 1700000000, "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": USAGE,
        })

    def _json(self, status, obj):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class RealCollector:
    def __init__(self, port=None, api_key=None):
        exe = os.environ.get("LLMTRACE_COLLECTOR")
        if not exe or not os.path.exists(exe):
            raise RuntimeError("LLMTRACE_COLLECTOR must point at the built llmtrace-collector")
        self.dir = tempfile.mkdtemp(prefix="llmtrace-test-")
        self.db = os.path.join(self.dir, "test.db")
        self.port = port or free_port()
        self.api_key = api_key
        args = [exe, "--host", "127.0.0.1", "--port", str(self.port), "--db", self.db]
        if api_key:
            args += ["--api-key", api_key]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("LLMTRACE_", "OPENAI_"))}
        self.log = open(os.path.join(self.dir, "collector.log"), "wb")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        if not wait_until(self._healthy, timeout=15):
            self.close()
            raise RuntimeError("collector did not become healthy: " + self.read_log())

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self):
        if self.proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(self.endpoint + "/healthz", timeout=1) as r:
                return r.status == 200
        except Exception:
            return False

    def get_json(self, path):
        req = urllib.request.Request(self.endpoint + path)
        if self.api_key:
            req.add_header("Authorization", "Bearer " + self.api_key)
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())

    def session_records(self, session_id, size=200):
        return self.get_json(f"/api/sessions/{urllib.request.quote(session_id, safe='')}/records?page=1&size={size}")

    def read_log(self):
        try:
            self.log.flush()
            with open(os.path.join(self.dir, "collector.log"), "rb") as f:
                return f.read().decode(errors="replace")[-4000:]
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
