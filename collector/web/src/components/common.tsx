// Small shared pieces: status badge, copy button, collapsible JSON block, error line.
import { useState } from 'react';
import type { Status } from '../types';
import { pretty } from '../messages';

export function StatusBadge({ status }: { status: Status | string }) {
  const label = status === 'pending' ? 'in flight' : status;
  return (
    <span className={`badge badge-${status}`} data-testid="status-badge" title={`status: ${status}`}>
      {status === 'pending' && <span className="spinner" aria-hidden="true" />}
      {label}
    </span>
  );
}

export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [done, setDone] = useState(false);
  return (
    <button
      type="button"
      className="btn btn-small"
      onClick={async () => {
        try {
          await navigator.clipboard.writeText(text);
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

export function JsonBlock({ title, value, open = true }: { title: string; value: unknown; open?: boolean }) {
  const text = pretty(value === undefined ? null : value);
  return (
    <details className="json-block" open={open}>
      <summary>
        <span>{title}</span>
        <CopyButton text={text} />
      </summary>
      <pre className="mono">{text}</pre>
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
