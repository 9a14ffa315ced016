// /dashboard: calls, errors, latency p50/p95, tokens and cost over time, per model, for the last hour, day or
// week or a custom range (?range=1h|24h|7d, or ?from=&to= in epoch ms). Two reads of
// GET /api/stats/timeseries (all models, for the latency percentiles and totals; by model, for the rest) and
// a debounced refetch whenever the event stream reports a record, so the charts follow ingest live.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { api } from '../api';
import { Chart, PALETTE } from '../components/Chart';
import { ErrorLine } from '../components/common';
import { fmtCount, fmtLatency, fmtTime } from '../format';
import {
  alignSeries,
  byModel,
  customRange,
  fmtCost,
  fmtCostOrDash,
  fromLocalInput,
  modelKey,
  normalizeTimeseries,
  presetRange,
  timeseriesParams,
  toLocalInput,
  topModels,
  totals,
  type Metric,
  type RangePreset,
  type TimeRange,
} from '../lib/insight';
import { useLive } from '../live';
import { navigate } from '../router';
import type { TimeseriesRow } from '../types';

const REFETCH_DEBOUNCE_MS = 800;
const PRESETS: Exclude<RangePreset, 'custom'>[] = ['1h', '24h', '7d'];

function rangeFromQuery(query: URLSearchParams): { preset: RangePreset; custom: TimeRange | null } {
  const from = Number(query.get('from'));
  const to = Number(query.get('to'));
  const custom = query.has('from') && query.has('to') ? customRange(from, to) : null;
  if (custom) return { preset: 'custom', custom };
  const r = query.get('range');
  return { preset: r === '24h' || r === '7d' ? r : '1h', custom: null };
}

