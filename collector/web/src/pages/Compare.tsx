// /compare?a=&b=: two records from any sessions side by side — their requests (with a word diff of the
// request JSON) and their responses (the replay's comparison view and its word diff of the answers).
import { useEffect, useState, type MouseEvent } from 'react';
import { api } from '../api';
import { CallMeta } from '../components/CallCard';
import { ErrorLine } from '../components/common';
import { DiffView } from '../components/DiffView';
import { MessageList } from '../components/Messages';
import { ReplayCompare } from '../components/ReplayEditor';
import { pretty, requestMessages, unwrapJsonString } from '../messages';
import { navigate, recordPath, sessionPath } from '../router';
import type { TraceRecord } from '../types';

function Side({ label, record }: { label: string; record: TraceRecord }) {
  const go = (to: string) => (e: MouseEvent) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey) return;
    e.preventDefault();
    navigate(to);
  };
  const messages = requestMessages(record.request);
  return (
    <div className="compare-col" data-testid={`compare-side-${label}`}>
      <div className="compare-title">
        <strong>{label}</strong>
        <a className="mono small" href={recordPath(record.id)} onClick={go(recordPath(record.id))}>{record.id}</a>
        <span className="muted small">
          in <a className="mono" href={sessionPath(record.session_id)} onClick={go(sessionPath(record.session_id))}>{record.session_id}</a> turn {record.turn_number}
        </span>
      </div>
      <CallMeta record={record} />
      {messages.length > 0 ? (
        <MessageList messages={messages} />
      ) : (
        <pre className="mono small raw">{pretty(unwrapJsonString(record.request))}</pre>
      )}
    </div>
  );
}

export function ComparePage({ query }: { query: URLSearchParams }) {
  const a = query.get('a') ?? '';
  const b = query.get('b') ?? '';
  const [records, setRecords] = useState<[TraceRecord, TraceRecord] | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    let live = true;
    setRecords(null);
    setError(null);
    if (!a || !b) return;
    Promise.all([api.record(a), api.record(b)])
      .then((rs) => live && setRecords(rs))
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [a, b]);

  return (
    <div className="page compare-page">
      <div className="page-head">
        <h1>Compare</h1>
        <span className="muted small">two calls, request and response side by side</span>
      </div>
      {(!a || !b) && (
        <p className="muted">
          Pick two calls with their <em>compare</em> box (in any sessions), then <em>Open comparison</em>.
        </p>
      )}
      <ErrorLine error={error} />
      {a && b && !records && !error && <p className="muted">Loading…</p>}
      {records && (
        <>
          <h2 className="compare-h2">Request</h2>
          <div className="compare-cols">
            <Side label="A" record={records[0]} />
            <Side label="B" record={records[1]} />
          </div>
          <DiffView
            title="Diff of the request"
            before={pretty(unwrapJsonString(records[0].request))}
            after={pretty(unwrapJsonString(records[1].request))}
          />
          <h2 className="compare-h2">Response</h2>
          <ReplayCompare original={records[0]} replay={records[1]} labels={['A', 'B']} />
        </>
      )}
    </div>
  );
}
