// Talks to the collector's REST API. Holds the API key (sessionStorage) and tells the UI when a 401 means it
// must ask for one. Module state is shared by every view; React reads it through useSyncExternalStore.
import type { Page, Score, Session, TraceRecord } from './types';

const KEY_STORAGE = 'llmtrace.apiKey';

export class ApiError extends Error {
  status: number;
  field?: string;
  constructor(status: number, message: string, field?: string) {
    super(message);
    this.status = status;
    this.field = field;
  }
}

interface AuthState {
  needKey: boolean;
  rejected: boolean; // a key was sent and refused
  version: number; // bumps when the key changes, so views refetch and the event stream reconnects
}

let auth: AuthState = { needKey: false, rejected: false, version: 0 };
const authListeners = new Set<() => void>();

function setAuth(next: Partial<AuthState>) {
  auth = { ...auth, ...next };
  authListeners.forEach((l) => l());
}

export function subscribeAuth(listener: () => void): () => void {
  authListeners.add(listener);
  return () => authListeners.delete(listener);
}
export function getAuth(): AuthState {
  return auth;
}

export function getApiKey(): string {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key: string) {
  try {
    sessionStorage.setItem(KEY_STORAGE, key);
  } catch {
    // Storage disabled: the key lives until reload, which is still usable.
  }
  memoryKey = key;
  setAuth({ needKey: false, rejected: false, version: auth.version + 1 });
}

let memoryKey = '';
function currentKey(): string {
  return getApiKey() || memoryKey;
}

// Used by tests to start from a clean slate.
export function resetAuthForTests() {
  memoryKey = '';
  try {
    sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    /* ignore */
  }
  auth = { needKey: false, rejected: false, version: 0 };
}

export async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: 'application/json' };
  const key = currentKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const res = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    setAuth({ needKey: true, rejected: key !== '' });
  }
  const text = await res.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    const err = (data as { error?: { message?: string; field?: string } } | null)?.error;
    const message =
      err?.message ?? (typeof data === 'string' && data ? data : `${res.status} ${res.statusText || 'error'}`);
    throw new ApiError(res.status, message, err?.field ?? undefined);
  }
  return data as T;
}

const q = (params: Record<string, string | number | undefined>) => {
  const s = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') s.set(k, String(v));
  const text = s.toString();
  return text ? `?${text}` : '';
};
const enc = encodeURIComponent;

export const api = {
  // `filter`: a substring of the session's name or id (server side, so it works over 100k sessions).
  sessions: (page = 1, size = 50, filter = '') =>
    request<Page<Session>>('GET', `/api/sessions${q({ page, size, q: filter })}`),
  session: (id: string) => request<Session>('GET', `/api/sessions/${enc(id)}`),
  renameSession: (id: string, name: string) => request<Session>('PATCH', `/api/sessions/${enc(id)}`, { name }),
  deleteSession: (id: string) => request<unknown>('DELETE', `/api/sessions/${enc(id)}`),
  records: (id: string, page = 1, size = 200) =>
    request<Page<TraceRecord>>('GET', `/api/sessions/${enc(id)}/records${q({ page, size })}`),
  record: (id: string) => request<TraceRecord>('GET', `/api/records/${enc(id)}`),
  deleteRecord: (id: string) => request<unknown>('DELETE', `/api/records/${enc(id)}`),
  replay: (id: string, req: unknown) => request<TraceRecord>('POST', `/api/records/${enc(id)}/replay`, { request: req }),
  search: (p: { q?: string; status?: string; model?: string; score?: string; session_id?: string; page?: number; size?: number }) =>
    request<Page<TraceRecord>>('GET', `/api/search${q(p)}`),
  addScore: (target: 'record' | 'session', id: string, score: { name: string; value: number | boolean | string; comment?: string }) =>
    request<Score>('POST', `/api/${target === 'record' ? 'records' : 'sessions'}/${enc(id)}/scores`, score),
  // The raw answer of GET /api/stats/timeseries; lib/insight.ts normalises it.
  timeseries: (p: { from: string; to: string; bucket: string | number; group_by?: string }) =>
    request<unknown>('GET', `/api/stats/timeseries${q(p)}`),
};

// Every record of a session: pages through the list (the API caps a page at 200).
export async function allRecords(sessionId: string, limit = 5000): Promise<TraceRecord[]> {
  const out: TraceRecord[] = [];
  for (let page = 1; out.length < limit; page++) {
    const p = await api.records(sessionId, page, 200);
    out.push(...p.items);
    if (p.items.length === 0 || out.length >= p.total) break;
  }
  return out;
}

// Fetches a non-JSON resource (the JSON Lines export) with the API key and hands it to the browser as a file.
export async function downloadFile(path: string, filename: string): Promise<void> {
  const key = currentKey();
  const res = await fetch(path, { headers: key ? { Authorization: `Bearer ${key}` } : {} });
  if (res.status === 401) setAuth({ needKey: true, rejected: key !== '' });
  if (!res.ok) throw new ApiError(res.status, `export failed: ${res.status}`);
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

export function eventsUrl(): string {
  const key = currentKey();
  return key ? `/api/events?access_token=${enc(key)}` : '/api/events';
}
