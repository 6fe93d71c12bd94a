#!/usr/bin/env node
// A scripted model provider for the agent e2e tests: it speaks the Anthropic Messages API, the
// OpenAI Responses and Chat Completions APIs, and the Gemini API under the gateway's path prefixes
// (/anthropic, /openai, /gemini), streaming, with no model behind it. Plain node, no dependencies,
// so it runs in agentvisor/base:latest with only this file mounted.
//
// The script, the same for every provider and stateless (decided from the request body):
//  - a request that carries no tool result (and offers tools) → one tool call that writes
//    /workspace/hello.txt with CONTENT;
//  - a request that carries a tool result, or offers no tools (title generation, …) → a final text.
// Usage numbers are fixed (USAGE) so tests can compare them with what each CLI reports.
// Every request is appended to $RECORD (JSON lines: method, url, the key headers) so tests can
// check that the per-task token arrived as the API key.
// An API key of the form `fail-<status>` makes the model call answer with that HTTP status, in the
// provider's error shape (for the upstream-error tests).
'use strict';
const http = require('node:http');
const fs = require('node:fs');

const PORT = Number(process.env.PORT || 8080);
const RECORD = process.env.RECORD || '';
const CONTENT = process.env.CONTENT || 'hello from agentvisor\n';
const FILE = process.env.FILE || '/workspace/hello.txt';
const FINAL = 'Done: wrote hello.txt.';
const USAGE = { input: 120, output: 30, cached: 10 };

function record(req, body) {
  if (!RECORD) return;
  const h = req.headers;
  const line = {
    at: new Date().toISOString(),
    method: req.method,
    url: req.url,
    xApiKey: h['x-api-key'],
    authorization: h['authorization'],
    xGoogApiKey: h['x-goog-api-key'],
    userAgent: h['user-agent'],
    bodyBytes: body.length,
  };
  try {
    fs.appendFileSync(RECORD, JSON.stringify(line) + '\n');
  } catch (err) {
    process.stderr.write(`cannot record: ${err.message}\n`);
  }
}

function keyOf(req) {
  const h = req.headers;
  if (h['x-api-key']) return String(h['x-api-key']);
  if (h['x-goog-api-key']) return String(h['x-goog-api-key']);
  const auth = String(h['authorization'] || '');
  if (auth.toLowerCase().startsWith('bearer ')) return auth.slice(7);
  const q = new URL(req.url, 'http://x').searchParams.get('key');
  return q || '';
}

