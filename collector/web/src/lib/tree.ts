// A turn's records as a span tree (agent → LLM calls → tool calls), for the tree and waterfall views.
// Pure functions over plain records, no React: built again whenever the turn's records change (live), so every
// step is linear or n·log n and iterative (a 10,000-deep chain must not overflow the stack).
// Rules: a record whose parent_id names a record of the turn is that record's child; a record whose parent has
// not arrived yet (children usually end, and so arrive, first) is an orphan, shown under its trace's root span
// (or at the top of the turn while that is missing too) until its parent arrives; a parent chain that loops is cut where the loop closes; replays (replay_of) are not nodes, they stay
// with the call they replay, as in the chat view.
import type { TraceRecord } from '../types';

export interface TreeNode {
  record: TraceRecord;
  id: string;
  parent: TreeNode | null;
  children: TreeNode[];
  replays: TraceRecord[];
  // parent_id names a record that is not (yet) in the turn
  orphan: boolean;
  // parent_id closed a loop: the link was cut here
  cycle: boolean;
  start: number; // ms since the epoch (started_at, else created_at)
  end: number | null; // ended_at, else start + latency_ms; null while in flight / unknown
  tokens: number | null; // own total tokens
  cost: number | null; // own cost in USD
  subtreeTokens: number; // own + descendants'
  subtreeCost: number | null; // own + descendants', null when no node in the subtree has a cost
}

export interface Tree {
  roots: TreeNode[];
  byId: Map<string, TreeNode>;
  size: number;
}

export interface Row {
  node: TreeNode;
  depth: number;
  hasChildren: boolean;
  collapsed: boolean;
}

