// One LLM call in the timeline: request messages, response, status, model, tokens, latency, error, and its
// replays underneath. A pending call shows as in flight and is completed in place when its update arrives.
import { useState } from 'react';
import { fmtCount, fmtLatency, fmtTime } from '../format';
import { requestMessages, responseView } from '../messages';
import { recordPath, navigate } from '../router';
import type { TraceRecord } from '../types';
import { fmtCost } from '../lib/insight';
import { StatusBadge } from './common';
import { CompareToggle } from './CompareSelect';
import { ScoreBar } from './Scores';
import { MessageList, ResponseBlock } from './Messages';
import { ReplayCompare, ReplayEditor } from './ReplayEditor';

export function CallMeta({ record }: { record: TraceRecord }) {
  const u = record.usage;
  return (
    <div className="call-meta">
      <StatusBadge status={record.status} />
      {record.model && <span className="mono model">{record.model}</span>}
      {u && u.total_tokens != null && (
        <span className="muted" title={`prompt ${u.prompt_tokens ?? '?'} · completion ${u.completion_tokens ?? '?'}`}>
          {fmtCount(u.total_tokens)} tok
          {u.prompt_tokens != null && u.completion_tokens != null && (
            <span className="small"> ({fmtCount(u.prompt_tokens)}+{fmtCount(u.completion_tokens)})</span>
          )}
        </span>
      )}
      {record.cost_usd != null && (
        <span className="muted cost" data-testid="cost" title={`${record.cost_usd} USD`}>
          {fmtCost(record.cost_usd)}
        </span>
      )}
      {record.latency_ms != null && <span className="muted">{fmtLatency(record.latency_ms)}</span>}
      <span className="muted small" title={record.created_at}>
        {fmtTime(record.started_at ?? record.created_at)}
      </span>
    </div>
  );
}

function RecordLink({ id }: { id: string }) {
  return (
    <a
      href={recordPath(id)}
      className="mono small muted"
      onClick={(e) => {
        if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
        e.preventDefault();
        navigate(recordPath(id));
      }}
    >
      {id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id}
    </a>
  );
}

export function CallCard({
  record,
  replays = [],
  children = [],
  showRequest = true,
  repeated = 0,
  onReplayed,
}: {
  record: TraceRecord;
  replays?: TraceRecord[];
  children?: TraceRecord[];
  showRequest?: boolean;
  repeated?: number;
  onReplayed?: (r: TraceRecord) => void;
}) {
  const [editing, setEditing] = useState(false);
  const messages = requestMessages(record.request);
  const response = responseView(record.response);
  return (
    <div className={`call call-${record.status}`} data-testid="call" data-record-id={record.id}>
      <div className="call-head">
        <CallMeta record={record} />
        <span className="spacer" />
        {record.replay_of && <span className="tag">replay</span>}
        <CompareToggle id={record.id} />
        <RecordLink id={record.id} />
        <button type="button" className="btn btn-small" onClick={() => setEditing((v) => !v)}>
          {editing ? 'Close replay' : 'Replay…'}
        </button>
      </div>
      {showRequest && messages.length > 0 && <MessageList messages={messages} repeated={repeated} />}
      {showRequest && messages.length === 0 && record.request != null && (
        <pre className="mono small raw">{JSON.stringify(record.request)}</pre>
      )}
      {record.status === 'pending' && response == null ? (
        <div className="pending-line" data-testid="pending">
          waiting for the response…
        </div>
      ) : (
        <ResponseBlock view={response} />
      )}
      {record.error_message && (
        <div className="error-line" data-testid="error-message">
          {record.error_message}
        </div>
      )}
      {!record.replay_of && <ScoreBar target="record" id={record.id} scores={record.scores} />}
      {editing && <ReplayEditor record={record} onReplayed={onReplayed} onClose={() => setEditing(false)} />}
      {children.length > 0 && (
        <div className="children">
          {children.map((c) => (
            <CallCard key={c.id} record={c} showRequest onReplayed={onReplayed} />
          ))}
        </div>
      )}
      {replays.length > 0 && (
        <div className="replays">
          <div className="replays-title">
            {replays.length} replay{replays.length > 1 ? 's' : ''}
          </div>
          {replays.map((r, i) => (
            <ReplayItem key={r.id} original={record} replay={r} initiallyOpen={i === replays.length - 1} />
          ))}
        </div>
      )}
    </div>
  );
}

// The latest replay opens with its comparison; older ones stay compact until asked.
function ReplayItem({
  original,
  replay,
  initiallyOpen,
}: {
  original: TraceRecord;
  replay: TraceRecord;
  initiallyOpen: boolean;
}) {
  const [open, setOpen] = useState(initiallyOpen);
  return (
    <div className="replay-item" data-testid="replay-item" data-record-id={replay.id}>
      <div className="call-head">
        <CallMeta record={replay} />
        <span className="spacer" />
        <RecordLink id={replay.id} />
        <button type="button" className="btn btn-small" onClick={() => setOpen((v) => !v)}>
          {open ? 'Hide comparison' : 'Compare'}
        </button>
      </div>
      {open ? (
        <ReplayCompare original={original} replay={replay} />
      ) : (
        <ResponseBlock view={responseView(replay.response)} />
      )}
    </div>
  );
}
