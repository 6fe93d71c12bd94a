// Usage parsing for each provider format, streamed and not, with payloads shaped like the real
// APIs' (see shared ENVIRONMENT.md); the SSE parser; pricing.
import { parseSse, serializeSseEvent, SseParser, type SseEvent } from '../../gateway/sse';
import { DEFAULT_PRICES } from '../../gateway/prices';
import { readModelRequest } from '../../gateway/model-request';
import { findPrice, priceUsage, totalTokens, usageFromResponse, type ProviderKind } from '../../gateway/usage';

const sse = (events: [string | undefined, unknown][]) =>
  events
    .map(([event, data]) =>
      serializeSseEvent({ ...(event ? { event } : {}), data: typeof data === 'string' ? data : JSON.stringify(data) }),
    )
    .join('');

const ANTHROPIC_STREAM = sse([
  [
    'message_start',
    {
      type: 'message_start',
      message: {
        id: 'msg_01',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: 472, cache_creation_input_tokens: 1200, cache_read_input_tokens: 3000, output_tokens: 2 },
      },
    },
  ],
  ['content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }],
  ['ping', { type: 'ping' }],
  ['content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Hello' } }],
  ['content_block_stop', { type: 'content_block_stop', index: 0 }],
  [
    'content_block_start',
    { type: 'content_block_start', index: 1, content_block: { type: 'tool_use', id: 'toolu_1', name: 'Write', input: {} } },
  ],
  [
    'content_block_delta',
    {
      type: 'content_block_delta',
      index: 1,
      delta: { type: 'input_json_delta', partial_json: '{"file_path":"/workspace/a.txt","content":"hi"}' },
    },
  ],
  ['content_block_stop', { type: 'content_block_stop', index: 1 }],
  ['message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 89 } }],
  ['message_stop', { type: 'message_stop' }],
]);

const RESPONSES_STREAM = sse([
  [
    'response.created',
    {
      type: 'response.created',
      sequence_number: 0,
      response: { id: 'resp_1', object: 'response', status: 'in_progress', model: 'gpt-5-codex', usage: null },
    },
  ],
  [
    'response.output_item.done',
    {
      type: 'response.output_item.done',
      sequence_number: 5,
      output_index: 0,
      item: { type: 'function_call', name: 'exec_command', call_id: 'call_1', arguments: '{"cmd":"ls"}' },
    },
  ],
  [
    'response.completed',
    {
      type: 'response.completed',
      sequence_number: 9,
      response: {
        id: 'resp_1',
        object: 'response',
        status: 'completed',
        model: 'gpt-5-codex',
        usage: {
          input_tokens: 2000,
          input_tokens_details: { cached_tokens: 1500 },
          output_tokens: 300,
          output_tokens_details: { reasoning_tokens: 200 },
          total_tokens: 2300,
        },
      },
    },
  ],
]);

const chunk = (extra: object) => ({
  id: 'chatcmpl-1',
  object: 'chat.completion.chunk',
  created: 1760000000,
  model: 'gpt-4.1-mini',
  ...extra,
});
const CHAT_STREAM = sse([
  [undefined, chunk({ choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }], usage: null })],
  [
    undefined,
    chunk({
      choices: [
        {
          index: 0,
          delta: {
            tool_calls: [
              { index: 0, id: 'call_1', type: 'function', function: { name: 'write', arguments: '{"filePath":"/w/a","content":"x"}' } },
            ],
          },
          finish_reason: null,
        },
      ],
      usage: null,
    }),
  ],
  [undefined, chunk({ choices: [{ index: 0, delta: {}, finish_reason: 'tool_calls' }], usage: null })],
  [
    undefined,
    chunk({
      choices: [],
      usage: {
        prompt_tokens: 50,
        completion_tokens: 10,
        total_tokens: 60,
        prompt_tokens_details: { cached_tokens: 20 },
        completion_tokens_details: { reasoning_tokens: 0 },
      },
    }),
  ],
  [undefined, '[DONE]'],
]);

const GEMINI_STREAM = sse([
  [
    undefined,
    {
      candidates: [{ content: { parts: [{ text: 'Hel' }], role: 'model' }, index: 0 }],
      usageMetadata: { promptTokenCount: 120, totalTokenCount: 120 },
      modelVersion: 'gemini-2.5-flash',
      responseId: 'r1',
    },
  ],
  [
    undefined,
    {
      candidates: [
        {
          content: { role: 'model', parts: [{ functionCall: { name: 'write_file', args: { file_path: 'a.txt', content: 'x' } } }] },
          finishReason: 'STOP',
          index: 0,
        },
      ],
      usageMetadata: {
        promptTokenCount: 120,
        candidatesTokenCount: 30,
        totalTokenCount: 180,
        cachedContentTokenCount: 100,
        thoughtsTokenCount: 30,
      },
      modelVersion: 'gemini-2.5-flash',
      responseId: 'r1',
    },
  ],
]);

