// Issue 17 in jsdom: markdown rendered as elements and never as HTML, content parts (images, audio, files)
// and their hostile variants, and the windowed, paged timeline of a long session.
import { act, fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { CallCard } from '../components/CallCard';
import { Markdown, safeHref } from '../components/Markdown';
import { requestMessages, responseView } from '../messages';
import { PAGE_SIZE, SessionView } from '../views/SessionView';
import { installEventSource, mockFetch, rec, session } from './helpers';

// A 1×1 PNG.
const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==';

describe('markdown', () => {
  it('renders tables, lists, code with a copy button and links as elements', () => {
    const { container } = render(
      <Markdown text={'# Title\n\n**bold** and `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- one\n- two\n\n```js\nlet x = 1;\n```\n\n[docs](https://example.com/x)'} />,
    );
    expect(container.querySelector('h1')).toHaveTextContent('Title');
    expect(container.querySelector('strong')).toHaveTextContent('bold');
    expect(container.querySelectorAll('td')).toHaveLength(2);
    expect(container.querySelectorAll('li')).toHaveLength(2);
    const block = screen.getByTestId('code-block');
    expect(within(block).getByText('let x = 1;')).toBeInTheDocument();
    expect(within(block).getByRole('button', { name: 'Copy' })).toBeInTheDocument();
    const a = container.querySelector('a')!;
    expect(a.getAttribute('href')).toBe('https://example.com/x');
    expect(a.getAttribute('rel')).toContain('noopener');
  });

  it('keeps raw HTML as text and javascript: links inert', () => {
    const alert = vi.fn();
    vi.stubGlobal('alert', alert);
    const src = '<script>alert(1)</script>\n\nhi <img src=x onerror=alert(2)> there [x](javascript:alert(3)) [y](JaVaScRiPt:alert(4)) ![i](javascript:alert(5))';
    const { container } = render(<Markdown text={src} />);
    expect(container.querySelector('script, img, a')).toBeNull();
    expect(container.textContent).toContain('<script>alert(1)</script>');
    expect(container.textContent).toContain('<img src=x onerror=alert(2)>');
    expect(alert).not.toHaveBeenCalled();
    vi.unstubAllGlobals();
  });

  it('allows only http(s), mailto and relative link targets', () => {
    expect(safeHref('https://a.example/')).toBe('https://a.example/');
    expect(safeHref('mailto:x@y.z')).toBe('mailto:x@y.z');
    expect(safeHref('/records/1')).toBe('/records/1');
    for (const bad of ['javascript:alert(1)', ' javascript:alert(1)', 'java\tscript:x', 'data:text/html,x', 'vbscript:x', '//evil.example/x']) {
      expect(safeHref(bad), bad).toBeNull();
    }
  });
});

describe('content parts', () => {
  it('reads OpenAI, Responses API and Anthropic parts', () => {
    const msgs = requestMessages({
      system: 'sys',
      messages: [
        {
          role: 'user',
          content: [
            { type: 'text', text: 'look' },
            { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
            { type: 'input_audio', input_audio: { data: 'UklGRg==', format: 'wav' } },
            { type: 'file', file: { filename: 'a.pdf', file_data: 'data:application/pdf;base64,AAAA' } },
            { type: 'image', source: { type: 'base64', media_type: 'image/jpeg', data: 'AAAA' } },
            { type: 'document', title: 'doc.pdf', source: { type: 'base64', media_type: 'application/pdf', data: 'AAAAAAAA' } },
          ],
        },
        { role: 'assistant', content: [{ type: 'text', text: 'calling' }, { type: 'tool_use', id: 'tu1', name: 'lookup', input: { q: 1 } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'tu1', content: 'found' }] },
      ],
    });
    expect(msgs[1].parts?.map((p) => p.kind)).toEqual(['text', 'image', 'audio', 'file', 'image', 'file']);
    expect(msgs[1].parts?.[3]).toMatchObject({ kind: 'file', name: 'a.pdf', bytes: 3 });
    expect(msgs[1].parts?.[4]).toMatchObject({ kind: 'image', url: 'data:image/jpeg;base64,AAAA' });
    expect(msgs[1].parts?.[5]).toMatchObject({ kind: 'file', name: 'doc.pdf', bytes: 6 });
    expect(msgs[2].toolCalls[0]).toMatchObject({ id: 'tu1', name: 'lookup' });
    expect(msgs[3].content).toBe('found');
    expect(msgs[3].toolCallId).toBe('tu1');
    const anthropic = responseView({ type: 'message', content: [{ type: 'text', text: 'hi' }, { type: 'tool_use', id: 't', name: 'f', input: {} }], stop_reason: 'tool_use' });
    expect(anthropic).toMatchObject({ content: 'hi', finishReason: 'tool_use' });
    expect(anthropic?.toolCalls[0].name).toBe('f');
    const responses = requestMessages({ input: [{ role: 'user', content: [{ type: 'input_image', image_url: 'https://x.example/a.png' }, { type: 'input_file', filename: 'n.txt', file_data: 'AAAA' }] }] });
    expect(responses[0].parts).toEqual([
      { kind: 'image', url: 'https://x.example/a.png', detail: undefined },
      { kind: 'file', name: 'n.txt', fileId: undefined, bytes: 3 },
    ]);
  });

  it('renders data: images inline, remote ones as links, and broken or hostile ones as text', () => {
    const r = rec({
      request: {
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } },
              { type: 'image_url', image_url: { url: 'data:image/png;base64,@@@<b>x</b>' } },
              { type: 'image_url', image_url: { url: 'javascript:alert(1)' } },
              { type: 'image_url', image_url: { url: 'http://203.0.113.7/cat.png' } },
              { type: 'image_url', image_url: { url: 'data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=' } },
              { type: 'input_audio', input_audio: { data: 'UklGRiQAAABXQVZF', format: 'wav' } },
              { type: 'file', file: { filename: 'report.pdf', file_data: 'A'.repeat(4096) } },
            ],
          },
        ],
      },
    });
    const { container } = render(<CallCard record={r} />);
    const imgs = container.querySelectorAll('img');
    expect(imgs).toHaveLength(1);
    expect(imgs[0].getAttribute('src')).toBe(`data:image/png;base64,${PNG}`);
    expect(screen.getByTestId('image-broken')).toHaveTextContent('does not decode');
    expect(screen.getAllByTestId('image-inert').map((e) => e.textContent)).toEqual([
      '[image javascript:alert(1)]',
      '[image data:image/svg+xml;base64,PHN2Zz48L3N2Zz4=]',
    ]);
    const remote = within(screen.getByTestId('image-remote')).getByRole('link');
    expect(remote.getAttribute('href')).toBe('http://203.0.113.7/cat.png');
    expect(screen.getByTestId('audio-part')).toHaveTextContent('wav');
    expect(screen.getByTestId('file-part')).toHaveTextContent('report.pdf');
    expect(screen.getByTestId('file-part')).toHaveTextContent('3.0 KB');
    act(() => imgs[0].click());
    expect(screen.getByTestId('lightbox')).toBeInTheDocument();
    act(() => window.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape' })));
    expect(screen.queryByTestId('lightbox')).toBeNull();
  });

  it('collapses a big message behind "show all" and toggles raw/rendered markdown', () => {
    const big = `**start** ${'x'.repeat(150_000)} THE-END`;
    const r = rec({ response: { choices: [{ message: { role: 'assistant', content: big } }] } });
    render(<CallCard record={r} />);
    const resp = screen.getByTestId('response');
    expect(resp.textContent).not.toContain('THE-END');
    expect(resp.querySelector('strong')).toHaveTextContent('start');
    act(() => within(resp).getByTestId('md-toggle').click());
    expect(resp.querySelector('strong')).toBeNull();
    expect(resp.textContent).toContain('**start**');
    act(() => within(resp).getByTestId('show-all').click());
    expect(resp.textContent).toContain('THE-END');
  });
});

