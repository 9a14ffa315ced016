// Browser end-to-end for issue 15 (Insight) against the real collector and headless Chromium: thumbs down on a
// turn survives a reload and is found by the search score filter; the dashboard draws its charts with no
// console error and follows ingest live (and is the README's screenshot); the compare page diffs two calls
// from different sessions.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ARTIFACTS, answer, apiClient, chat, collectorAndBrowser, openPage as openPageAt, startCollector } from './harness.mjs';

const suite = collectorAndBrowser();
const openPageOn = (path, base) => openPageAt(suite.browser, base + path);
const openPage = (path) => openPageOn(path, suite.collector.base);

const withModel = (model, text, usage) => ({
  ...answer(text),
  model,
  usage: usage ?? { prompt_tokens: 1200, completion_tokens: 300, total_tokens: 1500 },
});

describe('scores', () => {
  test('ui: thumbs down on a turn, reload, still there, found by the search score filter', async () => {
    const sid = 'e2e-scores';
    const good = await suite.api.trace({ session_id: sid, turn_number: 1, status: 'success', request: chat('What is 2+2?'), response: answer('4') });
    const bad = await suite.api.trace({ session_id: sid, turn_number: 2, status: 'success', request: chat('Capital of Australia?'), response: answer('Sydney') });
    const { page, errors } = await openPage(`/sessions/${sid}`);
    const card = page.locator(`[data-record-id="${bad.id}"]`);
    await card.waitFor({ timeout: 5000 });
    await card.getByRole('button', { name: 'comment…' }).click();
    await card.getByLabel('score comment').fill('it is Canberra');
    await card.getByRole('button', { name: 'thumbs down' }).click();
    await card.getByTestId('score-chip').waitFor({ timeout: 5000 });

    // The store has it, on the record.
    const stored = await suite.api.get(`/api/records/${bad.id}`);
    assert.equal(stored.scores.length, 1);
    assert.equal(stored.scores[0].name, 'thumbs');
    assert.equal(stored.scores[0].value, false);
    assert.equal(stored.scores[0].comment, 'it is Canberra');

    // A session score too.
    await page.getByTestId('score-bar-session').getByRole('button', { name: 'thumbs up' }).click();
    await page.getByTestId('score-bar-session').getByTestId('score-chip').waitFor({ timeout: 5000 });

    await page.reload();
    const chip = page.locator(`[data-record-id="${bad.id}"] [data-testid="score-chip"]`);
    await chip.waitFor({ timeout: 5000 });
    assert.equal(await chip.getAttribute('data-score-value'), 'false');
    assert.match(await chip.textContent(), /it is Canberra/);
    assert.equal(await page.locator(`[data-record-id="${good.id}"] [data-testid="score-chip"]`).count(), 0);
    const sessionChip = page.getByTestId('score-bar-session').getByTestId('score-chip');
    await sessionChip.waitFor({ timeout: 5000 });
    assert.equal(await sessionChip.getAttribute('data-score-value'), 'true');

    // The search bar's score filter: only the thumbed-down call.
    await page.getByLabel('score filter').selectOption('thumbs:false');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.waitForURL(/\/search\?score=thumbs%3Afalse/);
    const results = page.getByTestId('search-results');
    await results.waitFor({ timeout: 5000 });
    const rows = results.locator('tbody tr');
    assert.equal(await rows.count(), 1);
    assert.match(await rows.first().textContent(), /Sydney/);
    // thumbs up: nothing on a record (the session's own score does not count).
    await page.getByLabel('score filter').selectOption('thumbs:true');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByText('Nothing matches.').waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
    await page.close();
  });
});

describe('dashboard', () => {
  test('ui: charts render with no console error, update live, cost shown (screenshot)', async () => {
    // A collector of its own: the counts below are exact.
    const own = await startCollector();
    try {
      await dashboardTest(own);
    } finally {
      await own.stop();
    }
  });
});

