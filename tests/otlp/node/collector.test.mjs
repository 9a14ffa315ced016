// Real OpenTelemetry JS clients → a REAL llmtrace-collector process over OTLP/HTTP. For each dialect (OTel
// GenAI instrumentation with content as log records, OpenLLMetry, OpenInference) and each encoding (OTLP/JSON,
// and protobuf with gzip), scenario.cjs runs an agent span with two chat completions through the official
// openai client (against the fake upstream served here) and a tool span, exporting to the collector. The
// API must then show one session with one turn holding the tree, models, tokens, messages and tool calls,
// and a replay of the first LLM span must succeed against the same fake upstream. Bad bodies over HTTP get a
// 4xx OTLP Status and store nothing.
// Env: LLMTRACE_COLLECTOR (the built llmtrace-collector binary).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SESSION = { otel: 'conv-otel-1', traceloop: 'conv-traceloop-1', openinference: 'conv-openinference-1' };
const RECORDS_TOOLS = { otel: false, traceloop: true, openinference: true };

// The fake upstream: a tool call while the conversation has no tool result, else the final answer.
let upstream;
const upstreamCalls = [];
function upstreamHandler(req, res) {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const body = JSON.parse(raw);
    upstreamCalls.push({ url: req.url, body });
    const hasToolResult = body.messages.some((m) => m.role === 'tool');
    const message = hasToolResult
      ? { role: 'assistant', content: 'It is 21 degrees and sunny in Paris.', refusal: null }
      : { role: 'assistant', content: null, refusal: null,
          tool_calls: [{ id: 'call_weather_1', type: 'function',
                         function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }] };
    const usage = hasToolResult ? { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 }
                                : { prompt_tokens: 25, completion_tokens: 7, total_tokens: 32 };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: hasToolResult ? 'chatcmpl-fake-2' : 'chatcmpl-fake-1', object: 'chat.completion', created: 1700000000,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message, finish_reason: hasToolResult ? 'stop' : 'tool_calls', logprobs: null }],
      usage,
    }));
  });
}

before(async () => {
  upstream = http.createServer(upstreamHandler);
  await new Promise((r) => upstream.listen(0, '127.0.0.1', r));
});
after(() => upstream.close());

