"""Scores (feedback, evaluations) for a record or a session: one small direct POST to the collector's scores
API (POST /api/records/:id/scores or /api/sessions/:id/scores), outside the trace queue. A score is rare and
the caller usually wants to know it was stored (a thumbs-down click), so this call blocks up to `timeout` and
raises LLMTraceError on failure, unlike trace()."""

import json
import math
import os
import urllib.error
import urllib.parse
import urllib.request


def post_score(endpoint, api_key, target, target_id, name, value, comment=None, timeout=5.0):
    from ._client import LLMTraceError

    if target not in ("record", "session"):
        raise ValueError("target must be 'record' or 'session'")
    if not target_id:
        raise ValueError("a record id or a session id is required")
    if not isinstance(name, str) or not name:
        raise ValueError("name must be a non-empty string")
    if isinstance(value, bool) or isinstance(value, str):
        pass
    elif isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("value must be a finite number")
    else:
        raise ValueError("value must be a number, a bool or a string")
    body = {"name": name, "value": value}
    if comment is not None:
        body["comment"] = comment
    endpoint = (endpoint or os.environ.get("LLMTRACE_ENDPOINT") or "http://127.0.0.1:8080").rstrip("/")
    api_key = api_key if api_key is not None else os.environ.get("LLMTRACE_API_KEY", "")
    url = f"{endpoint}/api/{target}s/{urllib.parse.quote(str(target_id), safe='')}/scores"
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    if api_key:
        req.add_header("Authorization", "Bearer " + api_key)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            err = json.loads(e.read()).get("error", {})
            message = err.get("message") or str(e)
        except Exception:
            message = str(e)
        raise LLMTraceError(-e.code, f"score rejected (HTTP {e.code}): {message}") from None
    except OSError as e:
        raise LLMTraceError(-1, f"score not sent: {e}") from None
