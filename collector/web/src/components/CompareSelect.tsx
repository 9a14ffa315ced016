// Picking two records to compare: a checkbox on each call, and a bar at the bottom of the window that
// opens /compare?a=&b= once two are picked.
import { useSyncExternalStore } from 'react';
import { clearCompare, comparePath, comparePicked, subscribeCompare, toggleCompare } from '../lib/compare';
import { navigate } from '../router';

export function CompareToggle({ id }: { id: string }) {
  const picked = useSyncExternalStore(subscribeCompare, comparePicked);
  return (
    <label className="compare-toggle small muted" title="Pick two calls (any sessions) to see them side by side" onClick={(e) => e.stopPropagation()}>
      <input type="checkbox" aria-label="pick for compare" checked={picked.includes(id)} onChange={() => toggleCompare(id)} />
      compare
    </label>
  );
}

export function CompareTray() {
  const picked = useSyncExternalStore(subscribeCompare, comparePicked);
  if (picked.length === 0) return null;
  const short = (id: string) => (id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id);
  return (
    <div className="compare-tray" data-testid="compare-tray">
      <span>
        Compare: <span className="mono">{picked.map(short).join(' · ')}</span>
        {picked.length < 2 && <span className="muted"> (pick one more call)</span>}
      </span>
      <button
        type="button"
        className="btn btn-small btn-primary"
        disabled={picked.length < 2}
        onClick={() => navigate(comparePath(picked[0], picked[1]))}
      >
        Open comparison
      </button>
      <button type="button" className="btn btn-small" onClick={clearCompare}>
        Clear
      </button>
    </div>
  );
}
