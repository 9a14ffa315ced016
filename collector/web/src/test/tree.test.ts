// The span tree and waterfall layout (lib/tree.ts, lib/waterfall.ts): parent links, orphans, loops, replays,
// deep nesting without recursion, collapse, sums, and a 10,000-span agent run.
import { describe, expect, it } from 'vitest';
import { buildTree, fmtUsd, isTraceTurn, visibleRows } from '../lib/tree';
import { axisTicks, layoutBars, MIN_WIDTH, niceStep, timeRange } from '../lib/waterfall';
import type { TraceRecord } from '../types';
import { rec } from './helpers';

const T0 = Date.UTC(2026, 0, 1, 12, 0, 0);
const at = (ms: number) => new Date(T0 + ms).toISOString();
function span(id: string, parent: string | null, from: number, to: number | null, p: Partial<TraceRecord> = {}) {
  return rec({
    id,
    parent_id: parent,
    trace_id: 'a'.repeat(32),
    kind: 'llm',
    name: id,
    started_at: at(from),
    ended_at: to == null ? null : at(to),
    latency_ms: to == null ? null : to - from,
    status: to == null ? 'pending' : 'success',
    ...p,
  });
}
const ids = (rows: { node: { id: string }; depth: number }[]) => rows.map((r) => `${'.'.repeat(r.depth)}${r.node.id}`);

describe('span tree', () => {
  const agentRun = [
    span('tool', 'llm1', 300, 500, { kind: 'tool' }), // ends (and arrives) first
    span('llm2', 'agent', 600, 900, { usage: { prompt_tokens: 30, completion_tokens: 5, total_tokens: 35 }, cost_usd: 0.002 }),
    span('agent', null, 0, 1000, { kind: 'agent' }),
    span('llm1', 'agent', 100, 550, { usage: { prompt_tokens: 10, completion_tokens: 2, total_tokens: 12 }, cost_usd: 0.001 }),
  ];

  it('nests agent → LLM calls → tool calls, children in start order, whatever the arrival order', () => {
    const tree = buildTree(agentRun);
    expect(tree.size).toBe(4);
    expect(ids(visibleRows(tree, new Set()))).toEqual(['agent', '.llm1', '..tool', '.llm2']);
    const agent = tree.byId.get('agent')!;
    expect(agent.tokens).toBeNull();
    expect(agent.subtreeTokens).toBe(47);
    expect(agent.subtreeCost).toBeCloseTo(0.003, 9);
    expect(tree.byId.get('tool')!.subtreeCost).toBeNull();
    expect(agent.end! - agent.start).toBe(1000);
    expect(isTraceTurn(agentRun)).toBe(true);
  });

  it('shows a child whose parent has not arrived at the top, then under the parent once it does', () => {
    const early = buildTree([agentRun[0], agentRun[1]]);
    expect(ids(visibleRows(early, new Set()))).toEqual(['tool', 'llm2']);
    expect(early.byId.get('tool')!.orphan).toBe(true);
    expect(early.byId.get('llm2')!.orphan).toBe(true);
    const later = buildTree([agentRun[0], agentRun[1], agentRun[2]]);
    // The trace's root has arrived: the orphan waits under it.
    expect(ids(visibleRows(later, new Set()))).toEqual(['agent', '.tool', '.llm2']);
    expect(later.byId.get('llm2')!.orphan).toBe(false);
    expect(later.byId.get('tool')!.orphan).toBe(true);
    const all = buildTree(agentRun);
    expect(all.byId.get('tool')!.orphan).toBe(false);
    expect(all.byId.get('tool')!.parent!.id).toBe('llm1');
  });

  it('cuts a parent loop instead of losing or repeating its nodes', () => {
    const loop = [span('a', 'c', 0, 10), span('b', 'a', 1, 9), span('c', 'b', 2, 8), span('self', 'self', 3, 4), span('x', 'b', 5, 6)];
    const tree = buildTree(loop);
    const rows = visibleRows(tree, new Set());
    expect(rows.length).toBe(5);
    expect(new Set(rows.map((r) => r.node.id))).toEqual(new Set(['a', 'b', 'c', 'self', 'x']));
    expect([...tree.byId.values()].filter((n) => n.cycle).length).toBe(2); // one cut in the loop, plus "self"
    expect(tree.byId.get('self')!.parent).toBeNull();
  });

  it('keeps replays with the call they replay, not as nodes', () => {
    const orig = span('orig', 'agent', 100, 200);
    const r1 = span('rep1', null, 300, 400, { replay_of: 'orig' });
    const r2 = span('rep2', null, 500, 600, { replay_of: 'rep1' });
    const tree = buildTree([agentRun[2], orig, r1, r2]);
    expect(ids(visibleRows(tree, new Set()))).toEqual(['agent', '.orig']);
    expect(tree.byId.get('orig')!.replays.map((r) => r.id)).toEqual(['rep1', 'rep2']);
  });

  it('collapses a node: its descendants leave the rows, its siblings stay', () => {
    const tree = buildTree(agentRun);
    const rows = visibleRows(tree, new Set(['llm1']));
    expect(ids(rows)).toEqual(['agent', '.llm1', '.llm2']);
    expect(rows[1].collapsed).toBe(true);
    expect(rows[1].hasChildren).toBe(true);
    expect(ids(visibleRows(tree, new Set(['agent'])))).toEqual(['agent']);
  });

  it('handles a 10,000-deep chain without recursion', () => {
    const chain: TraceRecord[] = [];
    for (let i = 0; i < 10000; i++) chain.push(span(`s${i}`, i ? `s${i - 1}` : null, i, 20000 - i));
    const tree = buildTree(chain.reverse());
    const rows = visibleRows(tree, new Set());
    expect(rows.length).toBe(10000);
    expect(rows[9999].depth).toBe(9999);
    expect(rows[9999].node.id).toBe('s9999');
    expect(visibleRows(tree, new Set(['s5000'])).length).toBe(5001);
  });

  it('builds, flattens and lays out a 10,000-call agent run', () => {
    const recs: TraceRecord[] = [span('root', null, 0, 100000, { kind: 'agent' })];
    for (let s = 0; s < 100; s++) {
      recs.push(span(`step${s}`, 'root', s * 1000, s * 1000 + 990, { kind: 'chain' }));
      for (let c = 0; c < 99; c++) {
        recs.push(span(`c${s}-${c}`, `step${s}`, s * 1000 + c * 10, s * 1000 + c * 10 + 8, {
          kind: c % 3 === 2 ? 'tool' : 'llm',
          usage: { total_tokens: 10 },
          cost_usd: 0.0001,
        }));
      }
    }
    expect(recs.length).toBe(10001);
    const tree = buildTree(recs);
    const rows = visibleRows(tree, new Set());
    expect(rows.length).toBe(10001);
    expect(tree.byId.get('root')!.subtreeTokens).toBe(99000);
    expect(tree.byId.get('root')!.subtreeCost).toBeCloseTo(0.99, 6);
    const bars = layoutBars(rows, timeRange(tree));
    expect(bars.length).toBe(10001);
    expect(bars.filter((b) => !(b.left >= 0 && b.left + b.width <= 1 + 1e-9)).length).toBe(0);
    expect(bars[rows.findIndex((r) => r.node.id === 'step50')].left).toBeCloseTo(0.5);
    // Collapsing every step leaves 101 rows.
    expect(visibleRows(tree, new Set([...Array(100).keys()].map((s) => `step${s}`))).length).toBe(101);
  });

  it('tells trace turns from plain chat turns', () => {
    expect(isTraceTurn([rec({}), rec({})])).toBe(false); // plain calls
    expect(isTraceTurn([span('only', null, 0, 10)])).toBe(false); // a single span
    expect(isTraceTurn([rec({ kind: 'tool' }), rec({})])).toBe(true);
    expect(isTraceTurn([rec({ trace_id: 'b'.repeat(32) }), rec({ replay_of: 'x' })])).toBe(false);
  });

  it('formats cost', () => {
    expect(fmtUsd(null)).toBe('');
    expect(fmtUsd(0.0021)).toBe('$0.0021');
    expect(fmtUsd(0.5)).toBe('$0.500');
    expect(fmtUsd(12.345)).toBe('$12.35');
  });
});

