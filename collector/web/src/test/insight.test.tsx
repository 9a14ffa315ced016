// Insight: cost formatting, dashboard ranges and buckets, timeseries normalising and alignment, the score bar
// (POST body, chips, cache across remounts) and the compare selection.
import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { CallMeta } from '../components/CallCard';
import { ScoreBar } from '../components/Scores';
import { clearCompare, comparePicked, toggleCompare } from '../lib/compare';
import {
  alignSeries,
  bucketStarts,
  byModel,
  customRange,
  fmtCost,
  fmtCostOrDash,
  modelKey,
  normalizeTimeseries,
  pickBucket,
  presetRange,
  timeseriesParams,
  topModels,
  totals,
} from '../lib/insight';
import { SessionsList } from '../views/SessionsList';
import { installEventSource, mockFetch, rec, session } from './helpers';

const MIN = 60_000;
const HOUR = 60 * MIN;

describe('fmtCost', () => {
  it('shows two significant digits under a dollar and cents above', () => {
    expect(fmtCost(0.0012)).toBe('$0.0012');
    expect(fmtCost(0.00123456)).toBe('$0.0012');
    expect(fmtCost(0.012)).toBe('$0.012');
    expect(fmtCost(0.5)).toBe('$0.50');
    expect(fmtCost(0.12)).toBe('$0.12');
    expect(fmtCost(1.234)).toBe('$1.23');
    expect(fmtCost(1234.5)).toBe('$1,234.50');
    expect(fmtCost(0)).toBe('$0.00');
    expect(fmtCost(0.0000001)).toBe('<$0.000001');
    expect(fmtCost(0.0000042)).toBe('$0.0000042');
  });
  it('an unknown cost is nothing (or a dash in a column), never a guess', () => {
    expect(fmtCost(null)).toBe('');
    expect(fmtCost(undefined)).toBe('');
    expect(fmtCost(Number.NaN)).toBe('');
    expect(fmtCostOrDash(null)).toBe('—');
    expect(fmtCostOrDash(0.25)).toBe('$0.25');
  });
});

describe('ranges and buckets', () => {
  it('picks a round bucket that keeps a chart under its point budget', () => {
    expect(pickBucket(HOUR)).toBe(MIN);
    expect(pickBucket(24 * HOUR)).toBe(15 * MIN);
    expect(pickBucket(7 * 24 * HOUR)).toBe(2 * HOUR);
    expect(pickBucket(3 * MIN)).toBe(5_000);
    expect(pickBucket(365 * 24 * HOUR)).toBe(7 * 24 * HOUR);
    for (const span of [5 * MIN, HOUR, 13 * HOUR, 30 * 24 * HOUR, 3 * 365 * 24 * HOUR]) {
      expect(span / pickBucket(span)).toBeLessThanOrEqual(100);
    }
  });
  it('a preset ends now and starts on a bucket boundary', () => {
    const now = Date.UTC(2026, 5, 1, 12, 34, 56, 789);
    const r = presetRange('1h', now);
    expect(r.to).toBe(now);
    expect(r.bucket).toBe(MIN);
    expect(r.from % MIN).toBe(0);
    expect(now - r.from).toBeGreaterThanOrEqual(HOUR);
    expect(now - r.from).toBeLessThan(HOUR + MIN);
    expect(bucketStarts(r).length).toBe(61);
    expect(bucketStarts(r)[0]).toBe(r.from / 1000);
  });
  it('a custom range must run forwards', () => {
    expect(customRange(10, 5)).toBeNull();
    expect(customRange(5, 5)).toBeNull();
    expect(customRange(0, 2 * HOUR)).toEqual({ from: 0, to: 2 * HOUR, bucket: 2 * MIN });
  });
  it('query parameters: RFC 3339 times, bucket in seconds, group_by only when asked', () => {
    const r = { from: Date.UTC(2026, 0, 1), to: Date.UTC(2026, 0, 2), bucket: 10 * MIN };
    expect(timeseriesParams(r, true)).toEqual({
      from: '2026-01-01T00:00:00.000Z',
      to: '2026-01-02T00:00:00.000Z',
      bucket: '600s',
      group_by: 'model',
    });
    expect(timeseriesParams(r, false)).not.toHaveProperty('group_by');
  });
});

