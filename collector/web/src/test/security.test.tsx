import { render, screen } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { CallCard } from '../components/CallCard';
import { SessionView } from '../views/SessionView';
import { installEventSource, mockFetch, page, rec, session } from './helpers';

const payload = '<img src=x onerror=alert(1)>';

describe('model output is text, never HTML', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('renders an HTML payload in request, response, tool call and error as literal text', async () => {
    const alert = vi.fn();
    vi.stubGlobal('alert', alert);
    const r = rec({
      request: { messages: [{ role: 'user', content: payload }] },
      response: {
        choices: [
          {
            message: {
              role: 'assistant',
              content: `${payload}<script>alert(2)</script>`,
              tool_calls: [{ id: 'x', function: { name: payload, arguments: payload } }],
            },
          },
        ],
      },
      error_message: payload,
      model: payload,
    });
    mockFetch({
      'GET /api/sessions/s1': { body: session({ name: payload }) },
      'GET /api/sessions/s1/records': { body: page([r]) },
    });
    const { container } = render(<SessionView id="s1" />);
    await screen.findByTestId('call');
    expect(container.querySelector('img')).toBeNull();
    expect(container.querySelector('script')).toBeNull();
    expect(screen.getByTestId('session-name').textContent).toBe(payload);
    expect(screen.getByTestId('response').textContent).toContain(`${payload}<script>alert(2)</script>`);
    expect(screen.getByTestId('error-message').textContent).toBe(payload);
    expect(screen.getAllByText(payload).length).toBeGreaterThanOrEqual(3);
    expect(alert).not.toHaveBeenCalled();
  });

  it('keeps a content-parts array as text too', () => {
    const r = rec({
      request: { messages: [{ role: 'user', content: [{ type: 'text', text: payload }] }] },
      response: 'plain <b>string</b> response',
    });
    const { container } = render(<CallCard record={r} />);
    expect(container.querySelector('img, b')).toBeNull();
    expect(screen.getByText(payload)).toBeInTheDocument();
    expect(screen.getByText('plain <b>string</b> response')).toBeInTheDocument();
  });

  it('no source file uses dangerouslySetInnerHTML or innerHTML', () => {
    // Every UI source (not the tests, which contain the pattern on purpose), read as text by vite.
    const sources = import.meta.glob(['../**/*.{ts,tsx}', '!./**'], { query: '?raw', import: 'default', eager: true });
    const files = Object.keys(sources);
    expect(files.length).toBeGreaterThan(5);
    for (const f of files) {
      const text = sources[f] as string;
      expect(text, f).not.toMatch(/dangerouslySetInnerHTML|\.innerHTML\s*=|insertAdjacentHTML|document\.write/);
    }
  });
});
