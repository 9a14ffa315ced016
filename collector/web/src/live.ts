// Live updates: one EventSource on /api/events shared by the whole UI, with a 2 s polling fallback while the
// stream is down. The browser resumes the stream itself (Last-Event-ID); after any gap we also emit a `resync`
// so views refetch what they show.
import { useEffect, useRef } from 'react';
import { eventsUrl, getAuth, subscribeAuth } from './api';
import type { Session, TraceRecord } from './types';

export type LiveEvent =
  | { type: 'record'; record: TraceRecord & { change?: string } }
  | { type: 'session'; session: Session & { change?: string } }
  | { type: 'deleted'; kind: string; id: string }
  | { type: 'resync' };

type Listener = (e: LiveEvent) => void;

const POLL_MS = 2000;
const listeners = new Set<Listener>();
let source: EventSource | null = null;
let pollTimer: ReturnType<typeof setInterval> | null = null;
let authVersion = -1;
let unsubscribeAuth: (() => void) | null = null;
let mode: 'idle' | 'sse' | 'polling' = 'idle';
const modeListeners = new Set<() => void>();

function emit(e: LiveEvent) {
  listeners.forEach((l) => {
    try {
      l(e);
    } catch (err) {
      console.error('live listener failed', err);
    }
  });
}

function setMode(m: typeof mode) {
  if (mode === m) return;
  mode = m;
  modeListeners.forEach((l) => l());
}

function startPolling() {
  setMode('polling');
  if (pollTimer) return;
  pollTimer = setInterval(() => emit({ type: 'resync' }), POLL_MS);
}

function stopPolling() {
  if (pollTimer) clearInterval(pollTimer);
  pollTimer = null;
}

function parse(ev: MessageEvent): Record<string, unknown> | null {
  try {
    return JSON.parse(ev.data as string) as Record<string, unknown>;
  } catch {
    return null;
  }
}

function connect() {
  source?.close();
  source = null;
  authVersion = getAuth().version;
  if (typeof EventSource === 'undefined') {
    startPolling();
    return;
  }
  let hadGap = false;
  const es = new EventSource(eventsUrl());
  source = es;
  es.onopen = () => {
    stopPolling();
    setMode('sse');
    if (hadGap) emit({ type: 'resync' });
    hadGap = false;
  };
  es.onerror = () => {
    hadGap = true;
    // CONNECTING: the browser retries by itself; poll meanwhile. CLOSED (401, 404, wrong type): it gave up,
    // so retry the stream ourselves now and then while polling keeps the views fresh.
    startPolling();
    if (es.readyState === EventSource.CLOSED) {
      setTimeout(() => {
        if (source === es && listeners.size > 0) connect();
      }, 10000);
    }
  };
  es.addEventListener('record', (ev) => {
    const d = parse(ev as MessageEvent);
    if (d && typeof d.id === 'string') emit({ type: 'record', record: d as unknown as TraceRecord });
  });
  es.addEventListener('session', (ev) => {
    const d = parse(ev as MessageEvent);
    if (d && typeof d.id === 'string') emit({ type: 'session', session: d as unknown as Session });
  });
  es.addEventListener('deleted', (ev) => {
    const d = parse(ev as MessageEvent);
    if (d && typeof d.id === 'string') emit({ type: 'deleted', kind: String(d.kind ?? ''), id: d.id });
  });
}

function ensureStarted() {
  if (!unsubscribeAuth) {
    // A new API key: reconnect so the stream carries it.
    unsubscribeAuth = subscribeAuth(() => {
      if (getAuth().version !== authVersion && listeners.size > 0) connect();
    });
  }
  if (!source && !pollTimer) connect();
}

function maybeStop() {
  if (listeners.size > 0) return;
  source?.close();
  source = null;
  stopPolling();
  setMode('idle');
}

export function subscribeLive(l: Listener): () => void {
  listeners.add(l);
  ensureStarted();
  return () => {
    listeners.delete(l);
    maybeStop();
  };
}

export function liveMode() {
  return mode;
}
export function subscribeLiveMode(l: () => void): () => void {
  modeListeners.add(l);
  return () => modeListeners.delete(l);
}

// Subscribes for the component's lifetime; the latest handler is always the one called.
export function useLive(handler: Listener) {
  const ref = useRef(handler);
  ref.current = handler;
  useEffect(() => subscribeLive((e) => ref.current(e)), []);
}
