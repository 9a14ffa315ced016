// Markdown in message text, rendered safely: `marked` only tokenizes (its HTML renderer is never used) and this
// file turns the tokens into React elements. Raw HTML in the source (`<script>`, `<img onerror>`) becomes a
// text node; links keep only http(s)/mailto/relative targets (anything else, e.g. `javascript:`, is shown as
// text); images load only from `data:` URLs (the CSP allows nothing else) and remote ones are plain links.
import { Fragment, type ReactNode } from 'react';
import { Lexer, type Token, type Tokens } from 'marked';
import { CopyButton } from './common';
import { ImagePart } from './Parts';

export function safeHref(href: string | null | undefined): string | null {
  if (!href) return null;
  const h = href.trim();
  // Control characters and whitespace inside a scheme ("java\tscript:") are how filters get bypassed.
  if (/[\u0000-\u001f\u007f]/.test(h)) return null;
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(h);
  if (!scheme) return h.startsWith('//') ? null : h; // relative: stays on this origin
  const s = scheme[1].toLowerCase();
  return s === 'http' || s === 'https' || s === 'mailto' ? h : null;
}

function CodeBlock({ code, lang }: { code: string; lang?: string }) {
  return (
    <div className="md-code" data-testid="code-block">
      <div className="md-code-head">
        <span className="muted small mono">{lang || 'code'}</span>
        <CopyButton text={code} />
      </div>
      <pre className="mono">
        <code>{code}</code>
      </pre>
    </div>
  );
}

function inline(tokens: Token[] | undefined, key = ''): ReactNode[] {
  if (!tokens) return [];
  return tokens.map((t, i) => {
    const k = `${key}${i}`;
    switch (t.type) {
      case 'text': {
        const tt = t as Tokens.Text;
        return tt.tokens ? <Fragment key={k}>{inline(tt.tokens, `${k}.`)}</Fragment> : <Fragment key={k}>{tt.text}</Fragment>;
      }
      case 'escape':
        return <Fragment key={k}>{(t as Tokens.Escape).text}</Fragment>;
      case 'strong':
        return <strong key={k}>{inline((t as Tokens.Strong).tokens, `${k}.`)}</strong>;
      case 'em':
        return <em key={k}>{inline((t as Tokens.Em).tokens, `${k}.`)}</em>;
      case 'del':
        return <del key={k}>{inline((t as Tokens.Del).tokens, `${k}.`)}</del>;
      case 'codespan':
        return <code key={k} className="md-codespan">{(t as Tokens.Codespan).text}</code>;
      case 'br':
        return <br key={k} />;
      case 'link': {
        const l = t as Tokens.Link;
        const href = safeHref(l.href);
        if (!href) return <span key={k} className="md-inert-link" title={`link not followed: ${l.href}`}>{inline(l.tokens, `${k}.`)}</span>;
        return (
          <a key={k} href={href} target="_blank" rel="noopener noreferrer nofollow" title={l.title ?? href}>
            {inline(l.tokens, `${k}.`)}
          </a>
        );
      }
      case 'image': {
        const im = t as Tokens.Image;
        return <ImagePart key={k} url={im.href} alt={im.text} />;
      }
      case 'checkbox':
        return <input key={k} type="checkbox" checked={(t as Tokens.Checkbox).checked} disabled readOnly />;
      default:
        // `html` and anything unknown: the source text, as text.
        return <Fragment key={k}>{'raw' in t ? t.raw : ''}</Fragment>;
    }
  });
}

function blocks(tokens: Token[], key = ''): ReactNode[] {
  return tokens.map((t, i) => {
    const k = `${key}${i}`;
    switch (t.type) {
      case 'space':
        return null;
      case 'heading': {
        const h = t as Tokens.Heading;
        const Tag = `h${Math.min(6, Math.max(1, h.depth))}` as 'h1';
        return <Tag key={k} className="md-h">{inline(h.tokens, `${k}.`)}</Tag>;
      }
      case 'paragraph':
        return <p key={k}>{inline((t as Tokens.Paragraph).tokens, `${k}.`)}</p>;
      case 'text': {
        const tt = t as Tokens.Text;
        return <p key={k}>{tt.tokens ? inline(tt.tokens, `${k}.`) : tt.text}</p>;
      }
      case 'code': {
        const c = t as Tokens.Code;
        return <CodeBlock key={k} code={c.text} lang={c.lang} />;
      }
      case 'blockquote':
        return <blockquote key={k}>{blocks((t as Tokens.Blockquote).tokens, `${k}.`)}</blockquote>;
      case 'hr':
        return <hr key={k} />;
      case 'list': {
        const l = t as Tokens.List;
        const items = l.items.map((it, j) => (
          <li key={j}>{it.loose ? blocks(it.tokens, `${k}.${j}.`) : listItemTight(it.tokens, `${k}.${j}.`)}</li>
        ));
        return l.ordered ? (
          <ol key={k} start={typeof l.start === 'number' ? l.start : undefined}>{items}</ol>
        ) : (
          <ul key={k}>{items}</ul>
        );
      }
      case 'table': {
        const tb = t as Tokens.Table;
        const align = (a: string | null) => (a ? { textAlign: a as 'left' | 'right' | 'center' } : undefined);
        return (
          <div key={k} className="md-table-wrap">
            <table className="md-table">
              <thead>
                <tr>{tb.header.map((c, j) => <th key={j} style={align(tb.align[j])}>{inline(c.tokens, `${k}h${j}.`)}</th>)}</tr>
              </thead>
              <tbody>
                {tb.rows.map((row, r) => (
                  <tr key={r}>{row.map((c, j) => <td key={j} style={align(tb.align[j])}>{inline(c.tokens, `${k}r${r}.${j}.`)}</td>)}</tr>
                ))}
              </tbody>
            </table>
          </div>
        );
      }
      case 'html':
        return <p key={k} className="md-raw-html">{(t as Tokens.HTML).text}</p>;
      default:
        return <p key={k}>{'raw' in t ? t.raw : ''}</p>;
    }
  });
}

// A tight list item holds `text` tokens (with inline children) and maybe nested lists.
function listItemTight(tokens: Token[], key: string): ReactNode[] {
  return tokens.map((t, i) =>
    t.type === 'text' || t.type === 'checkbox' ? (
      <Fragment key={`${key}${i}`}>{inline([t], `${key}${i}.`)}</Fragment>
    ) : (
      <Fragment key={`${key}${i}`}>{blocks([t], `${key}${i}.`)}</Fragment>
    ),
  );
}

export function Markdown({ text }: { text: string }) {
  let tokens: Token[];
  try {
    tokens = Lexer.lex(text, { gfm: true, breaks: true });
  } catch {
    return <div className="msg-text">{text}</div>;
  }
  return (
    <div className="md" data-testid="markdown">
      {blocks(tokens)}
    </div>
  );
}
