// Results of GET /api/search for the query in the URL (?q=&status=&model=), paginated.
import { useCallback, useEffect, useState } from 'react';
import { api } from '../api';
import { ErrorLine, StatusBadge } from '../components/common';
import { ScoreChips } from '../components/Scores';
import { fmtCount, fmtLatency, fmtTime } from '../format';
import { fmtCost } from '../lib/insight';
import { requestMessages, responseView } from '../messages';
import { navigate, recordPath, sessionPath } from '../router';
import type { Page, TraceRecord } from '../types';

const SIZE = 50;

function snippet(r: TraceRecord): string {
  const msgs = requestMessages(r.request);
  const lastUser = [...msgs].reverse().find((m) => m.role === 'user');
  const resp = responseView(r.response);
  const text = `${lastUser?.content ?? ''}${resp?.content ? ` → ${resp.content}` : ''}`;
  return text.length > 240 ? `${text.slice(0, 240)}…` : text;
}

export function SearchView({ query }: { query: URLSearchParams }) {
  const q = query.get('q') ?? '';
  const status = query.get('status') ?? '';
  const model = query.get('model') ?? '';
  const score = query.get('score') ?? '';
  const [page, setPage] = useState(1);
  const [data, setData] = useState<Page<TraceRecord> | null>(null);
  const [error, setError] = useState<unknown>(null);

  const load = useCallback(async () => {
    try {
      setData(await api.search({ q, status, model, score, page, size: SIZE }));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [q, status, model, score, page]);
  useEffect(() => setPage(1), [q, status, model, score]);
  useEffect(() => {
    void load();
  }, [load]);

  const pages = data ? Math.max(1, Math.ceil(data.total / SIZE)) : 1;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Search</h1>
        <span className="muted small">
          {q && <>“{q}” </>}
          {status && <>status={status} </>}
          {model && <>model={model} </>}
          {score && <>score={score} </>}
          {data && <>· {data.total} result{data.total === 1 ? '' : 's'}</>}
        </span>
      </div>
      <ErrorLine error={error} />
      {data && data.items.length === 0 && <p className="muted">Nothing matches.</p>}
      {data && data.items.length > 0 && (
        <table className="table" data-testid="search-results">
          <thead>
            <tr><th>Status</th><th>Model</th><th>Session / turn</th><th>Text</th><th>Score</th><th>Tokens</th><th>Latency</th><th>Time</th></tr>
          </thead>
          <tbody>
            {data.items.map((r) => (
              <tr key={r.id} className="clickable" onClick={() => navigate(recordPath(r.id))}>
                <td><StatusBadge status={r.status} /></td>
                <td className="mono">{r.model}</td>
                <td>
                  <a href={sessionPath(r.session_id)} className="mono small" onClick={(e) => { e.preventDefault(); e.stopPropagation(); navigate(sessionPath(r.session_id)); }}>
                    {r.session_id.slice(0, 12)}
                  </a>{' '}
                  #{r.turn_number}
                </td>
                <td className="snippet">{snippet(r)}</td>
                <td><ScoreChips scores={r.scores ?? []} /></td>
                <td className="muted num">
                  {fmtCount(r.usage?.total_tokens)}
                  {r.cost_usd != null && <div className="small">{fmtCost(r.cost_usd)}</div>}
                </td>
                <td className="muted">{fmtLatency(r.latency_ms)}</td>
                <td className="muted small">{fmtTime(r.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages > 1 && (
        <div className="pager">
          <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => setPage(page - 1)}>‹ Prev</button>
          <span className="muted small">page {page} of {pages}</span>
          <button type="button" className="btn btn-small" disabled={page >= pages} onClick={() => setPage(page + 1)}>Next ›</button>
        </div>
      )}
    </div>
  );
}