describe('waterfall layout', () => {
  it('places bars on the turn time axis', () => {
    const tree = buildTree([
      span('agent', null, 0, 1000, { kind: 'agent' }),
      span('llm1', 'agent', 100, 550),
      span('llm2', 'agent', 600, 900),
      span('instant', 'agent', 950, 950),
    ]);
    const range = timeRange(tree);
    expect(range.span).toBe(1000);
    const rows = visibleRows(tree, new Set());
    const bars = layoutBars(rows, range);
    const by = Object.fromEntries(rows.map((r, i) => [r.node.id, bars[i]]));
    expect(by.agent).toMatchObject({ left: 0, width: 1, open: false, durationMs: 1000 });
    expect(by.llm1.left).toBeCloseTo(0.1);
    expect(by.llm1.width).toBeCloseTo(0.45);
    expect(by.llm2.left).toBeCloseTo(0.6);
    expect(by.llm2.offsetMs).toBe(600);
    expect(by.instant.width).toBe(MIN_WIDTH); // a zero-length span stays visible
  });

  it('runs a span in flight to the end of the range, and keeps bars inside it', () => {
    const tree = buildTree([span('agent', null, 0, null, { kind: 'agent' }), span('llm', 'agent', 200, 800)]);
    const range = timeRange(tree);
    expect(range.span).toBe(800);
    const bars = layoutBars(visibleRows(tree, new Set()), range);
    expect(bars[0]).toMatchObject({ left: 0, width: 1, open: true, durationMs: null });
    expect(bars[1].left).toBeCloseTo(0.25);
    expect(bars[1].width).toBeCloseTo(0.75);
  });

  it('a span ending before it starts or timed by created_at only does not break the layout', () => {
    const odd = rec({ id: 'odd', kind: 'tool', started_at: at(500), ended_at: at(100), trace_id: 'c'.repeat(32) });
    const bare = rec({ id: 'bare', parent_id: 'odd', kind: 'llm', latency_ms: 50 });
    const tree = buildTree([odd, bare]);
    const bars = layoutBars(visibleRows(tree, new Set()), timeRange(tree));
    for (const b of bars) {
      expect(Number.isFinite(b.left) && Number.isFinite(b.width)).toBe(true);
      expect(b.left).toBeGreaterThanOrEqual(0);
      expect(b.left + b.width).toBeLessThanOrEqual(1 + 1e-9);
    }
  });

  it('picks 1-2-5 ticks', () => {
    expect(niceStep(1000)).toBe(200);
    expect(niceStep(7300)).toBe(2000);
    expect(niceStep(3)).toBe(1);
    const ticks = axisTicks({ start: 0, end: 1000, span: 1000 });
    expect(ticks.map((t) => t.label)).toEqual(['0', '200 ms', '400 ms', '600 ms', '800 ms', '1 s']);
    expect(ticks[5].at).toBeCloseTo(1);
    expect(axisTicks({ start: 0, end: 90000, span: 90000 }).at(-1)!.label).toBe('1m 20s');
  });
});
