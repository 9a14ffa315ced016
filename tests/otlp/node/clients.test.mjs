// Real OpenTelemetry JS clients → OTLP bodies → llmtrace's decoder and GenAI mapping. For each dialect
// (OTel GenAI instrumentation with content as log records, OpenLLMetry, OpenInference) and each encoding
// (OTLP/JSON, and protobuf with gzip), scenario.cjs runs an agent span with two chat completions through the
// official openai client and a tool span, capturing every exported body; otlp_decode_tool decodes and maps
// them, and the records must form one trace with the right tree, models, tokens, messages and tool calls.
// Env: OTLP_DECODE_TOOL (path to the built otlp_decode_tool).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const TOOL = process.env.OTLP_DECODE_TOOL;

const SESSION = { otel: 'conv-otel-1', traceloop: 'conv-traceloop-1', openinference: 'conv-openinference-1' };
// The OTel instrumentation does not record tool definitions; the other two do.
const RECORDS_TOOLS = { otel: false, traceloop: true, openinference: true };

function run(dialect, encoding) {
  const dir = mkdtempSync(path.join(tmpdir(), `otlp-${dialect}-${encoding}-`));
  try {
    const scenario = spawnSync(process.execPath, [path.join(here, 'scenario.cjs'), dialect, encoding, dir],
                               { encoding: 'utf8', timeout: 30000 });
    assert.equal(scenario.status, 0, `scenario failed: ${scenario.stderr}`);
    const manifest = JSON.parse(readFileSync(path.join(dir, 'manifest.json'), 'utf8'));
    const decoded = spawnSync(TOOL, [path.join(dir, 'manifest.json')], { encoding: 'utf8', timeout: 30000 });
    assert.equal(decoded.status, 0, `otlp_decode_tool failed: ${decoded.stdout} ${decoded.stderr}`);
    return { manifest, out: JSON.parse(decoded.stdout) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function roles(messages) {
  return messages.map((m) => m.role);
}

for (const dialect of ['otel', 'traceloop', 'openinference']) {
  for (const encoding of ['json', 'proto']) {
    test(`otlp client: ${dialect} over ${encoding === 'json' ? 'OTLP/JSON' : 'protobuf+gzip'} maps to one agent tree`, () => {
      assert.ok(TOOL, 'OTLP_DECODE_TOOL must point at the built otlp_decode_tool');
      const { manifest, out } = run(dialect, encoding);

      // What went over the wire is what the test claims to cover.
      assert.equal(manifest.upstreamCalls, 2);
      for (const c of manifest.captured) {
        assert.equal(c.contentType, encoding === 'json' ? 'application/json' : 'application/x-protobuf');
        assert.equal(c.contentEncoding, encoding === 'json' ? '' : 'gzip');
      }
      if (dialect === 'otel') assert.ok(out.log_records >= 6, `content log records exported: ${out.log_records}`);

      const records = out.records;
      assert.equal(records.length, 4, JSON.stringify(records.map((r) => [r.name, r.kind])));
      assert.equal(new Set(records.map((r) => r.trace_id)).size, 1, 'one trace');
      for (const r of records) {
        assert.match(r.id, /^[0-9a-f]{16}$/);
        assert.match(r.trace_id, /^[0-9a-f]{32}$/);
        assert.equal(r.status, 'success');
        assert.ok(r.latency_ms >= 0 && r.ended_at_ms >= r.started_at_ms);
      }

      const agents = records.filter((r) => r.kind === 'agent');
      assert.equal(agents.length, 1);
      const agent = agents[0];
      assert.equal(agent.parent_id, null);
      assert.equal(agent.name, 'weather-agent');
      assert.equal(agent.session_hint, SESSION[dialect]);

      const llms = records.filter((r) => r.kind === 'llm').sort((a, b) => a.started_at_ms - b.started_at_ms);
      const tools = records.filter((r) => r.kind === 'tool');
      assert.equal(llms.length, 2);
      assert.equal(tools.length, 1);
      for (const r of [...llms, ...tools]) assert.equal(r.parent_id, agent.id, `${r.name} hangs under the agent`);
      assert.equal(tools[0].request.name, 'get_weather');
      assert.deepEqual(tools[0].response.result, { temp_c: 21, sky: 'sunny' });
      assert.ok(tools[0].started_at_ms >= llms[0].started_at_ms && tools[0].started_at_ms <= llms[1].started_at_ms);

      const [first, second] = llms;
      for (const r of llms) {
        assert.equal(r.model, 'gpt-4o-mini-2024-07-18');
        assert.equal(r.request.model, 'gpt-4o-mini');
        assert.equal(r.request.temperature, 0.2);
        assert.equal(r.response.object, 'chat.completion');
        if (RECORDS_TOOLS[dialect]) {
          assert.equal(r.request.tools.length, 1);
          assert.equal(r.request.tools[0].type, 'function');
          assert.equal(r.request.tools[0].function.name, 'get_weather');
          assert.deepEqual(r.request.tools[0].function.parameters.required, ['city']);
        }
      }
      assert.deepEqual(first.usage, { prompt_tokens: 25, completion_tokens: 7, total_tokens: 32 });
      assert.deepEqual(second.usage, { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 });
      assert.deepEqual(first.response.usage, first.usage);

      // First call: the prompt, answered by a tool call. Each message exactly once.
      assert.deepEqual(roles(first.request.messages), ['system', 'user']);
      assert.equal(first.request.messages[0].content, 'You are a weather agent.');
      assert.equal(first.request.messages[1].content, 'What is the weather in Paris?');
      assert.equal(first.response.choices.length, 1);
      const call = first.response.choices[0].message.tool_calls[0];
      assert.deepEqual(call, { id: 'call_weather_1', type: 'function',
                               function: { name: 'get_weather', arguments: '{"city":"Paris"}' } });
      if (dialect !== 'openinference') assert.equal(first.response.choices[0].finish_reason, 'tool_calls');

      // Second call: the tool call and its result in the history, then the answer.
      assert.deepEqual(roles(second.request.messages), ['system', 'user', 'assistant', 'tool']);
      assert.equal(second.request.messages[2].tool_calls[0].id, 'call_weather_1');
      assert.equal(second.request.messages[2].tool_calls[0].function.name, 'get_weather');
      assert.equal(second.request.messages[3].tool_call_id, 'call_weather_1');
      assert.equal(second.request.messages[3].content, '{"temp_c":21,"sky":"sunny"}');
      assert.equal(second.response.choices[0].message.content, 'It is 21 degrees and sunny in Paris.');
      assert.equal(second.response.choices[0].message.role, 'assistant');

      // Every attribute is kept, with the resource beside it.
      assert.equal(agent.metadata['otel.resource']['service.name'], `otlp-${dialect}-${encoding}`);
      for (const r of llms) assert.ok(Object.keys(r.metadata).length > 5);
    });
  }
}
