// The gateway as it runs in its container: the one-file bundle in a `node` process of its own,
// with a config file and the real credentials in its environment (or a file). Upstreams are small
// HTTP servers of this test standing in for the providers; everything stays on 127.0.0.1.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { bundleGateway } from '../../gateway/bundle';
import { controlHost } from '../../gateway/control-api';

const rnd = () => randomBytes(12).toString('hex');
const ANTHROPIC_KEY = `sk-ant-api03-REAL-${rnd()}`;
const OPENAI_KEY = `sk-proj-REAL-${rnd()}`;
const GEMINI_KEY = `AIzaREAL${rnd()}`;
const TOKEN_IMPLEMENT = `avt-implement-${rnd()}`;
const TOKEN_REVIEW = `avt-review-${rnd()}`;
const CONTROL = `avc-${rnd()}`;
const SECRETS = [ANTHROPIC_KEY, OPENAI_KEY, GEMINI_KEY];
const TOKENS = [TOKEN_IMPLEMENT, TOKEN_REVIEW, CONTROL];

let work: string;
let bundle: string;

// ---------------------------------------------------------------------------------------------
// The fake provider: one server; /anth, /oai and /gem prefixes stand for the three upstreams.
// It checks what every request carries and keeps a list of what was wrong.

interface Seen {
  prefix: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}
const seen: Seen[] = [];
const violations: string[] = [];
let releaseStream: (() => void) | undefined;

const sseEvent = (event: string | undefined, data: unknown) => `${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(data)}\n\n`;
const ANTHROPIC_HEAD = sseEvent('message_start', {
  type: 'message_start',
  message: {
    id: 'msg_01',
    type: 'message',
    role: 'assistant',
    model: 'claude-sonnet-4-5-20250929',
    content: [],
    stop_reason: null,
    usage: { input_tokens: 300, cache_read_input_tokens: 0, cache_creation_input_tokens: 0, output_tokens: 1 },
  },
});
const ANTHROPIC_TAIL =
  sseEvent('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }) +
  sseEvent('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Done.' } }) +
  sseEvent('content_block_stop', { type: 'content_block_stop', index: 0 }) +
  sseEvent('message_delta', {
    type: 'message_delta',
    delta: { stop_reason: 'end_turn', stop_sequence: null },
    usage: { output_tokens: 25 },
  }) +
  sseEvent('message_stop', { type: 'message_stop' });
const ANTHROPIC_JSON = JSON.stringify({
  id: 'msg_02',
  type: 'message',
  role: 'assistant',
  model: 'claude-haiku-4-5',
  content: [{ type: 'text', text: 'ok' }],
  stop_reason: 'end_turn',
  usage: { input_tokens: 100, output_tokens: 50 },
});
const CHAT_JSON = JSON.stringify(
  {
    id: 'chatcmpl-1',
    object: 'chat.completion',
    model: 'gpt-4.1-mini',
    choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 40, completion_tokens: 4, total_tokens: 44 },
  },
  null,
  2,
);
const GEMINI_SSE = sseEvent(undefined, {
  candidates: [{ content: { role: 'model', parts: [{ text: 'ok' }] }, finishReason: 'STOP' }],
  usageMetadata: { promptTokenCount: 70, candidatesTokenCount: 7, totalTokenCount: 77 },
  modelVersion: 'gemini-2.5-flash',
});

