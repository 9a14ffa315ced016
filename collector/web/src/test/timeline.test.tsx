import { act, render, screen, waitFor, within } from '@testing-library/react';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { SessionView } from '../views/SessionView';
import { FakeEventSource, installEventSource, mockFetch, page, rec, session } from './helpers';

const chatWithTools = rec({
  id: 'call-1',
  turn_number: 1,
  model: 'gpt-4o-mini',
  latency_ms: 812,
  usage: { prompt_tokens: 40, completion_tokens: 12, total_tokens: 52 },
  request: {
    model: 'gpt-4o-mini',
    messages: [
      { role: 'system', content: 'You are a weather bot.' },
      { role: 'user', content: 'Weather in Paris?' },
      {
        role: 'assistant',
        content: null,
        tool_calls: [{ id: 'tc_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', tool_call_id: 'tc_1', content: '{"temp_c":21}' },
    ],
  },
  response: {
    choices: [{ index: 0, message: { role: 'assistant', content: 'It is 21 °C in Paris.' }, finish_reason: 'stop' }],
  },
});
const errored = rec({
  id: 'call-2',
  turn_number: 2,
  status: 'error',
  error_message: 'upstream returned 429: rate limited',
  request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'And Berlin?' }] },
});
const pending = rec({
  id: 'call-3',
  turn_number: 3,
  status: 'pending',
  request: { model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'And Rome?' }] },
});

