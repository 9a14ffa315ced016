// Browser end-to-end for replay: edit a recorded call in the UI, run it through the real collector against a
// fake OpenAI-compatible upstream on loopback, and see the new answer beside the old one with a diff.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { answer, apiClient, chat, launchBrowser, startCollector, startFakeUpstream } from './harness.mjs';

const UPSTREAM_KEY = 'sk-test-e2e-replay-0000';
let upstream;
let browser;

before(async () => {
  upstream = await startFakeUpstream();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.stop();
  await upstream?.stop();
});

describe('replay', () => {
  test('ui: edit a call, replay it against the upstream, see the answer beside the original with a diff', async () => {
    const collector = await startCollector({ upstream: upstream.url, env: { OPENAI_API_KEY: UPSTREAM_KEY } });
    try {
      const api = apiClient(collector.base);
      const sid = 'e2e-replay';
      const original = await api.trace({ session_id: sid, turn_number: 1, request: { ...chat('Name a colour'), temperature: 0.7 }, response: answer('Fake upstream answer about Name a colour of the sea'), status: 'success' });
      const page = await browser.context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(String(e)));
      await page.goto(`${collector.base}/sessions/${sid}`);
      const card = page.locator(`[data-record-id="${original.id}"]`);
      await card.waitFor({ timeout: 5000 });

      await card.getByRole('button', { name: 'Replay…' }).click();
      const editor = card.getByTestId('replay-editor');
      await editor.getByLabel('message 2', { exact: true }).fill('Name a warm colour');
      await editor.getByLabel('temperature', { exact: true }).fill('0');
      await editor.getByRole('button', { name: 'Run' }).click();

      const compare = editor.getByTestId('replay-compare');
      await compare.waitFor({ timeout: 10000 });
      await compare.getByText('Fake upstream answer about Name a warm colour').waitFor();
      await compare.getByText('Fake upstream answer about Name a colour of the sea').waitFor();
      const diff = compare.getByTestId('diff');
      assert.ok((await diff.locator('ins').count()) >= 1);
      assert.ok((await diff.locator('del').count()) >= 1);

      const sent = upstream.requests.filter((r) => r.url.endsWith('/chat/completions'));
      assert.equal(sent.length, 1);
      assert.equal(sent[0].headers.authorization, `Bearer ${UPSTREAM_KEY}`);
      assert.equal(sent[0].body.messages.at(-1).content, 'Name a warm colour');
      assert.equal(sent[0].body.temperature, 0);

      // The turn keeps the replay in its history, in the page and in the store.
      await card.getByTestId('replay-item').first().waitFor({ timeout: 3000 });
      const records = await api.get(`/api/sessions/${sid}/records`);
      const replays = records.items.filter((r) => r.replay_of === original.id);
      assert.equal(replays.length, 1);
      assert.equal(replays[0].turn_number, 1);
      await page.reload();
      await page.locator(`[data-record-id="${original.id}"] [data-testid="replay-item"]`).waitFor({ timeout: 5000 });
      assert.deepEqual(errors, []);
      await page.close();
    } finally {
      await collector.stop();
    }
  });

  test('ui: without an upstream key the replay shows the server message', async () => {
    const collector = await startCollector({ upstream: upstream.url });
    try {
      const api = apiClient(collector.base);
      const rec = await api.trace({ session_id: 'e2e-nokey', turn_number: 1, request: chat('hello'), response: answer('hi'), status: 'success' });
      const page = await browser.context.newPage();
      await page.goto(`${collector.base}/sessions/e2e-nokey`);
      const card = page.locator(`[data-record-id="${rec.id}"]`);
      await card.getByRole('button', { name: 'Replay…' }).click();
      await card.getByRole('button', { name: 'Run' }).click();
      const alert = card.getByRole('alert');
      await alert.waitFor({ timeout: 5000 });
      assert.match(await alert.textContent(), /OPENAI_API_KEY/);
      assert.equal(await card.getByTestId('replay-compare').count(), 0);
      await page.close();
    } finally {
      await collector.stop();
    }
  });
});
