// Reads OpenAI-style request and response bodies (chat/completions, completions, responses, embeddings) into
// a small view model the timeline renders. Unknown shapes degrade to raw JSON, never to an error.
export interface ToolCall {
  id?: string;
  name: string;
  arguments: string;
}

// A piece of message content that is not plain text. Set on a message only when it has one, so text-only
// messages keep their simple shape.
export type Part =
  | { kind: 'text'; text: string }
  | { kind: 'image'; url: string; detail?: string }
  | { kind: 'audio'; data: string; format: string; transcript?: string }
  | { kind: 'file'; name: string; mime?: string; bytes?: number; fileId?: string };

export interface Message {
  role: string;
  content: string;
  toolCalls: ToolCall[];
  toolCallId?: string;
  name?: string;
  parts?: Part[];
}

export interface ResponseView {
  content: string | null;
  toolCalls: ToolCall[];
  finishReason?: string;
  note?: string; // e.g. "3 embeddings × 1536"
  parts?: Part[];
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

export function pretty(v: unknown): string {
  if (v === undefined) return '';
  if (typeof v === 'string') return v;
  try {
    return JSON.stringify(v, null, 2);
  } catch {
    return String(v);
  }
}

// Decoded size of base64 text, without decoding it.
export function base64Bytes(b64: string): number {
  const t = b64.replace(/\s+/g, '');
  const pad = t.endsWith('==') ? 2 : t.endsWith('=') ? 1 : 0;
  return Math.max(0, Math.floor((t.length * 3) / 4) - pad);
}

function dataUrlBytes(url: string): number | undefined {
  const m = /^data:[^,]*;base64,/i.exec(url);
  return m ? base64Bytes(url.slice(m[0].length)) : undefined;
}

// One content part as the UI shows it: OpenAI chat (image_url, input_audio, file), Responses API (input_text,
// output_text, input_image, input_file) and Anthropic blocks (text, image, document with a base64 or url
// source). Anything else falls back to text so nothing is silently dropped.
export function partOf(part: unknown): Part {
  if (typeof part === 'string') return { kind: 'text', text: part };
  if (!isObj(part)) return { kind: 'text', text: pretty(part) };
  const type = str(part.type) ?? '';
  if (type === 'image_url' || type === 'input_image' || (type === '' && part.image_url !== undefined)) {
    const iu = part.image_url;
    const url = typeof iu === 'string' ? iu : isObj(iu) ? str(iu.url) : undefined;
    if (url !== undefined) return { kind: 'image', url, detail: str(part.detail) ?? (isObj(iu) ? str(iu.detail) : undefined) };
    if (typeof part.file_id === 'string') return { kind: 'file', name: `image ${part.file_id}`, fileId: part.file_id };
  }
  if ((type === 'image' || type === 'document') && isObj(part.source)) {
    const src = part.source;
    const media = str(src.media_type) ?? (type === 'image' ? 'image/png' : 'application/octet-stream');
    if (type === 'image') {
      if (src.type === 'base64' && typeof src.data === 'string') return { kind: 'image', url: `data:${media};base64,${src.data}` };
      if (src.type === 'url' && typeof src.url === 'string') return { kind: 'image', url: src.url };
    }
    const data = typeof src.data === 'string' ? src.data : undefined;
    return {
      kind: 'file',
      name: str(part.title) ?? str(src.url) ?? (src.type === 'text' ? 'document (text)' : 'document'),
      mime: media,
      bytes: data === undefined ? undefined : src.type === 'base64' ? base64Bytes(data) : data.length,
    };
  }
  if (type === 'input_audio' && isObj(part.input_audio)) {
    return { kind: 'audio', data: str(part.input_audio.data) ?? '', format: str(part.input_audio.format) ?? 'wav' };
  }
  if (type === 'file' || type === 'input_file') {
    const f = isObj(part.file) ? part.file : part;
    const data = str(f.file_data);
    const fileId = str(f.file_id);
    return {
      kind: 'file',
      name: str(f.filename) ?? fileId ?? str(f.file_url) ?? 'file',
      fileId,
      bytes: data === undefined ? undefined : (dataUrlBytes(data) ?? base64Bytes(data)),
    };
  }
  const text = str(part.text) ?? str(part.content) ?? str(part.refusal) ?? str(part.thinking);
  if (text !== undefined) return { kind: 'text', text };
  return { kind: 'text', text: `[${type || 'part'}] ${pretty(part)}` };
}

// The parts of a content array, or undefined when it is plain text only (the common case).
export function contentParts(content: unknown): Part[] | undefined {
  if (!Array.isArray(content)) return undefined;
  const parts = content.filter((p) => !(isObj(p) && (p.type === 'tool_use' || p.type === 'tool_result'))).map(partOf);
  return parts.some((p) => p.kind !== 'text') ? parts : undefined;
}

// Message content: a string, or an array of parts ({type:"text",text}, {type:"input_text",text}, images...).
export function contentText(content: unknown): string {
  if (content == null) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    return content
      .filter((part) => !(isObj(part) && part.type === 'tool_use'))
      .map((part) => {
        if (typeof part === 'string') return part;
        if (isObj(part)) {
          const text = str(part.text) ?? str(part.content) ?? str(part.refusal);
          if (text !== undefined) return text;
          if (part.type === 'tool_result' && Array.isArray(part.content)) return contentText(part.content);
          const p = partOf(part);
          if (p.kind === 'image') return `[image ${p.url.startsWith('data:') ? `${p.url.slice(0, p.url.indexOf(',') + 1)}… ${base64Bytes(p.url.slice(p.url.indexOf(',') + 1))} bytes` : p.url.slice(0, 200)}]`;
          if (p.kind === 'audio') return `[audio ${p.format}, ${base64Bytes(p.data)} bytes]`;
          if (p.kind === 'file') return `[file ${p.name}${p.bytes !== undefined ? `, ${p.bytes} bytes` : ''}]`;
          return p.text;
        }
        return pretty(part);
      })
      .join('\n');
  }
  return pretty(content);
}

