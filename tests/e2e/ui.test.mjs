// Browser end-to-end: the real collector binary serves the embedded UI to headless Chromium; records are
// posted through the REST API and must show up live, render as text, and survive deep-link reloads.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ARTIFACTS, answer, apiClient, chat, collectorAndBrowser, openPage as openPageAt, startCollector, startFakeUpstream } from './harness.mjs';

let upstream;
const suite = collectorAndBrowser({
  options: async () => {
    upstream = await startFakeUpstream();
    return { upstream: upstream.url, env: { OPENAI_API_KEY: 'sk-test-e2e-not-a-real-key' } };
  },
  // After the collector, which may hold a keep-alive connection to it.
  tearDown: () => upstream?.stop(),
});

const openPage = (path) => openPageAt(suite.browser, suite.collector.base + path);

// The event stream is up once the indicator says so; from then on updates must arrive without a reload.
async function waitLive(page) {
  await page.getByTestId('live-indicator').filter({ hasText: 'live' }).waitFor({ timeout: 5000 });
}

describe('live session view', () => {
  test('ui: a record posted through the API appears in the open session view within 1 s', async () => {
    const sid = 'e2e-live';
    await suite.api.trace({ session_id: sid, turn_number: 1, request: chat('first question'), response: answer('first answer'), status: 'success' });
    const { page, errors } = await openPage(`/sessions/${sid}`);
    await page.getByText('first answer').waitFor({ timeout: 5000 });
    await waitLive(page);

    await suite.api.trace({ session_id: sid, turn_number: 2, request: chat('second question'), response: answer('second answer live'), status: 'success' });
    await page.getByText('second answer live').waitFor({ timeout: 1000 });
    assert.equal(await page.getByTestId('turn').count(), 2);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('ui: a pending record completes in place', async () => {
    const sid = 'e2e-pending';
    await suite.api.trace({ session_id: sid, turn_number: 1, request: chat('warm up'), response: answer('ok'), status: 'success' });
    const { page } = await openPage(`/sessions/${sid}`);
    await page.getByText('warm up').waitFor({ timeout: 5000 });
    await waitLive(page);

    await suite.api.trace({ id: 'e2e-pending-call', session_id: sid, turn_number: 2, request: chat('slow question'), response: null, status: 'pending' });
    const card = page.locator('[data-record-id="e2e-pending-call"]');
    await card.getByText('in flight').waitFor({ timeout: 3000 });
    await card.getByTestId('pending').waitFor();

    await suite.api.trace({ id: 'e2e-pending-call', session_id: sid, turn_number: 2, request: chat('slow question'), response: answer('finally done'), status: 'success', latency_ms: 1234 });
    await card.getByText('finally done').waitFor({ timeout: 3000 });
    assert.equal(await card.getByTestId('status-badge').first().textContent(), 'success');
    assert.equal(await page.locator('[data-record-id="e2e-pending-call"]').count(), 1);
    assert.equal(await card.getByTestId('pending').count(), 0);
    await page.close();
  });
});

describe('sessions list', () => {
  test('ui: rename and delete a session', async () => {
    const sid = 'e2e-rename';
    await suite.api.trace({ session_id: sid, turn_number: 1, request: chat('to be renamed'), response: answer('fine'), status: 'success' });
    const { page } = await openPage('/');
    const row = page.locator(`[data-session-id="${sid}"]`);
    await row.waitFor({ timeout: 5000 });

    await row.getByRole('button', { name: 'rename' }).click();
    const input = row.getByLabel('session name');
    await input.fill('Renamed by the browser');
    await input.press('Enter');
    await row.getByText('Renamed by the browser').waitFor({ timeout: 3000 });
    assert.equal((await suite.api.get(`/api/sessions/${sid}`)).name, 'Renamed by the browser');

    page.removeAllListeners('dialog');
    page.once('dialog', (d) => d.accept());
    await row.getByRole('button', { name: 'Delete' }).click();
    await row.waitFor({ state: 'detached', timeout: 3000 });
    const gone = await suite.api.raw('GET', `/api/sessions/${sid}`);
    assert.equal(gone.status, 404);
    await page.close();
  });
});

describe('safety and deep links', () => {
  test('ui: an HTML payload in a record is shown as text and runs nothing', async () => {
    const sid = 'e2e-xss';
    const payload = '<img src=x onerror=alert(1)>';
    const rec = await suite.api.trace({
      session_id: sid,
      turn_number: 1,
      request: chat(payload),
      response: answer(`${payload}<script>alert(2)</script>`),
      status: 'error',
      error_message: payload,
    });
    const { page, dialogs, errors } = await openPage(`/sessions/${sid}`);
    await page.getByTestId('response').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('main img').count(), 0);
    assert.equal(await page.locator('main script').count(), 0);
    assert.ok((await page.getByTestId('response').textContent()).includes(payload));
    assert.equal(await page.getByTestId('error-message').textContent(), payload);

    assert.ok(rec.id, 'POST /api/trace returns the stored record with its id');
    await page.goto(`${suite.collector.base}/records/${rec.id}`);
    await page.getByText('request', { exact: true }).waitFor({ timeout: 5000 });
    assert.equal(await page.locator('main img').count(), 0);
    assert.deepEqual(dialogs, []);
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('ui: deep links to a session and a record survive a reload', async () => {
    const sid = 'e2e-deep';
    const rec = await suite.api.trace({ id: 'e2e-deep-call', session_id: sid, turn_number: 1, request: chat('deep question'), response: answer('deep answer'), status: 'success' });
    assert.ok(rec);
    const { page } = await openPage(`/sessions/${sid}`);
    await page.getByText('deep answer').waitFor({ timeout: 5000 });
    await page.reload();
    await page.getByText('deep answer').waitFor({ timeout: 5000 });

    await page.goto(`${suite.collector.base}/records/e2e-deep-call`);
    await page.getByRole('heading', { name: 'e2e-deep-call' }).waitFor({ timeout: 5000 });
    await page.reload();
    await page.getByRole('heading', { name: 'e2e-deep-call' }).waitFor({ timeout: 5000 });
    await page.getByText('deep answer').first().waitFor();
    const html = await suite.api.raw('GET', '/records/e2e-deep-call');
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-security-policy') ?? '', /default-src 'self'/);
    await page.close();
  });
});

describe('screenshot', () => {
  test('ui: session view with tool calls, an error and a replay (screenshot)', async () => {
    const sid = 'e2e-weather-agent';
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const toolCall = { id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris","unit":"c"}' } };
    const base = [
      { role: 'system', content: 'You are a weather assistant. Use tools for live data.' },
      { role: 'user', content: 'Should I take an umbrella in Paris today?' },
    ];
    const t = (s) => new Date(Date.now() - s * 1000).toISOString();
    await suite.api.trace({
      session_id: sid, turn_number: 1, status: 'success', latency_ms: 642, started_at: t(60), ended_at: t(59),
      request: { model: 'gpt-4o-mini', tools, messages: base },
      response: { model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [toolCall] }, finish_reason: 'tool_calls' }], usage: { prompt_tokens: 88, completion_tokens: 19, total_tokens: 107 } },
    });
    const turn2 = await suite.api.trace({
      session_id: sid, turn_number: 2, status: 'success', latency_ms: 1180, started_at: t(58), ended_at: t(57),
      request: { model: 'gpt-4o-mini', tools, messages: [...base, { role: 'assistant', content: null, tool_calls: [toolCall] }, { role: 'tool', tool_call_id: 'call_w1', content: '{"city":"Paris","rain_probability":0.8,"temp_c":14}' }] },
      response: { model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Yes: there is an 80% chance of rain in Paris today, and it is 14 °C. Take an umbrella.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 131, completion_tokens: 24, total_tokens: 155 } },
    });
    await suite.api.trace({
      session_id: sid, turn_number: 2, status: 'success', latency_ms: 955, replay_of: turn2.id,
      request: { model: 'gpt-4.1-mini', temperature: 0, tools, messages: [...base, { role: 'assistant', content: null, tool_calls: [toolCall] }, { role: 'tool', tool_call_id: 'call_w1', content: '{"city":"Paris","rain_probability":0.8,"temp_c":14}' }] },
      response: { model: 'gpt-4.1-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Yes: rain is likely in Paris today (80%) and it is 14 °C. Take an umbrella.' }, finish_reason: 'stop' }], usage: { prompt_tokens: 131, completion_tokens: 21, total_tokens: 152 } },
    });
    await suite.api.trace({
      session_id: sid, turn_number: 3, status: 'error', latency_ms: 212, error_message: 'upstream 429: Rate limit reached for gpt-4o-mini, retry in 20s',
      request: { model: 'gpt-4o-mini', messages: [...base, { role: 'user', content: 'And in Lyon tomorrow?' }] },
      response: null,
    });
    await suite.api.raw('PATCH', `/api/sessions/${sid}`, { name: 'Weather agent demo' });

    const { page, errors } = await openPage(`/sessions/${sid}`);
    await page.getByTestId('replay-item').waitFor({ timeout: 5000 });
    assert.equal(await page.getByTestId('turn').count(), 3);
    assert.ok((await page.getByTestId('tool-call').count()) >= 1);
    assert.ok((await page.locator('[data-role="tool"]').count()) >= 1);
    assert.equal(await page.getByTestId('error-message').count(), 1);
    await page.getByTestId('diff').first().waitFor();
    mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'session-view.png'), fullPage: true });
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('api key', () => {
  test('ui: with --api-key the UI asks for the key once, then lists sessions and streams live', async () => {
    const key = 'e2e-secret-key';
    const locked = await startCollector({ apiKey: key });
    try {
      const authed = apiClient(locked.base, key);
      await authed.trace({ session_id: 'e2e-locked', turn_number: 1, request: chat('behind a key'), response: answer('locked answer'), status: 'success' });
      const page = await suite.browser.context.newPage();
      await page.goto(`${locked.base}/`);
      const input = page.getByLabel('API key', { exact: true }).and(page.locator('input'));
      await input.waitFor({ timeout: 5000 });
      await input.fill(key);
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.locator('[data-session-id="e2e-locked"]').waitFor({ timeout: 5000 });
      assert.equal(await page.locator('input[type=password]').count(), 0);
      assert.equal(await page.evaluate(() => sessionStorage.getItem('llmtrace.apiKey')), key);

      await page.locator('[data-session-id="e2e-locked"] a').first().click();
      await page.getByText('locked answer').waitFor({ timeout: 5000 });
      await waitLive(page);
      await authed.trace({ session_id: 'e2e-locked', turn_number: 2, request: chat('second'), response: answer('streamed with a key'), status: 'success' });
      await page.getByText('streamed with a key').waitFor({ timeout: 3000 });
      await page.close();
    } finally {
      await locked.stop();
    }
  });
});