function bucketLabel(ms: number): string {
  if (ms % 86_400_000 === 0) return `${ms / 86_400_000} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0) return `${ms / 60_000} min`;
  return `${ms / 1000} s`;
}

export function Dashboard({ query }: { query: URLSearchParams }) {
  const { preset, custom } = rangeFromQuery(query);
  const customKey = custom ? `${custom.from}-${custom.to}` : '';
  const [overall, setOverall] = useState<TimeseriesRow[]>([]);
  const [models, setModels] = useState<TimeseriesRow[]>([]);
  const [range, setRange] = useState<TimeRange | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loadedAt, setLoadedAt] = useState<number | null>(null);
  const [editing, setEditing] = useState(preset === 'custom');
  const [fromInput, setFromInput] = useState(() => toLocalInput(custom?.from ?? Date.now() - 86_400_000));
  const [toInput, setToInput] = useState(() => toLocalInput(custom?.to ?? Date.now()));
  const seq = useRef(0);

  const load = useCallback(async () => {
    const r = preset === 'custom' ? custom : presetRange(preset);
    if (!r) return;
    const mine = ++seq.current;
    try {
      const [all, per] = await Promise.all([
        api.timeseries(timeseriesParams(r, false)),
        api.timeseries(timeseriesParams(r, true)),
      ]);
      if (mine !== seq.current) return; // a newer load won
      setOverall(normalizeTimeseries(all));
      setModels(normalizeTimeseries(per));
      setRange(r);
      setError(null);
      setLoadedAt(Date.now());
    } catch (e) {
      if (mine === seq.current) setError(e);
    }
    // customKey stands for `custom` (a new object each render).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [preset, customKey]);

  useEffect(() => {
    void load();
  }, [load]);

  // Live: a burst of records costs one refetch per debounce window. A preset's window also slides forward.
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const schedule = useCallback(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void load();
    }, REFETCH_DEBOUNCE_MS);
  }, [load]);
  useEffect(
    () => () => {
      if (timer.current) clearTimeout(timer.current);
      timer.current = null;
    },
    [],
  );
  useLive((e) => {
    if (e.type === 'record' || e.type === 'deleted' || e.type === 'resync') {
      if (preset !== 'custom' || (custom && custom.to > Date.now() - 60_000)) schedule();
    }
  });

  const keys = useMemo(() => topModels(models), [models]);
  const charts = useMemo(() => {
    if (!range) return null;
    const perModel = (metric: Metric) => alignSeries(models, range, metric, modelKey, keys);
    const p50 = alignSeries(overall, range, 'latency_p50_ms', () => 'all', ['all']);
    const p95 = alignSeries(overall, range, 'latency_p95_ms', () => 'all', ['all']);
    return {
      calls: perModel('calls'),
      errors: perModel('errors'),
      tokens: perModel('total_tokens'),
      cost: perModel('cost_usd'),
      latency: { xs: p50.xs, ys: [p50.ys[0], p95.ys[0]] },
    };
  }, [range, models, overall, keys]);
  const sum = useMemo(() => totals(overall), [overall]);
  const table = useMemo(() => byModel(models), [models]);
  const modelSeries = keys.map((k, i) => ({ label: k, color: PALETTE[i % PALETTE.length] }));
  const latencyAll = overall.map((r) => r.latency_p95_ms).filter((v): v is number => v != null);

  function choose(p: RangePreset) {
    if (p === 'custom') {
      setEditing(true);
      return;
    }
    setEditing(false);
    navigate(`/dashboard?range=${p}`, true);
  }
  function applyCustom() {
    const r = customRange(fromLocalInput(fromInput), fromLocalInput(toInput));
    if (!r) {
      setError(new Error('The custom range needs a start before its end.'));
      return;
    }
    navigate(`/dashboard?from=${r.from}&to=${r.to}`, true);
  }

  return (
    <div className="page dashboard">
      <div className="page-head">
        <h1>Dashboard</h1>
        <div className="range-picker" role="group" aria-label="time range">
          {PRESETS.map((p) => (
            <button
              key={p}
              type="button"
              className={preset === p && !editing ? 'btn btn-small btn-primary' : 'btn btn-small'}
              aria-pressed={preset === p && !editing}
              onClick={() => choose(p)}
            >
              {p}
            </button>
          ))}
          <button
            type="button"
            className={preset === 'custom' || editing ? 'btn btn-small btn-primary' : 'btn btn-small'}
            aria-pressed={preset === 'custom' || editing}
            onClick={() => choose('custom')}
          >
            custom
          </button>
        </div>
        {editing && (
          <form
            className="range-custom"
            onSubmit={(e) => {
              e.preventDefault();
              applyCustom();
            }}
          >
            <input type="datetime-local" aria-label="from" value={fromInput} onChange={(e) => setFromInput(e.target.value)} />
            <span className="muted">→</span>
            <input type="datetime-local" aria-label="to" value={toInput} onChange={(e) => setToInput(e.target.value)} />
            <button type="submit" className="btn btn-small">Apply</button>
          </form>
        )}
        <span className="spacer" />
        {range && (
          <span className="muted small">
            {fmtTime(new Date(range.from).toISOString())} → {fmtTime(new Date(range.to).toISOString())} · per{' '}
            {bucketLabel(range.bucket)}
            {loadedAt && <> · updated {new Date(loadedAt).toLocaleTimeString()}</>}
          </span>
        )}
      </div>
      <ErrorLine error={error} />
      <div className="dash-totals" data-testid="dash-totals">
        <div className="dash-total">
          <div className="dash-total-value" data-testid="dash-total-calls">{fmtCount(sum.calls)}</div>
          <div className="muted small">calls</div>
        </div>
        <div className="dash-total">
          <div className={sum.errors > 0 ? 'dash-total-value err' : 'dash-total-value'} data-testid="dash-total-errors">
            {fmtCount(sum.errors)}
          </div>
          <div className="muted small">errors{sum.calls > 0 && ` (${((100 * sum.errors) / sum.calls).toFixed(1)}%)`}</div>
        </div>
        <div className="dash-total">
          <div className="dash-total-value">{latencyAll.length ? fmtLatency(Math.max(...latencyAll)) : '—'}</div>
          <div className="muted small">worst p95 latency</div>
        </div>
        <div className="dash-total">
          <div className="dash-total-value" data-testid="dash-total-tokens">{fmtCount(sum.total_tokens)}</div>
          <div className="muted small">tokens ({fmtCount(sum.prompt_tokens)} in · {fmtCount(sum.completion_tokens)} out)</div>
        </div>
        <div className="dash-total">
          <div className="dash-total-value" data-testid="dash-total-cost">{fmtCost(sum.cost_usd)}</div>
          <div className="muted small">cost</div>
        </div>
      </div>
      {charts && (
        <div className="charts">
          <Chart integer testId="chart-calls" title="Calls" xs={charts.calls.xs} ys={charts.calls.ys} series={modelSeries} format={(v) => fmtCount(Math.round(v))} />
          <Chart integer testId="chart-errors" title="Errors" xs={charts.errors.xs} ys={charts.errors.ys} series={modelSeries} format={(v) => fmtCount(Math.round(v))} />
          <Chart
            testId="chart-latency"
            title="Latency (all models)"
            xs={charts.latency.xs}
            ys={charts.latency.ys}
            series={[
              { label: 'p50', color: PALETTE[0] },
              { label: 'p95', color: PALETTE[2], dash: [6, 4] },
            ]}
            format={fmtLatency}
          />
          <Chart integer testId="chart-tokens" title="Tokens" xs={charts.tokens.xs} ys={charts.tokens.ys} series={modelSeries} format={(v) => fmtCount(Math.round(v))} />
          <Chart testId="chart-cost" title="Cost (USD)" xs={charts.cost.xs} ys={charts.cost.ys} series={modelSeries} format={fmtCost} />
        </div>
      )}
      {table.length > 0 && (
        <table className="table dash-models" data-testid="dash-models">
          <thead>
            <tr>
              <th>Model</th>
              <th className="num">Calls</th>
              <th className="num">Errors</th>
              <th className="num">Tokens</th>
              <th className="num">Cost</th>
            </tr>
          </thead>
          <tbody>
            {table.map((m) => (
              <tr key={m.model}>
                <td className="mono">{m.model}</td>
                <td className="num">{fmtCount(m.calls)}</td>
                <td className={m.errors > 0 ? 'num err' : 'num'}>{fmtCount(m.errors)}</td>
                <td className="num">{fmtCount(m.total_tokens)}</td>
                <td className="num">{fmtCostOrDash(m.cost_usd || null)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {range && overall.length === 0 && !error && <p className="muted">No calls in this range yet. They appear here live.</p>}
    </div>
  );
}
