// The raw JSON view: a folded tree that renders a node's children only once it is opened, so a 1 MB
// response costs a few elements until someone digs into it. Long strings and long arrays are cut with a
// "show all" / "show more" button. Everything is a text node.
import { useState } from 'react';

const STRING_HEAD = 400;
const ARRAY_CHUNK = 100;

function Scalar({ v }: { v: unknown }) {
  const [all, setAll] = useState(false);
  if (typeof v === 'string') {
    const quoted = JSON.stringify(v);
    if (quoted.length <= STRING_HEAD || all) return <span className="jt-str">{quoted}</span>;
    return (
      <span className="jt-str">
        {quoted.slice(0, STRING_HEAD)}
        <button type="button" className="link-btn small" onClick={() => setAll(true)}>
          … show all ({quoted.length.toLocaleString('en-US')} characters)
        </button>
      </span>
    );
  }
  if (v === null) return <span className="jt-null">null</span>;
  if (typeof v === 'number') return <span className="jt-num">{String(v)}</span>;
  if (typeof v === 'boolean') return <span className="jt-bool">{String(v)}</span>;
  return <span>{String(v)}</span>;
}

function Node({ name, v, depth, openDepth }: { name?: string; v: unknown; depth: number; openDepth: number }) {
  const isArr = Array.isArray(v);
  const isObj = !isArr && typeof v === 'object' && v !== null;
  const [open, setOpen] = useState(depth < openDepth);
  const [limit, setLimit] = useState(ARRAY_CHUNK);
  const label = name !== undefined ? <span className="jt-key">{JSON.stringify(name)}: </span> : null;
  if (!isArr && !isObj) {
    return (
      <div className="jt-row">
        {label}
        <Scalar v={v} />
      </div>
    );
  }
  const entries: [string, unknown][] = isArr ? (v as unknown[]).map((x, i) => [String(i), x]) : Object.entries(v as object);
  const [o, c] = isArr ? ['[', ']'] : ['{', '}'];
  if (entries.length === 0) {
    return (
      <div className="jt-row">
        {label}
        {o}
        {c}
      </div>
    );
  }
  return (
    <div className="jt-row">
      <button type="button" className="jt-toggle" onClick={() => setOpen((x) => !x)} aria-expanded={open}>
        {open ? '▾' : '▸'}
      </button>
      {label}
      {o}
      {!open && (
        <button type="button" className="link-btn small" onClick={() => setOpen(true)}>
          {entries.length} {isArr ? 'items' : 'keys'}
        </button>
      )}
      {open && (
        <div className="jt-children">
          {entries.slice(0, limit).map(([k, x]) => (
            <Node key={k} name={isArr ? undefined : k} v={x} depth={depth + 1} openDepth={openDepth} />
          ))}
          {entries.length > limit && (
            <button type="button" className="link-btn small" onClick={() => setLimit((l) => l + ARRAY_CHUNK * 10)}>
              show more ({entries.length - limit} left)
            </button>
          )}
        </div>
      )}
      {c}
    </div>
  );
}

export function JsonTree({ value, openDepth = 2 }: { value: unknown; openDepth?: number }) {
  return (
    <div className="json-tree mono" data-testid="json-tree">
      <Node v={value} depth={0} openDepth={openDepth} />
    </div>
  );
}
