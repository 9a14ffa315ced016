'use strict';
// Row 7 (Node): the binding's client.trace() per call, against JSON.stringify of the same record in the same
// run. The record is the hot-path row's 2 KB chat record as JS objects (request and response objects,
// session, turn, model, latency). JSON.stringify(record) is the serialisation a hand-written exporter would do
// anyway, so the ratio shows the binding's own cost: building the text, the koffi call and lt_trace_json
// (goal <= 1x). client.traceJson(buffer) of pre-serialised bytes is reported beside it (the koffi call and
// lt_trace_json alone). The collector is down (a closed loopback port, no retries): the library's flusher
// validates and drops. Rounds alternate between the kinds; each reports per-call p50 and p99
// (process.hrtime.bigint around every call, its own cost in every figure); the table shows the median over
// rounds.
//
// Usage: LLMTRACE_LIB=.../libllmtrace_c.so node bench/node_trace.js [--out ROWS] [--rounds 7] [--calls 20000]
// (needs bindings/node/node_modules: `npm ci` there).

const fs = require('node:fs');
const path = require('node:path');
const { Client } = require(path.join(__dirname, '..', 'bindings', 'node'));

const WORDS = ('the model answered with a short summary of the document and listed three follow up questions ' +
  'about latency budget retries tokens streaming cache vector index embedding prompt context window').split(' ');

function makeRecord(targetBytes = 2048) {
  let s = 42;
  const rnd = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const words = (n) => {
    const out = [];
    let size = 0;
    while (size < n) {
      const w = WORDS[Math.floor(rnd() * WORDS.length)];
      out.push(w);
      size += w.length + 1;
    }
    return out.join(' ').slice(0, n);
  };
  const text = targetBytes - 520;
  const prompt = Math.floor((text * 7) / 10);
  const answer = text - prompt;
  return {
    sessionId: 'bench-session',
    turnNumber: 1,
    request: {
      model: 'gpt-4o-mini',
      temperature: 0.2,
      messages: [{ role: 'system', content: 'You are a helpful assistant.' }, { role: 'user', content: words(prompt) }],
    },
    response: {
      id: 'chatcmpl-bench', object: 'chat.completion', created: 1764115200, model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: words(answer) }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 212, completion_tokens: 96, total_tokens: 308 },
    },
    status: 'success',
    model: 'gpt-4o-mini',
    latencyMs: 812.5,
  };
}

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1] : def;
}

function percentile(v, q) {
  const s = Float64Array.from(v).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

function median(v) {
  return percentile(v, 0.5);
}

function timed(fn, n) {
  const lat = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    lat[i] = Number(process.hrtime.bigint() - t0);
  }
  return [percentile(lat, 0.5), percentile(lat, 0.99)];
}

const fmt = (ns) => (ns >= 1000 ? `${(ns / 1000).toFixed(2)} us` : `${ns.toFixed(0)} ns`);

async function main() {
  const out = arg('--out', '');
  const rounds = Number(arg('--rounds', 7));
  const calls = Number(arg('--calls', 20000));
  const rec = makeRecord();
  // The same record in the wire shape, as a hand-written exporter would serialise it.
  const wire = {
    session_id: rec.sessionId, turn_number: rec.turnNumber, request: rec.request, response: rec.response,
    status: rec.status, model: rec.model, latency_ms: rec.latencyMs,
  };
  const bytes = Buffer.from(JSON.stringify(wire));
  const client = new Client({ endpoint: 'http://127.0.0.1:1', maxRetries: -1, flushIntervalMs: 50,
    queueLimitBytes: 2 ** 30, exitTimeoutMs: 200 });
  let sink = 0; // keeps JSON.stringify's result alive
  let fails = 0;
  const kinds = {
    'JSON.stringify': () => { sink += JSON.stringify(wire).length; },
    'client.trace': () => { if (!client.trace(rec)) fails++; },
    'client.traceJson': () => { if (client.traceJson(bytes) !== 'ok') fails++; },
  };
  for (const fn of Object.values(kinds)) timed(fn, 2000); // warm up: JIT, the library's buffer pool
  const p50 = {};
  const p99 = {};
  for (const k of Object.keys(kinds)) {
    p50[k] = [];
    p99[k] = [];
  }
  for (let r = 0; r < rounds; r++) {
    for (const [k, fn] of Object.entries(kinds)) {
      const [a, b] = timed(fn, calls);
      p50[k].push(a);
      p99[k].push(b);
    }
    console.log(`round ${r + 1}: ` + Object.keys(kinds).map((k) => `${k} p50 ${fmt(p50[k].at(-1))} p99 ` +
      `${fmt(p99[k].at(-1))}`).join(' | '));
    await client.flush(5000);
  }
  const st = client.stats();
  await client.shutdown(1000);
  const base50 = median(p50['JSON.stringify']);
  const base99 = median(p99['JSON.stringify']);
  const rows = [];
  for (const k of ['client.trace', 'client.traceJson']) {
    for (const [q, m, base] of [['p50', median(p50[k]), base50], ['p99', median(p99[k]), base99]]) {
      const ratio = base ? m / base : 0;
      const goal = k === 'client.trace' && q === 'p50';
      rows.push(`| 7 Bindings | Node ${k}() ${q}, 2 KB record (${bytes.length} B as JSON), collector down | ` +
        `${fmt(m)} | JSON.stringify ${fmt(base)} | ${ratio.toFixed(2)}x | ` +
        `${goal ? '<= 1x JSON.stringify' : '(informative)'} | ${goal ? (ratio <= 1 ? 'yes' : 'no') : '-'} |`);
    }
  }
  for (const l of rows) console.log(l);
  const note = `Node ${process.version}: ${rounds} rounds x ${calls} calls per kind, medians of per-round ` +
    `percentiles; enqueued ${st.enqueued}, dropped ${st.dropped}, invalid ${st.invalid}.`;
  console.log('note:', note, fails ? `(${fails} calls not ok)` : '', sink > 0 ? '' : '?');
  if (out) {
    fs.appendFileSync(out, rows.join('\n') + '\n');
    fs.appendFileSync(out + '.notes', '- ' + note + '\n');
  }
  process.exitCode = st.invalid === 0 && fails === 0 ? 0 : 1;
}

main();
