// The request path of a model call through an in-process gateway, against a local upstream: what
// crosses the gateway (no hop-by-hop header, either way), what the gateway advertises about its
// own connections, that a request body is parsed once, and that streamed events are not held back.
import * as http from 'node:http';
import type * as net from 'node:net';
import { resolveGatewayConfig } from '../../gateway/config';
import { KEEP_ALIVE_MS } from '../../gateway/http';
import { createGateway, type Gateway } from '../../gateway/server';

const TOKEN = 'task-token-request-path-0123456789';
const KEY = 'sk-request-path-real-credential';

interface Seen {
  headers: http.IncomingHttpHeaders;
  body: string;
}
let seen: Seen[] = [];
/** The upstream sends stream event n+1 only after the test has received event n. */
let streamStep: ((res: http.ServerResponse) => Promise<void>) | undefined;
/** The upstream holds a request that asks it to hang, unanswered. */
let hanging: ((res: http.ServerResponse) => void) | undefined;

const upstream = http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    seen.push({ headers: req.headers, body });
    if (body.includes('"hang":true')) return void hanging?.(res);
    if (body.includes('"stream":true') && streamStep) return void streamStep(res);
    const answer = JSON.stringify({ type: 'message', model: 'claude-haiku-4-5', usage: { input_tokens: 10, output_tokens: 2 } });
    res.writeHead(200, {
      'content-type': 'application/json',
      'content-length': Buffer.byteLength(answer),
      // hop-by-hop headers of the upstream's own connection, and one that Connection names
      connection: 'keep-alive, x-upstream-hop',
      'keep-alive': 'timeout=61, max=1000',
      'x-upstream-hop': 'only for the gateway',
      'x-end-to-end': 'kept',
    });
    res.end(answer);
  });
});

/** the client keeps its connections, as agents' SDKs do */
const client = new http.Agent({ keepAlive: true });
let gateway: Gateway;
let port: number;
const log: string[] = [];

beforeAll(async () => {
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  const up = (upstream.address() as net.AddressInfo).port;
  const cfg = resolveGatewayConfig(
    {
      listen: { host: '127.0.0.1', port: 0 },
      providers: { anthropic: { kind: 'anthropic', upstream: `http://127.0.0.1:${up}` } },
      tasks: { [TOKEN]: { taskId: 't1', credentials: { anthropic: 'REQUEST_PATH_KEY' } } },
    },
    { env: { REQUEST_PATH_KEY: KEY } },
  );
  gateway = createGateway(cfg, { log: (l) => log.push(l) });
  port = (await gateway.listen()).port;
});
afterAll(async () => {
  client.destroy();
  await gateway.close();
  await new Promise((r) => upstream.close(r));
});
beforeEach(() => {
  seen = [];
  streamStep = undefined;
});

