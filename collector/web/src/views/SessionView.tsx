// A session's turns as a chat timeline, live, at any length: records are fetched a page at a time as their
// part of the timeline scrolls into view, and only the turns on screen are rendered (windowed list over the
// page scroll). The session's records form one array of "slots" in the API's order (turn order, a turn's
// original call before its replays and children); a slot is undefined until its page arrives. The first slot
// of a turn renders the whole turn, the others render nothing.
// Keys: j / ↓ next turn, k / ↑ previous turn, o / Enter opens the turn's first call, End the newest turn
// (and follow), Home the first. Follow mode keeps the newest turn in view while records arrive; scrolling up
// stops it.
import { memo, useCallback, useEffect, useLayoutEffect, useMemo, useRef, useState } from 'react';
import { useWindowVirtualizer } from '@tanstack/react-virtual';
import { api, ApiError, downloadFile } from '../api';
import { CallCard } from '../components/CallCard';
import { TurnTree } from '../components/TurnTree';
import { isTraceTurn } from '../lib/tree';
import { ErrorLine } from '../components/common';
import { ScoreBar } from '../components/Scores';
import { fmtTime, plural } from '../format';
import { fmtCost } from '../lib/insight';
import { useLive } from '../live';
import { conversationAfter, requestMessages, sharedPrefix } from '../messages';
import { navigate, recordPath } from '../router';
import { buildTurns } from '../timeline';
import type { Session, TraceRecord } from '../types';

export const PAGE_SIZE = 100;
const ESTIMATE = 220; // px: a typical turn (system + user + answer); only used until a turn is measured

function isTyping(t: EventTarget | null) {
  const el = t as HTMLElement | null;
  return !!el && (el.tagName === 'INPUT' || el.tagName === 'TEXTAREA' || el.tagName === 'SELECT' || el.isContentEditable);
}

// The loaded part of a session: mutable, versioned by a counter that the view renders from.
interface Store {
  slots: (TraceRecord | undefined)[];
  loaded: Set<number>; // page indexes (0-based) whose slots are fresh
  loading: Map<number, Promise<void>>;
  gen: number; // bumps on session change: late answers for another session are dropped
}

const sameTurn = (a: TraceRecord | undefined, b: TraceRecord | undefined) => !!a && !!b && a.turn_number === b.turn_number;

function isStart(slots: Store['slots'], i: number) {
  return !!slots[i] && !sameTurn(slots[i - 1], slots[i]);
}

// First slot of the turn that slot i belongs to (or i itself when the slot before is unknown).
function startOf(slots: Store['slots'], i: number) {
  let k = i;
  while (k > 0 && sameTurn(slots[k - 1], slots[k])) k--;
  return k;
}

const TurnSection = memo(
  function TurnSection({
    group,
    index,
    prevMain,
    focused,
    onFocus,
    onReplayed,
  }: {
    group: TraceRecord[];
    index: number;
    prevMain: TraceRecord | undefined;
    focused: boolean;
    onFocus: (index: number) => void;
    onReplayed: (r: TraceRecord) => void;
  }) {
    const turn = useMemo(() => buildTurns(group)[0], [group]);
    // A turn of spans (an agent run) shows as a tree with its waterfall; the chat view stays one click away.
    const traced = useMemo(() => isTraceTurn(group), [group]);
    const [asChat, setAsChat] = useState(false);
    // Per call: how many leading request messages repeat the previous turn's conversation, to fold them.
    // Only a true continuation (the whole previous conversation resent) folds, not a shared system prompt.
    const repeated = useMemo(() => {
      const out = new Map<string, number>();
      const previous = prevMain ? conversationAfter(prevMain.request, prevMain.response) : [];
      for (const c of turn?.calls ?? []) {
        const n = sharedPrefix(previous, requestMessages(c.record.request));
        out.set(c.record.id, n > 0 && n === previous.length ? n : 0);
      }
      return out;
    }, [turn, prevMain]);
    if (!turn) return null;
    return (
      <section className={focused ? 'turn focused' : 'turn'} data-testid="turn" data-turn={turn.turn} onClick={() => onFocus(index)}>
        <div className="turn-label">
          turn {turn.turn}
          {traced && (
            <div className="turn-mode">
              <button type="button" className="btn btn-small" aria-pressed={!asChat} onClick={() => setAsChat((v) => !v)}
                title={asChat ? 'show the spans as a tree with a waterfall' : 'show the calls as a chat timeline'}>
                {asChat ? 'tree' : 'chat'}
              </button>
            </div>
          )}
        </div>
        <div className="turn-body">
          {traced && !asChat ? (
            <TurnTree records={group} onReplayed={onReplayed} />
          ) : turn.calls.map((c) => (
            <CallCard
              key={c.record.id}
              record={c.record}
              replays={c.replays}
              children={c.children}
              repeated={repeated.get(c.record.id) ?? 0}
              onReplayed={onReplayed}
            />
          ))}
        </div>
      </section>
    );
  },
  (a, b) =>
    a.focused === b.focused &&
    a.index === b.index &&
    a.onFocus === b.onFocus &&
    a.prevMain === b.prevMain &&
    a.onReplayed === b.onReplayed &&
    a.group.length === b.group.length &&
    a.group.every((r, i) => r === b.group[i]),
);

