// The session view shows an agent turn as a span tree with its waterfall: kind icons, durations, tokens and
// cost per span, collapse, selection opening the call's messages, orphans placed live as parents arrive,
// windowed rows for a big run, and the chat view one click away.
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { VIRTUAL_AT } from '../components/TurnTree';
import { SessionView } from '../views/SessionView';
import type { TraceRecord } from '../types';
import { FakeEventSource, installEventSource, mockFetch, page, rec, session } from './helpers';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();
const TRACE = '0af7651916cd43dd8448eb211c80319c';
function span(id: string, parent: string | null, from: number, to: number, p: Partial<TraceRecord> = {}) {
  return rec({
    id, parent_id: parent, trace_id: TRACE, kind: 'llm', name: id, session_id: 's1', turn_number: 1,
    started_at: at(from), ended_at: at(to), latency_ms: to - from, ...p,
  });
}
const chat = (q: string) => ({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: q }] });
const answer = (a: string) => ({ choices: [{ index: 0, message: { role: 'assistant', content: a }, finish_reason: 'stop' }] });

const agent = span('agent', null, 0, 2000, { kind: 'agent', name: 'plan trip' });
const llm1 = span('llm1', 'agent', 100, 900, {
  name: 'choose tool', model: 'gpt-4o-mini', request: chat('Weather in Paris?'), response: answer('calling get_weather'),
  usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 }, cost_usd: 0.0012,
});
const tool = span('tool1', 'llm1', 400, 700, { kind: 'tool', name: 'get_weather', request: { city: 'Paris' }, response: { temp_c: 21 } });
const llm2 = span('llm2', 'agent', 1000, 1900, {
  name: 'answer', model: 'gpt-4o-mini', request: chat('Summarise'), response: answer('It is 21 °C in Paris.'),
  usage: { prompt_tokens: 60, completion_tokens: 9, total_tokens: 69 },
});

function rowsText() {
  return screen.getAllByTestId('tree-node').map((n) => `${n.dataset.depth}:${n.dataset.kind}:${within(n).getByTestId('tree-name').textContent}`);
}