describe('a long session', () => {
  // jsdom has no layout (every slot measures 0 px), so the windowing itself is covered by the browser suite
  // (tests/e2e/scale.test.mjs). Here: the page size asked for and jump to turn N.
  const TOTAL = 300;
  const all = Array.from({ length: TOTAL }, (_, i) =>
    rec({ id: `t${i + 1}`, turn_number: i + 1, request: { messages: [{ role: 'user', content: `question ${i + 1}` }] } }),
  );
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('pages the records by PAGE_SIZE and jumps to a turn', async () => {
    const calls = mockFetch({
      'GET /api/sessions/s1': { body: session({ turn_count: TOTAL, record_count: TOTAL }) },
      'GET /api/sessions/s1/records': (c) => {
        const u = new URL(c.url, 'http://x');
        const p = Number(u.searchParams.get('page'));
        const size = Number(u.searchParams.get('size'));
        return { body: { items: all.slice((p - 1) * size, p * size), page: p, size, total: TOTAL } };
      },
    });
    render(<SessionView id="s1" />);
    await screen.findByLabelText('jump to turn');
    const asked = calls.filter((c) => c.url.startsWith('/api/sessions/s1/records')).map((c) => new URL(c.url, 'http://x').searchParams);
    expect(asked[0].get('page')).toBe('1');
    expect(asked[0].get('size')).toBe(String(PAGE_SIZE));
    const input = screen.getByLabelText('jump to turn');
    fireEvent.change(input, { target: { value: '5000' } });
    fireEvent.submit(input.closest('form')!);
    expect(await screen.findByText('no turn 5000 or later')).toBeInTheDocument();
    fireEvent.change(input, { target: { value: '277' } });
    fireEvent.submit(input.closest('form')!);
    await waitFor(() => expect(screen.queryByText(/no turn/)).toBeNull());
    expect(calls.some((c) => c.url.includes('page=3&'))).toBe(true);
  }, 90000); // ~30 s alone on a loaded 2-core machine (jsdom lays out nothing, so many turns mount): over the 30 s default
});
