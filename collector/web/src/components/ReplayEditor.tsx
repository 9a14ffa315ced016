// Edits a recorded request (messages, model, parameters as a form, or the raw JSON), replays it through the
// collector (POST /api/records/:id/replay) and shows the new answer beside the original with a diff.
import { useState } from 'react';
import { api } from '../api';
import { pretty, responseText, responseView, unwrapJsonString } from '../messages';
import { navigate, recordPath } from '../router';
import type { TraceRecord } from '../types';
import { ErrorLine, StatusBadge } from './common';
import { DiffView } from './DiffView';
import { ResponseBlock } from './Messages';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

interface EditMessage {
  role: string;
  content: string;
  contentIsJson: boolean; // content was not a plain string (parts array): edited as JSON
  rest: Obj; // tool_calls, tool_call_id, name...: kept as they were
}

interface FormState {
  messages: EditMessage[] | null; // null: the request has no `messages` (edit it as JSON)
  model: string;
  temperature: string;
  max_tokens: string;
  top_p: string;
  other: string; // every other field, as JSON
}

const PARAMS = ['model', 'messages', 'temperature', 'max_tokens', 'top_p'];

export function toForm(raw: unknown): FormState {
  const request = unwrapJsonString(raw);
  const r: Obj = isObj(request) ? request : {};
  const other: Obj = {};
  for (const [k, v] of Object.entries(r)) if (!PARAMS.includes(k)) other[k] = v;
  const messages = Array.isArray(r.messages)
    ? r.messages.map((m): EditMessage => {
        const o: Obj = isObj(m) ? m : { content: m };
        const { role, content, ...rest } = o;
        const isStr = typeof content === 'string' || content == null;
        return {
          role: typeof role === 'string' ? role : 'user',
          content: isStr ? ((content as string | null) ?? '') : pretty(content),
          contentIsJson: !isStr,
          rest,
        };
      })
    : null;
  const num = (v: unknown) => (typeof v === 'number' ? String(v) : '');
  return {
    messages,
    model: typeof r.model === 'string' ? r.model : '',
    temperature: num(r.temperature),
    max_tokens: num(r.max_tokens),
    top_p: num(r.top_p),
    other: JSON.stringify(other, null, 2),
  };
}

export function fromForm(f: FormState): Obj {
  let other: unknown;
  try {
    other = JSON.parse(f.other || '{}');
  } catch {
    throw new Error('Other parameters: not valid JSON');
  }
  if (!isObj(other)) throw new Error('Other parameters: must be a JSON object');
  const out: Obj = { ...other };
  if (f.model) out.model = f.model;
  if (f.messages) {
    out.messages = f.messages.map((m, i) => {
      let content: unknown = m.content;
      if (m.contentIsJson) {
        try {
          content = JSON.parse(m.content);
        } catch {
          throw new Error(`Message ${i + 1}: content is not valid JSON`);
        }
      }
      return { role: m.role, content, ...m.rest };
    });
  }
  const numbers: [string, string][] = [
    ['temperature', f.temperature],
    ['max_tokens', f.max_tokens],
    ['top_p', f.top_p],
  ];
  for (const [k, v] of numbers) {
    if (v.trim() === '') continue;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new Error(`${k}: not a number`);
    out[k] = n;
  }
  return out;
}

const ROLES = ['system', 'user', 'assistant', 'tool', 'developer'];