describe('turn tree and waterfall', () => {
  let records: TraceRecord[];
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
    records = [tool, llm2, llm1, agent];
    mockFetch({
      'GET /api/sessions/s1': { body: session({ turn_count: 1, record_count: 4 }) },
      'GET /api/sessions/s1/records': () => ({ body: page(records) }),
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it('shows the spans nested with kind, duration, tokens, cost and a bar on the time axis', async () => {
    render(<SessionView id="s1" />);
    await screen.findByTestId('turn-tree');
    expect(rowsText()).toEqual(['0:agent:plan trip', '1:llm:choose tool', '2:tool:get_weather', '1:llm:answer']);
    const row = (id: string) => document.querySelector(`[data-span-id="${id}"]`) as HTMLElement;
    expect(within(row('llm1')).getByTestId('tree-duration')).toHaveTextContent('800 ms');
    expect(within(row('llm1')).getByTestId('tree-tokens')).toHaveTextContent('52');
    expect(within(row('llm1')).getByTestId('tree-cost')).toHaveTextContent('$0.0012');
    expect(within(row('agent')).getByTestId('tree-tokens')).toHaveTextContent('Σ 121');
    expect(within(row('agent')).getByTestId('tree-duration')).toHaveTextContent('2.00 s');
    expect(within(row('tool1')).getByTitle('tool')).toBeInTheDocument();
    const bar = within(row('llm2')).getByTestId('waterfall-bar');
    expect(Number(bar.dataset.left)).toBeCloseTo(0.5);
    expect(Number(bar.dataset.width)).toBeCloseTo(0.45);
    expect(screen.getByTestId('waterfall-axis')).toHaveTextContent('0');
    expect(screen.getByTestId('waterfall-axis')).toHaveTextContent('2 s');
  });

  it('collapses a span, and selecting a span opens its messages', async () => {
    render(<SessionView id="s1" />);
    await screen.findByTestId('turn-tree');
    fireEvent.click(screen.getByRole('button', { name: 'collapse choose tool' }));
    expect(rowsText()).toEqual(['0:agent:plan trip', '1:llm:choose tool', '1:llm:answer']);
    fireEvent.click(screen.getByRole('button', { name: 'expand choose tool' }));
    expect(rowsText()).toHaveLength(4);

    expect(screen.queryByTestId('tree-detail')).toBeNull();
    fireEvent.click(screen.getByText('answer'));
    const detail = screen.getByTestId('tree-detail');
    expect(within(detail).getByText('Summarise')).toBeInTheDocument();
    expect(within(detail).getByText('It is 21 °C in Paris.')).toBeInTheDocument();
    expect(document.querySelector('[data-span-id="llm2"]')).toHaveAttribute('aria-selected', 'true');
    fireEvent.click(screen.getByText('get_weather'));
    expect(within(screen.getByTestId('tree-detail')).getByText(/Paris/)).toBeInTheDocument();

    // The chat view of the same turn is one click away.
    fireEvent.click(screen.getByRole('button', { name: 'chat' }));
    expect(screen.queryByTestId('turn-tree')).toBeNull();
    expect(screen.getAllByTestId('call').length).toBeGreaterThanOrEqual(3);
  });

  it('places live spans: a child before its parent waits under the root, then moves under the parent', async () => {
    records = [agent];
    render(<SessionView id="s1" />);
    await screen.findAllByTestId('turn');
    const es = FakeEventSource.latest();
    act(() => es.open());
    act(() => es.send('record', tool));
    await waitFor(() => expect(rowsText()).toEqual(['0:agent:plan trip', '1:tool:get_weather']));
    expect(within(document.querySelector('[data-span-id="tool1"]') as HTMLElement).getByText('orphan')).toBeInTheDocument();
    act(() => es.send('record', llm1));
    await waitFor(() => expect(rowsText()).toEqual(['0:agent:plan trip', '1:llm:choose tool', '2:tool:get_weather']));
    expect(screen.queryByText('orphan')).toBeNull();
  });

  it('windows a big run: a 2,000-span turn mounts only the rows in view', async () => {
    const big: TraceRecord[] = [span('root', null, 0, 100000, { kind: 'agent', name: 'big run' })];
    for (let i = 0; i < 1999; i++) big.push(span(`c${i}`, 'root', i * 50, i * 50 + 40, { name: `call ${i}` }));
    records = big;
    // jsdom lays nothing out: give the turn a real height, as a browser would, so the session's windowed list
    // keeps it in view (with every slot 0 px high its range lands in the middle of the turn's empty slots).
    const offsetHeight = vi.spyOn(HTMLElement.prototype, 'offsetHeight', 'get').mockImplementation(function (this: HTMLElement) {
      return this.classList.contains('timeline-slot') ? 700 : this.classList.contains('tt-body') ? 468 : 0;
    });
    const clientHeight = vi.spyOn(HTMLElement.prototype, 'clientHeight', 'get').mockImplementation(function (this: HTMLElement) {
      return this.classList.contains('tt-body') ? 468 : 0;
    });
    render(<SessionView id="s1" />);
    await screen.findByTestId('turn-tree');
    expect(screen.getByTestId('turn-tree')).toHaveTextContent('2,000 spans');
    const shown = screen.getAllByTestId('tree-node').length;
    expect(shown).toBeGreaterThan(0);
    expect(shown).toBeLessThan(VIRTUAL_AT);
    // Collapsing the root leaves one row.
    fireEvent.click(screen.getByRole('button', { name: 'collapse big run' }));
    await waitFor(() => expect(screen.getAllByTestId('tree-node')).toHaveLength(1));
    offsetHeight.mockRestore();
    clientHeight.mockRestore();
  });
});
