// Waterfall (Gantt) layout of a turn's spans: each row's bar as fractions of the turn's time range, and the
// ticks of the time axis. Pure and linear in the number of rows. Times are ms since the epoch; the axis is
// relative to the turn's first start. A span still in flight (no end yet) runs to the end of the range.
import type { Row, Tree } from './tree';

export interface Bar {
  left: number; // 0..1 of the range
  width: number; // 0..1, at least MIN_WIDTH so an instant span stays visible
  open: boolean; // no end yet
  offsetMs: number; // start relative to the range start
  durationMs: number | null;
}

export interface Tick {
  at: number; // 0..1
  label: string;
}

export interface Range {
  start: number;
  end: number;
  span: number; // end - start, at least 1 ms
}

export const MIN_WIDTH = 0.004;

export function timeRange(tree: Tree): Range {
  let start = Infinity;
  let end = -Infinity;
  for (const n of tree.byId.values()) {
    if (n.start < start) start = n.start;
    const e = n.end ?? n.start;
    if (e > end) end = e;
  }
  if (!Number.isFinite(start)) return { start: 0, end: 1, span: 1 };
  const span = Math.max(1, end - start);
  return { start, end: start + span, span };
}

export function layoutBars(rows: Row[], range: Range): Bar[] {
  return rows.map(({ node }) => {
    const open = node.end == null;
    const s = Math.min(Math.max(node.start, range.start), range.end);
    const e = open ? range.end : Math.min(Math.max(node.end!, s), range.end);
    let left = (s - range.start) / range.span;
    let width = Math.max((e - s) / range.span, MIN_WIDTH);
    if (left + width > 1) left = Math.max(0, 1 - width);
    if (width > 1) width = 1;
    return { left, width, open, offsetMs: node.start - range.start, durationMs: open ? null : node.end! - node.start };
  });
}

export function fmtOffset(ms: number): string {
  if (ms === 0) return '0';
  const a = Math.abs(ms);
  if (a < 1000) return `${Number(ms.toPrecision(3))} ms`;
  if (a < 60000) return `${Number((ms / 1000).toPrecision(3))} s`;
  const m = Math.floor(a / 60000);
  const s = Math.round((a % 60000) / 1000);
  return `${ms < 0 ? '-' : ''}${m}m${s ? ` ${s}s` : ''}`;
}

// A 1/2/5 × 10^k step giving about `target` intervals over the range.
export function niceStep(span: number, target = 5): number {
  const raw = Math.max(span, 1e-3) / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (raw <= m * pow) return m * pow;
  return 10 * pow;
}

export function axisTicks(range: Range, target = 5): Tick[] {
  const step = niceStep(range.span, target);
  const ticks: Tick[] = [];
  for (let t = 0; t <= range.span + 1e-9 && ticks.length < 50; t += step) {
    ticks.push({ at: t / range.span, label: fmtOffset(Math.round(t * 1000) / 1000) });
  }
  return ticks;
}
