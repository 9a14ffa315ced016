'use strict';
// Scores (feedback, evaluations) for a record or a session: one small direct POST to the collector's scores
// API (POST /api/records/:id/scores or /api/sessions/:id/scores), outside the library's trace queue. A score
// is rare and the caller usually wants to know it was stored (a thumbs-down click), so it returns a Promise
// of the stored score and rejects when the collector refuses it or cannot be reached.

async function postScore({ endpoint, apiKey, target, id, name, value, comment, timeoutMs = 5000 }) {
  if (target !== 'record' && target !== 'session') throw new TypeError("target must be 'record' or 'session'");
  if (typeof id !== 'string' || id === '') throw new TypeError('a record id or a session id is required');
  if (typeof name !== 'string' || name === '') throw new TypeError('name must be a non-empty string');
  const okValue =
    typeof value === 'boolean' || typeof value === 'string' || (typeof value === 'number' && Number.isFinite(value));
  if (!okValue) throw new TypeError('value must be a finite number, a boolean or a string');
  const base = (endpoint || process.env.LLMTRACE_ENDPOINT || 'http://127.0.0.1:8080').replace(/\/+$/, '');
  const key = apiKey ?? process.env.LLMTRACE_API_KEY ?? '';
  const body = { name, value };
  if (comment != null) body.comment = comment;
  const headers = { 'Content-Type': 'application/json' };
  if (key) headers.Authorization = `Bearer ${key}`;
  const res = await fetch(`${base}/api/${target}s/${encodeURIComponent(id)}/scores`, {
    method: 'POST',
    headers,
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (res.status !== 201) {
    let message = text;
    try {
      message = JSON.parse(text).error.message;
    } catch {
      // not the collector's error shape: keep the raw text
    }
    const err = new Error(`llmtrace: score rejected (HTTP ${res.status}): ${message}`);
    err.status = res.status;
    throw err;
  }
  return JSON.parse(text);
}

module.exports = { postScore };