describe('usage: streamed responses', () => {
  const cases: [string, ProviderKind, string, object][] = [
    [
      'Anthropic Messages (message_start + message_delta)',
      'anthropic',
      ANTHROPIC_STREAM,
      { inputTokens: 472, cacheWriteTokens: 1200, cachedTokens: 3000, outputTokens: 89, model: 'claude-sonnet-4-5-20250929' },
    ],
    [
      'OpenAI Responses (response.completed)',
      'openai',
      RESPONSES_STREAM,
      { inputTokens: 500, cachedTokens: 1500, cacheWriteTokens: 0, outputTokens: 300, model: 'gpt-5-codex' },
    ],
    [
      'OpenAI Chat Completions (include_usage final chunk)',
      'openai-compatible',
      CHAT_STREAM,
      { inputTokens: 30, cachedTokens: 20, cacheWriteTokens: 0, outputTokens: 10, model: 'gpt-4.1-mini' },
    ],
    [
      'Gemini (last usageMetadata)',
      'gemini',
      GEMINI_STREAM,
      { inputTokens: 20, cachedTokens: 100, cacheWriteTokens: 0, outputTokens: 60, model: 'gemini-2.5-flash' },
    ],
  ];
  it.each(cases)('%s', (_name, kind, body, expected) => {
    expect(usageFromResponse(kind, 'text/event-stream; charset=utf-8', body)).toEqual(expected);
  });

  it('Anthropic message_delta with cumulative input counts replaces message_start', () => {
    const body = sse([
      ['message_start', { type: 'message_start', message: { model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 1 } } }],
      [
        'message_delta',
        {
          type: 'message_delta',
          delta: { stop_reason: 'end_turn' },
          usage: { input_tokens: 12, cache_read_input_tokens: 5, output_tokens: 40 },
        },
      ],
    ]);
    expect(usageFromResponse('anthropic', 'text/event-stream', body)).toEqual({
      inputTokens: 12,
      cachedTokens: 5,
      cacheWriteTokens: 0,
      outputTokens: 40,
      model: 'claude-haiku-4-5',
    });
  });

  it('a stream with no usage gives none (and garbage is ignored)', () => {
    expect(usageFromResponse('anthropic', 'text/event-stream', 'event: ping\ndata: {"type":"ping"}\n\ndata: not json\n\n')).toBeUndefined();
  });
});

describe('usage: non-streamed responses', () => {
  it('Anthropic Messages', () => {
    const body = JSON.stringify({
      id: 'msg_2',
      type: 'message',
      role: 'assistant',
      model: 'claude-haiku-4-5-20251001',
      content: [{ type: 'text', text: 'Hi' }],
      stop_reason: 'end_turn',
      stop_sequence: null,
      usage: { input_tokens: 12, cache_creation_input_tokens: 0, cache_read_input_tokens: 7, output_tokens: 6 },
    });
    expect(usageFromResponse('anthropic', 'application/json', body)).toEqual({
      inputTokens: 12,
      cachedTokens: 7,
      cacheWriteTokens: 0,
      outputTokens: 6,
      model: 'claude-haiku-4-5-20251001',
    });
  });
  it('OpenAI Responses', () => {
    const body = JSON.stringify({
      id: 'resp_2',
      object: 'response',
      status: 'completed',
      model: 'gpt-5-mini-2025-08-07',
      output: [{ type: 'message', role: 'assistant', content: [{ type: 'output_text', text: 'ok' }] }],
      usage: {
        input_tokens: 100,
        input_tokens_details: { cached_tokens: 40 },
        output_tokens: 20,
        output_tokens_details: { reasoning_tokens: 8 },
        total_tokens: 120,
      },
    });
    expect(usageFromResponse('openai', 'application/json', body)).toEqual({
      inputTokens: 60,
      cachedTokens: 40,
      cacheWriteTokens: 0,
      outputTokens: 20,
      model: 'gpt-5-mini-2025-08-07',
    });
  });
  it('OpenAI Chat Completions (pretty-printed, as OpenAI sends it)', () => {
    const body = JSON.stringify(
      {
        id: 'chatcmpl-2',
        object: 'chat.completion',
        created: 1,
        model: 'gpt-4o-mini',
        choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 9, completion_tokens: 12, total_tokens: 21, prompt_tokens_details: { cached_tokens: 0 } },
      },
      null,
      2,
    );
    expect(usageFromResponse('openai', 'application/json', body)).toEqual({
      inputTokens: 9,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 12,
      model: 'gpt-4o-mini',
    });
  });
  it('Gemini generateContent, and streamGenerateContent without alt=sse (a JSON array)', () => {
    const one = {
      candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP' }],
      usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 4, totalTokenCount: 12 },
      modelVersion: 'gemini-2.5-pro',
    };
    expect(usageFromResponse('gemini', 'application/json; charset=UTF-8', JSON.stringify(one))).toEqual({
      inputTokens: 8,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      outputTokens: 4,
      model: 'gemini-2.5-pro',
    });
    const arr = [
      { ...one, usageMetadata: { promptTokenCount: 8, totalTokenCount: 8 } },
      { ...one, usageMetadata: { promptTokenCount: 8, candidatesTokenCount: 9, totalTokenCount: 17 } },
    ];
    expect(usageFromResponse('gemini', 'application/json', JSON.stringify(arr))).toMatchObject({ inputTokens: 8, outputTokens: 9 });
  });
  it('an error body has no usage', () => {
    expect(
      usageFromResponse('anthropic', 'application/json', '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    ).toBeUndefined();
  });
});

