// Shown when the collector answers 401: asks for the API key once, keeps it in sessionStorage for this tab.
import { useState, useSyncExternalStore } from 'react';
import { getAuth, setApiKey, subscribeAuth } from '../api';

export function ApiKeyPrompt() {
  const auth = useSyncExternalStore(subscribeAuth, getAuth);
  const [key, setKey] = useState('');
  if (!auth.needKey) return null;
  return (
    <div className="modal-backdrop">
      <form
        className="modal"
        aria-label="API key"
        onSubmit={(e) => {
          e.preventDefault();
          if (key.trim()) setApiKey(key.trim());
        }}
      >
        <h2>API key required</h2>
        <p className="muted">
          This collector was started with <code>--api-key</code>. Enter the key; it is kept for this browser tab only
          and sent as <code>Authorization: Bearer</code>.
        </p>
        {auth.rejected && <div className="error-line">That key was refused. Try again.</div>}
        <input
          type="password"
          autoFocus
          autoComplete="off"
          aria-label="API key"
          placeholder="API key"
          value={key}
          onChange={(e) => setKey(e.target.value)}
        />
        <div className="modal-actions">
          <button type="submit" className="btn btn-primary" disabled={!key.trim()}>
            Continue
          </button>
        </div>
      </form>
    </div>
  );
}