export function ReplayEditor({
  record,
  onReplayed,
  onClose,
}: {
  record: TraceRecord;
  onReplayed?: (r: TraceRecord) => void;
  onClose?: () => void;
}) {
  const initial = toForm(record.request);
  const [mode, setMode] = useState<'form' | 'json'>(initial.messages ? 'form' : 'json');
  const [form, setForm] = useState<FormState>(initial);
  const [raw, setRaw] = useState(() => pretty(unwrapJsonString(record.request) ?? {}));
  const [error, setError] = useState<string | null>(null);
  const [running, setRunning] = useState(false);
  const [result, setResult] = useState<TraceRecord | null>(null);

  const set = (patch: Partial<FormState>) => setForm((f) => ({ ...f, ...patch }));
  const setMsg = (i: number, patch: Partial<EditMessage>) =>
    setForm((f) => ({ ...f, messages: f.messages!.map((m, j) => (j === i ? { ...m, ...patch } : m)) }));

  function switchMode(next: 'form' | 'json') {
    setError(null);
    if (next === mode) return;
    try {
      if (next === 'json') setRaw(pretty(fromForm(form)));
      else {
        const parsed = JSON.parse(raw);
        setForm(toForm(parsed));
      }
      setMode(next);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    }
  }

  async function run() {
    setError(null);
    let body: unknown;
    try {
      body = mode === 'form' ? fromForm(form) : JSON.parse(raw);
    } catch (e) {
      setError(e instanceof Error ? `Request: ${e.message}` : String(e));
      return;
    }
    setRunning(true);
    try {
      const rec = await api.replay(record.id, body);
      setResult(rec);
      onReplayed?.(rec);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setRunning(false);
    }
  }

  return (
    <div className="replay-editor" data-testid="replay-editor">
      <div className="replay-head">
        <strong>Replay</strong>
        <div className="tabs" role="tablist">
          <button type="button" role="tab" aria-selected={mode === 'form'} className={mode === 'form' ? 'tab active' : 'tab'}
            onClick={() => switchMode('form')}>
            Form
          </button>
          <button type="button" role="tab" aria-selected={mode === 'json'} className={mode === 'json' ? 'tab active' : 'tab'}
            onClick={() => switchMode('json')}>
            Raw JSON
          </button>
        </div>
        <span className="spacer" />
        {onClose && (
          <button type="button" className="btn btn-small" onClick={onClose}>
            Close
          </button>
        )}
      </div>

      {mode === 'form' ? (
        <div className="replay-form">
          <div className="param-row">
            <label>
              model <input value={form.model} onChange={(e) => set({ model: e.target.value })} aria-label="model" />
            </label>
            <label>
              temperature{' '}
              <input className="num" value={form.temperature} onChange={(e) => set({ temperature: e.target.value })}
                aria-label="temperature" inputMode="decimal" />
            </label>
            <label>
              max_tokens{' '}
              <input className="num" value={form.max_tokens} onChange={(e) => set({ max_tokens: e.target.value })}
                aria-label="max_tokens" inputMode="numeric" />
            </label>
            <label>
              top_p{' '}
              <input className="num" value={form.top_p} onChange={(e) => set({ top_p: e.target.value })}
                aria-label="top_p" inputMode="decimal" />
            </label>
          </div>
          {form.messages?.map((m, i) => (
            <div className="edit-msg" key={i}>
              <select value={m.role} onChange={(e) => setMsg(i, { role: e.target.value })} aria-label={`role ${i + 1}`}>
                {[...new Set([...ROLES, m.role])].map((r) => (
                  <option key={r} value={r}>
                    {r}
                  </option>
                ))}
              </select>
              <textarea
                className="mono"
                value={m.content}
                rows={Math.min(12, Math.max(2, m.content.split('\n').length))}
                onChange={(e) => setMsg(i, { content: e.target.value })}
                aria-label={`message ${i + 1}`}
              />
              <button type="button" className="btn btn-small" title="Remove message"
                onClick={() => set({ messages: form.messages!.filter((_, j) => j !== i) })}>
                ✕
              </button>
            </div>
          ))}
          {form.messages && (
            <button type="button" className="btn btn-small add-msg"
              onClick={() => set({ messages: [...form.messages!, { role: 'user', content: '', contentIsJson: false, rest: {} }] })}>
              + message
            </button>
          )}
          <label className="block">
            other parameters (JSON)
            <textarea className="mono" rows={4} value={form.other} onChange={(e) => set({ other: e.target.value })}
              aria-label="other parameters" />
          </label>
        </div>
      ) : (
        <textarea className="mono raw-json" rows={16} value={raw} onChange={(e) => setRaw(e.target.value)}
          aria-label="raw request JSON" />
      )}

      <div className="replay-actions">
        <button type="button" className="btn btn-primary" onClick={run} disabled={running}>
          {running ? 'Running…' : 'Run'}
        </button>
        <span className="muted small">Sent to the collector's configured upstream with the server's key.</span>
      </div>
      {error && <ErrorLine error={error} />}
      {result && <ReplayCompare original={record} replay={result} />}
    </div>
  );
}

export function ReplayCompare({
  original,
  replay,
  labels = ['Original', 'Replay'],
}: {
  original: TraceRecord;
  replay: TraceRecord;
  labels?: [string, string];
}) {
  return (
    <div className="replay-compare" data-testid="replay-compare">
      <div className="compare-cols">
        <div className="compare-col">
          <div className="compare-title">
            {labels[0]} <StatusBadge status={original.status} /> <span className="mono small">{original.model}</span>
          </div>
          <ResponseBlock view={responseView(original.response)} />
          {original.error_message && <div className="error-line">{original.error_message}</div>}
        </div>
        <div className="compare-col">
          <div className="compare-title">
            {labels[1]} <StatusBadge status={replay.status} /> <span className="mono small">{replay.model}</span>
            <span className="spacer" />
            <a
              className="small"
              href={recordPath(replay.id)}
              onClick={(e) => {
                if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
                e.preventDefault();
                navigate(recordPath(replay.id));
              }}
            >
              open
            </a>
          </div>
          <ResponseBlock view={responseView(replay.response)} />
          {replay.error_message && <div className="error-line">{replay.error_message}</div>}
        </div>
      </div>
      <DiffView before={responseText(original.response)} after={responseText(replay.response)} />
    </div>
  );
}