describe('the SSE parser', () => {
  it('gives the same events however the stream is cut into chunks, CRLF included', () => {
    const text = ANTHROPIC_STREAM.replace(/\n/g, '\r\n') + ': a comment\r\n\r\ndata: line1\r\ndata: line2\r\n\r\n';
    const whole = parseSse(text);
    expect(whole).toHaveLength(11);
    expect(whole[10]).toEqual({ data: 'line1\nline2' });
    const bytes = Buffer.from(text + 'data: {"t":"é"}\n\n');
    for (const size of [1, 2, 3, 7, 64]) {
      const got: SseEvent[] = [];
      const p = new SseParser((e) => got.push(e));
      for (let i = 0; i < bytes.length; i += size) p.push(bytes.subarray(i, i + size));
      p.end();
      expect(got.slice(0, 11)).toEqual(whole);
      expect(got[11]).toEqual({ data: '{"t":"é"}' });
    }
  });
  it('splits lines at CR, LF and CRLF mixed in one stream, a CR at any chunk end included', () => {
    const text = 'event: a\rdata: 1\r\rdata: 2\ndata: 3\r\n\r\n: note\rid: 7\r\ndata: 4\n\rdata: 5\r\r\n';
    const expected = [{ event: 'a', data: '1' }, { data: '2\n3' }, { id: '7', data: '4' }, { data: '5' }];
    expect(parseSse(text)).toEqual(expected);
    for (let cut = 1; cut < text.length; cut++) {
      const got: SseEvent[] = [];
      const p = new SseParser((e) => got.push(e));
      p.push(text.slice(0, cut));
      p.push(text.slice(cut));
      p.end();
      expect(got).toEqual(expected);
    }
  });
  it('serializes events back to the same text', () => {
    expect(parseSse(ANTHROPIC_STREAM).map(serializeSseEvent).join('')).toBe(ANTHROPIC_STREAM);
  });
  it('keeps an event whose final blank line never came', () => {
    expect(parseSse('event: x\ndata: {"a":1}')).toEqual([{ event: 'x', data: '{"a":1}' }]);
  });
});

describe('pricing', () => {
  it('finds a model by exact name, then by the longest prefix', () => {
    expect(findPrice(DEFAULT_PRICES, 'claude-sonnet-4-5-20250929')).toBe(DEFAULT_PRICES['claude-sonnet-4-5']);
    expect(findPrice(DEFAULT_PRICES, 'gpt-5-mini-2025-08-07')).toBe(DEFAULT_PRICES['gpt-5-mini']);
    expect(findPrice(DEFAULT_PRICES, 'gpt-5')).toBe(DEFAULT_PRICES['gpt-5']);
    expect(findPrice(DEFAULT_PRICES, 'models/gemini-2.5-flash-lite')).toBe(DEFAULT_PRICES['gemini-2.5-flash-lite']);
    expect(findPrice(DEFAULT_PRICES, 'my-local-llama')).toBeUndefined();
    // a prefix counts only up to a "-": gpt-5.4-nano is another model than gpt-5
    expect(findPrice(DEFAULT_PRICES, 'gpt-5.4-nano')).toBeUndefined();
    expect(findPrice(DEFAULT_PRICES, 'gpt-5.1-codex-mini-2025')).toBe(DEFAULT_PRICES['gpt-5.1-codex-mini']);
    expect(findPrice(DEFAULT_PRICES, undefined)).toBeUndefined();
  });
  it('prices input, output, cache reads and cache writes', () => {
    const u = usageFromResponse('anthropic', 'text/event-stream', ANTHROPIC_STREAM)!;
    expect(totalTokens(u)).toBe(472 + 1200 + 3000 + 89);
    // 472 × $3 + 89 × $15 + 3000 × $0.30 + 1200 × $3.75, per million
    expect(priceUsage(u, findPrice(DEFAULT_PRICES, u.model)!)).toBeCloseTo((472 * 3 + 89 * 15 + 3000 * 0.3 + 1200 * 3.75) / 1e6, 12);
  });
  it('cache rates default to the input rate', () => {
    expect(
      priceUsage({ inputTokens: 1e6, outputTokens: 0, cachedTokens: 1e6, cacheWriteTokens: 1e6 }, { inputPerMTok: 2, outputPerMTok: 8 }),
    ).toBe(6);
  });
  it('reads the model from the request body or a Gemini path', () => {
    expect(readModelRequest('/v1/messages', Buffer.from('{"model":"claude-haiku-4-5","stream":true}'))).toEqual({
      model: 'claude-haiku-4-5',
      stream: true,
    });
    expect(readModelRequest('/v1beta/models/gemini-2.5-pro:streamGenerateContent', Buffer.from('{"contents":[]}'))).toEqual({
      model: 'gemini-2.5-pro',
      stream: true,
    });
    expect(readModelRequest('/v1/chat/completions', Buffer.from('not json'))).toEqual({ model: undefined, stream: false });
  });
});