function fakeProvider(): http.Server {
  return http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const url = req.url ?? '';
      const prefix = url.split('/')[1];
      seen.push({ prefix, path: url, headers: req.headers, body });
      const everything = url + JSON.stringify(req.headers);
      for (const t of TOKENS) if (everything.includes(t)) violations.push(`${url}: a task token reached the upstream`);
      const expect = (ok: boolean, what: string) => ok || violations.push(`${url}: ${what}`);
      if (prefix === 'anth') {
        expect(req.headers['x-api-key'] === ANTHROPIC_KEY, 'x-api-key is not the real Anthropic key');
        expect(!req.headers.authorization, 'an authorization header reached Anthropic');
        expect(url.startsWith('/anth/v1/messages'), `unexpected path ${url}`);
        expect(req.headers.host === `127.0.0.1:${providerPort}`, `host header ${req.headers.host}`);
        if (JSON.parse(body).stream) {
          res.writeHead(200, {
            'content-type': 'text/event-stream',
            'cache-control': 'no-cache',
            'request-id': 'req_stream',
            'set-cookie': 'session=abc',
          });
          res.write(ANTHROPIC_HEAD);
          // The rest only once the client has seen the first event (or after 5 s, and the test fails).
          const timer = setTimeout(() => releaseStream?.(), 5000);
          releaseStream = () => {
            clearTimeout(timer);
            releaseStream = undefined;
            res.end(ANTHROPIC_TAIL);
          };
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json', 'request-id': 'req_json' });
        return res.end(ANTHROPIC_JSON);
      }
      if (prefix === 'oai') {
        expect(req.headers.authorization === `Bearer ${OPENAI_KEY}`, 'authorization is not Bearer <real OpenAI key>');
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end(CHAT_JSON);
      }
      if (prefix === 'gem') {
        expect(req.headers['x-goog-api-key'] === GEMINI_KEY, 'x-goog-api-key is not the real Gemini key');
        expect(!/[?&]key=/.test(url), 'a key= query parameter reached Gemini');
        expect(url === '/gem/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse', `unexpected path ${url}`);
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        return res.end(GEMINI_SSE);
      }
      res.writeHead(404).end();
    });
  });
}

/** An ordinary web server: the host an agent may or may not reach through the proxy. */
function plainSite(): http.Server {
  return http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`site says hello to ${req.method} ${req.url}`);
  });
}

let provider: http.Server;
let providerPort: number;
let site: http.Server;
let sitePort: number;

const listen = (s: http.Server) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
const closeServer = (s: http.Server) =>
  new Promise<void>((r) => {
    s.closeAllConnections();
    s.close(() => r());
  });

// ---------------------------------------------------------------------------------------------
// The gateway process.

interface GatewayProcess {
  port: number;
  child: ChildProcess;
  output: () => string;
  /**
   * The output once a line matches: the gateway writes its log lines asynchronously, so a line
   * can come just after the answer it is about (bounded: 10 s, then the output as it is).
   */
  logged: (line: RegExp) => Promise<string>;
  stop: () => Promise<void>;
}
const outputs: string[] = [];
const running: GatewayProcess[] = [];

function config(over: Record<string, unknown> = {}): Record<string, unknown> {
  const up = (p: string) => `http://127.0.0.1:${providerPort}/${p}`;
  return {
    listen: { host: '127.0.0.1', port: 0 },
    mode: 'live',
    controlToken: CONTROL,
    providers: {
      anthropic: { kind: 'anthropic', upstream: up('anth') },
      openai: { kind: 'openai', upstream: up('oai') },
      gemini: { kind: 'gemini', upstream: up('gem') },
    },
    tasks: {
      [TOKEN_IMPLEMENT]: {
        taskId: 'implement',
        credentials: {
          anthropic: 'env:TEST_ANTHROPIC_KEY',
          openai: 'TEST_OPENAI_KEY',
          gemini: `file:${path.join(work, 'secrets', 'gemini.key')}`,
        },
        allowHosts: ['127.0.0.1'],
      },
      [TOKEN_REVIEW]: { taskId: 'review', credentials: { anthropic: 'env:TEST_ANTHROPIC_KEY' }, budget: { tokens: 200 } },
    },
    ...over,
  };
}

function writeConfig(name: string, cfg: unknown): string {
  const f = path.join(work, name);
  writeFileSync(f, JSON.stringify(cfg, null, 2));
  return f;
}

const gatewayEnv = () => ({ PATH: process.env.PATH, TEST_ANTHROPIC_KEY: ANTHROPIC_KEY, TEST_OPENAI_KEY: OPENAI_KEY });

