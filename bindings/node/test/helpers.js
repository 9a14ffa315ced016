'use strict';
// Test servers on free loopback ports: the real llmtrace-collector (LLMTRACE_COLLECTOR) with a temp database,
// and a fake OpenAI-compatible upstream (plain and streamed chat.completions; "fail" in the last user message
// answers 500).
const http = require('node:http');
const net = require('node:net');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

const USAGE = { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 };

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitFor(pred, timeoutMs = 15000) {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return pred();
}

async function startCollector() {
  const exe = process.env.LLMTRACE_COLLECTOR;
  if (!exe || !fs.existsSync(exe)) throw new Error('LLMTRACE_COLLECTOR must point at the built llmtrace-collector');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmtrace-node-'));
  const port = await freePort();
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('LLMTRACE_') && !k.startsWith('OPENAI_')));
  const proc = spawn(exe, ['--host', '127.0.0.1', '--port', String(port), '--db', path.join(dir, 't.db')], {
    env,
    stdio: 'ignore',
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const healthy = await waitFor(async () => {
    try {
      return (await fetch(endpoint + '/healthz')).ok;
    } catch {
      return false;
    }
  });
  if (!healthy) {
    proc.kill();
    throw new Error('collector did not start');
  }
  return {
    endpoint,
    async records(sessionId) {
      const r = await fetch(`${endpoint}/api/sessions/${encodeURIComponent(sessionId)}/records?page=1&size=200`);
      if (r.status === 404) return { items: [], total: 0 };
      return r.json();
    },
    async close() {
      await new Promise((resolve) => {
        proc.once('exit', resolve);
        proc.kill('SIGTERM');
      });
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

function startUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      let j = {};
      try {
        j = JSON.parse(body || '{}');
      } catch {
        // keep {}
      }
      requests.push(j);
      if (!req.url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        return res.end('{"error":{"message":"not found"}}');
      }
      const last = [...(j.messages || [])].reverse().find((m) => m.role === 'user')?.content ?? '';
      if (String(last).includes('fail')) {
        res.writeHead(500, { 'content-type': 'application/json' });
        return res.end(JSON.stringify({ error: { message: 'scripted upstream failure', type: 'server_error' } }));
      }
      const answer = `echo: ${last}`;
      const model = j.model || 'fake-model';
      if (j.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const base = { id: 'chatcmpl-fake', object: 'chat.completion.chunk', created: 1700000000, model };
        const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
        send({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] });
        for (let i = 0; i < answer.length; i += 4) {
          send({ ...base, choices: [{ index: 0, delta: { content: answer.slice(i, i + 4) }, finish_reason: null }] });
        }
        send({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
        if (j.stream_options?.include_usage) send({ ...base, choices: [], usage: USAGE });
        res.write('data: [DONE]\n\n');
        return res.end();
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          id: 'chatcmpl-fake',
          object: 'chat.completion',
          created: 1700000000,
          model,
          choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
          usage: USAGE,
        }),
      );
    });
  });
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => {
      resolve({
        baseURL: `http://127.0.0.1:${server.address().port}/v1`,
        requests,
        close: () => new Promise((r) => server.close(r)),
      });
    });
  });
}

module.exports = { startCollector, startUpstream, freePort, waitFor, USAGE };
