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
  cost_usd?: number | null; // null: unknown model (never guessed)
  scores?: Score[];
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
  cost_usd?: number | null;
  scores?: Score[];
}

// Feedback or an evaluation on a record or a session (POST /api/records/:id/scores, /api/sessions/:id/scores).
export interface Score {
  id: string;
  name: string;
  value: number | boolean | string;
  comment?: string | null;
  created_at: string;
}

// One row of GET /api/stats/timeseries: a bucket (and a model, when grouped by model).
export interface TimeseriesRow {
  bucket_ms: number; // bucket start, epoch ms (normalised from whatever the server sends)
  model: string | null;
  calls: number;
  errors: number;
  latency_p50_ms: number | null;
  latency_p95_ms: number | null;
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cost_usd: number;
}

export interface Page<T> {
  items: T[];
  page: number;
  size: number;
  total: number;
}
