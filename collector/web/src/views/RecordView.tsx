// One call in full: the rendered chat, then collapsible raw JSON of request, response and metadata.
import { useCallback, useEffect, useState, type MouseEvent } from 'react';
import { allRecords, api, ApiError } from '../api';
import { CallCard } from '../components/CallCard';
import { ErrorLine, JsonBlock } from '../components/common';
import { fmtTime } from '../format';
import { useLive } from '../live';
import { navigate, recordPath, sessionPath } from '../router';
import { upsert } from '../timeline';
import type { TraceRecord } from '../types';

export function RecordView({ id }: { id: string }) {
  const [record, setRecord] = useState<TraceRecord | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [gone, setGone] = useState(false);

  const [replays, setReplays] = useState<TraceRecord[]>([]);

  const load = useCallback(async () => {
    try {
      const r = await api.record(id);
      setRecord(r);
      setError(null);
      // The call's replay history lives in its session.
      const siblings = await allRecords(r.session_id, 1000);
      setReplays(siblings.filter((x) => x.replay_of === id));
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) setGone(true);
      setError(e);
    }
  }, [id]);
  useEffect(() => {
    setRecord(null);
    setGone(false);
    void load();
  }, [load]);

  useLive((e) => {
    if (e.type === 'record' && e.record.id === id) setRecord((r) => ({ ...(r ?? {}), ...e.record }));
    else if (e.type === 'record' && e.record.replay_of === id) setReplays((rs) => upsert(rs, e.record));
    else if (e.type === 'deleted' && e.id === id) setGone(true);
    else if (e.type === 'resync' && !gone) void load();
  });

  async function remove() {
    if (!record || !window.confirm('Delete this call?')) return;
    try {
      await api.deleteRecord(record.id);
      navigate(sessionPath(record.session_id));
    } catch (e) {
      setError(e);
    }
  }

  if (gone) return <div className="page"><p>This call does not exist (or was deleted).</p></div>;
  const go = (to: string) => (e: MouseEvent) => { e.preventDefault(); navigate(to); };
  return (
    <div className="page record-view">
      <div className="page-head">
        <a href="/" className="muted" onClick={go('/')}>Sessions</a>
        <span className="muted">/</span>
        {record && <a href={sessionPath(record.session_id)} onClick={go(sessionPath(record.session_id))} className="mono">{record.session_id}</a>}
        <span className="muted">/</span>
        <h1 className="mono">{id}</h1>
        <span className="spacer" />
        {record && <button type="button" className="btn btn-small btn-danger" onClick={() => void remove()}>Delete</button>}
      </div>
      <ErrorLine error={error} />
      {record && (
        <>
          <dl className="facts">
            <dt>turn</dt><dd>{record.turn_number}</dd>
            <dt>created</dt><dd>{fmtTime(record.created_at)}</dd>
            <dt>updated</dt><dd>{fmtTime(record.updated_at)}</dd>
            {record.started_at && (<><dt>started</dt><dd>{fmtTime(record.started_at)}</dd></>)}
            {record.ended_at && (<><dt>ended</dt><dd>{fmtTime(record.ended_at)}</dd></>)}
            {record.replay_of && (<><dt>replay of</dt><dd><a className="mono" href={recordPath(record.replay_of)} onClick={go(recordPath(record.replay_of))}>{record.replay_of}</a></dd></>)}
            {record.parent_id && (<><dt>parent</dt><dd><a className="mono" href={recordPath(record.parent_id)} onClick={go(recordPath(record.parent_id))}>{record.parent_id}</a></dd></>)}
          </dl>
          <CallCard record={record} replays={replays} onReplayed={(r) => setReplays((rs) => upsert(rs, r))} />
          <JsonBlock title="request" value={record.request} />
          <JsonBlock title="response" value={record.response} />
          <JsonBlock title="metadata" value={record.metadata ?? {}} open={false} />
          <JsonBlock title="record" value={record} open={false} />
        </>
      )}
    </div>
  );
}
