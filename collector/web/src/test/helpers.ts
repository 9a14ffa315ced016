// Test doubles: a routed fetch mock and a controllable EventSource, so components run against fake API data.
import { vi } from 'vitest';
import type { Session, TraceRecord } from '../types';

export interface Call {
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
}

type Handler = (call: Call) => { status?: number; body?: unknown } | undefined;

export function mockFetch(routes: Record<string, Handler | { status?: number; body?: unknown }>) {
  const calls: Call[] = [];
  const fn = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    const url = String(input);
    const method = (init?.method ?? 'GET').toUpperCase();
    const headers = (init?.headers ?? {}) as Record<string, string>;
    const body = typeof init?.body === 'string' ? JSON.parse(init.body) : undefined;
    const call = { method, url, headers, body };
    calls.push(call);
    const path = url.split('?')[0];
    const route = routes[`${method} ${path}`] ?? routes[`${method} ${url}`];
    const out = typeof route === 'function' ? route(call) : route;
    const status = out?.status ?? (out ? 200 : 404);
    const payload = out?.body ?? (out ? null : { error: { code: 'not_found', message: 'not found', field: null } });
    return new Response(payload === null || status === 204 ? null : JSON.stringify(payload), {
      status,
      headers: { 'Content-Type': 'application/json' },
    });
  });
  vi.stubGlobal('fetch', fn);
  return calls;
}

export class FakeEventSource {
  static instances: FakeEventSource[] = [];
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSED = 2;
  readyState = 0;
  url: string;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  private listeners = new Map<string, ((e: MessageEvent) => void)[]>();
  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }
  addEventListener(type: string, l: (e: MessageEvent) => void) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), l]);
  }
  close() {
    this.readyState = 2;
  }
  open() {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }
  send(type: string, data: unknown) {
    const ev = new MessageEvent(type, { data: JSON.stringify(data) });
    this.listeners.get(type)?.forEach((l) => l(ev));
  }
  static latest(): FakeEventSource {
    return FakeEventSource.instances[FakeEventSource.instances.length - 1];
  }
}

export function installEventSource() {
  FakeEventSource.instances = [];
  vi.stubGlobal('EventSource', FakeEventSource);
}

let seq = 0;
export function rec(p: Partial<TraceRecord>): TraceRecord {
  seq++;
  const t = new Date(Date.UTC(2026, 0, 1, 12, 0, seq)).toISOString();
  return {
    id: `r${seq}`,
    session_id: 's1',
    turn_number: 1,
    request: null,
    response: null,
    status: 'success',
    error_message: '',
    metadata: {},
    created_at: t,
    updated_at: t,
    ...p,
  };
}

export function session(p: Partial<Session> = {}): Session {
  return {
    id: 's1',
    name: 'demo session',
    created_at: '2026-01-01T12:00:00.000Z',
    updated_at: '2026-01-01T12:05:00.000Z',
    record_count: 0,
    turn_count: 0,
    error_count: 0,
    total_tokens: 0,
    ...p,
  };
}

export const page = <T,>(items: T[]) => ({ items, page: 1, size: 200, total: items.length });