async function startGateway(configFile: string): Promise<GatewayProcess> {
  const child = spawn(process.execPath, [bundle, '--config', configFile], {
    cwd: work,
    env: gatewayEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const idx = outputs.push('') - 1;
  const add = (d: Buffer) => {
    out += d;
    outputs[idx] = out;
  };
  child.stdout!.on('data', add);
  child.stderr!.on('data', add);
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const deadline = Date.now() + 15_000;
  let m: RegExpMatchArray | null;
  while (!(m = /listening on [^ ]+:(\d+) /.exec(out))) {
    if (Date.now() > deadline || child.exitCode !== null) throw new Error(`the gateway did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const g: GatewayProcess = {
    port: Number(m[1]),
    child,
    output: () => out,
    logged: async (line) => {
      const until = Date.now() + 10_000;
      while (!line.test(out) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 20));
      return out;
    },
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
  running.push(g);
  return g;
}

function runGateway(args: string[]): { status: number | null; out: string } {
  const r = spawnSync(process.execPath, [bundle, ...args], { cwd: work, env: gatewayEnv(), encoding: 'utf8', timeout: 15_000 });
  outputs.push(r.stdout + r.stderr);
  return { status: r.status, out: r.stdout + r.stderr };
}

// ---------------------------------------------------------------------------------------------
// Clients, as the agents' CLIs would call.

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function call(
  port: number,
  method: string,
  p: string,
  headers: Record<string, string>,
  body?: unknown,
  onChunk?: (text: string) => void,
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(
      { host: '127.0.0.1', port, method, path: p, headers: { ...(data ? { 'content-type': 'application/json' } : {}), ...headers } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          onChunk?.(text);
        });
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

const anthropicStream = {
  model: 'claude-sonnet-4-5',
  max_tokens: 1024,
  stream: true,
  messages: [{ role: 'user', content: 'write a.txt' }],
};
const anthropicJson = { model: 'claude-haiku-4-5', max_tokens: 64, messages: [{ role: 'user', content: 'hi' }] };

async function streamCall(port: number, token: string): Promise<{ reply: Reply; firstEventBeforeEnd: boolean }> {
  let firstEventBeforeEnd = false;
  const reply = await call(
    port,
    'POST',
    '/anthropic/v1/messages?beta=true',
    { 'x-api-key': token, 'anthropic-version': '2023-06-01' },
    anthropicStream,
    (text) => {
      if (text.includes('message_start') && releaseStream && !firstEventBeforeEnd) {
        firstEventBeforeEnd = !text.includes('message_stop');
        releaseStream();
      }
    },
  );
  return { reply, firstEventBeforeEnd };
}

async function usage(port: number): Promise<any> {
  const r = await call(port, 'GET', '/_agentvisor/usage', { 'x-agentvisor-control-token': CONTROL });
  expect(r.status).toBe(200);
  return JSON.parse(r.body);
}

/** CONNECT through the gateway; if the tunnel opens, an HTTP GET through it. */
function connect(port: number, target: string, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = token ? { 'proxy-authorization': `Basic ${Buffer.from(`${token}:`).toString('base64')}` } : {};
    const req = http.request({ host: '127.0.0.1', port, method: 'CONNECT', path: target, headers });
    req.on('connect', (res, socket, head) => {
      let body = head.toString('utf8');
      socket.setEncoding('utf8');
      socket.on('data', (c: string) => (body += c));
      socket.on('end', () => resolve({ status: res.statusCode!, body }));
      socket.on('error', reject);
      if (res.statusCode === 200) socket.write(`GET /through-tunnel HTTP/1.1\r\nHost: ${target}\r\nConnection: close\r\n\r\n`);
    });
    req.on('error', reject);
    req.end();
  });
}

function viaProxy(port: number, url: string, token: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'GET',
        path: url,
        headers: { host: u.host, 'proxy-authorization': `Basic ${Buffer.from(`${token}:`).toString('base64')}` },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-gateway-'));
  mkdirSync(path.join(work, 'secrets'));
  writeFileSync(path.join(work, 'secrets', 'gemini.key'), GEMINI_KEY + '\n');
  // The bundle lives outside the repo, so it cannot find node_modules: it must be self-contained.
  bundle = await bundleGateway(path.join(work, 'gateway.bundle.js'));
  provider = fakeProvider();
  providerPort = await listen(provider);
  site = plainSite();
  sitePort = await listen(site);
}, 60_000);

afterAll(async () => {
  for (const g of running) await g.stop();
  if (provider.listening) await closeServer(provider);
  if (site.listening) await closeServer(site);
});

describe('the gateway (live)', () => {
  let gw: GatewayProcess;
  beforeAll(async () => {
    gw = await startGateway(writeConfig('live.json', config()));
  });

  it('refuses an unknown token with a JSON error, and never calls upstream', async () => {
    const before = seen.length;
    const r = await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': 'avt-not-a-token-0000000000' }, anthropicJson);
    expect(r.status).toBe(401);
    expect(JSON.parse(r.body)).toEqual({
      type: 'error',
      error: { type: 'authentication_error', message: expect.stringContaining('unknown task token') },
    });
    const none = await call(gw.port, 'POST', '/anthropic/v1/messages', {}, anthropicJson);
    expect(none.status).toBe(401);
    expect(seen.length).toBe(before);
  });

  it('streams an Anthropic response through, unbuffered, with the real key swapped in', async () => {
    const { reply, firstEventBeforeEnd } = await streamCall(gw.port, TOKEN_IMPLEMENT);
    expect(reply.status).toBe(200);
    expect(reply.headers['content-type']).toBe('text/event-stream');
    expect(reply.body).toBe(ANTHROPIC_HEAD + ANTHROPIC_TAIL);
    // The upstream held the rest back until the client had the first event: no buffering.
    expect(firstEventBeforeEnd).toBe(true);
    const last = seen[seen.length - 1];
    expect(last.path).toBe('/anth/v1/messages?beta=true');
    expect(last.headers['x-api-key']).toBe(ANTHROPIC_KEY);
    expect(JSON.parse(last.body)).toEqual(anthropicStream);
    expect(violations).toEqual([]);
  });

  it('swaps Bearer tokens (OpenAI) and ?key= tokens (Gemini) too', async () => {
    const o = await call(
      gw.port,
      'POST',
      '/openai/v1/chat/completions',
      { authorization: `Bearer ${TOKEN_IMPLEMENT}` },
      { model: 'gpt-4.1-mini', messages: [] },
    );
    expect(o.status).toBe(200);
    expect(o.body).toBe(CHAT_JSON);
    const g = await call(
      gw.port,
      'POST',
      `/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse&key=${TOKEN_IMPLEMENT}`,
      {},
      { contents: [] },
    );
    expect(g.status).toBe(200);
    expect(g.body).toBe(GEMINI_SSE);
    expect(seen.filter((s) => s.prefix === 'oai' || s.prefix === 'gem')).toHaveLength(2);
    expect(violations).toEqual([]);
  });

  it('counts usage per task and per run, behind the control token', async () => {
    expect((await call(gw.port, 'GET', '/_agentvisor/usage', {})).status).toBe(401);
    expect((await call(gw.port, 'GET', '/_agentvisor/usage', { 'x-agentvisor-control-token': TOKEN_IMPLEMENT })).status).toBe(401);
    const u = await usage(gw.port);
    // anthropic 300 in + 25 out; openai 40 in + 4 out; gemini 70 in + 7 out
    expect(u.tasks.implement).toMatchObject({ inputTokens: 410, outputTokens: 36, cachedTokens: 0, requests: 3, budgetExceeded: false });
    // $3/$15 (sonnet 4.5) + $0.4/$1.6 (gpt-4.1-mini) + $0.3/$2.5 (gemini-2.5-flash), per million
    expect(u.tasks.implement.usd).toBeCloseTo((300 * 3 + 25 * 15 + 40 * 0.4 + 4 * 1.6 + 70 * 0.3 + 7 * 2.5) / 1e6, 10);
    expect(u.tasks.review).toMatchObject({ requests: 0, budgetExceeded: false, budget: { tokens: 200 } });
    expect(u.run).toMatchObject({ inputTokens: 410, outputTokens: 36, requests: 3 });
    const line = /task=implement provider=anthropic POST \/v1\/messages status=200 model=claude-sonnet-4-5-20250929 in=300 out=25 /;
    expect(await gw.logged(line)).toMatch(line);
  });

  it('refuses a task whose budget is crossed, with a message the CLI shows', async () => {
    const before = seen.filter((s) => s.prefix === 'anth').length;
    expect((await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_REVIEW }, anthropicJson)).status).toBe(200); // 150 tokens
    expect((await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_REVIEW }, anthropicJson)).status).toBe(200); // 300 > 200
    const refused = await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_REVIEW }, anthropicJson);
    expect(refused.status).toBe(402);
    expect(refused.headers['x-should-retry']).toBe('false');
    expect(JSON.parse(refused.body)).toEqual({
      type: 'error',
      error: { type: 'budget_exceeded', message: 'agentvisor: budget exceeded for task review (tokens 300 > limit 200)' },
    });
    expect(seen.filter((s) => s.prefix === 'anth').length).toBe(before + 2);
    const u = await usage(gw.port);
    expect(u.tasks.review).toMatchObject({ totalTokens: 300, requests: 2, refused: 1, budgetExceeded: true });
    // The other task is not affected.
    expect((await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_IMPLEMENT }, anthropicJson)).status).toBe(200);
    // A task may use only the providers it has a credential for.
    const denied = await call(gw.port, 'POST', '/openai/v1/responses', { authorization: `Bearer ${TOKEN_REVIEW}` }, {});
    expect(denied.status).toBe(403);
    expect(JSON.parse(denied.body).error.message).toBe('agentvisor gateway: task review has no credential for provider openai');
  });

  it('tunnels CONNECT to an allowed host and refuses the others with 403 and a clear message', async () => {
    const ok = await connect(gw.port, `127.0.0.1:${sitePort}`, TOKEN_IMPLEMENT);
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('site says hello to GET /through-tunnel');

    const other = await connect(gw.port, `localhost:${sitePort}`, TOKEN_IMPLEMENT); // same server, a name not on the list
    expect(other.status).toBe(403);
    expect(other.body).toBe('agentvisor gateway: host localhost is not on the allowlist of task implement\n');
    const evil = await connect(gw.port, 'evil.example:443', TOKEN_IMPLEMENT);
    expect(evil.status).toBe(403);
    expect(evil.body).toBe('agentvisor gateway: host evil.example is not on the allowlist of task implement\n');
    // Default deny: review has no allowHosts.
    const review = await connect(gw.port, `127.0.0.1:${sitePort}`, TOKEN_REVIEW);
    expect(review.status).toBe(403);
    expect(review.body).toContain('is not on the allowlist of task review');
    const anonymous = await connect(gw.port, `127.0.0.1:${sitePort}`);
    expect(anonymous.status).toBe(407);
    expect(anonymous.body).toContain('proxy authentication required');
  });

  it('forwards plain HTTP (absolute-URI) requests to allowed hosts only', async () => {
    const ok = await viaProxy(gw.port, `http://127.0.0.1:${sitePort}/plain?x=1`, TOKEN_IMPLEMENT);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('site says hello to GET /plain?x=1');
    const no = await viaProxy(gw.port, `http://localhost:${sitePort}/plain`, TOKEN_IMPLEMENT);
    expect(no.status).toBe(403);
    expect(no.body).toBe('agentvisor gateway: host localhost is not on the allowlist of task implement\n');
    // The gateway's own model routes, reached through the proxy setting, still work.
    const self = await call(
      gw.port,
      'POST',
      `http://127.0.0.1:${gw.port}/openai/v1/chat/completions`,
      { authorization: `Bearer ${TOKEN_IMPLEMENT}` },
      { model: 'gpt-4.1-mini' },
    );
    expect(self.status).toBe(200);
    expect(self.body).toBe(CHAT_JSON);
  });
});

describe('a control listener of its own (what agentvisor runs)', () => {
  it("serves the control routes there only; the agents' port answers them with 404, and refusals are logged", async () => {
    const gw = await startGateway(writeConfig('control.json', config({ control: { host: '127.0.0.1', port: 0 } })));
    const controlPort = Number(/control on 127\.0\.0\.1:(\d+) /.exec(gw.output())![1]);
    const token = { 'x-agentvisor-control-token': CONTROL };
    // the agents' port: no control route at all, with or without the token
    expect((await call(gw.port, 'GET', '/_agentvisor/health', {})).status).toBe(404);
    expect((await call(gw.port, 'GET', '/_agentvisor/usage', token)).status).toBe(404);
    expect((await call(gw.port, 'GET', `http://127.0.0.1:${gw.port}/_agentvisor/usage`, token)).status).toBe(407); // not itself: a proxy request
    // the control port: control routes only
    expect((await call(controlPort, 'GET', '/_agentvisor/health', {})).status).toBe(200);
    expect((await call(controlPort, 'GET', '/_agentvisor/usage', token)).status).toBe(200);
    expect((await call(controlPort, 'GET', '/_agentvisor/usage', {})).status).toBe(401);
    expect(
      (await call(controlPort, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_IMPLEMENT }, { model: 'claude-sonnet-4-5' })).status,
    ).toBe(404);
    const refused = /GET \/_agentvisor\/usage status=404 refused: no control route on this port from=127\.0\.0\.1/;
    const unauthorized = /control GET \/_agentvisor\/usage status=401 from=127\.0\.0\.1/;
    expect(await gw.logged(refused)).toMatch(refused);
    expect(await gw.logged(unauthorized)).toMatch(unauthorized);
    await gw.stop();
  });

  it("binds an interface's IPv4 address, and refuses an interface without one", () => {
    const v4 = {
      address: '172.17.0.5',
      netmask: '255.255.0.0',
      family: 'IPv4',
      mac: '02:42:ac:11:00:05',
      internal: false,
      cidr: '172.17.0.5/16',
    } as const;
    const v6 = {
      address: 'fe80::1',
      netmask: 'ffff:ffff:ffff:ffff::',
      family: 'IPv6',
      mac: '02:42:ac:11:00:05',
      internal: false,
      cidr: 'fe80::1/64',
      scopeid: 2,
    } as const;
    expect(controlHost({ interface: 'eth0' }, { eth0: [v6, v4], eth1: [{ ...v4, address: '172.20.0.2' }] })).toBe('172.17.0.5');
    expect(() => controlHost({ interface: 'eth0' }, { eth0: [v6] })).toThrow(/interface eth0 has no IPv4 address/);
    expect(controlHost({ host: '10.0.0.1' })).toBe('10.0.0.1');
    expect(controlHost({})).toBe('127.0.0.1');
  });
});

