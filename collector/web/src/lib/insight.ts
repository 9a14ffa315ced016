// Insight helpers with no React in them (so vitest checks them directly): cost formatting, the dashboard's
// time ranges and bucket sizes, and turning GET /api/stats/timeseries rows into the aligned columns uPlot draws.
import type { TimeseriesRow } from '../types';

// USD with two significant digits below a dollar ($0.0012, $0.012, $0.12), cents above ($1.23, $1,234.50).
// null / undefined: '' (the cost is unknown, e.g. a model the price table does not list; never a guess).
export function fmtCost(usd?: number | null): string {
  if (usd == null || !Number.isFinite(usd)) return '';
  const sign = usd < 0 ? '-' : '';
  const v = Math.abs(usd);
  if (v === 0) return '$0.00';
  if (v < 0.000001) return `${sign}<$0.000001`;
  if (v < 1) {
    const decimals = Math.min(7, Math.max(2, 1 - Math.floor(Math.log10(v))));
    return `${sign}$${v.toFixed(decimals)}`;
  }
  return `${sign}$${v.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
}

// Like fmtCost, but an unknown cost reads as a dash where a column needs something.
export const fmtCostOrDash = (usd?: number | null) => fmtCost(usd) || '—';

export type RangePreset = '1h' | '24h' | '7d' | 'custom';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
export const PRESET_MS: Record<Exclude<RangePreset, 'custom'>, number> = { '1h': HOUR, '24h': DAY, '7d': 7 * DAY };

// Bucket sizes a chart can use: round numbers on a clock, so bucket starts line up with the axis ticks.
export const BUCKETS_MS = [
  5_000, 10_000, 15_000, 30_000, MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 7 * DAY,
];

// The smallest round bucket that keeps the chart at or under maxPoints points (the server refuses > 10,000).
export function pickBucket(spanMs: number, maxPoints = 100): number {
  for (const b of BUCKETS_MS) if (spanMs / b <= maxPoints) return b;
  const last = BUCKETS_MS[BUCKETS_MS.length - 1];
  return Math.ceil(spanMs / maxPoints / last) * last;
}

export interface TimeRange {
  from: number; // epoch ms, inclusive
  to: number; // epoch ms, exclusive
  bucket: number; // ms
}

// A preset ends now; `from` is aligned down to its bucket so a refetch a second later keeps the same buckets.
export function presetRange(preset: Exclude<RangePreset, 'custom'>, now = Date.now()): TimeRange {
  const span = PRESET_MS[preset];
  const bucket = pickBucket(span);
  const from = Math.floor((now - span) / bucket) * bucket;
  return { from, to: now, bucket };
}

export function customRange(from: number, to: number): TimeRange | null {
  if (!Number.isFinite(from) || !Number.isFinite(to) || to <= from) return null;
  return { from, to, bucket: pickBucket(to - from) };
}

// The query string for a range (docs/API.md): RFC 3339 times and the bucket as a duration in seconds.
export function timeseriesParams(r: TimeRange, groupByModel: boolean) {
  return {
    from: new Date(r.from).toISOString(),
    to: new Date(r.to).toISOString(),
    bucket: `${Math.round(r.bucket / 1000)}s`,
    ...(groupByModel ? { group_by: 'model' } : {}),
  };
}

type Obj = Record<string, unknown>;
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
function timeMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v < 1e11 ? v * 1000 : v; // seconds or ms
  if (typeof v === 'string') {
    const t = Date.parse(v);
    return Number.isNaN(t) ? null : t;
  }
  return null;
}

// Reads the timeseries answer: a list, or an envelope holding one ({items}, {buckets}, {rows}, {series}).
// Each row's bucket start may be named bucket / bucket_start / start / t / time, in RFC 3339 or epoch time.
export function normalizeTimeseries(data: unknown): TimeseriesRow[] {
  let rows: unknown = data;
  if (rows && typeof rows === 'object' && !Array.isArray(rows)) {
    const o = rows as Obj;
    rows = o.items ?? o.buckets ?? o.rows ?? o.series ?? o.data ?? [];
  }
  if (!Array.isArray(rows)) return [];
  const out: TimeseriesRow[] = [];
  for (const raw of rows) {
    if (!raw || typeof raw !== 'object') continue;
    const r = raw as Obj;
    const t = timeMs(r.bucket_start ?? r.bucket ?? r.start ?? r.t ?? r.time ?? r.bucket_start_ms);
    if (t == null) continue;
    const usage = (r.usage && typeof r.usage === 'object' ? r.usage : r) as Obj;
    out.push({
      bucket_ms: t,
      model: typeof r.model === 'string' && r.model !== '' ? r.model : null,
      calls: num(r.calls) ?? num(r.count) ?? 0,
      errors: num(r.errors) ?? 0,
      latency_p50_ms: num(r.latency_p50_ms) ?? num((r.latency as Obj | undefined)?.p50) ?? null,
      latency_p95_ms: num(r.latency_p95_ms) ?? num((r.latency as Obj | undefined)?.p95) ?? null,
      prompt_tokens: num(usage.prompt_tokens) ?? 0,
      completion_tokens: num(usage.completion_tokens) ?? 0,
      total_tokens: num(usage.total_tokens) ?? num(r.tokens) ?? 0,
      cost_usd: num(r.cost_usd) ?? 0,
    });
  }
  return out;
}

// The x values of a range: every bucket start from `from` up to (not including) `to`, in seconds (uPlot's
// unit). The server aligns buckets to `from` too (bucket i starts at from + i × bucket).
export function bucketStarts(r: TimeRange): number[] {
  const xs: number[] = [];
  for (let t = r.from; t < r.to && xs.length <= 10_000; t += r.bucket) xs.push(t / 1000);
  return xs;
}

export type Metric = 'calls' | 'errors' | 'latency_p50_ms' | 'latency_p95_ms' | 'total_tokens' | 'cost_usd';

// Aligned columns for uPlot: [xs, one series per key]. Buckets the server left out (no records) are 0 for
// counts and sums, and a gap (null) for latency, which has no value there.
export function alignSeries(
  rows: TimeseriesRow[],
  r: TimeRange,
  metric: Metric,
  keyOf: (row: TimeseriesRow) => string,
  keys: string[],
): { xs: number[]; ys: (number | null)[][] } {
  const xs = bucketStarts(r);
  const index = new Map<number, number>();
  xs.forEach((x, i) => index.set(x * 1000, i));
  const isLatency = metric === 'latency_p50_ms' || metric === 'latency_p95_ms';
  const ys = keys.map(() => xs.map(() => (isLatency ? null : 0)) as (number | null)[]);
  const col = new Map(keys.map((k, i) => [k, i]));
  for (const row of rows) {
    // A bucket the server aligned differently (e.g. to its own epoch) lands in the bucket that holds it.
    let i = index.get(row.bucket_ms);
    if (i === undefined) {
      const k = Math.floor((row.bucket_ms - xs[0] * 1000) / r.bucket);
      if (xs.length === 0 || k < 0 || k >= xs.length) continue;
      i = k;
    }
    const c = col.get(keyOf(row));
    if (c === undefined) continue;
    const v = row[metric];
    if (v == null) continue;
    ys[c][i] = isLatency ? Math.max(ys[c][i] ?? 0, v) : (ys[c][i] ?? 0) + v;
  }
  return { xs, ys };
}

export const modelKey = (row: TimeseriesRow) => row.model ?? '(unknown model)';

// Models by descending number of calls, so the busiest get the first colours; past `max`, the rest are "other".
export function topModels(rows: TimeseriesRow[], max = 8): string[] {
  const calls = new Map<string, number>();
  for (const r of rows) calls.set(modelKey(r), (calls.get(modelKey(r)) ?? 0) + r.calls);
  return [...calls.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])).slice(0, max).map(([k]) => k);
}

export interface Totals {
  calls: number;
  errors: number;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
}

export function totals(rows: TimeseriesRow[]): Totals {
  const t: Totals = { calls: 0, errors: 0, prompt_tokens: 0, completion_tokens: 0, total_tokens: 0, cost_usd: 0 };
  for (const r of rows) {
    t.calls += r.calls;
    t.errors += r.errors;
    t.prompt_tokens += r.prompt_tokens;
    t.completion_tokens += r.completion_tokens;
    t.total_tokens += r.total_tokens;
    t.cost_usd += r.cost_usd;
  }
  return t;
}

// Per model totals for the table under the charts, busiest first.
export function byModel(rows: TimeseriesRow[]): (Totals & { model: string })[] {
  const m = new Map<string, TimeseriesRow[]>();
  for (const r of rows) {
    const k = modelKey(r);
    if (!m.has(k)) m.set(k, []);
    m.get(k)!.push(r);
  }
  return [...m.entries()]
    .map(([model, rs]) => ({ model, ...totals(rs) }))
    .sort((a, b) => b.calls - a.calls || a.model.localeCompare(b.model));
}

// Value of a <input type="datetime-local"> (local time) <-> epoch ms.
const pad = (n: number) => String(n).padStart(2, '0');
export function toLocalInput(ms: number): string {
  const d = new Date(ms);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}
export function fromLocalInput(s: string): number {
  const t = new Date(s).getTime();
  return Number.isNaN(t) ? NaN : t;
}
