// A turn as a span tree with its waterfall: one row per span (collapse toggle, kind icon, name, duration,
// tokens, cost) beside its bar on the turn's time axis; a selected span opens below in the same call card as
// the chat view (messages, tool calls, response, replay). Built from the turn's loaded records on every change
// (lib/tree.ts), so spans arriving live, children before their parent, fall into place.
// Scale: trees above VIRTUAL_AT rows are windowed inside a fixed-height box (only the rows in view exist), so
// a 10,000-span agent run costs a screenful of rows. Collapsed spans and the selection live in a module map
// keyed by session and turn, so they survive the turn scrolling out of the session's windowed list and back.
import { memo, useCallback, useMemo, useRef, useState } from 'react';
import { useVirtualizer } from '@tanstack/react-virtual';
import { fmtCount, fmtLatency } from '../format';
import { buildTree, fmtUsd, visibleRows, type Row } from '../lib/tree';
import { axisTicks, layoutBars, timeRange, type Bar } from '../lib/waterfall';
import type { TraceRecord } from '../types';
import { CallCard } from './CallCard';
import { WaterfallAxis, WaterfallBar } from './Waterfall';

export const ROW_HEIGHT = 26;
export const VIRTUAL_AT = 150;
const BODY_ROWS = 18; // visible rows before the body scrolls
const MAX_INDENT = 24; // deeper levels keep this indentation (the depth is in the row's title)

const KINDS: Record<string, { icon: string; label: string }> = {
  agent: { icon: 'A', label: 'agent' },
  llm: { icon: 'L', label: 'LLM call' },
  tool: { icon: 'T', label: 'tool' },
  retrieval: { icon: 'R', label: 'retrieval' },
  embedding: { icon: 'E', label: 'embedding' },
  chain: { icon: 'C', label: 'chain' },
  other: { icon: '·', label: 'other' },
};
export const kindOf = (r: TraceRecord) => (r.kind && KINDS[r.kind] ? r.kind : r.kind ? 'other' : 'llm');

export function KindIcon({ kind }: { kind: string }) {
  const k = KINDS[kind] ?? KINDS.other;
  return (
    <span className={`kind-icon kind-${kind}`} title={k.label} aria-label={k.label} data-kind={kind}>
      {k.icon}
    </span>
  );
}

interface ViewState {
  collapsed: Set<string>;
  selected: string | null;
}
const states = new Map<string, ViewState>();
function initialState(key: string): ViewState {
  return states.get(key) ?? { collapsed: new Set(), selected: null };
}

const TreeRow = memo(function TreeRow({
  row,
  bar,
  selected,
  onToggle,
  onSelect,
}: {
  row: Row;
  bar: Bar;
  selected: boolean;
  onToggle: (id: string) => void;
  onSelect: (id: string) => void;
}) {
  const { node, depth } = row;
  const r = node.record;
  const kind = kindOf(r);
  const name = r.name || r.model || KINDS[kind]?.label || kind;
  const showSum = node.tokens == null && node.subtreeTokens > 0;
  const tokens = node.tokens ?? (showSum ? node.subtreeTokens : null);
  const cost = node.cost ?? (node.children.length ? node.subtreeCost : null);
  return (
    <div
      className={`tt-row${selected ? ' selected' : ''}${r.status === 'error' ? ' tt-error' : ''}`}
      role="treeitem"
      aria-level={depth + 1}
      aria-expanded={row.hasChildren ? !row.collapsed : undefined}
      aria-selected={selected}
      tabIndex={0}
      data-testid="tree-node"
      data-span-id={node.id}
      data-kind={kind}
      data-depth={depth}
      style={{ height: ROW_HEIGHT }}
      onClick={() => onSelect(node.id)}
      onKeyDown={(e) => {
        if (e.key === 'Enter' || e.key === ' ') onSelect(node.id);
        else if (e.key === 'ArrowLeft' && row.hasChildren && !row.collapsed) onToggle(node.id);
        else if (e.key === 'ArrowRight' && row.hasChildren && row.collapsed) onToggle(node.id);
        else return;
        e.preventDefault();
        e.stopPropagation();
      }}
    >
      <div className="tt-label" style={{ paddingLeft: Math.min(depth, MAX_INDENT) * 14 }} title={`depth ${depth}`}>
        {row.hasChildren ? (
          <button
            type="button"
            className="tt-twisty"
            aria-label={row.collapsed ? `expand ${name}` : `collapse ${name}`}
            data-testid="tree-toggle"
            onClick={(e) => {
              e.stopPropagation();
              onToggle(node.id);
            }}
          >
            {row.collapsed ? '▸' : '▾'}
          </button>
        ) : (
          <span className="tt-twisty" />
        )}
        <KindIcon kind={kind} />
        <span className="tt-name" data-testid="tree-name">{name}</span>
        {r.model && r.name && <span className="tt-model mono muted small">{r.model}</span>}
        {row.collapsed && <span className="tag" title="collapsed">+{node.children.length}</span>}
        {node.orphan && (
          <span className="tag" title={`parent ${r.parent_id} not received yet`}>
            orphan
          </span>
        )}
        {node.cycle && <span className="tag" title="its parent chain loops back to it: shown at the top">loop</span>}
        {r.status === 'error' && <span className="tag tag-error" title={r.error_message || 'error'}>error</span>}
      </div>
      <div className="tt-num" data-testid="tree-duration">
        {r.status === 'pending' && node.end == null ? <span className="muted">running</span> : fmtLatency(node.end != null ? node.end - node.start : r.latency_ms)}
      </div>
      <div className="tt-num" data-testid="tree-tokens" title={showSum ? 'sum of its spans' : undefined}>
        {tokens != null ? `${showSum ? 'Σ ' : ''}${fmtCount(tokens)}` : ''}
      </div>
      <div className="tt-num" data-testid="tree-cost">{fmtUsd(cost)}</div>
      <WaterfallBar bar={bar} kind={kind} status={r.status} />
    </div>
  );
});