describe('record, then replay with no upstream', () => {
  const cassetteDir = () => path.join(work, 'cassettes');
  const recorded: Record<string, string> = {};

  it('records the exchanges of each task into its cassette', async () => {
    const gw = await startGateway(writeConfig('record.json', config({ mode: 'record', cassetteDir: 'cassettes' })));
    const s = await streamCall(gw.port, TOKEN_IMPLEMENT);
    expect(s.reply.status).toBe(200);
    recorded.stream = s.reply.body;
    recorded.chat = (
      await call(
        gw.port,
        'POST',
        '/openai/v1/chat/completions',
        { authorization: `Bearer ${TOKEN_IMPLEMENT}` },
        { model: 'gpt-4.1-mini', messages: [] },
      )
    ).body;
    recorded.review = (await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_REVIEW }, anthropicJson)).body;
    const u = await usage(gw.port);
    await gw.stop();
    recorded.usage = JSON.stringify({ implement: u.tasks.implement, review: u.tasks.review });

    expect(readdirSync(cassetteDir()).sort()).toEqual(['implement.yaml', 'review.yaml']);
    const c = parseYaml(readFileSync(path.join(cassetteDir(), 'implement.yaml'), 'utf8'));
    expect(c.task).toBe('implement');
    expect(c.interactions).toHaveLength(2);
    expect(c.interactions[0].request).toMatchObject({
      provider: 'anthropic',
      method: 'POST',
      path: '/v1/messages',
      model: 'claude-sonnet-4-5',
      stream: true,
    });
    expect(c.interactions[0].response.events.map((e: { event: string }) => e.event)).toEqual([
      'message_start',
      'content_block_start',
      'content_block_delta',
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(c.interactions[0].response.headers).toEqual(
      expect.objectContaining({ 'content-type': 'text/event-stream', 'request-id': 'req_stream' }),
    );
    expect(c.interactions[0].response.headers['set-cookie']).toBeUndefined();
    expect(c.interactions[1].response.bodyText).toBe(CHAT_JSON); // pretty-printed JSON is kept byte for byte
  });

  it('replays them with the upstream stopped: same bodies, same usage; then says the cassette is used up', async () => {
    await closeServer(provider);
    const before = seen.length;
    const gw = await startGateway(writeConfig('replay.json', config({ mode: 'replay', cassetteDir: 'cassettes' })));
    const s = await call(gw.port, 'POST', '/anthropic/v1/messages?beta=true', { 'x-api-key': TOKEN_IMPLEMENT }, anthropicStream);
    expect(s.status).toBe(200);
    expect(s.headers['content-type']).toBe('text/event-stream');
    expect(s.body).toBe(recorded.stream);
    expect(
      (
        await call(
          gw.port,
          'POST',
          '/openai/v1/chat/completions',
          { authorization: `Bearer ${TOKEN_IMPLEMENT}` },
          { model: 'gpt-4.1-mini', messages: [] },
        )
      ).body,
    ).toBe(recorded.chat);
    expect((await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_REVIEW }, anthropicJson)).body).toBe(
      recorded.review,
    );
    const u = await usage(gw.port);
    expect(JSON.stringify({ implement: u.tasks.implement, review: u.tasks.review })).toBe(recorded.usage);

    const more = await call(gw.port, 'POST', '/anthropic/v1/messages', { 'x-api-key': TOKEN_IMPLEMENT }, anthropicJson);
    expect(more.status).toBe(410);
    expect(JSON.parse(more.body).error.message).toMatch(
      /^agentvisor gateway \(replay\): the cassette of task implement \(.*implement\.yaml\) has no unused response for POST \/v1\/messages on provider anthropic/,
    );
    expect(seen.length).toBe(before); // nothing reached (or could reach) an upstream
  });
});

