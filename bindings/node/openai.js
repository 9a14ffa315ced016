'use strict';
// wrapOpenAI: trace every chat.completions.create call of an official `openai` client (or any client shaped
// like it) without changing call sites. Streams are passed through chunk by chunk and the assembled response
// is recorded when the stream ends, fails or is closed early.

function plain(v) {
  if (v === undefined) return null;
  try {
    return JSON.parse(JSON.stringify(v));
  } catch {
    return String(v);
  }
}

class Assembler {
  constructor() {
    this.id = null;
    this.model = null;
    this.created = null;
    this.choices = new Map();
    this.usage = null;
  }

  add(chunk) {
    if (!chunk || typeof chunk !== 'object') return;
    this.id ??= chunk.id ?? null;
    this.model ??= chunk.model ?? null;
    this.created ??= chunk.created ?? null;
    if (chunk.usage) this.usage = chunk.usage;
    for (const ch of chunk.choices ?? []) {
      const idx = ch.index ?? 0;
      if (!this.choices.has(idx)) {
        this.choices.set(idx, { index: idx, message: { role: 'assistant', content: '' }, finish_reason: null });
      }
      const acc = this.choices.get(idx);
      const d = ch.delta ?? {};
      if (d.role) acc.message.role = d.role;
      if (d.content) acc.message.content += d.content;
      for (const tc of d.tool_calls ?? []) {
        acc.message.tool_calls ??= [];
        const i = tc.index ?? acc.message.tool_calls.length;
        while (acc.message.tool_calls.length <= i) {
          acc.message.tool_calls.push({ id: null, type: 'function', function: { name: '', arguments: '' } });
        }
        const t = acc.message.tool_calls[i];
        if (tc.id) t.id = tc.id;
        if (tc.function?.name) t.function.name += tc.function.name;
        if (tc.function?.arguments) t.function.arguments += tc.function.arguments;
      }
      if (ch.finish_reason) acc.finish_reason = ch.finish_reason;
    }
  }

  result() {
    const out = {
      id: this.id,
      object: 'chat.completion',
      created: this.created,
      model: this.model,
      choices: [...this.choices.keys()].sort((a, b) => a - b).map((k) => this.choices.get(k)),
    };
    if (this.usage) out.usage = this.usage;
    return out;
  }
}

function tracedStream(stream, finish) {
  const asm = new Assembler();
  let done = false;
  const end = (err) => {
    if (done) return;
    done = true;
    finish(asm.result(), err);
  };
  return new Proxy(stream, {
    get(target, prop) {
      if (prop === Symbol.asyncIterator) {
        return function iterate() {
          const it = target[Symbol.asyncIterator]();
          return {
            async next() {
              let r;
              try {
                r = await it.next();
              } catch (e) {
                end(e);
                throw e;
              }
              if (r.done) end(null);
              else asm.add(r.value);
              return r;
            },
            async return(value) {
              end(asm.choices.size ? null : new Error('stream closed before completion'));
              return it.return ? it.return(value) : { done: true, value };
            },
            [Symbol.asyncIterator]() {
              return this;
            },
          };
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}

/**
 * Makes openaiClient.chat.completions.create trace each call, numbering turns 1, 2, 3... in one session.
 * @param {object} openaiClient an `openai` client (or the same shape)
 * @param {object} [opts] sessionId (generated when absent), tracer (an llmtrace Client; default: the
 *   process-wide client from the environment), metadata (object recorded with each call)
 * @returns the same client; its session id is in client.llmtraceSessionId
 */
function wrapOpenAI(openaiClient, opts = {}) {
  const { Client, newId, getDefaultClient } = require('./index');
  const tracer = opts.tracer instanceof Client ? opts.tracer : getDefaultClient();
  const sessionId = opts.sessionId || newId();
  const metadata = opts.metadata ?? null;
  const completions = openaiClient.chat.completions;
  const original = completions.create.bind(completions);
  let turn = 0;

  completions.create = function create(body, options) {
    const turnNumber = ++turn;
    const id = newId();
    const request = plain(body);
    const model = body?.model;
    const startedAt = new Date();
    const t0 = performance.now();
    const base = { id, sessionId, turnNumber, request, model, metadata, startedAt };
    tracer.trace({ ...base, status: 'pending' });
    const finish = (response, err) => {
      const end = { ...base, response, endedAt: new Date(), latencyMs: performance.now() - t0 };
      if (err) tracer.trace({ ...end, status: 'error', errorMessage: `${err.name ?? 'Error'}: ${err.message ?? err}` });
      else tracer.trace({ ...end, status: 'success' });
    };
    let result;
    try {
      result = original(body, options);
    } catch (e) {
      finish(null, e);
      throw e;
    }
    if (!result || typeof result.then !== 'function') {
      // A synchronous client shape.
      if (body?.stream) return tracedStream(result, finish);
      finish(plain(result), null);
      return result;
    }
    if (body?.stream) {
      return result.then(
        (s) => tracedStream(s, finish),
        (e) => {
          finish(null, e);
          throw e;
        },
      );
    }
    // Observe the outcome on a side branch and hand back the client's own promise, so its extras
    // (e.g. openai's .withResponse() / .asResponse()) keep working.
    result.then(
      (r) => finish(plain(r), null),
      (e) => finish(null, e),
    );
    return result;
  };
  openaiClient.llmtraceSessionId = sessionId;
  return openaiClient;
}

module.exports = { wrapOpenAI, Assembler };
