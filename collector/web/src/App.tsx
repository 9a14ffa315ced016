// The shell: header with search and filters, the live indicator, the routed view and the API-key prompt.
import { lazy, Suspense, useEffect, useState, useSyncExternalStore } from 'react';
import { getAuth, subscribeAuth } from './api';
import { ApiKeyPrompt } from './components/ApiKeyPrompt';
import { CompareTray } from './components/CompareSelect';
import { liveMode, subscribeLive, subscribeLiveMode } from './live';
import { ComparePage } from './pages/Compare';
import { match, navigate, useLocation } from './router';
import { RecordView } from './views/RecordView';
import { SearchView } from './views/SearchView';
import { SessionsList } from './views/SessionsList';
import { SessionView } from './views/SessionView';

// The dashboard (and its chart library) loads only when opened.
const Dashboard = lazy(() => import('./pages/Dashboard').then((m) => ({ default: m.Dashboard })));

function SearchBar({ query }: { query: URLSearchParams }) {
  const [q, setQ] = useState(query.get('q') ?? '');
  const [status, setStatus] = useState(query.get('status') ?? '');
  const [model, setModel] = useState(query.get('model') ?? '');
  const [score, setScore] = useState(query.get('score') ?? '');
  const key = query.toString();
  useEffect(() => {
    const p = new URLSearchParams(key);
    setQ(p.get('q') ?? '');
    setStatus(p.get('status') ?? '');
    setModel(p.get('model') ?? '');
    setScore(p.get('score') ?? '');
  }, [key]);
  return (
    <form
      className="search"
      role="search"
      onSubmit={(e) => {
        e.preventDefault();
        const p = new URLSearchParams();
        if (q.trim()) p.set('q', q.trim());
        if (status) p.set('status', status);
        if (model.trim()) p.set('model', model.trim());
        if (score) p.set('score', score);
        navigate(`/search${p.toString() ? `?${p}` : ''}`);
      }}
    >
      <input type="search" placeholder="Search messages…" value={q} onChange={(e) => setQ(e.target.value)} aria-label="search" />
      <select value={status} onChange={(e) => setStatus(e.target.value)} aria-label="status filter">
        <option value="">any status</option>
        <option value="success">success</option>
        <option value="error">error</option>
        <option value="pending">pending</option>
      </select>
      <input className="model-filter" placeholder="model" value={model} onChange={(e) => setModel(e.target.value)} aria-label="model filter" />
      <select value={score} onChange={(e) => setScore(e.target.value)} aria-label="score filter">
        <option value="">any score</option>
        <option value="thumbs">any thumbs</option>
        <option value="thumbs:true">thumbs up</option>
        <option value="thumbs:false">thumbs down</option>
        {score && !['thumbs', 'thumbs:true', 'thumbs:false'].includes(score) && <option value={score}>{score}</option>}
      </select>
      <button type="submit" className="btn btn-small">Search</button>
    </form>
  );
}

function LiveIndicator() {
  const mode = useSyncExternalStore(subscribeLiveMode, liveMode);
  const label = mode === 'sse' ? 'live' : mode === 'polling' ? 'polling' : 'idle';
  return (
    <span className={`live live-${mode}`} data-testid="live-indicator" title={mode === 'polling' ? 'Event stream unavailable: refreshing every 2 s' : 'Server-Sent Events'}>
      <span className="dot" aria-hidden="true" />
      {label}
    </span>
  );
}

export function App() {
  const { path, query } = useLocation();
  const route = match(path);
  // A new API key re-mounts the view so it refetches with it.
  const auth = useSyncExternalStore(subscribeAuth, getAuth);
  // One stream for the app's lifetime: views come and go without reconnecting (and missing events).
  useEffect(() => subscribeLive(() => {}), []);
  let view;
  switch (route.name) {
    case 'sessions':
      view = <SessionsList />;
      break;
    case 'session':
      view = <SessionView id={route.id} />;
      break;
    case 'record':
      view = <RecordView id={route.id} />;
      break;
    case 'search':
      view = <SearchView query={query} />;
      break;
    case 'dashboard':
      view = (
        <Suspense fallback={<div className="page muted">Loading…</div>}>
          <Dashboard query={query} />
        </Suspense>
      );
      break;
    case 'compare':
      view = <ComparePage query={query} />;
      break;
    default:
      view = (
        <div className="page">
          <p>No such page.</p>
        </div>
      );
  }
  return (
    <div className="app">
      <header className="topbar">
        <a href="/" className="brand" onClick={(e) => { e.preventDefault(); navigate('/'); }}>
          llmtrace
        </a>
        <a href="/dashboard" className={route.name === 'dashboard' ? 'nav-link active' : 'nav-link'} onClick={(e) => { e.preventDefault(); navigate('/dashboard'); }}>
          Dashboard
        </a>
        <SearchBar query={route.name === 'search' ? query : new URLSearchParams()} />
        <span className="spacer" />
        <LiveIndicator />
      </header>
      <main key={`${auth.version}`}>{view}</main>
      <CompareTray />
      <ApiKeyPrompt />
    </div>
  );
}
