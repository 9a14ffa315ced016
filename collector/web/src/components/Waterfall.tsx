// The waterfall (Gantt) column of the turn tree: the time axis above the rows and one bar per row, placed by
// lib/waterfall.ts. Bars are plain positioned divs (percentages), so a row costs two elements and the rows
// stay cheap to window. Colour follows the span kind; a span in flight is striped and runs to the range end.
import { fmtLatency } from '../format';
import type { Bar, Tick } from '../lib/waterfall';
import { fmtOffset } from '../lib/waterfall';

export function WaterfallAxis({ ticks }: { ticks: Tick[] }) {
  return (
    <div className="wf-axis" data-testid="waterfall-axis" aria-hidden="true">
      {ticks.map((t) => (
        <span key={t.at} className="wf-tick" style={{ left: `${t.at * 100}%` }}>
          {t.label}
        </span>
      ))}
    </div>
  );
}

export function WaterfallBar({ bar, kind, status }: { bar: Bar; kind: string; status: string }) {
  const title = `starts at +${fmtOffset(bar.offsetMs)}, ${bar.durationMs == null ? 'still running' : fmtLatency(bar.durationMs)}`;
  return (
    <div className="wf-cell" data-testid="waterfall-row" title={title}>
      <div
        className={`wf-bar wf-${kind}${bar.open ? ' wf-open' : ''}${status === 'error' ? ' wf-error' : ''}`}
        data-testid="waterfall-bar"
        data-left={bar.left.toFixed(4)}
        data-width={bar.width.toFixed(4)}
        style={{ left: `${bar.left * 100}%`, width: `${bar.width * 100}%` }}
      />
    </div>
  );
}
