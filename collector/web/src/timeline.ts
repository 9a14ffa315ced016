// Groups a session's records into turns: each turn's calls in creation order, with replays (replay_of) and
// nested spans (parent_id) attached to the call they belong to.
import type { TraceRecord } from './types';

export interface CallNode {
  record: TraceRecord;
  replays: TraceRecord[];
  children: TraceRecord[];
}

export interface Turn {
  turn: number;
  calls: CallNode[];
}

const byCreated = (a: TraceRecord, b: TraceRecord) =>
  a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;

export function buildTurns(records: TraceRecord[]): Turn[] {
  const ids = new Set(records.map((r) => r.id));
  const nodes = new Map<string, CallNode>();
  const sorted = [...records].sort(byCreated);
  for (const r of sorted) {
    const attached = (r.replay_of && ids.has(r.replay_of)) || (r.parent_id && ids.has(r.parent_id));
    if (!attached) nodes.set(r.id, { record: r, replays: [], children: [] });
  }
  for (const r of sorted) {
    if (r.replay_of && ids.has(r.replay_of)) {
      // A replay of a replay belongs under the same original.
      let root = r.replay_of;
      const seen = new Set<string>();
      while (!nodes.has(root) && !seen.has(root)) {
        seen.add(root);
        const up = records.find((x) => x.id === root);
        root = up?.replay_of || up?.parent_id || root;
      }
      nodes.get(root)?.replays.push(r);
    } else if (r.parent_id && ids.has(r.parent_id)) {
      const parent = nodes.get(r.parent_id);
      if (parent) parent.children.push(r);
      else {
        // Parent is itself attached (nested deeper): keep it visible at top level rather than lose it.
        nodes.set(r.id, { record: r, replays: [], children: [] });
      }
    }
  }
  const turns = new Map<number, CallNode[]>();
  for (const n of nodes.values()) {
    const t = n.record.turn_number;
    if (!turns.has(t)) turns.set(t, []);
    turns.get(t)!.push(n);
  }
  return [...turns.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([turn, calls]) => ({ turn, calls: calls.sort((a, b) => byCreated(a.record, b.record)) }));
}

export function upsert(records: TraceRecord[], r: TraceRecord): TraceRecord[] {
  const i = records.findIndex((x) => x.id === r.id);
  if (i < 0) return [...records, r];
  const next = records.slice();
  next[i] = { ...records[i], ...r };
  return next;
}