async function dashboardTest(own) {
  const api = apiClient(own.base);
  const openPage = (path) => openPageOn(path, own.base);
  const sid = 'e2e-dash';
  await api.trace({ session_id: sid, turn_number: 1, status: 'success', latency_ms: 420, request: chat('one'), response: withModel('gpt-4o-mini', 'a') });
  await api.trace({ session_id: sid, turn_number: 2, status: 'error', latency_ms: 95, error_message: 'upstream 429', request: { ...chat('two'), model: 'gpt-4o' }, response: null });

  const { page, errors } = await openPage('/dashboard');
  for (const id of ['chart-calls', 'chart-errors', 'chart-latency', 'chart-tokens', 'chart-cost']) {
    await page.locator(`[data-testid="${id}"] canvas`).waitFor({ timeout: 10000 });
  }
  const total = page.getByTestId('dash-total-calls');
  const callsNow = async () => Number((await total.textContent()).replace(/,/g, ''));
  await page.waitForFunction(() => document.querySelector('[data-testid="dash-total-calls"]')?.textContent === '2', null, { timeout: 10000 });
  assert.equal(await page.getByTestId('dash-total-errors').textContent(), '1');
  const models = page.getByTestId('dash-models');
  await models.getByText('gpt-4o-mini').waitFor();
  await models.getByText('gpt-4o', { exact: true }).waitFor();
  // gpt-4o-mini is priced, so the dashboard shows a cost in dollars.
  assert.match(await page.getByTestId('dash-total-cost').textContent(), /^\$\d/);

  // A record arrives while the page is open: the count follows without a reload.
  await api.trace({ session_id: sid, turn_number: 3, status: 'success', latency_ms: 610, request: chat('three'), response: withModel('gpt-4o-mini', 'c') });
  await page.waitForFunction(() => document.querySelector('[data-testid="dash-total-calls"]')?.textContent === '3', null, { timeout: 10000 });
  assert.equal(await callsNow(), 3);

  // Range picker: 24 h and 7 d keep the same calls, in bigger buckets.
  await page.getByRole('button', { name: '24h' }).click();
  await page.waitForURL(/range=24h/);
  await page.getByText('per 15 min').waitFor({ timeout: 5000 });
  assert.equal(await callsNow(), 3);
  await page.getByRole('button', { name: '7d' }).click();
  await page.getByText('per 2 h').waitFor({ timeout: 5000 });
  assert.equal(await callsNow(), 3);
  // A custom range in the past has none.
  await page.getByRole('button', { name: 'custom' }).click();
  await page.getByLabel('from', { exact: true }).fill('2020-01-01T00:00');
  await page.getByLabel('to', { exact: true }).fill('2020-01-02T00:00');
  await page.getByRole('button', { name: 'Apply' }).click();
  await page.waitForURL(/from=\d+&to=\d+/);
  await page.waitForFunction(() => document.querySelector('[data-testid="dash-total-calls"]')?.textContent === '0', null, { timeout: 5000 });
  assert.deepEqual(errors, []);
  await page.close();

  // The screenshot: a few waves of calls over several seconds, two models, errors and spread latencies,
  // drawn over a short custom range so each wave is its own bucket.
  const start = Date.now();
  const models3 = [
    ['gpt-4o-mini', { prompt_tokens: 900, completion_tokens: 250, total_tokens: 1150 }],
    ['gpt-4o', { prompt_tokens: 1400, completion_tokens: 420, total_tokens: 1820 }],
    ['claude-3-5-sonnet-20241022', { prompt_tokens: 1100, completion_tokens: 380, total_tokens: 1480 }],
  ];
  for (let wave = 0; wave < 6; wave++) {
    const batch = [];
    for (let i = 0; i < 3 + ((wave * 5) % 7); i++) {
      const [model, usage] = models3[(wave + i) % models3.length];
      const failed = (wave + i) % 9 === 4;
      batch.push({
        session_id: `e2e-dash-${wave % 2}`,
        status: failed ? 'error' : 'success',
        error_message: failed ? 'upstream 503' : '',
        latency_ms: 300 + ((wave * 7 + i * 13) % 10) * 120,
        request: { ...chat(`wave ${wave} call ${i}`), model },
        response: failed ? null : withModel(model, `answer ${wave}.${i}`, usage),
      });
    }
    const r = await api.raw('POST', '/api/traces', { traces: batch });
    assert.ok(r.ok, `batch ${wave}: ${r.status}`);
    await new Promise((res) => setTimeout(res, 5200));
  }
  const shot = await openPage(`/dashboard?from=${start - 20_000}&to=${Date.now() + 15_000}`);
  for (const id of ['chart-calls', 'chart-latency', 'chart-cost']) {
    await shot.page.locator(`[data-testid="${id}"] canvas`).waitFor({ timeout: 10000 });
  }
  await shot.page.getByTestId('dash-models').getByText('claude-3-5-sonnet-20241022').waitFor({ timeout: 10000 });
  await shot.page.waitForTimeout(300);
  mkdirSync(ARTIFACTS, { recursive: true });
  await shot.page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
  assert.deepEqual(shot.errors, []);
  await shot.page.close();
}

describe('compare', () => {
  test('ui: pick two calls from two sessions, the compare page shows both and a diff', async () => {
    const a = await suite.api.trace({ session_id: 'e2e-cmp-a', turn_number: 1, status: 'success', request: chat('Summarise the plot of Hamlet'), response: answer('A prince avenges his father.') });
    const b = await suite.api.trace({ session_id: 'e2e-cmp-b', turn_number: 1, status: 'success', request: { ...chat('Summarise the plot of Macbeth'), model: 'gpt-4o' }, response: withModel('gpt-4o', 'A general murders his king.') });
    const { page, errors } = await openPage('/sessions/e2e-cmp-a');
    await page.locator(`[data-record-id="${a.id}"]`).getByLabel('pick for compare').check();
    await page.goto(`${suite.collector.base}/sessions/e2e-cmp-b`);
    await page.locator(`[data-record-id="${b.id}"]`).getByLabel('pick for compare').check();
    const tray = page.getByTestId('compare-tray');
    await tray.getByRole('button', { name: 'Open comparison' }).click();
    await page.waitForURL(/\/compare\?a=.+&b=.+/);
    await page.getByTestId('compare-side-A').getByText('Summarise the plot of Hamlet').waitFor({ timeout: 5000 });
    await page.getByTestId('compare-side-B').getByText('Summarise the plot of Macbeth').waitFor();
    const compare = page.getByTestId('replay-compare');
    await compare.getByText('A prince avenges his father.').waitFor();
    await compare.getByText('A general murders his king.').waitFor();
    const diffs = page.getByTestId('diff');
    assert.equal(await diffs.count(), 2); // the request's and the response's
    for (let i = 0; i < 2; i++) {
      assert.ok((await diffs.nth(i).locator('ins').count()) >= 1);
      assert.ok((await diffs.nth(i).locator('del').count()) >= 1);
    }
    // A deep link works on its own.
    await page.reload();
    await page.getByTestId('replay-compare').waitFor({ timeout: 5000 });
    assert.deepEqual(errors, []);
    await page.close();
  });
});
