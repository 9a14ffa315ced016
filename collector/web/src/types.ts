// The collector's API shapes (SPEC "Query and control API"), as the UI reads them.
export type Status = 'pending' | 'success' | 'error';

export interface Usage {
  prompt_tokens?: number | null;
  completion_tokens?: number | null;
  total_tokens?: number | null;
}

export interface TraceRecord {
  id: string;
  session_id: string;
  turn_number: number;
  request: unknown;
  response: unknown;
  status: Status;
  error_message?: string;
  metadata?: Record<string, unknown> | null;
  created_at: string;
  updated_at: string;
  started_at?: string | null;
  ended_at?: string | null;
  latency_ms?: number | null;
  model?: string | null;
  usage?: Usage | null;
  replay_of?: string | null;
  parent_id?: string | null;
  // Model v2 (spans, SPEC "Data model"): absent on records written before it.
  trace_id?: string | null;
  name?: string | null;
  kind?: SpanKind | string | null;
  cost_usd?: number | null;
}

export type SpanKind = 'llm' | 'agent' | 'tool' | 'retrieval' | 'embedding' | 'chain' | 'other';

export interface Session {
  id: string;
  name: string;
  created_at: string;
  updated_at: string;
  record_count: number;
  turn_count: number;
  error_count: number;
  total_tokens: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  size: number;
  total: number;
}
