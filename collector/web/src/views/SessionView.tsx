// A session's turns as a chat timeline, live: new calls appear and pending calls complete in place.
// Keys: j / ↓ next turn, k / ↑ previous turn, o / Enter opens the turn's first call.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { allRecords, api, ApiError, downloadFile } from '../api';
import { CallCard } from '../components/CallCard';
import { ErrorLine } from '../components/common';
import { fmtTime, plural } from '../format';
import { useLive } from '../live';
import { conversationAfter, requestMessages, sharedPrefix } from '../messages';
import { navigate, recordPath } from '../router';
import { buildTurns, upsert } from '../timeline';
import type { Session, TraceRecord } from '../types';

function isTyping(t: EventTarget | null) {
  const el = t as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

export function SessionView({ id }: { id: string }) {
  const [session, setSession] = useState<Session | null>(null);
  const [records, setRecords] = useState<TraceRecord[] | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [gone, setGone] = useState(false);
  const [focus, setFocus] = useState(0);
  const turnRefs = useRef<(HTMLElement | null)[]>([]);

  const load = useCallback(async () => {
    try {
      const [s, recs] = await Promise.all([api.session(id), allRecords(id)]);
      setSession(s);
      setRecords(recs);
      setError(null);
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    setSession(null);
    setRecords(null);
    setGone(false);
    setFocus(0);
    void load();
  }, [load]);

  useLive((e) => {
    if (e.type === 'record' && e.record.session_id === id) {
      setRecords((rs) => upsert(rs ?? [], e.record));
    } else if (e.type === 'session' && e.session.id === id) {
      setSession((s) => ({ ...(s ?? {}), ...e.session }));
    } else if (e.type === 'deleted') {
      if (e.kind === 'session' && e.id === id) setGone(true);
      else if (e.kind === 'record') setRecords((rs) => rs?.filter((r) => r.id !== e.id) ?? rs);
    } else if (e.type === 'resync') {
      void load();
    }
  });

  const turns = useMemo(() => buildTurns(records ?? []), [records]);
  // Per call: how many leading request messages repeat the previous turn's conversation, to fold them.
  const repeated = useMemo(() => {
    const out = new Map<string, number>();
    let previous: ReturnType<typeof conversationAfter> = [];
    for (const t of turns) {
      for (const c of t.calls) {
        // Fold only a true continuation (the whole previous conversation resent), not a shared system prompt.
        const n = sharedPrefix(previous, requestMessages(c.record.request));
        out.set(c.record.id, n > 0 && n === previous.length ? n : 0);
      }
      const main = t.calls[0]?.record;
      if (main) previous = conversationAfter(main.request, main.response);
    }
    return out;
  }, [turns]);

  useEffect(() => {
    function onKey(ev: KeyboardEvent) {
      if (isTyping(ev.target) || ev.metaKey || ev.ctrlKey || ev.altKey || turns.length === 0) return;
      let next = focus;
      if (ev.key === 'j' || ev.key === 'ArrowDown') next = Math.min(turns.length - 1, focus + 1);
      else if (ev.key === 'k' || ev.key === 'ArrowUp') next = Math.max(0, focus - 1);
      else if (ev.key === 'o' || (ev.key === 'Enter' && (ev.target === document.body || ev.target === null))) {
        const first = turns[focus]?.calls[0];
        if (first) navigate(recordPath(first.record.id));
        return;
      } else return;
      ev.preventDefault();
      setFocus(next);
      turnRefs.current[next]?.scrollIntoView?.({ block: 'nearest', behavior: 'smooth' });
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [turns, focus]);

  async function removeSession() {
    if (!window.confirm(`Delete session "${session?.name ?? id}" and all its calls?`)) return;
    try {
      await api.deleteSession(id);
      navigate('/');
    } catch (e) {
      setError(e);
    }
  }

  if (gone) {
    return (
      <div className="page">
        <p>This session does not exist (or was deleted).</p>
        <a href="/" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Back to sessions</a>
      </div>
    );
  }

  return (
    <div className="page session-view">
      <div className="page-head">
        <a href="/" className="muted" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Sessions</a>
        <span className="muted">/</span>
        <h1 data-testid="session-name">{session?.name ?? id}</h1>
        <span className="spacer" />
        {session && (
          <span className="session-actions">
            <button type="button" className="btn btn-small"
              onClick={() => downloadFile(`/api/sessions/${encodeURIComponent(id)}/export`, `session-${id}.jsonl`).catch(setError)}>
              Export JSONL
            </button>
            <button type="button" className="btn btn-small btn-danger" onClick={() => void removeSession()}>
              Delete session
            </button>
          </span>
        )}
      </div>
      <div className="session-stats">
        {session && (
          <span className="muted small">
            {plural(session.turn_count, 'turn')} · {plural(session.record_count, 'call')} ·{' '}
            {plural(session.error_count, 'error')} · {plural(session.total_tokens, 'token')} · last activity{' '}
            {fmtTime(session.updated_at)}
          </span>
        )}
      </div>
      <ErrorLine error={error} />
      {records === null && !error && <p className="muted">Loading…</p>}
      {records !== null && turns.length === 0 && <p className="muted">No calls in this session yet. They appear here live.</p>}
      <div className="timeline">
        {turns.map((t, i) => (
          <section
            key={t.turn}
            className={i === focus ? 'turn focused' : 'turn'}
            ref={(el) => {
              turnRefs.current[i] = el;
            }}
            data-testid="turn"
            data-turn={t.turn}
            onClick={() => setFocus(i)}
          >
            <div className="turn-label">turn {t.turn}</div>
            <div className="turn-body">
              {t.calls.map((c) => (
                <CallCard
                  key={c.record.id}
                  record={c.record}
                  replays={c.replays}
                  children={c.children}
                  repeated={repeated.get(c.record.id) ?? 0}
                  onReplayed={(r) => setRecords((rs) => upsert(rs ?? [], r))}
                />
              ))}
            </div>
          </section>
        ))}
      </div>
      {turns.length > 0 && <p className="muted small keys-hint">j/k or ↓/↑: move between turns · o: open the call</p>}
    </div>
  );
}
