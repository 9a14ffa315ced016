// Renders request messages and a response as a chat. Every model-provided string is a React text child:
// never HTML, whatever it contains.
import { useState } from 'react';
import type { Message, Part, ResponseView, ToolCall } from '../messages';
import { Markdown } from './Markdown';
import { PartView } from './Parts';

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

// Past this many characters a message shows its head and a "show all" button: a 100 KB tool result or a
// pasted file must not cost a long layout (or a markdown parse) for everyone scrolling past it.
export const LONG = 3000;
// Markdown is parsed only up to this size even when shown in full; larger texts stay plain.
const MARKDOWN_MAX = 200_000;

export function Text({ text, markdown = false }: { text: string; markdown?: boolean }) {
  const [open, setOpen] = useState(false);
  const [raw, setRaw] = useState(false);
  const long = text.length > LONG;
  const shown = long && !open ? text.slice(0, LONG) : text;
  const rendered = markdown && !raw && shown.length <= MARKDOWN_MAX && looksLikeMarkdown(shown);
  return (
    <div className="msg-body">
      {markdown && looksLikeMarkdown(shown) && (
        <button type="button" className="link-btn small md-toggle" onClick={() => setRaw((v) => !v)} data-testid="md-toggle">
          {raw ? 'rendered' : 'raw'}
        </button>
      )}
      {rendered ? <Markdown text={shown} /> : <div className="msg-text">{shown}</div>}
      {long && (
        <button type="button" className="link-btn show-all" onClick={() => setOpen((v) => !v)} data-testid="show-all">
          {open ? 'show less' : `… show all (${(text.length - LONG).toLocaleString('en-US')} more characters)`}
        </button>
      )}
    </div>
  );
}

// Plain sentences render the same either way; skip the parse (and the toggle) when nothing is markdown.
function looksLikeMarkdown(t: string): boolean {
  return /[*_`#>|[\]!~-]|^\s*\d+\.\s|\n\s*\n/m.test(t);
}

function Parts({ parts, markdown }: { parts: Part[]; markdown: boolean }) {
  return (
    <div className="parts">
      {parts.map((p, i) => (p.kind === 'text' ? <Text key={i} text={p.text} markdown={markdown} /> : <PartView key={i} part={p} />))}
    </div>
  );
}

const MARKDOWN_ROLES = new Set(['user', 'assistant']);

export function MessageView({ m }: { m: Message }) {
  const md = MARKDOWN_ROLES.has(m.role);
  return (
    <div className={`msg msg-${m.role}`} data-testid="message" data-role={m.role}>
      <div className="msg-role">
        {m.role}
        {m.name && <span className="muted"> · {m.name}</span>}
        {m.role === 'tool' && m.toolCallId && <span className="muted mono small"> result of {m.toolCallId}</span>}
      </div>
      {m.parts ? <Parts parts={m.parts} markdown={md} /> : m.content !== '' && <Text text={m.content} markdown={md} />}
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
      {view.parts ? (
        <Parts parts={view.parts} markdown />
      ) : (
        view.content != null && view.content !== '' && <Text text={view.content} markdown />
      )}
      {view.note && <div className="muted">{view.note}</div>}
      <ToolCalls calls={view.toolCalls} />
    </div>
  );
}
