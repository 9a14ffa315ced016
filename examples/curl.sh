#!/usr/bin/env bash
# Trace without an SDK: one record to POST /api/trace (pending, then its final report with the same id),
# then a batch to POST /api/traces. LLMTRACE_ENDPOINT (default http://127.0.0.1:8080), LLMTRACE_API_KEY.
# Usage: examples/curl.sh [session-id]    -> prints the session id.
set -euo pipefail
endpoint="${LLMTRACE_ENDPOINT:-http://127.0.0.1:8080}"
session="${1:-curl-example-$$}"
auth=()
[ -n "${LLMTRACE_API_KEY:-}" ] && auth=(-H "Authorization: Bearer ${LLMTRACE_API_KEY}")
id="curl-$(date +%s%N)"
req='{"model":"curl-model","messages":[{"role":"user","content":"hello from curl"}]}'

post() { curl -fsS "${auth[@]}" -H 'Content-Type: application/json' -X POST "$endpoint$1" --data-binary "$2" > /dev/null; }

post /api/trace "{\"id\":\"$id\",\"session_id\":\"$session\",\"turn_number\":1,\"status\":\"pending\",\"request\":$req}"
post /api/trace "{\"id\":\"$id\",\"session_id\":\"$session\",\"turn_number\":1,\"status\":\"success\",\"latency_ms\":42,\"request\":$req,\"response\":{\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"hi\"}}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1,\"total_tokens\":5}}}"
post /api/traces "{\"traces\":[{\"id\":\"$id-2\",\"session_id\":\"$session\",\"turn_number\":2,\"status\":\"error\",\"error_message\":\"rate limited\",\"request\":$req}]}"
echo "$session"
