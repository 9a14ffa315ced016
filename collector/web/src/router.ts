// A tiny history-API router: the UI has four routes, which does not justify a dependency.
import { useSyncExternalStore } from 'react';

const listeners = new Set<() => void>();
function notify() {
  listeners.forEach((l) => l());
}
if (typeof window !== 'undefined') window.addEventListener('popstate', notify);

export function navigate(to: string, replace = false) {
  if (replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  window.scrollTo?.(0, 0);
  notify();
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}
const snapshot = () => window.location.pathname + window.location.search;

export function useLocation(): { path: string; query: URLSearchParams } {
  const full = useSyncExternalStore(subscribe, snapshot);
  const i = full.indexOf('?');
  return { path: i < 0 ? full : full.slice(0, i), query: new URLSearchParams(i < 0 ? '' : full.slice(i)) };
}

export type Route =
  | { name: 'sessions' }
  | { name: 'session'; id: string }
  | { name: 'record'; id: string }
  | { name: 'search' }
  | { name: 'dashboard' }
  | { name: 'compare' }
  | { name: 'not_found' };

export function match(path: string): Route {
  if (path === '/' || path === '') return { name: 'sessions' };
  if (path === '/search') return { name: 'search' };
  if (path === '/dashboard' || path === '/dashboard/') return { name: 'dashboard' };
  if (path === '/compare' || path === '/compare/') return { name: 'compare' };
  let m = /^\/sessions\/([^/]+)\/?$/.exec(path);
  if (m) return { name: 'session', id: safeDecode(m[1]) };
  m = /^\/records\/([^/]+)\/?$/.exec(path);
  if (m) return { name: 'record', id: safeDecode(m[1]) };
  return { name: 'not_found' };
}

function safeDecode(s: string) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

export const sessionPath = (id: string) => `/sessions/${encodeURIComponent(id)}`;
export const recordPath = (id: string) => `/records/${encodeURIComponent(id)}`;