function toolCallsOf(v: unknown): ToolCall[] {
  if (!Array.isArray(v)) return [];
  return v.filter(isObj).map((tc) => {
    const fn = isObj(tc.function) ? tc.function : tc;
    const args = fn.arguments ?? fn.input ?? '';
    return {
      id: str(tc.id) ?? str(tc.call_id),
      name: str(fn.name) ?? str(tc.type) ?? 'tool',
      arguments: typeof args === 'string' ? args : pretty(args),
    };
  });
}

// Anthropic puts tool calls in the content as {type:"tool_use", id, name, input} blocks.
function toolUseBlocks(content: unknown): ToolCall[] {
  if (!Array.isArray(content)) return [];
  return content
    .filter((b): b is Obj => isObj(b) && b.type === 'tool_use')
    .map((b) => ({ id: str(b.id), name: str(b.name) ?? 'tool', arguments: pretty(b.input ?? {}) }));
}

function chatMessage(m: Obj): Message {
  const calls = toolCallsOf(m.tool_calls);
  if (isObj(m.function_call)) calls.push(...toolCallsOf([{ function: m.function_call }]));
  calls.push(...toolUseBlocks(m.content));
  const msg: Message = {
    role: str(m.role) ?? 'unknown',
    content: contentText(m.content),
    toolCalls: calls,
    toolCallId: str(m.tool_call_id),
    name: str(m.name),
  };
  // Anthropic tool results are user messages holding tool_result blocks.
  if (Array.isArray(m.content)) {
    const tr = m.content.find((b) => isObj(b) && b.type === 'tool_result') as Obj | undefined;
    if (tr && !msg.toolCallId) msg.toolCallId = str(tr.tool_use_id);
  }
  const parts = contentParts(m.content);
  // An OpenAI audio answer: {audio: {data, transcript}}.
  if (isObj(m.audio) && typeof m.audio.data === 'string') {
    const audio: Part = { kind: 'audio', data: m.audio.data, format: str(m.audio.format) ?? 'wav', transcript: str(m.audio.transcript) };
    msg.parts = [...(parts ?? (msg.content ? [{ kind: 'text', text: msg.content } as Part] : [])), audio];
    if (!msg.content && audio.kind === 'audio' && audio.transcript) msg.content = audio.transcript;
  } else if (parts) msg.parts = parts;
  return msg;
}

