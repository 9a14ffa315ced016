import { render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { fromForm, ReplayEditor, toForm } from '../components/ReplayEditor';
import { mockFetch, rec } from './helpers';

const original = rec({
  id: 'orig',
  model: 'gpt-4o-mini',
  request: {
    model: 'gpt-4o-mini',
    temperature: 0.2,
    stream: false,
    messages: [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'Name a colour.' },
    ],
  },
  response: { choices: [{ message: { role: 'assistant', content: 'The sky is blue today' }, finish_reason: 'stop' }] },
});

describe('replay editor', () => {
  beforeEach(() => resetAuthForTests());
  afterEach(() => vi.unstubAllGlobals());

  it('form round-trips the request and keeps unknown parameters', () => {
    const f = toForm(original.request);
    expect(f.messages?.map((m) => m.role)).toEqual(['system', 'user']);
    expect(f.temperature).toBe('0.2');
    expect(fromForm(f)).toEqual(original.request);
    expect(() => fromForm({ ...f, temperature: 'warm' })).toThrow(/temperature/);
  });

  it('sends the edited request and shows the new answer beside the old with a word diff', async () => {
    const calls = mockFetch({
      'POST /api/records/orig/replay': (call) => ({
        status: 201,
        body: rec({
          id: 'rep',
          replay_of: 'orig',
          model: (call.body as { request: { model: string } }).request.model,
          request: (call.body as { request: unknown }).request,
          response: { choices: [{ message: { role: 'assistant', content: 'The sky is red today' } }] },
        }),
      }),
    });
    const onReplayed = vi.fn();
    const user = userEvent.setup();
    render(<ReplayEditor record={original} onReplayed={onReplayed} />);

    const model = screen.getByLabelText('model');
    await user.clear(model);
    await user.type(model, 'gpt-4.1');
    const msg = screen.getByLabelText('message 2');
    await user.clear(msg);
    await user.type(msg, 'Name a warm colour.');
    await user.clear(screen.getByLabelText('max_tokens'));
    await user.type(screen.getByLabelText('max_tokens'), '16');
    await user.click(screen.getByRole('button', { name: 'Run' }));

    const compare = await screen.findByTestId('replay-compare');
    const sent = calls.find((c) => c.method === 'POST')!;
    expect(sent.body).toEqual({
      request: {
        model: 'gpt-4.1',
        temperature: 0.2,
        max_tokens: 16,
        stream: false,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'user', content: 'Name a warm colour.' },
        ],
      },
    });
    expect(compare).toHaveTextContent('The sky is blue today');
    expect(compare).toHaveTextContent('The sky is red today');
    const diff = within(compare).getByTestId('diff');
    expect(diff.querySelector('del')?.textContent).toBe('blue');
    expect(diff.querySelector('ins')?.textContent).toBe('red');
    expect(onReplayed).toHaveBeenCalledWith(expect.objectContaining({ id: 'rep', replay_of: 'orig' }));
  });

  it('runs the raw JSON as written', async () => {
    const calls = mockFetch({
      'POST /api/records/orig/replay': { body: rec({ id: 'rep2', replay_of: 'orig', response: 'ok' }) },
    });
    const user = userEvent.setup();
    render(<ReplayEditor record={original} />);
    await user.click(screen.getByRole('tab', { name: 'Raw JSON' }));
    const raw = screen.getByLabelText('raw request JSON') as HTMLTextAreaElement;
    expect(JSON.parse(raw.value)).toEqual(original.request);
    await user.clear(raw);
    await user.click(raw);
    await user.paste('{"model":"m2","messages":[{"role":"user","content":"hi"}]}');
    await user.click(screen.getByRole('button', { name: 'Run' }));
    await screen.findByTestId('replay-compare');
    expect(calls[0].body).toEqual({ request: { model: 'm2', messages: [{ role: 'user', content: 'hi' }] } });
  });

  it('shows the server message of a 503 (no upstream key)', async () => {
    mockFetch({
      'POST /api/records/orig/replay': {
        status: 503,
        body: { error: { code: 'no_upstream_key', message: 'Set OPENAI_API_KEY to enable replay', field: null } },
      },
    });
    const user = userEvent.setup();
    render(<ReplayEditor record={original} />);
    await user.click(screen.getByRole('button', { name: 'Run' }));
    expect(await screen.findByRole('alert')).toHaveTextContent('Set OPENAI_API_KEY to enable replay');
    expect(screen.queryByTestId('replay-compare')).toBeNull();
  });

  it('refuses invalid raw JSON without calling the server', async () => {
    const calls = mockFetch({});
    const user = userEvent.setup();
    render(<ReplayEditor record={original} />);
    await user.click(screen.getByRole('tab', { name: 'Raw JSON' }));
    const raw = screen.getByLabelText('raw request JSON');
    await user.clear(raw);
    await user.type(raw, 'not json');
    await user.click(screen.getByRole('button', { name: 'Run' }));
    await waitFor(() => expect(screen.getByRole('alert')).toHaveTextContent(/Request:/));
    expect(calls).toHaveLength(0);
  });
});
