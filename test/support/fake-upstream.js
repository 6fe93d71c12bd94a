// A stand-in for a model provider and for plain web hosts, run in a container of the test: it
// answers Anthropic Messages calls with fixed (or asked-for) usage and records the API key each call carried.
const http = require('node:http');
const seen = [];
http
  .createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/_seen') return res.end(JSON.stringify(seen));
      if (req.method === 'POST' && req.url.startsWith('/v1/messages')) {
        seen.push({ key: req.headers['x-api-key'] ?? null, auth: req.headers.authorization ?? null });
        // a test may ask for its call's usage (fake_usage: { input_tokens, output_tokens }): 400 and 200 else
        let usage = { input_tokens: 400, output_tokens: 200 };
        try {
          usage = JSON.parse(body).fake_usage ?? usage;
        } catch {
          // not JSON: the fixed usage
        }
        res.setHeader('content-type', 'application/json');
        return res.end(
          JSON.stringify({
            id: 'msg_1',
            type: 'message',
            role: 'assistant',
            model: 'claude-sonnet-4-5',
            content: [{ type: 'text', text: 'hi' }],
            stop_reason: 'end_turn',
            usage,
          }),
        );
      }
      res.end(`hello from ${req.headers.host}`);
    });
  })
  .listen(9000, '0.0.0.0');