export function parseTime(iso: string | null | undefined): number | null {
  if (!iso) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export function ownTokens(r: TraceRecord): number | null {
  const u = r.usage;
  if (!u) return null;
  if (u.total_tokens != null) return u.total_tokens;
  if (u.prompt_tokens != null || u.completion_tokens != null) return (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0);
  return null;
}

function startOf(r: TraceRecord): number {
  return parseTime(r.started_at) ?? parseTime(r.created_at) ?? 0;
}

function endOf(r: TraceRecord, start: number): number | null {
  const e = parseTime(r.ended_at);
  if (e != null) return Math.max(e, start);
  if (r.latency_ms != null && r.status !== 'pending') return start + Math.max(0, r.latency_ms);
  return null;
}

const byStart = (a: TreeNode, b: TreeNode) =>
  a.start - b.start ||
  (a.record.created_at < b.record.created_at ? -1 : a.record.created_at > b.record.created_at ? 1 : 0) ||
  (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

// Does this turn look like a trace (spans with a tree or kinds), rather than plain chat calls?
export function isTraceTurn(records: TraceRecord[]): boolean {
  let calls = 0;
  let spanLike = false;
  for (const r of records) {
    if (r.replay_of) continue;
    calls++;
    if (r.trace_id || (r.kind && r.kind !== 'llm')) spanLike = true;
  }
  return spanLike && calls >= 2;
}

export function buildTree(records: TraceRecord[]): Tree {
  const recById = new Map<string, TraceRecord>();
  for (const r of records) recById.set(r.id, r);

  // Replays attach to the original they replay (a replay of a replay: the first non-replay up the chain).
  const isReplay = (r: TraceRecord) => !!r.replay_of && recById.has(r.replay_of) && r.replay_of !== r.id;
  const byId = new Map<string, TreeNode>();
  const replayRecords: TraceRecord[] = [];
  for (const r of recById.values()) {
    if (isReplay(r)) {
      replayRecords.push(r);
      continue;
    }
    const start = startOf(r);
    const tokens = ownTokens(r);
    const cost = typeof r.cost_usd === 'number' && Number.isFinite(r.cost_usd) ? r.cost_usd : null;
    byId.set(r.id, {
      record: r,
      id: r.id,
      parent: null,
      children: [],
      replays: [],
      orphan: false,
      cycle: false,
      start,
      end: endOf(r, start),
      tokens,
      cost,
      subtreeTokens: tokens ?? 0,
      subtreeCost: cost,
    });
  }
  for (const r of replayRecords) {
    let up: TraceRecord | undefined = r;
    const seen = new Set<string>();
    while (up && isReplay(up) && !seen.has(up.id)) {
      seen.add(up.id);
      up = recById.get(up.replay_of!);
    }
    const target = up && byId.get(up.id);
    if (target) target.replays.push(r);
    else {
      // A loop of replays with no original: keep the record visible as a node of its own.
      const start = startOf(r);
      byId.set(r.id, {
        record: r, id: r.id, parent: null, children: [], replays: [], orphan: false, cycle: true,
        start, end: endOf(r, start), tokens: ownTokens(r), cost: r.cost_usd ?? null,
        subtreeTokens: ownTokens(r) ?? 0, subtreeCost: r.cost_usd ?? null,
      });
    }
  }

  // Tentative parent links.
  for (const n of byId.values()) {
    const pid = n.record.parent_id;
    if (!pid) continue;
    const p = byId.get(pid);
    if (p === n) n.cycle = true; // names itself
    else if (p) n.parent = p;
    else n.orphan = true; // not arrived yet
  }

  // Cut loops: walk each node's chain upwards; meeting a node of the current walk closes a loop.
  const state = new Map<TreeNode, 1 | 2>(); // 1 = on the current walk, 2 = done
  for (const n of byId.values()) {
    if (state.get(n)) continue;
    const path: TreeNode[] = [];
    let cur: TreeNode | null = n;
    while (cur && !state.get(cur)) {
      state.set(cur, 1);
      path.push(cur);
      const next: TreeNode | null = cur.parent;
      if (next && state.get(next) === 1) {
        cur.parent = null;
        cur.cycle = true;
        break;
      }
      cur = next;
    }
    for (const p of path) state.set(p, 2);
  }

  // An orphan waits under its trace's root span when that has arrived (its real parent lies below it), else
  // at the top of the turn.
  const traceRoot = new Map<string, TreeNode | null>(); // null: more than one root in that trace
  for (const n of byId.values()) {
    const t = n.record.trace_id;
    if (!t || n.record.parent_id || n.cycle) continue;
    traceRoot.set(t, traceRoot.has(t) ? null : n);
  }
  for (const n of byId.values()) {
    if (!n.orphan || !n.record.trace_id) continue;
    const root = traceRoot.get(n.record.trace_id);
    if (root && root !== n) n.parent = root;
  }

  const roots: TreeNode[] = [];
  for (const n of byId.values()) {
    if (n.parent) n.parent.children.push(n);
    else roots.push(n);
  }
  roots.sort(byStart);

  // Sort children and sum subtrees, iteratively: pre-order, then fold in reverse.
  const order: TreeNode[] = [];
  const stack = [...roots];
  while (stack.length) {
    const n = stack.pop()!;
    order.push(n);
    if (n.children.length > 1) n.children.sort(byStart);
    for (const c of n.children) stack.push(c);
  }
  for (let i = order.length - 1; i >= 0; i--) {
    const n = order[i];
    const p = n.parent;
    if (!p) continue;
    p.subtreeTokens += n.subtreeTokens;
    if (n.subtreeCost != null) p.subtreeCost = (p.subtreeCost ?? 0) + n.subtreeCost;
  }
  return { roots, byId, size: byId.size };
}

// The rows on screen: a pre-order walk that skips the children of collapsed nodes.
export function visibleRows(tree: Tree, collapsed: ReadonlySet<string>): Row[] {
  const rows: Row[] = [];
  const stack: { node: TreeNode; depth: number }[] = [];
  for (let i = tree.roots.length - 1; i >= 0; i--) stack.push({ node: tree.roots[i], depth: 0 });
  while (stack.length) {
    const { node, depth } = stack.pop()!;
    const isCollapsed = collapsed.has(node.id);
    rows.push({ node, depth, hasChildren: node.children.length > 0, collapsed: isCollapsed });
    if (isCollapsed) continue;
    for (let i = node.children.length - 1; i >= 0; i--) stack.push({ node: node.children[i], depth: depth + 1 });
  }
  return rows;
}

export function fmtUsd(v: number | null | undefined): string {
  if (v == null) return '';
  if (v === 0) return '$0';
  if (v < 0.01) return `$${v.toPrecision(2)}`;
  return `$${v.toFixed(v < 1 ? 3 : 2)}`;
}
