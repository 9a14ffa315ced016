import { describe, expect, it } from 'vitest';
import { requestMessages, responseText, responseView } from '../messages';
import { buildTurns } from '../timeline';
import { rec } from './helpers';

describe('request/response shapes', () => {
  it('reads a Responses API request and response', () => {
    const msgs = requestMessages({
      instructions: 'be nice',
      input: [
        { role: 'user', content: [{ type: 'input_text', text: 'hi' }] },
        { type: 'function_call', name: 'lookup', arguments: '{"q":1}', call_id: 'c1' },
        { type: 'function_call_output', call_id: 'c1', output: 'found' },
      ],
    });
    expect(msgs.map((m) => [m.role, m.content])).toEqual([
      ['system', 'be nice'],
      ['user', 'hi'],
      ['assistant', ''],
      ['tool', 'found'],
    ]);
    expect(msgs[2].toolCalls[0]).toEqual({ id: 'c1', name: 'lookup', arguments: '{"q":1}' });
    const v = responseView({
      status: 'completed',
      output: [
        { type: 'message', content: [{ type: 'output_text', text: 'hello' }] },
        { type: 'function_call', name: 'f', arguments: '{}', call_id: 'c2' },
      ],
    });
    expect(v).toEqual({ content: 'hello', toolCalls: [{ id: 'c2', name: 'f', arguments: '{}' }], finishReason: 'completed' });
  });

  it('reads completions, embeddings and assembled stream chunks', () => {
    expect(requestMessages({ prompt: 'once upon' })[0].content).toBe('once upon');
    expect(responseView({ choices: [{ text: ' a time', finish_reason: 'length' }] })).toMatchObject({
      content: ' a time',
      finishReason: 'length',
    });
    expect(responseView({ data: [{ embedding: [1, 2, 3] }] })?.note).toBe('1 embedding(s) × 3');
    const chunks = [
      { choices: [{ delta: { role: 'assistant', content: 'Hel' } }] },
      { choices: [{ delta: { content: 'lo' } }] },
      { choices: [{ delta: { tool_calls: [{ index: 0, id: 't', function: { name: 'f', arguments: '{"a"' } }] } }] },
      { choices: [{ delta: { tool_calls: [{ index: 0, function: { arguments: ':1}' } }] }, finish_reason: 'tool_calls' }] },
    ];
    expect(responseView(chunks)).toEqual({
      content: 'Hello',
      toolCalls: [{ id: 't', name: 'f', arguments: '{"a":1}' }],
      finishReason: 'tool_calls',
    });
    expect(responseText(chunks)).toBe('Hello\n→ f({"a":1})');
    expect(responseView(null)).toBeNull();
    // A body traced as a JSON string reads like the object it holds; plain text stays text.
    expect(requestMessages('{"messages":[{"role":"user","content":"in a string"}]}')[0].content).toBe('in a string');
    expect(requestMessages('just text')[0]).toMatchObject({ role: 'user', content: 'just text' });
  });

  it('groups replays of replays and nested spans under the right call', () => {
    const a = rec({ id: 'a', turn_number: 2 });
    const b = rec({ id: 'b', turn_number: 1 });
    const r1 = rec({ id: 'r1', turn_number: 2, replay_of: 'a' });
    const r2 = rec({ id: 'r2', turn_number: 2, replay_of: 'r1' });
    const child = rec({ id: 'c', turn_number: 2, parent_id: 'a' });
    const orphan = rec({ id: 'o', turn_number: 3, replay_of: 'gone' });
    const turns = buildTurns([r2, child, a, orphan, r1, b]);
    expect(turns.map((t) => t.turn)).toEqual([1, 2, 3]);
    expect(turns[1].calls).toHaveLength(1);
    expect(turns[1].calls[0].replays.map((r) => r.id)).toEqual(['r1', 'r2']);
    expect(turns[1].calls[0].children.map((r) => r.id)).toEqual(['c']);
    expect(turns[2].calls[0].record.id).toBe('o');
  });
});