describe('timeseries rows', () => {
  const t0 = Date.UTC(2026, 0, 1, 0, 0);
  const range = { from: t0, to: t0 + 5 * MIN, bucket: MIN };
  const answer = {
    items: [
      { bucket_start: new Date(t0).toISOString(), model: 'gpt-4o', calls: 3, errors: 1, latency_p50_ms: 200, latency_p95_ms: 900, prompt_tokens: 30, completion_tokens: 12, total_tokens: 42, cost_usd: 0.002 },
      { bucket_start: new Date(t0).toISOString(), model: 'claude', calls: 1, errors: 0, latency_p50_ms: null, latency_p95_ms: null, prompt_tokens: 5, completion_tokens: 5, total_tokens: 10, cost_usd: 0.001 },
      { bucket_start: new Date(t0 + 3 * MIN).toISOString(), model: 'gpt-4o', calls: 2, errors: 0, latency_p50_ms: 100, latency_p95_ms: 150, prompt_tokens: 2, completion_tokens: 2, total_tokens: 4, cost_usd: 0 },
      { bucket_start: 'not a time', calls: 9 },
    ],
  };

  it('reads the rows of an envelope, or a bare list, with epoch or RFC 3339 bucket times', () => {
    const rows = normalizeTimeseries(answer);
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatchObject({ bucket_ms: t0, model: 'gpt-4o', calls: 3, errors: 1, latency_p95_ms: 900, total_tokens: 42, cost_usd: 0.002 });
    expect(rows[1].latency_p50_ms).toBeNull();
    expect(normalizeTimeseries([{ bucket: t0 / 1000, calls: 1 }])[0]).toMatchObject({ bucket_ms: t0, calls: 1, model: null });
    expect(normalizeTimeseries({ buckets: [{ bucket_start_ms: t0, calls: 2 }] })[0].calls).toBe(2);
    expect(normalizeTimeseries(null)).toEqual([]);
    expect(normalizeTimeseries('oops')).toEqual([]);
  });

  it('aligns per model onto every bucket: empty buckets are 0 for counts and a gap for latency', () => {
    const rows = normalizeTimeseries(answer);
    const keys = topModels(rows);
    expect(keys).toEqual(['gpt-4o', 'claude']);
    const calls = alignSeries(rows, range, 'calls', modelKey, keys);
    expect(calls.xs).toEqual([0, 1, 2, 3, 4].map((i) => (t0 + i * MIN) / 1000));
    expect(calls.ys).toEqual([
      [3, 0, 0, 2, 0],
      [1, 0, 0, 0, 0],
    ]);
    const p95 = alignSeries(rows, range, 'latency_p95_ms', modelKey, keys);
    expect(p95.ys[0]).toEqual([900, null, null, 150, null]);
    expect(p95.ys[1]).toEqual([null, null, null, null, null]);
  });

  it('sums totals and per model totals, busiest model first', () => {
    const rows = normalizeTimeseries(answer);
    expect(totals(rows)).toEqual({ calls: 6, errors: 1, prompt_tokens: 37, completion_tokens: 19, total_tokens: 56, cost_usd: 0.003 });
    expect(byModel(rows).map((m) => [m.model, m.calls])).toEqual([
      ['gpt-4o', 5],
      ['claude', 1],
    ]);
  });
});

describe('cost beside tokens', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('a call shows its cost next to its tokens, and nothing when the cost is unknown', () => {
    const { unmount } = render(<CallMeta record={rec({ usage: { prompt_tokens: 10, completion_tokens: 5, total_tokens: 15 }, cost_usd: 0.0012 })} />);
    expect(screen.getByTestId('cost')).toHaveTextContent('$0.0012');
    unmount();
    render(<CallMeta record={rec({ usage: { total_tokens: 15 }, cost_usd: null })} />);
    expect(screen.queryByTestId('cost')).toBeNull();
  });

  it('the sessions list has a cost column', async () => {
    mockFetch({
      'GET /api/sessions': { body: { items: [session({ id: 'a', cost_usd: 0.5 }), session({ id: 'b', cost_usd: 0 })], page: 1, size: 50, total: 2 } },
    });
    render(<SessionsList />);
    const rows = await screen.findAllByTestId('session-row');
    expect(within(rows[0]).getByText('$0.50')).toBeInTheDocument();
    expect(within(rows[1]).getByText('—')).toBeInTheDocument();
  });
});

describe('scores', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('thumbs down with a comment posts the score and shows it, also after a remount', async () => {
    const calls = mockFetch({
      'POST /api/records/r1/scores': (c) => ({
        status: 201,
        body: { id: 'sc1', ...(c.body as object), created_at: '2026-01-01T00:00:00.000Z' },
      }),
    });
    const user = userEvent.setup();
    const { unmount } = render(<ScoreBar target="record" id="r1" scores={[]} />);
    await user.click(screen.getByRole('button', { name: 'comment…' }));
    await user.type(screen.getByLabelText('score comment'), 'wrong city');
    await user.click(screen.getByRole('button', { name: 'thumbs down' }));
    const chip = await screen.findByTestId('score-chip');
    expect(chip).toHaveTextContent('▼ down');
    expect(chip).toHaveTextContent('wrong city');
    expect(calls.find((c) => c.method === 'POST')?.body).toEqual({ name: 'thumbs', value: false, comment: 'wrong city' });
    unmount();
    // The server's copy lists the same score: shown once.
    render(<ScoreBar target="record" id="r1" scores={[{ id: 'sc1', name: 'thumbs', value: false, comment: 'wrong city', created_at: '2026-01-01T00:00:00.000Z' }]} />);
    expect(screen.getAllByTestId('score-chip')).toHaveLength(1);
  });

  it('a refused score shows the server message', async () => {
    mockFetch({
      'POST /api/sessions/s9/scores': { status: 404, body: { error: { code: 'not_found', message: 'no such session', field: 'id' } } },
    });
    const user = userEvent.setup();
    render(<ScoreBar target="session" id="s9" />);
    await user.click(screen.getByRole('button', { name: 'thumbs up' }));
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent('no such session'));
    expect(screen.queryByTestId('score-chip')).toBeNull();
  });
});

describe('compare selection', () => {
  it('keeps the last two picks and toggles off', () => {
    clearCompare();
    toggleCompare('a');
    toggleCompare('b');
    expect(comparePicked()).toEqual(['a', 'b']);
    toggleCompare('c');
    expect(comparePicked()).toEqual(['b', 'c']);
    toggleCompare('b');
    expect(comparePicked()).toEqual(['c']);
    expect(JSON.parse(sessionStorage.getItem('llmtrace.compare') ?? '[]')).toEqual(['c']);
    clearCompare();
  });
});
