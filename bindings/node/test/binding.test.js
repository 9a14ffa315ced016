'use strict';
// The Node binding against the real collector: Client trace/flush/stats, wrapOpenAI with the official
// `openai` package against a fake upstream (plain, streamed, failing), the Node example, and a bounded
// shutdown against a listener that never answers.
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const net = require('node:net');
const path = require('node:path');
const { execFile } = require('node:child_process');
const OpenAI = require('openai');
const llmtrace = require('..');
const { startCollector, startUpstream, waitFor } = require('./helpers');

let collector;
let upstream;

before(async () => {
  collector = await startCollector();
  upstream = await startUpstream();
});

after(async () => {
  await upstream.close();
  await collector.close();
});

async function recordsOf(sessionId, n) {
  await waitFor(async () => (await collector.records(sessionId)).total >= n, 10000);
  return (await collector.records(sessionId)).items;
}

test('client: trace, flush and stats against the real collector', async () => {
  const c = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  const id = llmtrace.newId();
  assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(c.trace({ id, sessionId: 'node-1', turnNumber: 1, request: { model: 'm' }, status: 'pending' }), true);
  assert.equal(
    c.trace({ id, sessionId: 'node-1', turnNumber: 1, request: { model: 'm' }, response: { choices: [] }, latencyMs: 3 }),
    true,
  );
  assert.throws(() => c.trace({ status: 'bogus' }), TypeError);
  assert.equal(await c.flush(5000), true);
  const s = c.stats();
  assert.equal(s.enqueued, 2);
  assert.equal(s.sent, 2);
  assert.equal(s.failed, 0);
  const items = await recordsOf('node-1', 1);
  assert.equal(items.length, 1);
  assert.equal(items[0].status, 'success');
  assert.equal(items[0].id, id);
  assert.equal(await c.shutdown(2000), true);
  assert.equal(c.trace({ sessionId: 'node-1' }), false);
  assert.equal(c.traceJson('{}'), 'stopped');
});

test('client: trace() text as sent - JSON strings spliced, non-ASCII, a text larger than the scratch buffer', async () => {
  const c = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  const big = 'é'.repeat(20000); // 40,000 UTF-8 bytes: outgrows the client's first scratch Buffer
  assert.equal(c.trace({ sessionId: 'node-text', turnNumber: 1, request: '{"raw":true}', response: 'plain words',
    metadata: '{"k":"v"}', model: 'modèle' }), true);
  assert.equal(c.trace({ sessionId: 'node-text', turnNumber: 2, request: { text: big }, response: { ok: '✓' } }), true);
  assert.equal(await c.flush(5000), true);
  assert.equal(c.stats().invalid, 0);
  const items = await recordsOf('node-text', 2);
  assert.deepEqual(items[0].request, { raw: true });
  assert.equal(items[0].response, 'plain words');
  assert.deepEqual(items[0].metadata, { k: 'v' });
  assert.equal(items[0].model, 'modèle');
  assert.equal(items[1].request.text, big);
  assert.deepEqual(items[1].response, { ok: '✓' });
  assert.equal(await c.shutdown(2000), true);
});

test('client: score() attaches scores to a record and a session on the real collector', async () => {
  const c = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  const id = llmtrace.newId();
  c.trace({ id, sessionId: 'node-score', turnNumber: 1, request: { model: 'm' } });
  assert.equal(await c.flush(5000), true);
  const s = await c.score('thumbs', false, { recordId: id, comment: 'wrong' });
  assert.equal(s.target_id, id);
  assert.equal(s.value, false);
  await c.score('quality', 0.25, { sessionId: 'node-score' });
  const rec = await (await fetch(`${collector.endpoint}/api/records/${id}`)).json();
  assert.deepEqual(rec.scores.map((x) => [x.name, x.value, x.comment]), [['thumbs', false, 'wrong']]);
  const sess = await (await fetch(`${collector.endpoint}/api/sessions/node-score`)).json();
  assert.equal(sess.scores[0].value, 0.25);
  await assert.rejects(c.score('thumbs', true, { recordId: 'no-such-record' }), (e) => e.status === 404);
  await assert.rejects(c.score('thumbs', { x: 1 }, { recordId: id }), TypeError);
  await assert.rejects(c.score('thumbs', true, {}), TypeError);
  assert.equal(await c.shutdown(2000), true);
});

test('client: traceJson results say why; invalid JSON is counted by the flusher, never sent', async () => {
  const c = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  assert.equal(c.traceJson('[1]'), 'invalid');
  assert.equal(c.traceJson('{"session_id":"node-json","request":{"a":1}}'), 'ok');
  assert.equal(c.traceJson('{"session_id":"node-json","request":{]}'), 'ok'); // shaped like an object
  assert.equal(await c.flush(5000), true);
  const s = c.stats();
  assert.equal(s.sent, 1);
  assert.equal(s.invalid, 1);
  assert.equal(s.failed, 1);
  const items = await recordsOf('node-json', 1);
  assert.equal(items.length, 1);
  assert.equal(items[0].id.length, 36);
  await c.shutdown(2000);
  const d = new llmtrace.Client({ endpoint: collector.endpoint, disabled: true });
  assert.equal(d.traceJson('{}'), 'disabled');
});

