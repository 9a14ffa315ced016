"""A multi-turn agent against an OpenAI-compatible endpoint (standard library only), traced with llmtrace.

  OPENAI_BASE_URL (default https://api.openai.com/v1), OPENAI_API_KEY, OPENAI_MODEL, LLMTRACE_ENDPOINT.
  python3 examples/python/agent.py [prompt ...]     -> prints the session id, then one line per turn.
"""

import json
import os
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "bindings", "python"))
import llmtrace  # noqa: E402


def chat(base_url, api_key, request):
    req = urllib.request.Request(base_url.rstrip("/") + "/chat/completions", data=json.dumps(request).encode(),
                                 headers={"Content-Type": "application/json"})
    if api_key:
        req.add_header("Authorization", "Bearer " + api_key)
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def main(prompts):
    base_url = os.environ.get("OPENAI_BASE_URL", "https://api.openai.com/v1")
    api_key = os.environ.get("OPENAI_API_KEY", "")
    model = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
    tracer = llmtrace.Client()  # LLMTRACE_ENDPOINT / LLMTRACE_API_KEY
    session = os.environ.get("LLMTRACE_SESSION") or llmtrace.new_id()
    print(session, flush=True)
    messages = [{"role": "system", "content": "You are a concise assistant."}]
    for turn, prompt in enumerate(prompts, start=1):
        messages.append({"role": "user", "content": prompt})
        request = {"model": model, "messages": list(messages)}
        rid = llmtrace.new_id()
        tracer.trace(id=rid, session_id=session, turn_number=turn, request=request, status="pending", model=model)
        t0 = time.monotonic()
        try:
            response = chat(base_url, api_key, request)
        except (urllib.error.URLError, OSError, ValueError) as e:
            tracer.trace(id=rid, session_id=session, turn_number=turn, request=request, status="error",
                         error_message=str(e), model=model, latency_ms=(time.monotonic() - t0) * 1000)
            messages.pop()
            print(f"turn {turn}: error ({e})", flush=True)
            continue
        tracer.trace(id=rid, session_id=session, turn_number=turn, request=request, response=response,
                     status="success", model=model, latency_ms=(time.monotonic() - t0) * 1000)
        text = response["choices"][0]["message"]["content"]
        messages.append({"role": "assistant", "content": text})
        print(f"turn {turn}: {text}", flush=True)
    ok = tracer.shutdown(5.0)
    return 0 if ok else 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["Plan a three-step trip.", "Add a budget.", "Summarise it in one line."]))
