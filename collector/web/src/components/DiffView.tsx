// Word diff between two response texts (the `diff` library), rendered as text spans.
import { diffWordsWithSpace } from 'diff';
import { useMemo } from 'react';

export function DiffView({ before, after, title = 'Diff of the response text' }: { before: string; after: string; title?: string }) {
  const parts = useMemo(() => diffWordsWithSpace(before, after), [before, after]);
  const same = parts.every((p) => !p.added && !p.removed);
  return (
    <div className="diff" data-testid="diff">
      <div className="diff-head">
        {title}{' '}
        {same ? <span className="muted">(identical)</span> : <span className="muted">(removed / added)</span>}
      </div>
      <pre className="mono diff-body">
        {parts.map((p, i) =>
          p.added ? (
            <ins key={i} className="diff-add">
              {p.value}
            </ins>
          ) : p.removed ? (
            <del key={i} className="diff-del">
              {p.value}
            </del>
          ) : (
            <span key={i}>{p.value}</span>
          ),
        )}
      </pre>
    </div>
  );
}
