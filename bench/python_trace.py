"""Row 7 (Python): the binding's Client.trace() per call, against json.dumps of the same record in the same run.

The record is the hot-path row's 2 KB chat record as Python objects (request and response dicts, session,
turn, model, latency). json.dumps(record) is the serialisation a hand-written exporter would do anyway, so
the ratio shows the binding's own cost: building the text, the ctypes call and lt_trace_json (goal <= 1x).
Client.trace_json(bytes) of pre-serialised text is reported beside it (the ctypes call + lt_trace_json
alone). The collector is down (a closed loopback port, no retries): the library's flusher validates and
drops, so nothing but the call is measured. Rounds alternate between the kinds; each reports per-call p50
and p99 (perf_counter_ns around every call, whose own cost, ~60-100 ns, is in every figure); the table shows
the median over rounds.

Usage: LLMTRACE_LIB=.../libllmtrace_c.so python3 bench/python_trace.py [--out ROWS] [--rounds 7]
       [--calls 20000]
"""

import argparse
import json
import os
import random
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "bindings", "python"))
import llmtrace  # noqa: E402

_WORDS = ("the model answered with a short summary of the document and listed three follow up questions about "
          "latency budget retries tokens streaming cache vector index embedding prompt context window").split()


def make_record(target_bytes=2048):
    """A chat request/response pair whose json.dumps is ~target_bytes (the C++ row's 2 KB record)."""
    r = random.Random(42)

    def words(n):
        out = []
        size = 0
        while size < n:
            w = r.choice(_WORDS)
            out.append(w)
            size += len(w) + 1
        return " ".join(out)[:n]

    text = target_bytes - 520
    prompt, answer = text * 7 // 10, text - text * 7 // 10
    request = {"model": "gpt-4o-mini", "temperature": 0.2,
               "messages": [{"role": "system", "content": "You are a helpful assistant."},
                            {"role": "user", "content": words(prompt)}]}
    response = {"id": "chatcmpl-bench", "object": "chat.completion", "created": 1764115200, "model": "gpt-4o-mini",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": words(answer)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 212, "completion_tokens": 96, "total_tokens": 308}}
    return {"session_id": "bench-session", "turn_number": 1, "request": request, "response": response,
            "status": "success", "model": "gpt-4o-mini", "latency_ms": 812.5}


def percentile(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def timed(fn, n):
    lat = [0] * n
    clock = time.perf_counter_ns
    for i in range(n):
        t0 = clock()
        fn()
        lat[i] = clock() - t0
    return percentile(lat, 0.5), percentile(lat, 0.99)


def fmt(ns):
    return f"{ns / 1000:.2f} us" if ns >= 1000 else f"{ns:.0f} ns"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--calls", type=int, default=20000)
    a = ap.parse_args()

    rec = make_record()
    text = json.dumps(rec).encode()
    client = llmtrace.Client("http://127.0.0.1:1", max_retries=-1, flush_interval_ms=50,
                             queue_limit_bytes=1 << 30, exit_timeout=0.2)
    kinds = {
        "json.dumps": lambda: json.dumps(rec),
        "Client.trace": lambda: client.trace(rec["session_id"], rec["turn_number"], rec["request"],
                                             rec["response"], rec["status"], model=rec["model"],
                                             latency_ms=rec["latency_ms"]),
        "Client.trace_json": lambda: client.trace_json(text),
    }
    for fn in kinds.values():  # warm up: code, the library's buffer pool
        timed(fn, 2000)
    p50 = {k: [] for k in kinds}
    p99 = {k: [] for k in kinds}
    for r in range(a.rounds):
        for k, fn in kinds.items():
            x50, x99 = timed(fn, a.calls)
            p50[k].append(x50)
            p99[k].append(x99)
        print(f"round {r + 1}: " + " | ".join(f"{k} p50 {fmt(p50[k][-1])} p99 {fmt(p99[k][-1])}" for k in kinds))
        client.flush(5.0)  # the flusher drops them (nobody listens); keeps the queue small between rounds
    st = client.stats()
    client.shutdown(1.0)
    m50 = {k: statistics.median(v) for k, v in p50.items()}
    m99 = {k: statistics.median(v) for k, v in p99.items()}
    base50, base99 = m50["json.dumps"], m99["json.dumps"]
    rows = []
    for k in ("Client.trace", "Client.trace_json"):
        for q, m, base in (("p50", m50, base50), ("p99", m99, base99)):
            ratio = m[k] / base if base else 0.0
            goal = k == "Client.trace" and q == "p50"
            rows.append(f"| 7 Bindings | Python {k}() {q}, 2 KB record ({len(text)} B as JSON), collector down | "
                        f"{fmt(m[k])} | json.dumps {fmt(base)} | {ratio:.2f}x | "
                        f"{'<= 1x json.dumps' if goal else '(informative)'} | "
                        f"{('yes' if ratio <= 1.0 else 'no') if goal else '-'} |")
    for line in rows:
        print(line)
    note = (f"Python {sys.version.split()[0]}: {a.rounds} rounds x {a.calls} calls per kind, medians of per-round "
            f"percentiles; enqueued {st['enqueued']}, dropped {st['dropped']}, invalid {st['invalid']}.")
    print("note:", note)
    if a.out:
        with open(a.out, "a") as f:
            f.write("\n".join(rows) + "\n")
        with open(a.out + ".notes", "a") as f:
            f.write("- " + note + "\n")
    return 0 if st["invalid"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
