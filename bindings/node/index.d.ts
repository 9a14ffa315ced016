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
export class Client {
  constructor(opts?: ClientOptions);
  /** true when queued. */
  trace(r: TraceRecord): boolean;
  /** A record already serialised as JSON text in the POST /api/trace shape. */
  traceJson(json: string | Buffer): TraceResult;
  flush(timeoutMs?: number): Promise<boolean>;
  shutdown(timeoutMs?: number): Promise<boolean>;
  flushSync(timeoutMs?: number): boolean;
  shutdownSync(timeoutMs?: number): boolean;
  stats(): Stats;
}
export function newId(): string;
export function getDefaultClient(): Client;
export function wrapOpenAI<T>(openaiClient: T, opts?: { sessionId?: string; tracer?: Client; metadata?: object }): T;
