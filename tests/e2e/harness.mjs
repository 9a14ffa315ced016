// Test harness: starts the real llmtrace-collector on a free loopback port with a temp database, a fake
// OpenAI-compatible upstream (node:http) and headless Chromium through playwright-core. Everything stops in
// `stop()`; nothing leaves loopback. `collectorAndBrowser()` is the set-up most test files share (one
// collector and one browser for the file) and `openPage()` the page every UI test opens: one home for both.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { chromium } from 'playwright-core';

export const CHROMIUM = process.env.LLMTRACE_CHROMIUM || '/usr/bin/chromium';
// Where screenshots and reports go (CTest points it into the build tree).
export const ARTIFACTS = process.env.LLMTRACE_E2E_ARTIFACTS || join(process.cwd(), 'artifacts');

export async function startCollector({ upstream, apiKey, env = {} } = {}) {
  const bin = process.env.LLMTRACE_COLLECTOR;
  if (!bin) throw new Error('LLMTRACE_COLLECTOR must name the llmtrace-collector binary (CTest sets it)');
  const dir = mkdtempSync(join(tmpdir(), 'llmtrace-e2e-'));
  const args = ['--host', '127.0.0.1', '--port', '0', '--db', join(dir, 'e2e.db'), '--log-level', 'info'];
  if (upstream) args.push('--upstream', upstream);
  if (apiKey) args.push('--api-key', apiKey);
  const child = spawn(bin, args, {
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`collector did not report its port:\n${log}`)), 15000);
    const onData = (chunk) => {
      log += chunk.toString();
      const m = /listening on http:\/\/(?:\[[^\]]+\]|[^:/\s]+):(\d+)/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`collector exited (${code}) before listening:\n${log}`));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  // Listening is logged before the accept loop runs: poll health until it answers.
  for (let i = 0; ; i++) {
    try {
      const r = await fetch(`${base}/healthz`);
      if (r.ok) break;
    } catch {
      /* not yet */
    }
    if (i > 300) throw new Error(`collector never became healthy:\n${log}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    base,
    port,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const timeout = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timeout);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// A fake OpenAI-compatible upstream: /v1/chat/completions answers from the last user message, so a replay
// with an edited message gets a different, predictable answer.
export async function startFakeUpstream() {
  const requests = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      let parsed = null;
      try {
        parsed = JSON.parse(body);
      } catch {
        /* keep null */
      }
      requests.push({ method: req.method, url: req.url, headers: req.headers, body: parsed });
      if (req.method !== 'POST' || !req.url.endsWith('/chat/completions')) {
        res.writeHead(404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'not found' } }));
        return;
      }
      const msgs = parsed?.messages ?? [];
      const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
      const question = typeof lastUser?.content === 'string' ? lastUser.content : '';
      const reply = {
        id: 'chatcmpl-fake',
        object: 'chat.completion',
        created: Math.floor(Date.now() / 1000),
        model: parsed?.model ?? 'fake-model',
        choices: [
          {
            index: 0,
            message: { role: 'assistant', content: `Fake upstream answer about ${question}` },
            finish_reason: 'stop',
          },
        ],
        usage: { prompt_tokens: 11, completion_tokens: 7, total_tokens: 18 },
      };
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(reply));
    });
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    stop: () => new Promise((r) => server.close(r)),
  };
}

export async function launchBrowser() {
  const profile = mkdtempSync(join(tmpdir(), 'llmtrace-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    context,
    async stop() {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

// One collector (with an API client on it) and one headless browser for a whole test file: registers node:test
// `before`/`after` hooks and returns an object whose `collector`, `api` and `browser` are set once `before`
// has run (read them inside tests, not at module level). `options` go to startCollector; it may be an async
// function, called first in `before` (to start what the options name, a fake upstream). `setUp(suite)` runs in
// the same hook once all three are up, `tearDown()` after they stop: node 20 runs each top-level `before` as
// soon as it is registered, so a second hook of the file could not wait for this one.
export function collectorAndBrowser({ options, setUp, tearDown } = {}) {
  const suite = { collector: null, api: null, browser: null };
  before(async () => {
    suite.collector = await startCollector(typeof options === 'function' ? await options() : options);
    suite.api = apiClient(suite.collector.base);
    suite.browser = await launchBrowser();
    await setUp?.(suite);
  });
  after(async () => {
    await suite.browser?.stop();
    await suite.collector?.stop();
    await tearDown?.();
  });
  return suite;
}

// Opens `url` in a new page of `browser` and collects what the UI must never cause: uncaught page errors and
// console errors (CSP violations and failed loads show up as console errors). Dialogs are recorded and
// dismissed. `watch(page)` runs before the navigation (to add listeners of its own); `goto` options pass
// through to page.goto.
export async function openPage(browser, url, { watch, goto } = {}) {
  const page = await browser.context.newPage();
  const dialogs = [];
  page.on('dialog', async (d) => {
    dialogs.push(d.message());
    await d.dismiss();
  });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error') errors.push(`console: ${m.text()}`);
  });
  watch?.(page);
  await page.goto(url, goto);
  return { page, dialogs, errors };
}

export function apiClient(base, apiKey) {
  const headers = { 'Content-Type': 'application/json' };
  if (apiKey) headers.Authorization = `Bearer ${apiKey}`;
  async function call(method, path, body) {
    const r = await fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await r.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = text;
    }
    if (!r.ok) throw Object.assign(new Error(`${method} ${path} -> ${r.status}: ${text}`), { status: r.status, data });
    return data;
  }
  return {
    trace: (record) => call('POST', '/api/trace', record),
    get: (path) => call('GET', path),
    raw: (method, path, body) =>
      fetch(base + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) }),
  };
}

export const chat = (user, extra = []) => ({
  model: 'gpt-4o-mini',
  messages: [{ role: 'system', content: 'You are terse.' }, ...extra, { role: 'user', content: user }],
});
export const answer = (text, finish = 'stop') => ({
  id: 'chatcmpl-x',
  object: 'chat.completion',
  model: 'gpt-4o-mini',
  choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: finish }],
  usage: { prompt_tokens: 20, completion_tokens: 5, total_tokens: 25 },
});