test('wrapOpenAI: plain, streamed and failing calls of the real openai client are traced', async () => {
  const tracer = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  const openai = llmtrace.wrapOpenAI(new OpenAI({ baseURL: upstream.baseURL, apiKey: 'k', maxRetries: 0 }), {
    tracer,
    sessionId: 'node-wrap',
  });
  const r1 = await openai.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'one' }] });
  assert.equal(r1.choices[0].message.content, 'echo: one');

  const stream = await openai.chat.completions.create({
    model: 'fake-model',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'two streamed' }],
  });
  let text = '';
  let chunks = 0;
  for await (const chunk of stream) {
    chunks++;
    text += chunk.choices[0]?.delta?.content ?? '';
  }
  assert.equal(text, 'echo: two streamed');
  assert.ok(chunks > 3);

  await assert.rejects(
    openai.chat.completions.create({ model: 'fake-model', messages: [{ role: 'user', content: 'please fail' }] }),
  );
  // The client's own promise comes back, so openai's extras still work.
  const { data, response } = await openai.chat.completions
    .create({ model: 'fake-model', messages: [{ role: 'user', content: 'four' }] })
    .withResponse();
  assert.equal(data.choices[0].message.content, 'echo: four');
  assert.equal(response.status, 200);
  assert.equal(await tracer.flush(5000), true);
  const items = await recordsOf('node-wrap', 4);
  assert.deepEqual(
    items.map((r) => [r.turn_number, r.status]),
    [
      [1, 'success'],
      [2, 'success'],
      [3, 'error'],
      [4, 'success'],
    ],
  );
  assert.equal(items[0].usage.total_tokens, 12);
  assert.equal(items[1].usage.total_tokens, 12);
  assert.equal(items[1].response.choices[0].message.content, 'echo: two streamed');
  assert.equal(items[1].response.choices[0].finish_reason, 'stop');
  assert.match(items[2].error_message, /500/);
  for (const r of items) assert.ok(r.latency_ms >= 0);
  await tracer.shutdown(2000);
});

test('example: examples/node/agent.js records 3 turns with one failure', async () => {
  const examples = process.env.LLMTRACE_EXAMPLES || path.join(__dirname, '..', '..', '..', 'examples');
  const env = {
    ...process.env,
    OPENAI_BASE_URL: upstream.baseURL,
    OPENAI_API_KEY: 'k',
    OPENAI_MODEL: 'fake-model',
    LLMTRACE_ENDPOINT: collector.endpoint,
    NODE_PATH: path.join(__dirname, '..', 'node_modules'),
  };
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, [path.join(examples, 'node', 'agent.js'), 'hello', 'fail here', 'bye'], { env },
      (err, out, errOut) => (err ? reject(new Error(errOut || err.message)) : resolve(out)));
  });
  const sessionId = stdout.split('\n')[0].trim();
  const items = await recordsOf(sessionId, 3);
  assert.deepEqual(items.map((r) => r.status), ['success', 'error', 'success']);
  assert.equal(items[0].usage.total_tokens, 12);
  assert.equal(items[2].model, 'fake-model');
});

test('shutdown: resolves false within the deadline when the collector never answers', async () => {
  const sockets = [];
  const srv = net.createServer((s) => sockets.push(s)); // accepts, never answers
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  try {
    const c = new llmtrace.Client({ endpoint: `http://127.0.0.1:${srv.address().port}`, flushIntervalMs: 10 });
    c.trace({ sessionId: 'hang' });
    await waitFor(() => sockets.length > 0, 5000);
    const t0 = Date.now();
    assert.equal(await c.shutdown(1000), false);
    assert.ok(Date.now() - t0 < 1500);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => srv.close(r));
  }
});

// A capture collector: keeps every record the library POSTs, so the rendered span fields can be checked
// exactly (the real collector stores only some of them today).
async function startCapture() {
  const http = require('node:http');
  const zlib = require('node:zlib');
  const records = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = zlib.gunzipSync(body);
      const traces = JSON.parse(body.toString('utf8')).traces;
      records.push(...traces);
      res.setHeader('Content-Type', 'application/json');
      res.end(JSON.stringify({ accepted: traces.length, rejected: 0 }));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `http://127.0.0.1:${server.address().port}`,
    records,
    close: () => new Promise((r) => server.close(r)),
  };
}

