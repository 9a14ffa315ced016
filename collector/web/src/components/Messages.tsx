// Renders request messages and a response as a chat. Every model-provided string is a React text child:
// never HTML, whatever it contains.
import { useState } from 'react';
import type { Message, ResponseView, ToolCall } from '../messages';

function prettyArgs(args: string): string {
  try {
    return JSON.stringify(JSON.parse(args), null, 2);
  } catch {
    return args;
  }
}

export function ToolCalls({ calls }: { calls: ToolCall[] }) {
  if (calls.length === 0) return null;
  return (
    <div className="tool-calls">
      {calls.map((tc, i) => (
        <div className="tool-call" key={tc.id ?? i} data-testid="tool-call">
          <div className="tool-call-head">
            <span className="tag">tool call</span> <span className="mono strong">{tc.name}</span>
            {tc.id && <span className="muted mono small"> {tc.id}</span>}
          </div>
          {tc.arguments && <pre className="mono">{prettyArgs(tc.arguments)}</pre>}
        </div>
      ))}
    </div>
  );
}

const LONG = 1200;

function Text({ text }: { text: string }) {
  const [open, setOpen] = useState(false);
  if (text.length <= LONG || open) {
    return <div className="msg-text">{text}</div>;
  }
  return (
    <div className="msg-text">
      {text.slice(0, LONG)}
      <button type="button" className="link-btn" onClick={() => setOpen(true)}>
        … show {text.length - LONG} more characters
      </button>
    </div>
  );
}

export function MessageView({ m }: { m: Message }) {
  return (
    <div className={`msg msg-${m.role}`} data-testid="message" data-role={m.role}>
      <div className="msg-role">
        {m.role}
        {m.name && <span className="muted"> · {m.name}</span>}
        {m.role === 'tool' && m.toolCallId && <span className="muted mono small"> result of {m.toolCallId}</span>}
      </div>
      {m.content !== '' && <Text text={m.content} />}
      <ToolCalls calls={m.toolCalls} />
    </div>
  );
}

export function MessageList({
  messages,
  collapseFrom = 6,
  repeated = 0,
}: {
  messages: Message[];
  collapseFrom?: number;
  repeated?: number; // leading messages already shown in the turn above
}) {
  const [all, setAll] = useState(false);
  if (repeated > 0 && !all && repeated < messages.length) {
    return (
      <div className="messages">
        <button type="button" className="link-btn small earlier" onClick={() => setAll(true)} data-testid="earlier">
          ▸ {repeated} earlier message{repeated > 1 ? 's' : ''} (as in the turn above)
        </button>
        {messages.slice(repeated).map((m, i) => (
          <MessageView key={i} m={m} />
        ))}
      </div>
    );
  }
  // Long conversations without a previous turn to point at: show the first message and the tail.
  const hidden = !all && messages.length > collapseFrom ? messages.length - collapseFrom + 1 : 0;
  const shown = hidden ? [messages[0], ...messages.slice(hidden + 1)] : messages;
  return (
    <div className="messages">
      {shown.map((m, i) => (
        <div key={i}>
          <MessageView m={m} />
          {hidden > 0 && i === 0 && (
            <button type="button" className="link-btn small" onClick={() => setAll(true)}>
              show {hidden} earlier message{hidden > 1 ? 's' : ''}
            </button>
          )}
        </div>
      ))}
    </div>
  );
}

export function ResponseBlock({ view }: { view: ResponseView | null }) {
  if (!view) return null;
  return (
    <div className="msg msg-assistant msg-response" data-testid="response">
      <div className="msg-role">
        response
        {view.finishReason && <span className="muted"> · finish: {view.finishReason}</span>}
      </div>
      {view.content != null && view.content !== '' && <Text text={view.content} />}
      {view.note && <div className="muted">{view.note}</div>}
      <ToolCalls calls={view.toolCalls} />
    </div>
  );
}
