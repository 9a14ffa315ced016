export interface ClientOptions {
  endpoint?: string;
  apiKey?: string;
  flushIntervalMs?: number;
  maxRetries?: number;
  queueLimitBytes?: number;
  requestTimeoutMs?: number;
  gzip?: boolean;
  disabled?: boolean;
  exitTimeoutMs?: number;
}
export interface TraceRecord {
  id?: string;
  sessionId?: string;
  turnNumber?: number;
  request?: unknown;
  response?: unknown;
  status?: 'pending' | 'success' | 'error';
  errorMessage?: string;
  metadata?: Record<string, unknown>;
  model?: string;
  parentId?: string;
  traceId?: string;
  name?: string;
  kind?: 'llm' | 'agent' | 'tool' | 'retrieval' | 'embedding' | 'chain' | 'other';
  latencyMs?: number;
  startedAt?: Date | string | number;
  endedAt?: Date | string | number;
}
export interface Stats {
  enqueued: number; dropped: number; sent: number; failed: number;
  retried: number; discarded: number; queue_bytes: number; requests: number;
  /** Of `failed`: records the library's flusher found not to be valid JSON (never sent). */
  invalid: number;
}
/** What a trace call did with a record (the C API's lt_status, 1:1). */
export type TraceResult = 'ok' | 'queue_full' | 'disabled' | 'stopped' | 'invalid';
export type SpanKind = 'llm' | 'agent' | 'tool' | 'retrieval' | 'embedding' | 'chain' | 'other';
export interface SpanOptions {
  kind?: SpanKind;
  /** Default: the span of the enclosing client.span() callback, else none (a root). */
  parent?: Span | null;
  /** Roots only. Default: a new session on turn 1. */
  sessionId?: string;
  turnNumber?: number;
}
export class Span {
  readonly id: string;        // 16 lowercase hex (the record id)
  readonly traceId: string;   // 32 lowercase hex, shared by the tree
  readonly parentId: string | null;
  readonly sessionId: string;
  readonly name: string;
  readonly kind: SpanKind;
  request?: unknown;
  response?: unknown;
  metadata?: Record<string, unknown>;
  child(name: string, opts?: { kind?: SpanKind }): Span;
  end(r?: { request?: unknown; response?: unknown; metadata?: Record<string, unknown> }): TraceResult;
  fail(error: unknown, r?: { request?: unknown; response?: unknown }): TraceResult;
}
export const KINDS: readonly SpanKind[];
export class Client {
  constructor(opts?: ClientOptions);
  /** true when queued. */
  trace(r: TraceRecord): boolean;
  /** A record already serialised as JSON text in the POST /api/trace shape. */
  traceJson(json: string | Buffer): TraceResult;
  /** Attaches a score to a record or a session (a direct POST to the collector); resolves to the stored score. */
  score(
    name: string,
    value: number | boolean | string,
    opts: { recordId?: string; sessionId?: string; comment?: string; timeoutMs?: number },
  ): Promise<Score>;
  flush(timeoutMs?: number): Promise<boolean>;
  shutdown(timeoutMs?: number): Promise<boolean>;
  flushSync(timeoutMs?: number): boolean;
  shutdownSync(timeoutMs?: number): boolean;
  stats(): Stats;
  startSpan(name: string, opts?: SpanOptions): Span;
  span<R>(name: string, fn: (s: Span) => R): R;
  span<R>(name: string, opts: SpanOptions, fn: (s: Span) => R): R;
}
export function newId(): string;
export function getDefaultClient(): Client;
export function wrapOpenAI<T>(openaiClient: T, opts?: { sessionId?: string; tracer?: Client; metadata?: object }): T;

/** A stored score, as the collector's scores API returns it. */
export interface Score {
  id: string;
  target: 'record' | 'session';
  target_id: string;
  session_id: string;
  name: string;
  value: number | boolean | string;
  comment: string | null;
  created_at: string;
}