function sse(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
  return {
    event(name, data) {
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    },
    data(data) {
      res.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`);
    },
    end() {
      res.end();
    },
  };
}

function json(res, status, body) {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// ------------------------------------------------------------------ Anthropic Messages API
function anthropic(req, res, body, path) {
  if (req.method === 'HEAD' || req.method === 'GET') return json(res, 200, {});
  if (!path.startsWith('/v1/messages')) return json(res, 404, { type: 'error', error: { type: 'not_found_error', message: path } });
  if (path.startsWith('/v1/messages/count_tokens')) return json(res, 200, { input_tokens: USAGE.input });
  const fail = failStatus(req);
  if (fail) {
    const type = fail === 401 ? 'authentication_error' : fail === 429 ? 'rate_limit_error' : 'api_error';
    return json(res, fail, { type: 'error', error: { type, message: `scripted ${fail}` } });
  }
  const msgs = body.messages || [];
  const last = msgs[msgs.length - 1] || {};
  const hasResult = Array.isArray(last.content) && last.content.some((c) => c && c.type === 'tool_result');
  const toolCall = !hasResult && Array.isArray(body.tools) && body.tools.some((t) => t.name === 'Write');
  const model = body.model || 'claude-test';
  const usageStart = { input_tokens: USAGE.input, output_tokens: 1, cache_read_input_tokens: USAGE.cached, cache_creation_input_tokens: 0 };
  if (!body.stream) {
    return json(res, 200, {
      id: 'msg_final', type: 'message', role: 'assistant', model,
      content: [{ type: 'text', text: FINAL }], stop_reason: 'end_turn', stop_sequence: null,
      usage: { ...usageStart, output_tokens: USAGE.output },
    });
  }
  const s = sse(res);
  s.event('message_start', {
    type: 'message_start',
    message: { id: toolCall ? 'msg_tool' : 'msg_final', type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: usageStart },
  });
  if (toolCall) {
    s.event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'tool_use', id: 'toolu_01', name: 'Write', input: {} } });
    s.event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'input_json_delta', partial_json: JSON.stringify({ file_path: FILE, content: CONTENT }) } });
  } else {
    s.event('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    s.event('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: FINAL } });
  }
  s.event('content_block_stop', { type: 'content_block_stop', index: 0 });
  s.event('message_delta', { type: 'message_delta', delta: { stop_reason: toolCall ? 'tool_use' : 'end_turn', stop_sequence: null }, usage: { output_tokens: USAGE.output } });
  s.event('message_stop', { type: 'message_stop' });
  s.end();
}

// ------------------------------------------------------------------ OpenAI Responses API (codex)
function openaiResponses(req, res, body) {
  const fail = failStatus(req);
  if (fail) return json(res, fail, { error: { message: `scripted ${fail}`, type: fail === 429 ? 'rate_limit_exceeded' : 'error', code: String(fail) } });
  const input = Array.isArray(body.input) ? body.input : [];
  const hasResult = input.some((i) => i && i.type === 'function_call_output');
  const toolCall = !hasResult && Array.isArray(body.tools) && body.tools.length > 0;
  const model = body.model || 'gpt-test';
  const s = sse(res);
  const id = toolCall ? 'resp_tool' : 'resp_final';
  s.event('response.created', { type: 'response.created', response: { id, object: 'response', model, status: 'in_progress', output: [] } });
  let item;
  if (toolCall) {
    // codex offers exec_command (a shell); opencode's OpenAI provider offers write {filePath, content}
    const names = body.tools.map((t) => t.name || (t.function && t.function.name));
    let name = 'exec_command';
    let args;
    const printf = `printf '%s' '${CONTENT.replace(/'/g, "'\\''")}' > ${FILE}`;
    if (names.includes('write')) {
      name = 'write';
      args = { filePath: FILE, content: CONTENT };
    } else if (names.includes('bash') && !names.includes('exec_command')) {
      name = 'bash'; // opencode offers bash (and apply_patch) instead of write to GPT models
      args = { command: printf, description: 'Write hello.txt' };
    } else {
      args = { cmd: printf };
    }
    item = { type: 'function_call', id: 'fc_1', call_id: 'call_1', name, arguments: JSON.stringify(args), status: 'completed' };
  } else {
    item = { type: 'message', id: 'msg_1', role: 'assistant', status: 'completed', content: [{ type: 'output_text', text: FINAL, annotations: [] }] };
  }
  s.event('response.output_item.added', { type: 'response.output_item.added', output_index: 0, item: toolCall ? item : { ...item, content: [] } });
  if (!toolCall) {
    s.event('response.content_part.added', { type: 'response.content_part.added', item_id: item.id, output_index: 0, content_index: 0, part: { type: 'output_text', text: '', annotations: [] } });
    s.event('response.output_text.delta', { type: 'response.output_text.delta', item_id: item.id, output_index: 0, content_index: 0, delta: FINAL });
    s.event('response.output_text.done', { type: 'response.output_text.done', item_id: item.id, output_index: 0, content_index: 0, text: FINAL });
    s.event('response.content_part.done', { type: 'response.content_part.done', item_id: item.id, output_index: 0, content_index: 0, part: item.content[0] });
  }
  s.event('response.output_item.done', { type: 'response.output_item.done', output_index: 0, item });
  s.event('response.completed', {
    type: 'response.completed',
    response: {
      id, object: 'response', model, status: 'completed', output: [item],
      usage: {
        input_tokens: USAGE.input, input_tokens_details: { cached_tokens: USAGE.cached },
        output_tokens: USAGE.output, output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: USAGE.input + USAGE.output,
      },
    },
  });
  s.end();
}