describe('session timeline', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
    mockFetch({
      'GET /api/sessions/s1': { body: session({ turn_count: 3, record_count: 3 }) },
      'GET /api/sessions/s1/records': { body: page([pending, chatWithTools, errored]) },
    });
  });
  afterEach(() => vi.unstubAllGlobals());

  it('renders turns in order with messages, tool calls, tool results and the response', async () => {
    render(<SessionView id="s1" />);
    const turns = await screen.findAllByTestId('turn');
    expect(turns.map((t) => t.dataset.turn)).toEqual(['1', '2', '3']);

    const first = within(turns[0]);
    const roles = first.getAllByTestId('message').map((m) => m.dataset.role);
    expect(roles).toEqual(['system', 'user', 'assistant', 'tool']);
    expect(first.getByText('get_weather')).toBeInTheDocument();
    expect(first.getByText(/"city": "Paris"/)).toBeInTheDocument();
    expect(first.getByText(/result of tc_1/)).toBeInTheDocument();
    expect(first.getByTestId('response')).toHaveTextContent('It is 21 °C in Paris.');
    expect(first.getByText(/finish: stop/)).toBeInTheDocument();
    expect(first.getByText('gpt-4o-mini')).toBeInTheDocument();
    expect(first.getByText(/52 tok/)).toBeInTheDocument();
    expect(first.getByText('812 ms')).toBeInTheDocument();
    expect(first.getByTestId('status-badge')).toHaveTextContent('success');

    const second = within(turns[1]);
    expect(second.getByTestId('status-badge')).toHaveTextContent('error');
    expect(second.getByTestId('error-message')).toHaveTextContent('upstream returned 429: rate limited');
  });

  it('shows a pending call as in flight and completes it in place from the event stream', async () => {
    render(<SessionView id="s1" />);
    const turns = await screen.findAllByTestId('turn');
    const third = turns[2];
    expect(within(third).getByTestId('status-badge')).toHaveTextContent('in flight');
    expect(within(third).getByTestId('pending')).toBeInTheDocument();
    const card = within(third).getByTestId('call');

    const es = FakeEventSource.latest();
    act(() => es.open());
    act(() =>
      es.send('record', {
        ...pending,
        change: 'updated',
        status: 'success',
        response: { choices: [{ message: { role: 'assistant', content: 'Sunny in Rome.' }, finish_reason: 'stop' }] },
      }),
    );
    await waitFor(() => expect(within(third).getByTestId('status-badge')).toHaveTextContent('success'));
    // Same element, updated: not a second card.
    expect(within(third).getByTestId('call')).toBe(card);
    expect(within(third).getAllByTestId('call')).toHaveLength(1);
    expect(within(third).getByTestId('response')).toHaveTextContent('Sunny in Rome.');
    expect(within(third).queryByTestId('pending')).toBeNull();
  });

  it('adds a new turn when a record for this session arrives, and ignores other sessions', async () => {
    render(<SessionView id="s1" />);
    await screen.findAllByTestId('turn');
    const es = FakeEventSource.latest();
    act(() => es.open());
    act(() => es.send('record', rec({ id: 'other', session_id: 's2', turn_number: 9 })));
    act(() =>
      es.send('record', rec({ id: 'new', turn_number: 4, request: { messages: [{ role: 'user', content: 'fourth' }] } })),
    );
    await waitFor(() => expect(screen.getAllByTestId('turn')).toHaveLength(4));
    expect(screen.getByText('fourth')).toBeInTheDocument();
    act(() => es.send('deleted', { kind: 'record', id: 'new' }));
    await waitFor(() => expect(screen.getAllByTestId('turn')).toHaveLength(3));
  });

  it('groups replays under their turn', async () => {
    const replay = rec({
      id: 'call-1-replay',
      turn_number: 1,
      replay_of: 'call-1',
      response: { choices: [{ message: { role: 'assistant', content: 'It is 22 °C in Paris.' } }] },
    });
    mockFetch({
      'GET /api/sessions/s1': { body: session() },
      'GET /api/sessions/s1/records': { body: page([chatWithTools, replay]) },
    });
    render(<SessionView id="s1" />);
    const turns = await screen.findAllByTestId('turn');
    expect(turns).toHaveLength(1);
    expect(within(turns[0]).getAllByTestId('call')).toHaveLength(1);
    const item = within(turns[0]).getByTestId('replay-item');
    expect(item).toHaveTextContent('It is 22 °C in Paris.');
    expect(within(item).getByTestId('diff')).toBeInTheDocument();
  });

  it('moves between turns with j/k and arrow keys', async () => {
    render(<SessionView id="s1" />);
    const turns = await screen.findAllByTestId('turn');
    expect(turns[0]).toHaveClass('focused');
    act(() => {
      window.dispatchEvent(new KeyboardEvent('keydown', { key: 'j' }));
    });
    await waitFor(() => expect(screen.getAllByTestId('turn')[1]).toHaveClass('focused'));
    act(() => {
      window.dispatchEvent(new KeyboardEvent('keydown', { key: 'ArrowDown' }));
    });
    await waitFor(() => expect(screen.getAllByTestId('turn')[2]).toHaveClass('focused'));
    act(() => {
      window.dispatchEvent(new KeyboardEvent('keydown', { key: 'k' }));
    });
    await waitFor(() => expect(screen.getAllByTestId('turn')[1]).toHaveClass('focused'));
  });

  it('folds the history a turn repeats from the turn above and unfolds it on click', async () => {
    const t1 = rec({
      id: 'h1',
      turn_number: 1,
      request: { messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: 'q1' }] },
      response: { choices: [{ message: { role: 'assistant', content: 'a1' } }] },
    });
    const t2 = rec({
      id: 'h2',
      turn_number: 2,
      request: {
        messages: [
          { role: 'system', content: 'sys' },
          { role: 'user', content: 'q1' },
          { role: 'assistant', content: 'a1' },
          { role: 'user', content: 'q2' },
        ],
      },
      response: { choices: [{ message: { role: 'assistant', content: 'a2' } }] },
    });
    mockFetch({
      'GET /api/sessions/s1': { body: session() },
      'GET /api/sessions/s1/records': { body: page([t1, t2]) },
    });
    render(<SessionView id="s1" />);
    const turns = await screen.findAllByTestId('turn');
    const second = within(turns[1]);
    expect(second.getByTestId('earlier')).toHaveTextContent('3 earlier messages');
    expect(second.getAllByTestId('message').map((m) => m.textContent)).toEqual(['userq2']);
    act(() => second.getByTestId('earlier').click());
    expect(second.getAllByTestId('message')).toHaveLength(4);
  });
});
