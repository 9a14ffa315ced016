import { act, render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { resetAuthForTests } from '../api';
import { FakeEventSource, installEventSource, mockFetch, page, rec, session } from './helpers';

describe('live fallback and search', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('polls every 2 s while the event stream is down, and goes live again when it is back', async () => {
    let records = [rec({ id: 'p1', response: 'one' })];
    const calls = mockFetch({
      'GET /api/sessions/s1': { body: session() },
      'GET /api/sessions/s1/records': () => ({ body: page(records) }),
    });
    history.replaceState(null, '', '/sessions/s1');
    render(<App />);
    await screen.findByText('one');
    const es = FakeEventSource.latest();
    act(() => es.open());
    expect(screen.getByTestId('live-indicator')).toHaveTextContent('live');

    act(() => es.onerror?.(new Event('error')));
    expect(screen.getByTestId('live-indicator')).toHaveTextContent('polling');
    records = [...records, rec({ id: 'p2', turn_number: 2, response: 'two, found by polling' })];
    await screen.findByText('two, found by polling', undefined, { timeout: 8000 });
    expect(calls.filter((c) => c.url.startsWith('/api/sessions/s1/records')).length).toBeGreaterThanOrEqual(2);

    act(() => es.open());
    expect(screen.getByTestId('live-indicator')).toHaveTextContent('live');
  }, 30000);

  it('the search bar queries /api/search with the text and filters', async () => {
    const hit = rec({ id: 'h', status: 'error', model: 'gpt-x', request: { messages: [{ role: 'user', content: 'find the needle' }] } });
    const calls = mockFetch({
      'GET /api/sessions': { body: { items: [], page: 1, size: 50, total: 0 } },
      'GET /api/search': { body: { items: [hit], page: 1, size: 50, total: 1 } },
    });
    history.replaceState(null, '', '/');
    const user = userEvent.setup();
    render(<App />);
    await user.type(screen.getByLabelText('search'), 'needle');
    await user.selectOptions(screen.getByLabelText('status filter'), 'error');
    await user.type(screen.getByLabelText('model filter'), 'gpt-x');
    await user.click(screen.getByRole('button', { name: 'Search' }));
    expect(await screen.findByTestId('search-results')).toHaveTextContent('find the needle');
    expect(window.location.pathname).toBe('/search');
    const q = calls.find((c) => c.url.startsWith('/api/search'))!;
    const params = new URLSearchParams(q.url.split('?')[1]);
    expect(params.get('q')).toBe('needle');
    expect(params.get('status')).toBe('error');
    expect(params.get('model')).toBe('gpt-x');
  });
});