// ------------------------------------------------------------------ OpenAI Chat Completions (opencode)
function openaiChat(req, res, body) {
  const fail = failStatus(req);
  if (fail) return json(res, fail, { error: { message: `scripted ${fail}`, type: fail === 429 ? 'rate_limit_exceeded' : 'error', code: String(fail) } });
  const msgs = body.messages || [];
  const hasResult = msgs.some((m) => m && m.role === 'tool');
  const hasWrite = Array.isArray(body.tools) && body.tools.some((t) => t.function && t.function.name === 'write');
  const toolCall = !hasResult && hasWrite;
  const model = body.model || 'gpt-test';
  const base = { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: Math.floor(Date.now() / 1000), model };
  const usage = { prompt_tokens: USAGE.input, completion_tokens: USAGE.output, total_tokens: USAGE.input + USAGE.output, prompt_tokens_details: { cached_tokens: USAGE.cached } };
  if (!body.stream) {
    return json(res, 200, { ...base, object: 'chat.completion', choices: [{ index: 0, message: { role: 'assistant', content: hasWrite ? FINAL : 'Hello task' }, finish_reason: 'stop' }], usage });
  }
  const s = sse(res);
  if (toolCall) {
    s.data({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'write', arguments: '' } }] }, finish_reason: null }] });
    s.data({ ...base, choices: [{ index: 0, delta: { tool_calls: [{ index: 0, function: { arguments: JSON.stringify({ filePath: FILE, content: CONTENT }) } }] }, finish_reason: null }] });
    s.data({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }] });
  } else {
    s.data({ ...base, choices: [{ index: 0, delta: { role: 'assistant', content: hasWrite ? FINAL : 'Hello task' }, finish_reason: null }] });
    s.data({ ...base, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] });
  }
  s.data({ ...base, choices: [], usage });
  s.data('[DONE]');
  s.end();
}

// ------------------------------------------------------------------ Gemini API
function gemini(req, res, body, path) {
  const fail = failStatus(req);
  if (fail) {
    const status = fail === 401 ? 'UNAUTHENTICATED' : fail === 429 ? 'RESOURCE_EXHAUSTED' : 'INTERNAL';
    return json(res, fail, { error: { code: fail, message: `scripted ${fail}`, status } });
  }
  if (path.includes(':countTokens')) return json(res, 200, { totalTokens: USAGE.input });
  const contents = body.contents || [];
  const hasResult = contents.some((c) => (c.parts || []).some((p) => p && p.functionResponse));
  const decls = (body.tools || []).flatMap((t) => t.functionDeclarations || []);
  const toolCall = !hasResult && decls.some((d) => d.name === 'write_file');
  const usageMetadata = { promptTokenCount: USAGE.input, candidatesTokenCount: USAGE.output, cachedContentTokenCount: USAGE.cached, totalTokenCount: USAGE.input + USAGE.output };
  const parts = toolCall ? [{ functionCall: { name: 'write_file', args: { file_path: FILE, content: CONTENT } } }] : [{ text: FINAL }];
  const chunk = { candidates: [{ content: { role: 'model', parts }, finishReason: 'STOP', index: 0 }], usageMetadata, modelVersion: 'gemini-test' };
  if (!path.includes(':streamGenerateContent')) return json(res, 200, chunk);
  const s = sse(res);
  s.data(chunk);
  s.end();
}

function failStatus(req) {
  const m = /^fail-(\d{3})/.exec(keyOf(req));
  return m ? Number(m[1]) : 0;
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const raw = Buffer.concat(chunks);
    record(req, raw);
    let body = {};
    try {
      body = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    } catch {
      body = {};
    }
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    try {
      if (p === '/healthz') return json(res, 200, { ok: true });
      if (p === '/anthropic' || p.startsWith('/anthropic/')) return anthropic(req, res, body, p.slice('/anthropic'.length) || '/');
      if (p.startsWith('/openai/v1/responses')) return openaiResponses(req, res, body);
      if (p.startsWith('/openai/v1/chat/completions')) return openaiChat(req, res, body);
      if (p.startsWith('/openai/v1/models')) return json(res, 200, { object: 'list', data: [] });
      if (p.startsWith('/gemini/')) return gemini(req, res, body, p.slice('/gemini'.length));
      json(res, 404, { error: { message: `no script for ${req.method} ${p}` } });
    } catch (err) {
      json(res, 500, { error: { message: String(err && err.stack) } });
    }
  });
});
server.listen(PORT, '0.0.0.0', () => process.stdout.write(`fake-gateway listening on ${PORT}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
