// Thumbs up / down with an optional comment on a record (a turn's call) or a session, and the scores it
// already has. Scores the user adds here are kept in a small module cache as well, so a turn that the
// windowed timeline unmounts and mounts again still shows them before its record is refetched.
import { useState } from 'react';
import { api } from '../api';
import { fmtTime } from '../format';
import type { Score } from '../types';

type Target = 'record' | 'session';
const added = new Map<string, Score[]>();
const cacheKey = (target: Target, id: string) => `${target}:${id}`;

// The server's scores plus the ones added in this page that the server's copy does not list yet.
export function mergeScores(server: Score[] | undefined, local: Score[] | undefined): Score[] {
  const out = [...(server ?? [])];
  const ids = new Set(out.map((s) => s.id));
  for (const s of local ?? []) if (!ids.has(s.id)) out.push(s);
  return out;
}

export function scoreLabel(s: Score): string {
  // Geometric shapes, not emoji: every font (and a headless browser) has them.
  if (s.name === 'thumbs' && typeof s.value === 'boolean') return s.value ? '▲ up' : '▼ down';
  return `${s.name}: ${String(s.value)}`;
}

export function ScoreChips({ scores }: { scores: Score[] }) {
  if (scores.length === 0) return null;
  return (
    <span className="score-chips">
      {scores.map((s) => (
        <span
          key={s.id}
          className={`score-chip${s.value === false ? ' score-down' : s.value === true ? ' score-up' : ''}`}
          data-testid="score-chip"
          data-score-name={s.name}
          data-score-value={String(s.value)}
          title={`${s.name} = ${String(s.value)} · ${fmtTime(s.created_at)}`}
        >
          {scoreLabel(s)}
          {s.comment ? <span className="score-comment"> {s.comment}</span> : null}
        </span>
      ))}
    </span>
  );
}

export function ScoreBar({ target, id, scores }: { target: Target; id: string; scores?: Score[] }) {
  const key = cacheKey(target, id);
  const [local, setLocal] = useState<Score[]>(() => added.get(key) ?? []);
  const [commenting, setCommenting] = useState(false);
  const [comment, setComment] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState('');
  const all = mergeScores(scores, local);

  async function send(value: boolean) {
    setBusy(true);
    setError('');
    try {
      const body: { name: string; value: boolean; comment?: string } = { name: 'thumbs', value };
      if (comment.trim()) body.comment = comment.trim();
      const res = await api.addScore(target, id, body);
      const score: Score =
        res && typeof res === 'object' && typeof (res as Score).id === 'string'
          ? (res as Score)
          : { id: `local-${Date.now()}`, name: 'thumbs', value, comment: body.comment ?? null, created_at: new Date().toISOString() };
      const next = [...(added.get(key) ?? []), score];
      added.set(key, next);
      setLocal(next);
      setComment('');
      setCommenting(false);
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="score-bar" data-testid={`score-bar-${target}`} onClick={(e) => e.stopPropagation()}>
      <button type="button" className="btn btn-small score-btn" disabled={busy} aria-label="thumbs up" title="Thumbs up: a good answer" onClick={() => void send(true)}>
        ▲ up
      </button>
      <button type="button" className="btn btn-small score-btn" disabled={busy} aria-label="thumbs down" title="Thumbs down: a bad answer" onClick={() => void send(false)}>
        ▼ down
      </button>
      {commenting ? (
        <input
          className="score-comment-input"
          placeholder="comment (sent with the thumb)"
          aria-label="score comment"
          value={comment}
          maxLength={2000}
          onChange={(e) => setComment(e.target.value)}
        />
      ) : (
        <button type="button" className="link-btn small" onClick={() => setCommenting(true)}>
          comment…
        </button>
      )}
      <ScoreChips scores={all} />
      {error && (
        <span className="err small" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
