'use strict';
// A multi-turn agent with the official `openai` client, traced by wrapping it once (no call-site changes).
//   OPENAI_BASE_URL, OPENAI_API_KEY, OPENAI_MODEL, LLMTRACE_ENDPOINT; LLMTRACE_STREAM=1 streams the replies.
//   node examples/node/agent.js [prompt ...]   -> prints the session id, then one line per turn.
const path = require('node:path');
let llmtrace;
try {
  llmtrace = require('llmtrace');
} catch {
  llmtrace = require(path.join(__dirname, '..', '..', 'bindings', 'node'));
}
const OpenAI = require('openai');

async function main(prompts) {
  const tracer = new llmtrace.Client(); // LLMTRACE_ENDPOINT / LLMTRACE_API_KEY
  const openai = llmtrace.wrapOpenAI(
    new OpenAI({ baseURL: process.env.OPENAI_BASE_URL, apiKey: process.env.OPENAI_API_KEY || 'none', maxRetries: 0 }),
    { tracer, sessionId: process.env.LLMTRACE_SESSION },
  );
  console.log(openai.llmtraceSessionId);
  const model = process.env.OPENAI_MODEL || 'gpt-4o-mini';
  const stream = process.env.LLMTRACE_STREAM === '1';
  const messages = [{ role: 'system', content: 'You are a concise assistant.' }];
  let turn = 0;
  for (const prompt of prompts) {
    turn++;
    messages.push({ role: 'user', content: prompt });
    try {
      let text = '';
      if (stream) {
        const s = await openai.chat.completions.create({ model, messages, stream: true });
        for await (const chunk of s) text += chunk.choices[0]?.delta?.content ?? '';
      } else {
        const r = await openai.chat.completions.create({ model, messages });
        text = r.choices[0].message.content;
      }
      messages.push({ role: 'assistant', content: text });
      console.log(`turn ${turn}: ${text}`);
    } catch (e) {
      messages.pop();
      console.log(`turn ${turn}: error (${e.status ?? e.message})`);
    }
  }
  const ok = await tracer.shutdown(5000);
  process.exitCode = ok ? 0 : 2;
}

main(process.argv.slice(2).length ? process.argv.slice(2) : ['Plan a trip.', 'Add a budget.', 'Summarise.']);
