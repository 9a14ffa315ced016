// One agent run as a real instrumented app would produce it: an `agent` span holding two chat completions
// through the official `openai` client (the first asks for a tool, the second answers with its result) and
// a `tool` span between them. The OpenAI upstream is a fake served here on loopback; the OTLP exporters send
// to a capture server, also here, that writes every body it receives (traces and logs) to OUT_DIR.
// Usage: node scenario.cjs <otel|traceloop|openinference> <json|proto> <out-dir>
// Env (collector.test.mjs): OTLP_TARGET=<base URL> exports to a real collector instead of the capture server;
// UPSTREAM_BASE=<base URL> uses that fake upstream (the test's, which the collector also replays against).
'use strict';
const http = require('node:http');
const fs = require('node:fs');
const path = require('node:path');

const [dialect, encoding, outDir] = process.argv.slice(2);
if (!dialect || !encoding || !outDir) {
  console.error('usage: node scenario.cjs <otel|traceloop|openinference> <json|proto> <out-dir>');
  process.exit(2);
}
process.env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT = 'true';
process.env.TRACELOOP_TRACE_CONTENT = 'true';
fs.mkdirSync(outDir, { recursive: true });

function listen(handler) {
  return new Promise((resolve) => {
    const server = http.createServer(handler);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

// The fake upstream: a tool call when the conversation has no tool result yet, else the final answer.
const upstreamCalls = [];
function upstreamHandler(req, res) {
  let raw = '';
  req.on('data', (c) => (raw += c));
  req.on('end', () => {
    const body = JSON.parse(raw);
    upstreamCalls.push(body);
    const hasToolResult = body.messages.some((m) => m.role === 'tool');
    const message = hasToolResult
      ? { role: 'assistant', content: 'It is 21 degrees and sunny in Paris.', refusal: null }
      : {
          role: 'assistant',
          content: null,
          refusal: null,
          tool_calls: [{ id: 'call_weather_1', type: 'function',
                         function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
        };
    const usage = hasToolResult
      ? { prompt_tokens: 40, completion_tokens: 9, total_tokens: 49 }
      : { prompt_tokens: 25, completion_tokens: 7, total_tokens: 32 };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({
      id: hasToolResult ? 'chatcmpl-fake-2' : 'chatcmpl-fake-1', object: 'chat.completion', created: 1700000000,
      model: 'gpt-4o-mini-2024-07-18',
      choices: [{ index: 0, message, finish_reason: hasToolResult ? 'stop' : 'tool_calls', logprobs: null }],
      usage,
    }));
  });
}

// The capture server: every OTLP body to a file, with its headers in the manifest.
const captured = [];
function captureHandler(req, res) {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const signal = req.url.replace(/^\/v1\//, '');
    const file = path.join(outDir, `${String(captured.length).padStart(3, '0')}-${signal}.bin`);
    fs.writeFileSync(file, Buffer.concat(chunks));
    captured.push({ signal, file, contentType: req.headers['content-type'] || '',
                    contentEncoding: req.headers['content-encoding'] || '' });
    const proto = (req.headers['content-type'] || '').includes('protobuf');
    res.writeHead(200, { 'content-type': proto ? 'application/x-protobuf' : 'application/json' });
    res.end(proto ? Buffer.alloc(0) : '{}');
  });
}

async function main() {
  const upstream = process.env.UPSTREAM_BASE ? null : await listen(upstreamHandler);
  const upstreamBase = process.env.UPSTREAM_BASE || `http://127.0.0.1:${upstream.address().port}`;
  const capture = await listen(captureHandler);
  const base = process.env.OTLP_TARGET || `http://127.0.0.1:${capture.address().port}`;

  const { NodeTracerProvider, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-node');
  const { resourceFromAttributes } = require('@opentelemetry/resources');
  const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
  const { registerInstrumentations } = require('@opentelemetry/instrumentation');
  const api = require('@opentelemetry/api');
  const traceExporterPkg = encoding === 'proto' ? '@opentelemetry/exporter-trace-otlp-proto'
                                                : '@opentelemetry/exporter-trace-otlp-http';
  const logExporterPkg = encoding === 'proto' ? '@opentelemetry/exporter-logs-otlp-proto'
                                              : '@opentelemetry/exporter-logs-otlp-http';
  const { OTLPTraceExporter } = require(traceExporterPkg);
  const { OTLPLogExporter } = require(logExporterPkg);
  // protobuf runs also exercise gzip bodies.
  const compression = encoding === 'proto' ? 'gzip' : 'none';

  const resource = resourceFromAttributes({ 'service.name': `otlp-${dialect}-${encoding}` });
  const traceExporter = new OTLPTraceExporter({ url: `${base}/v1/traces`, compression });
  const provider = new NodeTracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor(traceExporter)] });
  provider.register();
  const logExporter = new OTLPLogExporter({ url: `${base}/v1/logs`, compression });
  // Spans go one request each (children arrive before their root, as in real runs); log records are batched, as
  // apps configure them: the content records of one call carry the same timestamp, and only their order in a
  // request says which came first.
  const loggerProvider = new LoggerProvider({ resource, processors: [new BatchLogRecordProcessor({ exporter: logExporter })] });

  let agentAttrs;
  let toolAttrs;
  let OpenAI;
  if (dialect === 'otel') {
    const { OpenAIInstrumentation } = require('@opentelemetry/instrumentation-openai');
    registerInstrumentations({ instrumentations: [new OpenAIInstrumentation({ captureMessageContent: true })],
                               tracerProvider: provider, loggerProvider });
    OpenAI = require('openai').OpenAI;
    agentAttrs = { 'gen_ai.operation.name': 'invoke_agent', 'gen_ai.agent.name': 'weather-agent',
                   'gen_ai.conversation.id': 'conv-otel-1' };
    toolAttrs = { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': 'get_weather',
                  'gen_ai.tool.call.id': 'call_weather_1', 'gen_ai.tool.call.arguments': '{"city":"Paris"}',
                  'gen_ai.tool.call.result': '{"temp_c":21,"sky":"sunny"}' };
  } else if (dialect === 'traceloop') {
    OpenAI = require('openai').OpenAI;
    const { OpenAIInstrumentation } = require('@traceloop/instrumentation-openai');
    const inst = new OpenAIInstrumentation({ traceContent: true });
    inst.setTracerProvider(provider);
    inst.manuallyInstrument(OpenAI);  // wants the class, which carries Chat.Completions
    agentAttrs = { 'traceloop.span.kind': 'agent', 'traceloop.entity.name': 'weather-agent',
                   'traceloop.association.properties.session_id': 'conv-traceloop-1' };
    toolAttrs = { 'traceloop.span.kind': 'tool', 'traceloop.entity.name': 'get_weather',
                  'traceloop.entity.input': '{"city":"Paris"}', 'traceloop.entity.output': '{"temp_c":21,"sky":"sunny"}' };
  } else if (dialect === 'openinference') {
    const openaiModule = require('openai');
    OpenAI = openaiModule.OpenAI;
    const { OpenAIInstrumentation } = require('@arizeai/openinference-instrumentation-openai');
    const inst = new OpenAIInstrumentation();
    inst.setTracerProvider(provider);
    inst.manuallyInstrument(openaiModule);  // wants the module, which carries OpenAI
    agentAttrs = { 'openinference.span.kind': 'AGENT', 'session.id': 'conv-openinference-1',
                   'input.value': 'What is the weather in Paris?' };
    toolAttrs = { 'openinference.span.kind': 'TOOL', 'tool.name': 'get_weather',
                  'input.value': '{"city":"Paris"}', 'output.value': '{"temp_c":21,"sky":"sunny"}' };
  } else {
    throw new Error(`unknown dialect ${dialect}`);
  }

  const client = new OpenAI({ apiKey: 'sk-fake', baseURL: `${upstreamBase}/v1` });
  const tools = [{ type: 'function', function: { name: 'get_weather', description: 'Weather for a city',
                   parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } } }];
  const messages = [
    { role: 'system', content: 'You are a weather agent.' },
    { role: 'user', content: 'What is the weather in Paris?' },
  ];
  const tracer = api.trace.getTracer('otlp-scenario');
  await tracer.startActiveSpan('weather-agent', { attributes: agentAttrs }, async (agent) => {
    const first = await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools, temperature: 0.2 });
    const call = first.choices[0].message.tool_calls[0];
    tracer.startActiveSpan('get_weather', { attributes: toolAttrs }, (tool) => tool.end());
    messages.push(first.choices[0].message);
    messages.push({ role: 'tool', tool_call_id: call.id, content: '{"temp_c":21,"sky":"sunny"}' });
    await client.chat.completions.create({ model: 'gpt-4o-mini', messages, tools, temperature: 0.2 });
    agent.end();
  });

  await provider.forceFlush();
  await loggerProvider.forceFlush();
  await provider.shutdown();
  await loggerProvider.shutdown();
  if (upstream) upstream.close();
  capture.close();
  fs.writeFileSync(path.join(outDir, 'manifest.json'), JSON.stringify({ dialect, encoding, upstreamCalls: upstreamCalls.length, captured }, null, 1));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