describe('bad input', () => {
  it('exits 2 on a bad config, naming the problem', () => {
    const cfg = config();
    (cfg.tasks as any)[TOKEN_IMPLEMENT].credentials = { mistral: 'env:MISTRAL_KEY', anthropic: 'env:NOT_SET_HERE' };
    const r = runGateway(['--config', writeConfig('bad.json', cfg)]);
    expect(r.status).toBe(2);
    expect(r.out).toContain('tasks[taskId=implement].credentials.mistral: unknown provider "mistral"');
    expect(r.out).toContain('tasks[taskId=implement].credentials.anthropic: environment variable NOT_SET_HERE is not set');
    expect(runGateway([]).status).toBe(2);
  });

  it('exits 2 on a malformed cassette in replay mode, naming the file', () => {
    const dir = path.join(work, 'bad-cassettes');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'review.yaml'), 'interactions:\n  - request: { provider: anthropic }\n    response: {}\n');
    const r = runGateway(['--config', writeConfig('bad-replay.json', config({ mode: 'replay', cassetteDir: dir }))]);
    expect(r.status).toBe(2);
    expect(r.out).toContain(`bad cassette ${path.join(dir, 'review.yaml')}: interactions[0].request.path:`);
  });

  it('runs in the agent base image with only node (no node_modules, no network)', () => {
    const cfg = config();
    (cfg.tasks as any)[TOKEN_IMPLEMENT].credentials = { anthropic: 'env:TEST_ANTHROPIC_KEY' };
    writeConfig('container.json', cfg);
    const r = spawnSync(
      'docker',
      [
        'run',
        '--rm',
        '--network',
        'none',
        '--read-only',
        '--user',
        '1000:1000',
        '-e',
        'TEST_ANTHROPIC_KEY',
        '-v',
        `${bundle}:/gateway/gateway.js:ro`,
        '-v',
        `${path.join(work, 'container.json')}:/gateway/config.json:ro`,
        'agentvisor/base:latest',
        'node',
        '/gateway/gateway.js',
        '--config',
        '/gateway/config.json',
        '--check',
      ],
      { encoding: 'utf8', env: { ...process.env, TEST_ANTHROPIC_KEY: ANTHROPIC_KEY }, timeout: 60_000 },
    );
    outputs.push(r.stdout + r.stderr);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('agentvisor gateway: config /gateway/config.json is valid (mode live, 2 tasks)\n');
    expect(r.status).toBe(0);
  });
});

describe('secrets', () => {
  it('never appear in the gateway output or in the cassettes', async () => {
    for (const g of running) await g.stop();
    const everything = [
      ...outputs,
      ...readdirSync(path.join(work, 'cassettes')).map((f) => readFileSync(path.join(work, 'cassettes', f), 'utf8')),
    ].join('\n');
    expect(everything).toContain('task=implement'); // the output is there, and names tasks by id
    for (const s of [...SECRETS, ...TOKENS]) expect(everything).not.toContain(s);
    expect(violations).toEqual([]);
  });
});
