// Small shared pieces: status badge, copy button, collapsible JSON block, error line.
import { useState } from 'react';
import type { Status } from '../types';
import { pretty } from '../messages';
import { JsonTree } from './JsonTree';

export function StatusBadge({ status }: { status: Status | string }) {
  const label = status === 'pending' ? 'in flight' : status;
  return (
    <span className={`badge badge-${status}`} data-testid="status-badge" title={`status: ${status}`}>
      {status === 'pending' && <span className="spinner" aria-hidden="true" />}
      {label}
    </span>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string | (() => string); label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(typeof text === 'function' ? text() : text);
        } catch {
          // Clipboard refused (insecure context): select-and-copy from the block still works.
        }
        setDone(true);
        setTimeout(() => setDone(false), 1200);
      }}
    >
      {done ? 'Copied' : label}
    </button>
  );
}

// Raw JSON, folded: nothing under the summary is built until the block is opened, and then only as a tree
// whose nodes open on demand. Copy serialises at click time.
export function JsonBlock({ title, value, open = true }: { title: string; value: unknown; open?: boolean }) {
  const [isOpen, setOpen] = useState(open);
  const v = value === undefined ? null : value;
  return (
    <details className="json-block" open={isOpen} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
      <summary>
        <span>{title}</span>
        <CopyButton text={() => pretty(v)} />
      </summary>
      {isOpen && <JsonTree value={v} />}
    </details>
  );
}

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  const msg = error instanceof Error ? error.message : String(error);
  return (
    <div className="error-line" role="alert">
      {msg}
    </div>
  );
}
