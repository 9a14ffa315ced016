import { render, screen, waitFor } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { App } from '../App';
import { eventsUrl, resetAuthForTests } from '../api';
import { installEventSource, mockFetch, session } from './helpers';

describe('API key prompt', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
    history.replaceState(null, '', '/');
  });
  afterEach(() => vi.unstubAllGlobals());

  it('asks once on 401, stores the key in sessionStorage and sends it as a Bearer token', async () => {
    const unauthorized = { status: 401, body: { error: { code: 'unauthorized', message: 'missing key', field: null } } };
    const calls = mockFetch({
      'GET /api/sessions': (c) =>
        c.headers.Authorization === 'Bearer s3cret'
          ? { body: { items: [session({ name: 'after login' })], page: 1, size: 50, total: 1 } }
          : unauthorized,
    });
    const user = userEvent.setup();
    render(<App />);
    const input = await screen.findByLabelText('API key', { selector: 'input' });
    expect(screen.getAllByRole('form', { name: 'API key' })).toHaveLength(1);
    await user.type(input, 's3cret');
    await user.click(screen.getByRole('button', { name: 'Continue' }));
    expect(await screen.findByText('after login')).toBeInTheDocument();
    expect(screen.queryByLabelText('API key', { selector: 'input' })).toBeNull();
    expect(sessionStorage.getItem('llmtrace.apiKey')).toBe('s3cret');
    expect(calls.at(-1)?.headers.Authorization).toBe('Bearer s3cret');
    expect(eventsUrl()).toBe('/api/events?access_token=s3cret');
  });

  it('says so when the key is refused', async () => {
    mockFetch({ 'GET /api/sessions': { status: 401, body: { error: { code: 'unauthorized', message: 'bad key' } } } });
    const user = userEvent.setup();
    render(<App />);
    await user.type(await screen.findByLabelText('API key', { selector: 'input' }), 'wrong');
    await user.click(screen.getByRole('button', { name: 'Continue' }));
    await waitFor(() => expect(screen.getByText(/That key was refused/)).toBeInTheDocument());
  });

  it('sends no Authorization header when no key is set', async () => {
    const calls = mockFetch({ 'GET /api/sessions': { body: { items: [], page: 1, size: 50, total: 0 } } });
    render(<App />);
    await screen.findByText(/No sessions yet/);
    expect(calls[0].headers.Authorization).toBeUndefined();
    expect(screen.queryByLabelText('API key', { selector: 'input' })).toBeNull();
  });
});