function call(
  body: string,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; text: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/anthropic/v1/messages',
        method: 'POST',
        agent: client,
        headers: { 'x-api-key': TOKEN, 'content-type': 'application/json', ...headers },
      },
      (res) => {
        let text = '';
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('gateway request path', () => {
  it('passes no hop-by-hop header to the upstream', async () => {
    const r = await call('{"model":"claude-haiku-4-5"}', {
      connection: 'keep-alive, x-client-hop',
      'keep-alive': 'timeout=30',
      'proxy-connection': 'keep-alive',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'websocket',
      'x-client-hop': 'only for the gateway',
      'x-end-to-end': 'kept',
    });
    expect(r.status).toBe(200);
    const h = seen[0].headers;
    for (const name of ['keep-alive', 'proxy-connection', 'te', 'trailer', 'upgrade', 'x-client-hop']) expect(h[name]).toBeUndefined();
    // Node's client writes Connection for its own (pooled) connection; nothing the client named
    expect(h.connection ?? 'keep-alive').toBe('keep-alive');
    expect(h['x-end-to-end']).toBe('kept');
    expect(h['x-api-key']).toBe(KEY);
  });

  it("passes none of the upstream's hop-by-hop headers to the client, and advertises its own idle timeout", async () => {
    const r = await call('{"model":"claude-haiku-4-5"}');
    expect(r.status).toBe(200);
    expect(r.headers['x-upstream-hop']).toBeUndefined();
    expect(r.headers['x-end-to-end']).toBe('kept');
    expect(r.headers.connection).toBe('keep-alive');
    expect(r.headers['keep-alive']).toBe(`timeout=${KEEP_ALIVE_MS / 1000}`);
    expect(gateway.server.keepAliveTimeout).toBe(KEEP_ALIVE_MS);
  });

  it('answers Connection: close with close, and no Keep-Alive', async () => {
    const r = await call('{"model":"claude-haiku-4-5"}', { connection: 'close' });
    expect(r.status).toBe(200);
    expect(r.headers.connection).toBe('close');
    expect(r.headers['keep-alive']).toBeUndefined();
  });

  it('parses a request body once', async () => {
    const body = JSON.stringify({ model: 'claude-haiku-4-5', max_tokens: 8, messages: [{ role: 'user', content: 'x'.repeat(100_000) }] });
    const parse = jest.spyOn(JSON, 'parse');
    try {
      const r = await call(body);
      expect(r.status).toBe(200);
      expect(seen[0].body).toBe(body);
      expect(parse.mock.calls.filter(([text]) => text === body)).toHaveLength(1);
    } finally {
      parse.mockRestore();
    }
    expect(log.at(-1)).toMatch(/task=t1 provider=anthropic POST \/v1\/messages status=200 model=claude-haiku-4-5 in=10 out=2 /);
  });

  it('passes each streamed event on before the upstream sends the next', async () => {
    const events = 5;
    let received: (() => void) | undefined;
    const next = () => new Promise<void>((r) => (received = r));
    streamStep = async (res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < events; i++) {
        const got = next();
        res.write(`event: content_block_delta\ndata: {"type":"content_block_delta","index":${i}}\n\n`);
        await got; // a gateway that buffered would never deliver it: the test would time out
      }
      res.end(`event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":${events}}}\n\n`);
    };
    const count = await new Promise<number>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, path: '/anthropic/v1/messages', method: 'POST', agent: false, headers: { 'x-api-key': TOKEN } },
        (res) => {
          let n = 0;
          res.setEncoding('utf8');
          res.on('data', (c: string) => {
            const k = c.split('event: content_block_delta').length - 1;
            n += k;
            if (k) received?.();
          });
          res.on('end', () => resolve(n));
        },
      );
      req.on('error', reject);
      req.end('{"stream":true,"model":"claude-haiku-4-5"}');
    });
    expect(count).toBe(events);
  });

  it('gives up the upstream call when the client goes before the answer', async () => {
    const upstreamClosed = new Promise<void>((resolve) => {
      hanging = (res) => {
        res.on('close', () => resolve());
        client.destroy(); // the client goes while the upstream still thinks
      };
    });
    const client = http.request({
      host: '127.0.0.1',
      port,
      path: '/anthropic/v1/messages',
      method: 'POST',
      agent: false,
      headers: { 'x-api-key': TOKEN },
    });
    client.on('error', () => undefined);
    client.end('{"hang":true,"model":"claude-haiku-4-5"}');
    await upstreamClosed; // a gateway that kept the call would never close it: the test would time out
    hanging = undefined;
  });

  it('gives up the upstream stream when the client goes during it', async () => {
    const upstreamClosed = new Promise<void>((resolve) => {
      streamStep = async (res) => {
        res.on('close', () => resolve());
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('event: content_block_delta\ndata: {"type":"content_block_delta","index":0}\n\n');
        // and nothing more: only the client's going can end this stream
      };
    });
    const client = http.request(
      { host: '127.0.0.1', port, path: '/anthropic/v1/messages', method: 'POST', agent: false, headers: { 'x-api-key': TOKEN } },
      (res) => res.once('data', () => client.destroy()), // the first event came: the client goes
    );
    client.on('error', () => undefined);
    client.end('{"stream":true,"model":"claude-haiku-4-5"}');
    await upstreamClosed; // a gateway that kept the stream would never close it: the test would time out
  });
});
