// Sessions, newest activity first, live and paginated (the server pages: 100k sessions cost one page); a filter
// box narrows by name or id on the server; rename inline, delete with a confirmation.
import { useCallback, useEffect, useRef, useState } from 'react';
import { api } from '../api';
import { ErrorLine } from '../components/common';
import { fmtAgo, fmtCount, fmtTime } from '../format';
import { fmtCostOrDash } from '../lib/insight';
import { useLive } from '../live';
import { navigate, sessionPath } from '../router';
import type { Page, Session } from '../types';

const SIZE = 50;

function NameCell({ s, onRenamed }: { s: Session; onRenamed: (s: Session) => void }) {
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(s.name);
  const [error, setError] = useState<unknown>(null);
  async function save() {
    const name = value.trim();
    if (!name || name === s.name) {
      setEditing(false);
      return;
    }
    try {
      const updated = await api.renameSession(s.id, name);
      onRenamed({ ...s, ...(updated && typeof updated === 'object' ? updated : {}), name });
      setEditing(false);
      setError(null);
    } catch (e) {
      setError(e);
    }
  }
  if (editing) {
    return (
      <form className="rename" onSubmit={(e) => { e.preventDefault(); void save(); }}>
        <input
          autoFocus
          value={value}
          aria-label="session name"
          onChange={(e) => setValue(e.target.value)}
          onKeyDown={(e) => { if (e.key === 'Escape') { setEditing(false); setValue(s.name); } }}
        />
        <button className="btn btn-small" type="submit">Save</button>
        <ErrorLine error={error} />
      </form>
    );
  }
  return (
    <span className="name-cell">
      <a href={sessionPath(s.id)} onClick={(e) => { if (e.button !== 0 || e.metaKey || e.ctrlKey) return; e.preventDefault(); navigate(sessionPath(s.id)); }}>
        {s.name || s.id}
      </a>
      {s.name && s.name !== s.id && (
        <span className="mono small muted session-id-cell" data-testid="session-id" title="session id">
          {s.id}
        </span>
      )}
      <button type="button" className="link-btn small" title="Rename" onClick={() => { setValue(s.name); setEditing(true); }}>
        rename
      </button>
    </span>
  );
}

export function SessionsList() {
  const [page, setPage] = useState(1);
  const [filterText, setFilterText] = useState('');
  const [filter, setFilter] = useState('');
  const [data, setData] = useState<Page<Session> | null>(null);
  // Typing settles for 250 ms before the list is asked again.
  useEffect(() => {
    const t = setTimeout(() => {
      setFilter(filterText.trim());
      setPage(1);
    }, 250);
    return () => clearTimeout(t);
  }, [filterText]);
  const [error, setError] = useState<unknown>(null);
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  // "12s ago" must keep counting while nothing new arrives.
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 10000);
    return () => clearInterval(t);
  }, []);

  const load = useCallback(async () => {
    try {
      setData(await api.sessions(page, SIZE, filter));
      setError(null);
    } catch (e) {
      setError(e);
    }
  }, [page, filter]);

  useEffect(() => {
    void load();
  }, [load]);

  // Bursts of ingest events coalesce into one refetch.
  useLive(() => {
    if (timer.current) return;
    timer.current = setTimeout(() => {
      timer.current = null;
      void load();
    }, 150);
  });
  useEffect(() => () => { if (timer.current) clearTimeout(timer.current); }, []);

  async function remove(s: Session) {
    if (!window.confirm(`Delete session "${s.name}" and its ${s.record_count} calls?`)) return;
    try {
      await api.deleteSession(s.id);
      setData((d) => d && { ...d, items: d.items.filter((x) => x.id !== s.id), total: d.total - 1 });
    } catch (e) {
      setError(e);
    }
  }

  const pages = data ? Math.max(1, Math.ceil(data.total / SIZE)) : 1;
  return (
    <div className="page">
      <div className="page-head">
        <h1>Sessions</h1>
        <input
          type="search"
          className="session-filter"
          placeholder="filter by name or id"
          aria-label="filter sessions"
          value={filterText}
          onChange={(e) => setFilterText(e.target.value)}
        />
        <span className="spacer" />
        {data && (
          <span className="muted small" data-testid="sessions-total">
            {fmtCount(data.total)} {filter ? 'matching ' : ''}sessions
          </span>
        )}
      </div>
      <ErrorLine error={error} />
      {data && data.items.length === 0 && filter && <p className="muted">No session name or id contains “{filter}”.</p>}
      {data && data.items.length === 0 && !filter && (
        <p className="muted">No sessions yet. Send a trace (POST /api/trace) or call the proxy at /v1; it appears here live.</p>
      )}
      {data && data.items.length > 0 && (
        <table className="table" data-testid="sessions-table">
          <thead>
            <tr>
              <th>Name</th>
              <th>Created</th>
              <th>Last activity</th>
              <th className="num">Turns</th>
              <th className="num">Calls</th>
              <th className="num">Errors</th>
              <th className="num">Tokens</th>
              <th className="num">Cost</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {data.items.map((s) => (
              <tr key={s.id} data-testid="session-row" data-session-id={s.id}>
                <td>
                  <NameCell s={s} onRenamed={(u) => setData((d) => d && { ...d, items: d.items.map((x) => (x.id === u.id ? u : x)) })} />
                </td>
                <td className="muted">{fmtTime(s.created_at)}</td>
                <td title={fmtTime(s.updated_at)}>{fmtAgo(s.updated_at, now)}</td>
                <td className="num">{fmtCount(s.turn_count)}</td>
                <td className="num">{fmtCount(s.record_count)}</td>
                <td className={s.error_count > 0 ? 'num err' : 'num'}>{fmtCount(s.error_count)}</td>
                <td className="num">{fmtCount(s.total_tokens)}</td>
                <td className="num muted">{fmtCostOrDash(s.cost_usd || null)}</td>
                <td className="actions">
                  <button type="button" className="btn btn-small btn-danger" onClick={() => void remove(s)}>
                    Delete
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {pages > 1 && (
        <div className="pager">
          <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => setPage(1)}>« First</button>
          <button type="button" className="btn btn-small" disabled={page <= 1} onClick={() => setPage(page - 1)}>‹ Prev</button>
          <span className="muted small">page {fmtCount(page)} of {fmtCount(pages)}</span>
          <button type="button" className="btn btn-small" disabled={page >= pages} onClick={() => setPage(page + 1)}>Next ›</button>
          <button type="button" className="btn btn-small" disabled={page >= pages} onClick={() => setPage(pages)}>Last »</button>
        </div>
      )}
    </div>
  );
}
