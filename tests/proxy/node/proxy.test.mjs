// The official `openai` npm client (pinned 6.49.0) pointed at the real llmtrace-collector binary's /v1 proxy,
// with a node:http fake OpenAI upstream behind it. Checks the answers the client sees (plain and streamed) and
// that every call is recorded in the right session.
// Env: LLMTRACE_COLLECTOR (path to the llmtrace-collector binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import OpenAI from 'openai';

const COLLECTOR = process.env.LLMTRACE_COLLECTOR;
const SERVER_KEY = 'sk-node-server-key-' + Math.random().toString(36).slice(2);
const CALLER_KEY = 'sk-node-caller-key-' + Math.random().toString(36).slice(2);

let upstream;
let upstreamPort;
const received = [];
let collector;
let collectorLog = '';
let collectorUrl;
let dir;

function usage() {
  return { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 };
}

function lastText(body) {
  const last = body.messages[body.messages.length - 1];
  return typeof last.content === 'string' ? last.content : '';
}

function startUpstream() {
  upstream = http.createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw);
      received.push({ path: req.url, authorization: req.headers['authorization'], body });
      const answer = 'echo: ' + lastText(body);
      if (!body.stream) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({
          id: 'chatcmpl-node-1', object: 'chat.completion', created: 1700000000, model: body.model,
          choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop', logprobs: null }],
          usage: usage(),
        }));
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      const chunk = (delta, finish, extra = {}) => ({
        id: 'chatcmpl-node-2', object: 'chat.completion.chunk', created: 1700000000, model: body.model,
        choices: [{ index: 0, delta, finish_reason: finish }], ...extra,
      });
      const events = [chunk({ role: 'assistant', content: '' }, null)];
      for (let i = 0; i < answer.length; i += 3) events.push(chunk({ content: answer.slice(i, i + 3) }, null));
      events.push(chunk({}, 'stop'));
      if (body.stream_options?.include_usage) events.push({ ...chunk({}, null), choices: [], usage: usage() });
      let i = 0;
      const next = () => {
        if (i < events.length) {
          res.write('data: ' + JSON.stringify(events[i++]) + '\n\n');
          setImmediate(next);
        } else {
          res.end('data: [DONE]\n\n');
        }
      };
      next();
    });
  });
  return new Promise((resolve) => upstream.listen(0, '127.0.0.1', () => {
    upstreamPort = upstream.address().port;
    resolve();
  }));
}

function startCollector() {
  dir = mkdtempSync(path.join(tmpdir(), 'llmtrace-node-'));
  collector = spawn(COLLECTOR, [
    '--host', '127.0.0.1', '--port', '0', '--db', path.join(dir, 'llmtrace.db'),
    '--upstream', `http://127.0.0.1:${upstreamPort}/v1`,
  ], { env: { ...process.env, OPENAI_API_KEY: SERVER_KEY, LLMTRACE_API_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  return new Promise((resolve, reject) => {
    const onData = (d) => {
      collectorLog += d.toString();
      const m = collectorLog.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
      if (m && !collectorUrl) {
        collectorUrl = `http://127.0.0.1:${m[1]}`;
        resolve();
      }
    };
    collector.stdout.on('data', onData);
    collector.stderr.on('data', onData);
    collector.on('exit', (code) => {
      if (!collectorUrl) reject(new Error(`collector exited (${code}): ${collectorLog}`));
    });
  });
}

async function records(session) {
  const r = await fetch(`${collectorUrl}/api/sessions/${encodeURIComponent(session)}/records`);
  assert.equal(r.status, 200);
  return (await r.json()).items;
}

before(async () => {
  assert.ok(COLLECTOR, 'LLMTRACE_COLLECTOR must point at the llmtrace-collector binary');
  await startUpstream();
  await startCollector();
});

after(async () => {
  if (collector && collector.exitCode === null) {
    const exited = new Promise((resolve) => collector.on('exit', resolve));
    collector.kill('SIGTERM');
    await exited;
  }
  await new Promise((resolve) => upstream.close(resolve));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function client(session) {
  return new OpenAI({
    apiKey: CALLER_KEY,
    baseURL: `${collectorUrl}/v1`,
    defaultHeaders: { 'X-LLMTrace-Session-Id': session },
    maxRetries: 0,
  });
}

test('openai client: a plain chat completion through the proxy is answered and recorded', async () => {
  const session = 'node-plain';
  const completion = await client(session).chat.completions.create({
    model: 'gpt-node',
    messages: [{ role: 'user', content: 'hello from node' }],
  });
  assert.equal(completion.choices[0].message.content, 'echo: hello from node');
  assert.equal(completion.usage.total_tokens, 16);
  assert.equal(received.at(-1).authorization, `Bearer ${CALLER_KEY}`);
  assert.equal(received.at(-1).path, '/v1/chat/completions');

  const items = await records(session);
  assert.equal(items.length, 1);
  assert.equal(items[0].status, 'success');
  assert.equal(items[0].model, 'gpt-node');
  assert.equal(items[0].usage.total_tokens, 16);
  assert.equal(items[0].response.choices[0].message.content, 'echo: hello from node');
  assert.equal(items[0].metadata.source, 'proxy');
});

test('openai client: a streamed chat completion arrives in chunks and is stored assembled', async () => {
  const session = 'node-stream';
  const stream = await client(session).chat.completions.create({
    model: 'gpt-node-stream',
    messages: [{ role: 'user', content: 'stream to node please' }],
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let usageSeen = null;
  for await (const chunk of stream) {
    chunks++;
    if (chunk.choices[0]?.delta?.content) text += chunk.choices[0].delta.content;
    if (chunk.usage) usageSeen = chunk.usage;
  }
  assert.equal(text, 'echo: stream to node please');
  assert.ok(chunks > 3, `expected several chunks, got ${chunks}`);
  assert.equal(usageSeen.total_tokens, 16);

  const items = await records(session);
  assert.equal(items.length, 1);
  assert.equal(items[0].status, 'success');
  assert.equal(items[0].response.object, 'chat.completion');
  assert.equal(items[0].response.choices[0].message.content, 'echo: stream to node please');
  assert.equal(items[0].usage.total_tokens, 16);
  assert.equal(items[0].metadata.stream, true);
  assert.equal(typeof items[0].metadata.time_to_first_token_ms, 'number');
});

test('openai client: calls in two sessions stay apart, turns count up, keys are not stored', async () => {
  const a = client('node-a');
  await a.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'one' }] });
  await a.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'two' }] });
  await client('node-b').chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'three' }] });
  const inA = await records('node-a');
  const inB = await records('node-b');
  assert.deepEqual(inA.map((r) => r.turn_number), [1, 2]);
  assert.equal(inB.length, 1);
  const everything = JSON.stringify([inA, inB]) + collectorLog;
  assert.ok(!everything.includes(CALLER_KEY));
  assert.ok(!everything.includes(SERVER_KEY));
});