export function TurnTree({
  records,
  onReplayed,
}: {
  records: TraceRecord[];
  onReplayed?: (r: TraceRecord) => void;
}) {
  const key = records.length ? `${records[0].session_id}\u0000${records[0].turn_number}` : '';
  const [view, setViewState] = useState<ViewState>(() => initialState(key));
  const setView = useCallback(
    (f: (v: ViewState) => ViewState) =>
      setViewState((v) => {
        const next = f(v);
        states.set(key, next);
        return next;
      }),
    [key],
  );
  const tree = useMemo(() => buildTree(records), [records]);
  const rows = useMemo(() => visibleRows(tree, view.collapsed), [tree, view.collapsed]);
  const range = useMemo(() => timeRange(tree), [tree]);
  const bars = useMemo(() => layoutBars(rows, range), [rows, range]);
  const ticks = useMemo(() => axisTicks(range), [range]);

  const onToggle = useCallback(
    (id: string) =>
      setView((v) => {
        const collapsed = new Set(v.collapsed);
        if (collapsed.has(id)) collapsed.delete(id);
        else collapsed.add(id);
        return { ...v, collapsed };
      }),
    [setView],
  );
  const onSelect = useCallback((id: string) => setView((v) => ({ ...v, selected: v.selected === id ? null : id })), [setView]);
  const allOpen = view.collapsed.size === 0;
  const toggleAll = () =>
    setView((v) => ({
      ...v,
      collapsed: allOpen ? new Set([...tree.byId.values()].filter((n) => n.children.length).map((n) => n.id)) : new Set(),
    }));

  const big = rows.length > VIRTUAL_AT;
  const bodyRef = useRef<HTMLDivElement | null>(null);
  const virtualizer = useVirtualizer({
    count: big ? rows.length : 0,
    getScrollElement: () => bodyRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 12,
    initialRect: { width: 800, height: ROW_HEIGHT * BODY_ROWS },
    getItemKey: (i) => rows[i]?.node.id ?? i,
  });
  const selected = view.selected ? tree.byId.get(view.selected) : undefined;

  const renderRow = (i: number) => (
    <TreeRow
      key={rows[i].node.id}
      row={rows[i]}
      bar={bars[i]}
      selected={rows[i].node.id === view.selected}
      onToggle={onToggle}
      onSelect={onSelect}
    />
  );

  return (
    <div className="turn-tree" data-testid="turn-tree">
      <div className="tt-tools">
        <span className="muted small">
          {fmtCount(tree.size)} span{tree.size === 1 ? '' : 's'} · {fmtLatency(range.span)}
        </span>
        {tree.size > 1 && (
          <button type="button" className="btn btn-small" onClick={toggleAll}>
            {allOpen ? 'Collapse all' : 'Expand all'}
          </button>
        )}
      </div>
      <div className="tt-row tt-head" aria-hidden="true">
        <div className="tt-label muted small">span</div>
        <div className="tt-num muted small">duration</div>
        <div className="tt-num muted small">tokens</div>
        <div className="tt-num muted small">cost</div>
        <WaterfallAxis ticks={ticks} />
      </div>
      <div
        ref={bodyRef}
        className="tt-body"
        role="tree"
        aria-label="spans of this turn"
        data-testid="tree-body"
        style={{ maxHeight: ROW_HEIGHT * BODY_ROWS + 2 }}
      >
        {big ? (
          <div style={{ height: virtualizer.getTotalSize(), position: 'relative' }}>
            {virtualizer.getVirtualItems().map((vi) => (
              <div key={vi.key} className="tt-slot" style={{ transform: `translateY(${vi.start}px)` }}>
                {renderRow(vi.index)}
              </div>
            ))}
          </div>
        ) : (
          rows.map((_, i) => renderRow(i))
        )}
      </div>
      {selected ? (
        <div className="tt-detail" data-testid="tree-detail">
          <CallCard record={selected.record} replays={selected.replays} onReplayed={onReplayed} />
        </div>
      ) : (
        <p className="muted small tt-hint">Select a span to see its messages, tool calls and response.</p>
      )}
    </div>
  );
}
