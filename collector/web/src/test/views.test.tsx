import { act, render, screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { resetAuthForTests } from '../api';
import { RecordView } from '../views/RecordView';
import { SessionsList } from '../views/SessionsList';
import { installEventSource, mockFetch, page, rec, session } from './helpers';

describe('sessions list and record view', () => {
  beforeEach(() => {
    resetAuthForTests();
    installEventSource();
  });
  afterEach(() => vi.unstubAllGlobals());

  it('lists sessions with counts, renames inline and deletes after confirmation', async () => {
    const s = session({ id: 'a', name: 'first', turn_count: 3, record_count: 4, error_count: 1, total_tokens: 1234 });
    const calls = mockFetch({
      'GET /api/sessions': { body: { items: [s], page: 1, size: 50, total: 1 } },
      'PATCH /api/sessions/a': (c) => ({ body: { ...s, name: (c.body as { name: string }).name } }),
      'DELETE /api/sessions/a': { status: 204 },
    });
    const user = userEvent.setup();
    render(<SessionsList />);
    const row = await screen.findByTestId('session-row');
    expect(within(row).getByText('first')).toBeInTheDocument();
    expect(within(row).getByText('1,234')).toBeInTheDocument();

    await user.click(within(row).getByRole('button', { name: 'rename' }));
    const input = within(row).getByLabelText('session name');
    await user.clear(input);
    await user.type(input, 'renamed{Enter}');
    await within(row).findByText('renamed');
    expect(calls.find((c) => c.method === 'PATCH')?.body).toEqual({ name: 'renamed' });

    const confirm = vi.fn(() => false);
    vi.stubGlobal('confirm', confirm);
    await user.click(within(row).getByRole('button', { name: 'Delete' }));
    expect(confirm).toHaveBeenCalled();
    expect(calls.some((c) => c.method === 'DELETE')).toBe(false);
    confirm.mockReturnValue(true);
    await user.click(within(row).getByRole('button', { name: 'Delete' }));
    await waitFor(() => expect(screen.queryByTestId('session-row')).toBeNull());
    expect(calls.some((c) => c.method === 'DELETE' && c.url === '/api/sessions/a')).toBe(true);
  });

  it('shows a record with raw JSON blocks and its replay history', async () => {
    const r = rec({ id: 'x1', metadata: { user: 'alice' }, request: { messages: [{ role: 'user', content: 'q' }] }, response: 'a' });
    const replay = rec({ id: 'x2', replay_of: 'x1', response: 'b' });
    mockFetch({
      'GET /api/records/x1': { body: r },
      'GET /api/sessions/s1/records': { body: page([r, replay]) },
    });
    render(<RecordView id="x1" />);
    expect(await screen.findByText('request')).toBeInTheDocument();
    expect(screen.getByText('metadata')).toBeInTheDocument();
    // Raw JSON is a folded tree: open blocks show their first levels, closed ones build nothing until opened.
    expect(screen.getAllByTestId('json-tree')).toHaveLength(2);
    expect(screen.getAllByText('"messages":').length).toBeGreaterThan(0);
    expect(screen.queryByText('"alice"')).toBeNull();
    const meta = screen.getByText('metadata').closest('details')!;
    act(() => {
      meta.open = true;
      meta.dispatchEvent(new Event('toggle'));
    });
    expect(await screen.findByText('"alice"')).toBeInTheDocument();
    expect(await screen.findByTestId('replay-item')).toHaveTextContent('b');
  });
});
