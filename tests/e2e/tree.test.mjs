// Browser end-to-end for the span tree and waterfall (issue 11, UI): an agent turn posted as spans through
// POST /api/traces, children before their parent, shows in the real collector's UI as a tree with a waterfall;
// a span collapses; a click on an LLM span shows its messages. A 10,000-span agent run opens with only a
// screenful of rows in the DOM. Takes the screenshot docs/images/tree-waterfall.png is copied from.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ARTIFACTS, collectorAndBrowser, openPage as openPageAt } from './harness.mjs';

const suite = collectorAndBrowser();
const openPage = (path) => openPageAt(suite.browser, suite.collector.base + path);

const hex = (n, width) => n.toString(16).padStart(width, '0');
const spanId = (n) => hex(0x1000 + n, 16);

async function postSpans(spans) {
  const r = await suite.api.raw('POST', '/api/traces', { traces: spans });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  assert.equal(body.rejected, 0, JSON.stringify(body.results.filter((x) => x.error)));
  return body;
}

const rowNames = (page) => page.getByTestId('tree-node').evaluateAll((els) =>
  els.map((e) => `${e.dataset.depth}:${e.dataset.kind}:${e.querySelector('[data-testid="tree-name"]').textContent}`));

describe('turn tree and waterfall', () => {
  test('ui: an agent turn as a tree with a waterfall; collapse; select an LLM span to see its messages (screenshot)', async () => {
    const sid = 'e2e-agent-tree';
    const trace = '4bf92f3577b34da6a3ce929d0e0e4736';
    const t0 = Date.now() - 60_000;
    const at = (ms) => new Date(t0 + ms).toISOString();
    const tools = [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
    const toolCall = { id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } };
    const base = [
      { role: 'system', content: 'You are a travel agent. Use tools for live data.' },
      { role: 'user', content: 'Should I pack an umbrella for Paris today?' },
    ];
    const common = { session_id: sid, turn_number: 1, trace_id: trace, status: 'success' };
    const agent = { ...common, id: spanId(1), kind: 'agent', name: 'travel agent', started_at: at(0), ended_at: at(3400), latency_ms: 3400,
      request: { goal: 'umbrella advice for Paris' }, response: { answer: 'Yes, take an umbrella.' } };
    const llm1 = { ...common, id: spanId(2), parent_id: agent.id, kind: 'llm', name: 'plan', model: 'gpt-4o-mini',
      started_at: at(120), ended_at: at(1020), latency_ms: 900, cost_usd: 0.00041,
      usage: { prompt_tokens: 88, completion_tokens: 19, total_tokens: 107 },
      request: { model: 'gpt-4o-mini', tools, messages: base },
      response: { model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: null, tool_calls: [toolCall] }, finish_reason: 'tool_calls' }] } };
    const tool = { ...common, id: spanId(3), parent_id: llm1.id, kind: 'tool', name: 'get_weather',
      started_at: at(1100), ended_at: at(1750), latency_ms: 650,
      request: { city: 'Paris' }, response: { city: 'Paris', rain_probability: 0.8, temp_c: 14 } };
    const llm2 = { ...common, id: spanId(4), parent_id: agent.id, kind: 'llm', name: 'answer', model: 'gpt-4o-mini',
      started_at: at(1850), ended_at: at(3300), latency_ms: 1450, cost_usd: 0.00063,
      usage: { prompt_tokens: 131, completion_tokens: 24, total_tokens: 155 },
      request: { model: 'gpt-4o-mini', tools, messages: [...base, { role: 'assistant', content: null, tool_calls: [toolCall] },
        { role: 'tool', tool_call_id: 'call_w1', content: '{"city":"Paris","rain_probability":0.8,"temp_c":14}' }] },
      response: { model: 'gpt-4o-mini', choices: [{ index: 0, message: { role: 'assistant', content: 'Yes: an 80% chance of rain in Paris today, 14 °C. Pack an umbrella.' }, finish_reason: 'stop' }] } };

    // Children end first, so they arrive first: the tool span and the first LLM call, without their root.
    await postSpans([tool, llm1]);
    await suite.api.raw('PATCH', `/api/sessions/${sid}`, { name: 'Travel agent run' });
    const { page, errors } = await openPage(`/sessions/${sid}`);
    const tree = page.getByTestId('turn-tree');
    await tree.waitFor({ timeout: 10000 });
    assert.deepEqual(await rowNames(page), ['0:llm:plan', '1:tool:get_weather']);

    // The rest arrives live over the event stream: the tree completes in place.
    await postSpans([llm2, agent]);
    const want = ['0:agent:travel agent', '1:llm:plan', '2:tool:get_weather', '1:llm:answer'];
    for (let i = 0; ; i++) {
      const got = await rowNames(page);
      if (JSON.stringify(got) === JSON.stringify(want)) break;
      if (i > 100) assert.deepEqual(got, want);
      await page.waitForTimeout(50);
    }
    const row = (id) => page.locator(`[data-span-id="${id}"]`);
    assert.equal((await row(llm1.id).getByTestId('tree-duration').textContent()).trim(), '900 ms');
    assert.equal((await row(llm1.id).getByTestId('tree-tokens').textContent()).trim(), '107');
    assert.equal((await row(llm2.id).getByTestId('tree-cost').textContent()).trim(), '$0.00063');
    assert.equal((await row(agent.id).getByTestId('tree-tokens').textContent()).trim(), 'Σ 262');
    assert.equal(await row(tool.id).locator('.kind-icon').getAttribute('title'), 'tool');

    // The waterfall: bars on the turn's time axis, in the page's real layout.
    const box = async (id) => row(id).getByTestId('waterfall-bar').boundingBox();
    const [a, l1, tl, l2] = [await box(agent.id), await box(llm1.id), await box(tool.id), await box(llm2.id)];
    assert.ok(a.width > 200, `the agent bar spans the axis (${a.width}px)`);
    assert.ok(l1.x < tl.x && tl.x < l2.x, 'bars start in time order');
    assert.ok(l1.x + l1.width <= tl.x + 1, 'the tool starts after the first LLM call ends');
    assert.ok(Math.abs(l2.x + l2.width - (a.x + a.width * (3300 / 3400))) < 3, 'the last call ends where its time says');
    assert.match(await page.getByTestId('waterfall-axis').textContent(), /0.*3 s/);

    // Collapse the first LLM call: its tool span leaves; expand brings it back.
    await page.getByRole('button', { name: 'collapse plan' }).click();
    assert.deepEqual(await rowNames(page), ['0:agent:travel agent', '1:llm:plan', '1:llm:answer']);
    await page.getByRole('button', { name: 'expand plan' }).click();
    assert.equal((await rowNames(page)).length, 4);

    // Select the second LLM call: its chat view (messages, tool call, tool result, answer) opens below.
    await row(llm2.id).click();
    const detail = page.getByTestId('tree-detail');
    await detail.waitFor({ timeout: 5000 });
    await detail.getByText('Should I pack an umbrella for Paris today?').waitFor();
    await detail.getByText('Pack an umbrella.', { exact: false }).waitFor();
    assert.ok((await detail.getByTestId('tool-call').count()) >= 1);
    assert.equal(await row(llm2.id).getAttribute('aria-selected'), 'true');

    mkdirSync(ARTIFACTS, { recursive: true });
    await page.getByTestId('turn').first().screenshot({ path: join(ARTIFACTS, 'tree-waterfall.png') });

    // The same turn as the chat timeline, and back.
    await page.getByRole('button', { name: 'chat' }).click();
    assert.equal(await page.getByTestId('turn-tree').count(), 0);
    assert.ok((await page.getByTestId('call').count()) >= 3);
    await page.getByRole('button', { name: 'tree' }).click();
    await page.getByTestId('turn-tree').waitFor();
    assert.deepEqual(errors, []);
    await page.close();
  });

  test('ui: a 10,000-span agent run opens with a screenful of rows in the DOM and collapses', async () => {
    const sid = 'e2e-agent-10k';
    const trace = 'a'.repeat(31) + '1';
    const t0 = Date.now() - 3_600_000;
    const at = (ms) => new Date(t0 + ms).toISOString();
    const common = { session_id: sid, turn_number: 1, trace_id: trace, status: 'success' };
    const spanId = (n) => hex(0x100000 + n, 16); // ids apart from the other test's: a record id is unique
    const spans = [{ ...common, id: spanId(0), kind: 'agent', name: 'long run', started_at: at(0), ended_at: at(1_000_000), latency_ms: 1_000_000 }];
    for (let s = 0; s < 100; s++) {
      const step = { ...common, id: spanId(1 + s * 100), parent_id: spanId(0), kind: 'chain', name: `step ${s}`,
        started_at: at(s * 10_000), ended_at: at(s * 10_000 + 9_900), latency_ms: 9_900 };
      spans.push(step);
      for (let c = 1; c < 100; c++) {
        spans.push({ ...common, id: spanId(1 + s * 100 + c), parent_id: step.id, kind: c % 3 ? 'llm' : 'tool', name: `call ${s}.${c}`,
          model: 'gpt-4o-mini', started_at: at(s * 10_000 + c * 99), ended_at: at(s * 10_000 + c * 99 + 90), latency_ms: 90,
          usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 },
          request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: `q ${s}.${c}` }] } });
      }
    }
    assert.equal(spans.length, 10_001);
    for (let i = 0; i < spans.length; i += 1000) await postSpans(spans.slice(i, i + 1000));

    const { page, errors } = await openPage(`/sessions/${sid}`);
    const pages = [];
    page.on('request', (q) => q.url().includes('/records?') && pages.push(q.url().split('?')[1]));
    const started = Date.now();
    await page.getByTestId('turn-tree').getByText('10,001 spans').waitFor({ timeout: 90_000 }).catch(async (e) => {
      const head = await page.getByTestId('turn-tree').locator('.tt-tools').textContent().catch(() => '(no tree)');
      throw new Error(`${e.message}\ntree: ${head}; ${pages.length} page requests, last ${pages.slice(-3)}`);
    });
    const loadedMs = Date.now() - started;
    const rows = await page.getByTestId('tree-node').count();
    assert.ok(rows > 5 && rows < 80, `a screenful of rows in the DOM, not 10,001 (${rows})`);
    assert.ok((await page.locator('.timeline-slot').count()) < 50, 'the session list mounts no slot per record');
    // Scroll the tree to its end: the last span is reachable.
    await page.getByTestId('tree-body').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await page.getByText('call 99.99', { exact: true }).waitFor({ timeout: 10000 });
    await page.getByTestId('tree-body').evaluate((el) => (el.scrollTop = 0));
    await page.getByRole('button', { name: 'collapse long run' }).click();
    for (let i = 0; (await page.getByTestId('tree-node').count()) !== 1; i++) {
      if (i > 100) assert.fail('collapsing the root leaves one row');
      await page.waitForTimeout(50);
    }
    console.log(`# 10,001-span turn: all pages loaded and the tree built in ${loadedMs} ms; ${rows} rows mounted`);
    assert.deepEqual(errors, []);
    await page.close();
  });
});