test('span: client.span nests across awaits, renders ids, links, kinds and times', async () => {
  const cap = await startCapture();
  const c = new llmtrace.Client({ endpoint: cap.endpoint, flushIntervalMs: 20 });
  try {
    let agentSpan;
    const out = await c.span('plan', { kind: 'agent' }, async (agent) => {
      agentSpan = agent;
      await c.span('chat', async (llm) => {
        llm.request = { model: 'm', messages: [{ role: 'user', content: 'hi' }] };
        await new Promise((r) => setTimeout(r, 5));
        c.span('search', { kind: 'tool' }, (tool) => { tool.request = { q: 'x' }; });
        llm.response = { choices: [] };
      });
      const manual = agent.child('lookup', { kind: 'retrieval' });
      assert.equal(manual.end({ response: { docs: [] } }), 'ok');
      assert.equal(manual.end(), 'ok'); // second end sends nothing
      return 42;
    });
    assert.equal(out, 42);
    await assert.rejects(c.span('broken', { kind: 'chain' }, async () => { throw new RangeError('bad'); }), RangeError);
    assert.throws(() => c.startSpan('x', { kind: 'nope' }), TypeError);
    assert.equal(await c.flush(5000), true);
    const m = Object.fromEntries(cap.records.map((r) => [r.name, r]));
    assert.equal(cap.records.length, 5);
    const { plan, chat, search, lookup, broken } = m;
    assert.match(plan.id, /^[0-9a-f]{16}$/);
    assert.match(plan.trace_id, /^[0-9a-f]{32}$/);
    assert.equal(plan.id, agentSpan.id);
    assert.equal(plan.parent_id, undefined);
    assert.equal(chat.parent_id, plan.id);
    assert.equal(search.parent_id, chat.id);
    assert.equal(lookup.parent_id, plan.id);
    for (const r of [chat, search, lookup]) {
      assert.equal(r.trace_id, plan.trace_id);
      assert.equal(r.session_id, plan.session_id);
      assert.equal(r.turn_number, 1);
    }
    assert.deepEqual([plan.kind, chat.kind, search.kind, lookup.kind], ['agent', 'llm', 'tool', 'retrieval']);
    assert.equal(chat.request.messages[0].content, 'hi');
    assert.deepEqual(chat.response, { choices: [] });
    assert.deepEqual(search.request, { q: 'x' });
    for (const r of cap.records) assert.ok(r.started_at <= r.ended_at);
    assert.ok(plan.started_at <= chat.started_at && chat.ended_at <= plan.ended_at);
    assert.ok(chat.latency_ms >= 4);
    assert.equal(broken.status, 'error');
    assert.equal(broken.error_message, 'RangeError: bad');
    assert.equal(broken.parent_id, undefined);
    assert.notEqual(broken.trace_id, plan.trace_id);
  } finally {
    await c.shutdown(2000);
    await cap.close();
  }
});

test('span: a tree reaches the real collector in one session with its ids', async () => {
  const c = new llmtrace.Client({ endpoint: collector.endpoint, flushIntervalMs: 20 });
  const ids = {};
  const root = c.startSpan('node-plan', { kind: 'agent', sessionId: 'node-spans', turnNumber: 1 });
  ids.root = root.id;
  const llm = root.child('node-chat');
  ids.llm = llm.id;
  const tool = llm.child('node-tool', { kind: 'tool' });
  ids.tool = tool.id;
  assert.equal(tool.end({ request: { q: 'x' } }), 'ok');
  assert.equal(llm.end({ request: { model: 'fake-model', messages: [] } }), 'ok');
  assert.equal(root.end(), 'ok');
  assert.equal(await c.flush(5000), true);
  assert.equal(c.stats().sent, 3);
  const items = await recordsOf('node-spans', 3);
  assert.deepEqual(new Set(items.map((r) => r.id)), new Set([ids.root, ids.llm, ids.tool]));
  for (const r of items) assert.equal(r.turn_number, 1);
  await c.shutdown(2000);
});

test('a Client the program drops is collected, not kept alive by the binding', async () => {
  // Before: every Client stayed in a strong module-level Set until shutdown, so it (and its C handle) leaked.
  const v8 = require('node:v8');
  const vm = require('node:vm');
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc');
  const before = llmtrace.liveClientCount();
  (() => {
    for (let i = 0; i < 5; i++) new llmtrace.Client({ endpoint: 'http://127.0.0.1:9', exitTimeoutMs: 100 });
  })();
  assert.equal(llmtrace.liveClientCount(), before + 5);
  for (let i = 0; i < 40 && llmtrace.liveClientCount() > before; i++) {
    await new Promise((r) => setTimeout(r, 50));
    gc();
  }
  // <= : a Client an earlier test dropped may be collected by the same gc() calls.
  assert.ok(llmtrace.liveClientCount() <= before, `${llmtrace.liveClientCount()} live, ${before} before`);
});