// Items of the Responses API `input`: messages, function calls and their outputs.
function responsesItem(item: unknown): Message {
  if (typeof item === 'string') return { role: 'user', content: item, toolCalls: [] };
  if (!isObj(item)) return { role: 'unknown', content: pretty(item), toolCalls: [] };
  const type = str(item.type);
  if (type === 'function_call') {
    return { role: 'assistant', content: '', toolCalls: toolCallsOf([item]) };
  }
  if (type === 'function_call_output') {
    return { role: 'tool', content: contentText(item.output), toolCalls: [], toolCallId: str(item.call_id) };
  }
  return chatMessage(item);
}

// Some clients trace the body as a JSON string rather than an object: read it as the object it holds.
export function unwrapJsonString(v: unknown): unknown {
  if (typeof v !== 'string') return v;
  const t = v.trim();
  if (!(t.startsWith('{') || t.startsWith('['))) return v;
  try {
    return JSON.parse(t);
  } catch {
    return v;
  }
}

export function requestMessages(raw: unknown): Message[] {
  const request = unwrapJsonString(raw);
  if (typeof request === 'string') return [{ role: 'user', content: request, toolCalls: [] }];
  if (!isObj(request)) return [];
  const out: Message[] = [];
  if (typeof request.system === 'string') out.push({ role: 'system', content: request.system, toolCalls: [] });
  if (typeof request.instructions === 'string') {
    out.push({ role: 'system', content: request.instructions, toolCalls: [] });
  }
  if (Array.isArray(request.messages)) {
    out.push(...request.messages.map((m) => (isObj(m) ? chatMessage(m) : responsesItem(m))));
  } else if (request.prompt !== undefined) {
    const prompts = Array.isArray(request.prompt) ? request.prompt : [request.prompt];
    out.push(...prompts.map((p) => ({ role: 'user', content: contentText(p), toolCalls: [] })));
  } else if (request.input !== undefined) {
    const items = Array.isArray(request.input) ? request.input : [request.input];
    out.push(...items.map(responsesItem));
  }
  return out;
}

// Assembles streamed chat chunks ([{choices:[{delta:{content}}]}...]) that a client stored as an array.
function fromChunks(chunks: unknown[]): ResponseView | null {
  if (!chunks.every((c) => isObj(c) && Array.isArray(c.choices))) return null;
  let content = '';
  let finish: string | undefined;
  const calls = new Map<number, ToolCall>();
  for (const c of chunks as Obj[]) {
    for (const ch of c.choices as unknown[]) {
      if (!isObj(ch)) continue;
      const delta = isObj(ch.delta) ? ch.delta : {};
      content += str(delta.content) ?? str(ch.text) ?? '';
      finish = str(ch.finish_reason) ?? finish;
      if (Array.isArray(delta.tool_calls)) {
        for (const tc of delta.tool_calls) {
          if (!isObj(tc)) continue;
          const idx = typeof tc.index === 'number' ? tc.index : 0;
          const cur = calls.get(idx) ?? { name: '', arguments: '' };
          const fn = isObj(tc.function) ? tc.function : {};
          cur.id = str(tc.id) ?? cur.id;
          cur.name += str(fn.name) ?? '';
          cur.arguments += str(fn.arguments) ?? '';
          calls.set(idx, cur);
        }
      }
    }
  }
  return { content, toolCalls: [...calls.values()], finishReason: finish };
}