export function SessionView({ id }: { id: string }) {
  const [session, setSession] = useState<Session | null>(null);
  const [ready, setReady] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [gone, setGone] = useState(false);
  const [focus, setFocus] = useState(0); // a slot index
  const [follow, setFollowState] = useState(false);
  const [jump, setJump] = useState('');
  const [jumpNote, setJumpNote] = useState('');
  const [version, setVersion] = useState(0);
  const store = useRef<Store>({ slots: [], loaded: new Set(), loading: new Map(), gen: 0 });
  const followRef = useRef(false);
  const listRef = useRef<HTMLDivElement | null>(null);
  const [margin, setMargin] = useState(0);
  const bump = useCallback(() => setVersion((v) => v + 1), []);
  const setFollow = useCallback((on: boolean) => {
    followRef.current = on;
    setFollowState(on);
  }, []);

  const loadPage = useCallback(
    (p: number): Promise<void> => {
      const st = store.current;
      const pending = st.loading.get(p);
      if (pending) return pending;
      const gen = st.gen;
      const job = (async () => {
        try {
          const res = await api.records(id, p + 1, PAGE_SIZE);
          if (store.current.gen !== gen) return;
          const slots = st.slots;
          if (res.total !== slots.length) slots.length = res.total; // grows with holes, or drops the tail
          // The API's order already; a stable sort by turn only guards against a server that does not.
          const items = [...res.items].sort((a, b) => a.turn_number - b.turn_number);
          items.forEach((r, j) => {
            const at = p * PAGE_SIZE + j;
            if (at < slots.length) slots[at] = r;
          });
          st.loaded.add(p);
          setError(null);
          setReady(true);
          bump();
        } catch (e) {
          if (store.current.gen !== gen) return;
          if (e instanceof ApiError && e.status === 404) setGone(true);
          setError(e);
        } finally {
          st.loading.delete(p);
        }
      })();
      st.loading.set(p, job);
      return job;
    },
    [id, bump],
  );

  const loadSession = useCallback(async () => {
    try {
      setSession(await api.session(id));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      setError(e);
    }
  }, [id]);

  useEffect(() => {
    store.current = { slots: [], loaded: new Set(), loading: new Map(), gen: store.current.gen + 1 };
    setSession(null);
    setReady(false);
    setGone(false);
    setFocus(0);
    setFollow(false);
    void loadSession();
    void loadPage(0);
  }, [loadSession, loadPage, setFollow]);

  // A record created, completed or replayed: update it in place, or put it where the API would list it.
  const insert = useCallback(
    (r: TraceRecord) => {
      const slots = store.current.slots;
      const i = slots.findIndex((x) => x?.id === r.id);
      if (i >= 0) {
        slots[i] = { ...slots[i]!, ...r };
        bump();
        return;
      }
      let pos = 0;
      for (let k = slots.length - 1; k >= 0; k--) {
        const x = slots[k];
        if (x && x.turn_number <= r.turn_number) {
          pos = k + 1;
          break;
        }
      }
      slots.splice(pos, 0, r);
      // Neighbours not loaded: the true position may lie in the unknown part. Refetch from here on when shown.
      if ((pos > 0 && !slots[pos - 1]) || (pos + 1 < slots.length && !slots[pos + 1])) {
        for (const p of [...store.current.loaded]) if (p >= Math.floor(pos / PAGE_SIZE)) store.current.loaded.delete(p);
      }
      setReady(true);
      bump();
    },
    [bump],
  );

  const remove = useCallback(
    (recordId: string) => {
      const slots = store.current.slots;
      const i = slots.findIndex((x) => x?.id === recordId);
      if (i < 0) return;
      slots.splice(i, 1);
      bump();
    },
    [bump],
  );

  useLive((e) => {
    if (e.type === 'record' && e.record.session_id === id) {
      insert(e.record);
    } else if (e.type === 'session' && e.session.id === id) {
      setSession((s) => ({ ...(s ?? {}), ...e.session }));
    } else if (e.type === 'deleted') {
      if (e.kind === 'session' && e.id === id) setGone(true);
      else if (e.kind === 'record') remove(e.id);
    } else if (e.type === 'resync') {
      // Everything may be stale: refetch the session and, as they are shown, the pages.
      store.current.loaded.clear();
      void loadSession();
      bump();
    }
  });

  const slots = store.current.slots;
  const count = slots.length;
  // A loaded slot that is not the first of its turn renders nothing and is not even mounted (an agent turn can
  // hold 10,000 records): its own key makes it start from the 0 estimate, never from the height it measured
  // while it was a turn's first slot.
  const getItemKey = useCallback((i: number) => {
    const s = store.current.slots;
    const r = s[i];
    return r ? (isStart(s, i) ? r.id : `${r.id}~in`) : `slot-${i}`;
  }, [version]); // a new identity per store version: the list recomputes keys and estimates, so slots loaded
  // since (never mounted, so never measured) do not keep their placeholder height
  const estimateSize = useCallback((i: number) => {
    const s = store.current.slots;
    return s[i] && !isStart(s, i) ? 0 : ESTIMATE;
  }, []);
  const virtualizer = useWindowVirtualizer({
    count,
    estimateSize,
    getItemKey,
    overscan: 4,
    scrollMargin: margin,
    // Measuring a dozen freshly rendered turns would otherwise re-render the list synchronously once per turn.
    useFlushSync: false,
  });

  // The list's distance from the top of the page (the header above it changes height as the session loads).
  // Layout offsets, not the viewport rectangle: they do not move while scrolling, so this cannot feed back.
  useLayoutEffect(() => {
    let top = 0;
    for (let el: HTMLElement | null = listRef.current; el; el = el.offsetParent as HTMLElement | null) top += el.offsetTop;
    if (Math.abs(top - margin) > 1) setMargin(top);
  });

  const items = virtualizer.getVirtualItems();
  // Fetch the pages under the visible window (and the one after, so a turn cut by a page end completes).
  const first = items.length ? items[0].index : 0;
  const last = items.length ? items[items.length - 1].index : 0;
  useEffect(() => {
    if (!ready || count === 0) return;
    const from = Math.floor(first / PAGE_SIZE);
    const to = Math.min(Math.floor((count - 1) / PAGE_SIZE), Math.floor((last + 1) / PAGE_SIZE));
    for (let p = from; p <= to; p++) {
      if (!store.current.loaded.has(p)) void loadPage(p);
    }
    // A turn in view that runs past its loaded pages (an agent run of thousands of spans) keeps loading until
    // it is whole: its later slots are 0 px high, so the window alone never reaches them.
    const s = store.current.slots;
    for (const vi of items) {
      if (!s[vi.index] || !isStart(s, vi.index)) continue;
      let j = vi.index + 1;
      while (j < s.length && sameTurn(s[j], s[vi.index])) j++;
      if (j < s.length && !s[j]) {
        const p = Math.floor(j / PAGE_SIZE);
        if (!store.current.loaded.has(p)) void loadPage(p);
      }
    }
  });

  const scrollToEnd = useCallback(() => {
    const n = store.current.slots.length;
    if (n > 0) virtualizer.scrollToIndex(n - 1, { align: 'end' });
  }, [virtualizer]);

  // Follow: after any change, keep the newest turn in view.
  const lastKey = count > 0 ? `${count}:${slots[count - 1]?.id ?? ''}:${slots[count - 1]?.updated_at ?? ''}` : '';
  useEffect(() => {
    if (followRef.current) scrollToEnd();
  }, [lastKey, scrollToEnd]);

  // The user scrolling up (wheel, touch, scrollbar, keys) stops following; reaching the bottom by scrolling
  // resumes it. Scroll events alone cannot tell the user from the list correcting its estimated heights.
  useEffect(() => {
    const stop = () => followRef.current && setFollow(false);
    const onWheel = (e: WheelEvent) => {
      if (e.deltaY < 0) stop();
    };
    let lastY = window.scrollY;
    const onScroll = () => {
      const y = window.scrollY;
      const atBottom = y + window.innerHeight >= document.documentElement.scrollHeight - 8;
      if (atBottom && y > lastY && !followRef.current && store.current.slots.length > 0) setFollow(true);
      lastY = y;
    };
    // A press on the page's scrollbar (right of the client area) is the start of a drag.
    const onPointer = (e: PointerEvent) => {
      if (e.clientX >= document.documentElement.clientWidth) stop();
    };
    window.addEventListener('pointerdown', onPointer, { passive: true });
    window.addEventListener('wheel', onWheel, { passive: true });
    window.addEventListener('touchmove', stop, { passive: true });
    window.addEventListener('scroll', onScroll, { passive: true });
    return () => {
      window.removeEventListener('pointerdown', onPointer);
      window.removeEventListener('wheel', onWheel);
      window.removeEventListener('touchmove', stop);
      window.removeEventListener('scroll', onScroll);
    };
  }, [setFollow]);

  const moveFocus = useCallback(
    (k: number) => {
      setFocus(k);
      virtualizer.scrollToIndex(k, { align: 'auto' });
    },
    [virtualizer],
  );

  useEffect(() => {
    function onKey(ev: KeyboardEvent) {
      if (isTyping(ev.target) || ev.metaKey || ev.ctrlKey || ev.altKey) return;
      const s = store.current.slots;
      if (s.length === 0) return;
      const cur = Math.min(startOf(s, Math.min(focus, s.length - 1)), s.length - 1);
      if (ev.key === 'j' || ev.key === 'ArrowDown') {
        let k = cur + 1;
        while (k < s.length && sameTurn(s[cur], s[k])) k++;
        if (k < s.length) moveFocus(k);
      } else if (ev.key === 'k' || ev.key === 'ArrowUp') {
        setFollow(false);
        if (cur > 0) moveFocus(startOf(s, cur - 1));
      } else if (ev.key === 'End') {
        setFollow(true);
        setFocus(s.length - 1);
        scrollToEnd();
      } else if (ev.key === 'Home') {
        setFollow(false);
        moveFocus(0);
      } else if (ev.key === 'PageUp') {
        setFollow(false);
        return; // the browser scrolls
      } else if (ev.key === 'o' || (ev.key === 'Enter' && (ev.target === document.body || ev.target === null))) {
        const r = s[cur];
        if (r) navigate(recordPath(r.id));
        return;
      } else return;
      ev.preventDefault();
    }
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [focus, moveFocus, scrollToEnd, setFollow]);

  // Jump to turn N: turns are sorted, so a binary search over pages finds it with a few requests at most.
  async function jumpTo(n: number) {
    setJumpNote('');
    const st = store.current;
    const find = () => st.slots.findIndex((r) => r && r.turn_number >= n);
    let at = find();
    if (at < 0 || (at > 0 && !st.slots[at - 1])) {
      const pages = Math.ceil(st.slots.length / PAGE_SIZE);
      let lo = 0;
      let hi = pages - 1;
      // Most sessions have one record per turn: start where that would put turn N.
      let probe = Math.min(hi, Math.max(0, Math.floor((n - 1) / PAGE_SIZE)));
      for (let steps = 0; lo <= hi && steps < 40; steps++) {
        await loadPage(probe);
        const base = probe * PAGE_SIZE;
        const head = st.slots[base];
        const tail = st.slots[Math.min(st.slots.length - 1, base + PAGE_SIZE - 1)];
        if (!head || !tail) break;
        if (head.turn_number > n) hi = probe - 1;
        else if (tail.turn_number < n) lo = probe + 1;
        else break;
        probe = Math.floor((lo + hi) / 2);
        if (lo > hi) {
          if (lo < pages) await loadPage(lo);
          break;
        }
      }
      at = find();
    }
    if (at < 0) {
      setJumpNote(`no turn ${n} or later`);
      return;
    }
    const start = startOf(st.slots, at);
    if (st.slots[start]!.turn_number !== n) setJumpNote(`no turn ${n}: showing turn ${st.slots[start]!.turn_number}`);
    setFollow(false);
    moveFocus(start);
    bump();
  }

  const onReplayed = useCallback((r: TraceRecord) => insert(r), [insert]);

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

  const focusStart = count ? startOf(slots, Math.min(focus, count - 1)) : 0;
  function renderSlot(i: number) {
    const r = slots[i];
    if (!r) {
      return (
        <div className="turn-placeholder muted small" data-testid="turn-placeholder">
          loading…
        </div>
      );
    }
    if (!isStart(slots, i)) return null;
    let j = i + 1;
    while (j < count && sameTurn(slots[j], r)) j++;
    const group = slots.slice(i, j) as TraceRecord[];
    const prevMain = i > 0 && slots[i - 1] ? slots[startOf(slots, i - 1)] : undefined;
    return (
      <TurnSection
        group={group}
        index={i}
        prevMain={prevMain}
        focused={i === focusStart}
        onFocus={setFocus}
        onReplayed={onReplayed}
      />
    );
  }

  return (
    <div className="page session-view">
      <div className="page-head">
        <a href="/" className="muted" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Sessions</a>
        <span className="muted">/</span>
        <h1 data-testid="session-name">{session?.name ?? id}</h1>
        <span className="muted mono small" data-testid="session-id">{id}</span>
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
            {plural(session.error_count, 'error')} · {plural(session.total_tokens, 'token')}
            {session.cost_usd ? <> · <span data-testid="session-cost">{fmtCost(session.cost_usd)}</span></> : null} · last activity{' '}
            {fmtTime(session.updated_at)}
          </span>
        )}
        {session && <ScoreBar target="session" id={id} scores={session.scores} />}
      </div>
      {count > 0 && (
        <div className="timeline-tools">
          <form
            className="jump"
            onSubmit={(e) => {
              e.preventDefault();
              const n = Number.parseInt(jump, 10);
              if (Number.isFinite(n) && n >= 1) void jumpTo(n);
            }}
          >
            <input
              type="number"
              min={1}
              placeholder="turn #"
              aria-label="jump to turn"
              value={jump}
              onChange={(e) => setJump(e.target.value)}
            />
            <button type="submit" className="btn btn-small">Go</button>
            {jumpNote && <span className="muted small">{jumpNote}</span>}
          </form>
          <button
            type="button"
            className={follow ? 'btn btn-small btn-primary' : 'btn btn-small'}
            data-testid="follow"
            aria-pressed={follow}
            title="Keep the newest turn in view as calls arrive (End)"
            onClick={() => {
              if (follow) setFollow(false);
              else {
                setFollow(true);
                scrollToEnd();
              }
            }}
          >
            {follow ? 'following newest' : 'follow newest'}
          </button>
        </div>
      )}
      <ErrorLine error={error} />
      {!ready && !error && <p className="muted">Loading…</p>}
      {ready && count === 0 && <p className="muted">No calls in this session yet. They appear here live.</p>}
      <div ref={listRef} className="timeline" style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
        {items.map((vi) =>
          slots[vi.index] && !isStart(slots, vi.index) ? null : (
          <div
            key={vi.key}
            data-index={vi.index}
            ref={virtualizer.measureElement}
            className="timeline-slot"
            style={{ transform: `translateY(${vi.start - virtualizer.options.scrollMargin}px)` }}
          >
            {renderSlot(vi.index)}
          </div>
          ),
        )}
      </div>
      {count > 0 && (
        <p className="muted small keys-hint">
          j/k or ↓/↑: move between turns · o: open the call · End: newest turn (follow) · Home: first turn
        </p>
      )}
    </div>
  );
}