async function startCollector() {
  const bin = process.env.LLMTRACE_COLLECTOR;
  assert.ok(bin, 'LLMTRACE_COLLECTOR must name the llmtrace-collector binary');
  const dir = mkdtempSync(path.join(tmpdir(), 'llmtrace-otlp-'));
  const args = ['--host', '127.0.0.1', '--port', '0', '--db', path.join(dir, 'otlp.db'),
                '--upstream', `http://127.0.0.1:${upstream.address().port}/v1`];
  const child = spawn(bin, args, { env: { PATH: process.env.PATH, HOME: process.env.HOME, OPENAI_API_KEY: 'sk-up' },
                                   stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not report its port:\n${log}`)), 15000);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = /listening on http:\/\/(?:\[[^\]]+\]|[^:/\s]+):(\d+)/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => { clearTimeout(timer); reject(new Error(`collector exited (${code}):\n${log}`)); });
  });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; ; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) break; } catch { /* not yet */ }
    if (i > 300) throw new Error(`collector never became healthy:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    base,
    log: () => log,
    async get(p) {
      const r = await fetch(base + p);
      assert.equal(r.status, 200, `GET ${p}: ${await r.clone().text()}`);
      return r.json();
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// Asynchronous: the fake upstream the scenario calls lives in this process, so its event loop must run.
async function runScenario(dialect, encoding, target) {
  const dir = mkdtempSync(path.join(tmpdir(), `otlp-${dialect}-${encoding}-`));
  try {
    const child = spawn(process.execPath, [path.join(here, 'scenario.cjs'), dialect, encoding, dir], {
      env: { ...process.env, OTLP_TARGET: target, UPSTREAM_BASE: `http://127.0.0.1:${upstream.address().port}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (c) => (stderr += c));
    child.stdout.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60000);
    const code = await new Promise((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, `scenario failed: ${stderr}`);
    // An exporter that got an error logs it; a clean run logs nothing of the sort.
    assert.doesNotMatch(stderr, /OTLPExporterError|Bad Request|status code 4\d\d/, stderr);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const roles = (messages) => messages.map((m) => m.role);

for (const dialect of ['otel', 'traceloop', 'openinference']) {
  for (const encoding of ['json', 'proto']) {
    test(`collector: ${dialect} over ${encoding === 'json' ? 'OTLP/JSON' : 'protobuf+gzip'} shows one turn with the agent tree, and the LLM span replays`, async () => {
      const col = await startCollector();
      try {
        const callsBefore = upstreamCalls.length;
        await runScenario(dialect, encoding, col.base);
        assert.equal(upstreamCalls.length - callsBefore, 2, 'the app made two calls');

        const sessions = await col.get('/api/sessions');
        assert.deepEqual(sessions.items.map((s) => s.id), [SESSION[dialect]], 'one session, no leftovers');
        const session = await col.get(`/api/sessions/${SESSION[dialect]}`);
        assert.equal(session.turn_count, 1);
        assert.equal(session.record_count, 4);

        const records = (await col.get(`/api/sessions/${SESSION[dialect]}/records?size=100`)).items;
        assert.equal(records.length, 4, JSON.stringify(records.map((r) => [r.name, r.kind])));
        assert.equal(new Set(records.map((r) => r.trace_id)).size, 1, 'one trace');
        for (const r of records) {
          assert.equal(r.turn_number, 1);
          assert.match(r.id, /^[0-9a-f]{16}$/);
          assert.equal(r.status, 'success');
        }
        const agent = records.find((r) => r.kind === 'agent');
        assert.ok(agent, 'an agent record');
        assert.equal(agent.parent_id, null);
        assert.equal(agent.name, 'weather-agent');
        const llms = records.filter((r) => r.kind === 'llm').sort((a, b) => a.started_at.localeCompare(b.started_at));
        const tools = records.filter((r) => r.kind === 'tool');
        assert.equal(llms.length, 2);
        assert.equal(tools.length, 1);
        for (const r of [...llms, ...tools]) assert.equal(r.parent_id, agent.id, `${r.name} hangs under the agent`);
        assert.equal(tools[0].request.name, 'get_weather');

        const [first, second] = llms;
        for (const r of llms) {
          assert.equal(r.model, 'gpt-4o-mini-2024-07-18');
          assert.equal(r.request.model, 'gpt-4o-mini');
          if (RECORDS_TOOLS[dialect]) assert.equal(r.request.tools[0].function.name, 'get_weather');
        }
        assert.equal(first.usage.prompt_tokens, 25);
        assert.equal(first.usage.completion_tokens, 7);
        assert.equal(second.usage.total_tokens, 49);
        assert.equal(session.total_tokens, 32 + 49);

        // Messages exactly once each (for otel they came as log records in a later request).
        assert.deepEqual(roles(first.request.messages), ['system', 'user']);
        assert.equal(first.request.messages[1].content, 'What is the weather in Paris?');
        assert.deepEqual(first.response.choices[0].message.tool_calls[0].function,
                         { name: 'get_weather', arguments: '{"city":"Paris"}' });
        assert.deepEqual(roles(second.request.messages), ['system', 'user', 'assistant', 'tool']);
        assert.equal(second.request.messages[3].tool_call_id, 'call_weather_1');
        assert.equal(second.response.choices[0].message.content, 'It is 21 degrees and sunny in Paris.');

        // Replay of the first LLM span against the same fake upstream.
        const before = upstreamCalls.length;
        const rr = await fetch(`${col.base}/api/records/${first.id}/replay`, {
          method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
        const replay = await rr.json();
        assert.equal(rr.status, 201, JSON.stringify(replay));
        assert.equal(replay.status, 'success', JSON.stringify(replay));
        assert.equal(replay.replay_of, first.id);
        assert.equal(replay.session_id, SESSION[dialect]);
        assert.equal(replay.turn_number, 1);
        assert.equal(upstreamCalls.length, before + 1);
        assert.deepEqual(roles(upstreamCalls.at(-1).body.messages), ['system', 'user']);
        assert.equal(replay.response.choices[0].message.tool_calls[0].function.name, 'get_weather');
      } catch (e) {
        throw new Error(`${e.message}\n--- collector log ---\n${col.log()}`);
      } finally {
        await col.stop();
      }
    });
  }
}

test('collector: bad OTLP bodies get a 4xx Status, nothing is stored, the collector keeps serving', async () => {
  const col = await startCollector();
  try {
    const post = (body, type, headers = {}) =>
      fetch(`${col.base}/v1/traces`, { method: 'POST', headers: { 'content-type': type, ...headers }, body });
    let r = await post('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"xyz"}]}]}]}', 'application/json');
    assert.equal(r.status, 400);
    const st = await r.json();
    assert.equal(st.code, 3);
    assert.match(st.message, /trace/i);
    r = await post(Buffer.from([0x0a, 0xff, 0xff, 0x01]), 'application/x-protobuf');
    assert.equal(r.status, 400);
    assert.equal(r.headers.get('content-type'), 'application/x-protobuf');
    // 100k spans in one request.
    const spans = [];
    for (let i = 0; i < 100000; i++)
      spans.push({ traceId: '5b8efff798038103d269b633813fc60c', spanId: (i + 1).toString(16).padStart(16, '0'),
                   name: 's', startTimeUnixNano: '1', endTimeUnixNano: '2' });
    r = await post(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] }), 'application/json');
    assert.equal(r.status, 413);
    assert.equal((await r.json()).code, 3);
    // Deep nesting.
    let v = { stringValue: 'x' };
    for (let i = 0; i < 100; i++) v = { arrayValue: { values: [v] } };
    r = await post(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{
      traceId: '5b8efff798038103d269b633813fc60c', spanId: '00000000000000aa', name: 'deep',
      attributes: [{ key: 'd', value: v }] }] }] }] }), 'application/json');
    assert.equal(r.status, 400);
    assert.equal((await col.get('/api/stats')).records, 0, 'nothing stored');
    assert.equal((await fetch(`${col.base}/healthz`)).status, 200);
  } finally {
    await col.stop();
  }
});