export function responseView(raw: unknown): ResponseView | null {
  const response = unwrapJsonString(raw);
  if (response == null) return null;
  if (typeof response === 'string') return { content: response, toolCalls: [] };
  if (Array.isArray(response)) return fromChunks(response) ?? { content: pretty(response), toolCalls: [] };
  if (!isObj(response)) return { content: pretty(response), toolCalls: [] };
  if (Array.isArray(response.choices) && response.choices.length > 0) {
    const ch = response.choices[0];
    if (isObj(ch)) {
      const msg = isObj(ch.message) ? ch.message : isObj(ch.delta) ? ch.delta : null;
      if (msg) {
        const m = chatMessage(msg);
        return {
          content: msg.content == null && !m.parts ? null : m.content,
          toolCalls: m.toolCalls,
          finishReason: str(ch.finish_reason),
          ...(m.parts ? { parts: m.parts } : {}),
        };
      }
      if (typeof ch.text === 'string') return { content: ch.text, toolCalls: [], finishReason: str(ch.finish_reason) };
    }
  }
  if (Array.isArray(response.output)) {
    const texts: string[] = [];
    const calls: ToolCall[] = [];
    const parts: Part[] = [];
    for (const item of response.output) {
      if (!isObj(item)) continue;
      if (item.type === 'function_call') calls.push(...toolCallsOf([item]));
      else if (item.content !== undefined) {
        texts.push(contentText(item.content));
        parts.push(...(contentParts(item.content) ?? []));
      }
    }
    return {
      content: texts.length ? texts.join('\n') : null,
      toolCalls: calls,
      finishReason: str(response.status),
      ...(parts.length ? { parts } : {}),
    };
  }
  if (typeof response.output_text === 'string') return { content: response.output_text, toolCalls: [] };
  if (Array.isArray(response.data) && response.data.every((d) => isObj(d) && Array.isArray(d.embedding))) {
    const first = response.data[0] as Obj | undefined;
    const dim = first && Array.isArray(first.embedding) ? first.embedding.length : 0;
    return { content: null, toolCalls: [], note: `${response.data.length} embedding(s) × ${dim}` };
  }
  if (typeof response.content === 'string') return { content: response.content, toolCalls: [] };
  // Anthropic Messages API: {type:"message", content:[text, tool_use, ...], stop_reason}.
  if (Array.isArray(response.content)) {
    const m = chatMessage({ role: 'assistant', content: response.content });
    return { content: m.content, toolCalls: m.toolCalls, finishReason: str(response.stop_reason), ...(m.parts ? { parts: m.parts } : {}) };
  }
  return { content: pretty(response), toolCalls: [] };
}

// The text a replay diff compares: content plus tool calls, so a changed call shows up too.
export function responseText(response: unknown): string {
  const v = responseView(response);
  if (!v) return '';
  const parts = [v.content ?? ''];
  for (const tc of v.toolCalls) parts.push(`→ ${tc.name}(${tc.arguments})`);
  if (v.note) parts.push(v.note);
  return parts.filter((p) => p !== '').join('\n');
}

const msgKey = (m: Message) => JSON.stringify([m.role, m.content, m.toolCalls.map((t) => [t.name, t.arguments])]);

// The conversation a call continues: its request messages plus the answer it got.
export function conversationAfter(request: unknown, response: unknown): Message[] {
  const msgs = requestMessages(request);
  const v = responseView(response);
  if (v && (v.content || v.toolCalls.length)) msgs.push({ role: 'assistant', content: v.content ?? '', toolCalls: v.toolCalls });
  return msgs;
}

// How many leading messages of `next` repeat `previous` (chat clients resend the whole history every turn).
export function sharedPrefix(previous: Message[], next: Message[]): number {
  let n = 0;
  while (n < previous.length && n < next.length && msgKey(previous[n]) === msgKey(next[n])) n++;
  return n;
}
