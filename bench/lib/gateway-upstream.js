// The model provider the gateway benchmark talks to, on this machine: one Node process answering
// POST /v1/messages like Anthropic's Messages API: a JSON body with usage, or (with "stream": true)
// an SSE stream of `events` deltas, one every `interval` ms, from message_start (input usage) to
// message_delta (output usage). Started by bench/gateway.js; prints its port on stdout.
//   node bench/lib/gateway-upstream.js EVENTS INTERVAL_MS
'use strict';
const http = require('node:http');

const EVENTS = Number(process.argv[2] ?? 50);
const INTERVAL = Number(process.argv[3] ?? 20);
const MESSAGE = JSON.stringify({
  id: 'msg_bench',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-5-20250929',
  content: [{ type: 'text', text: 'Hello from the bench upstream.' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 120, output_tokens: 8, cache_read_input_tokens: 0, cache_creation_input_tokens: 0 },
});
const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
const DELTA = sse('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'token ' } });

function stream(res) {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(
    sse('message_start', {
      type: 'message_start',
      message: {
        id: 'msg_bench',
        type: 'message',
        role: 'assistant',
        model: 'claude-sonnet-4-5-20250929',
        usage: { input_tokens: 120, output_tokens: 1 },
      },
    }),
  );
  let sent = 0;
  // One timer per stream, rescheduled against the start: the upstream's own drift does not add up.
  const t0 = performance.now();
  const tick = () => {
    if (res.destroyed) return;
    if (++sent <= EVENTS) {
      res.write(DELTA);
      setTimeout(tick, Math.max(0, t0 + (sent + 1) * INTERVAL - performance.now()));
    } else {
      res.end(
        sse('message_delta', { type: 'message_delta', delta: { stop_reason: 'end_turn' }, usage: { output_tokens: EVENTS } }) +
          sse('message_stop', { type: 'message_stop' }),
      );
    }
  };
  setTimeout(tick, INTERVAL);
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    // The body's first bytes say whether it streams: the bench's bodies start with {"stream":...
    if (body.subarray(0, 20).toString('latin1').includes('"stream":true')) return stream(res);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(MESSAGE) });
    res.end(MESSAGE);
  });
});
// Advertises (and keeps) a 61 s idle timeout: a proxy that forwards this hop-by-hop header shows it.
server.keepAliveTimeout = 61_000;
server.listen(0, '127.0.0.1', () => process.stdout.write(`${server.address().port}\n`));
process.on('SIGTERM', () => process.exit(0));
