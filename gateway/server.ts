// The gateway server: three jobs.
//
//   /<provider>/<path>     model routes: the task's token in, the real credential out; metered,
//                          budgeted, recorded or replayed
//   CONNECT host:port,     the egress allowlist: a forward proxy for HTTPS (CONNECT) and plain
//   GET http://host/...    HTTP (absolute-URI requests), authenticated with Proxy-Authorization
//   /_agentvisor/...       the control side: health, and usage (with the control token)
//
// Without `control` in the config, all three are on the one `listen` port. With it, the control
// side has a listener of its own (agentvisor binds it to the address the worker reaches, which
// agents cannot) and the `listen` port, the agents' one, serves no control route at all.
//
// Proxy library: http-proxy-3 (sagemathinc/http-proxy-3). It is the maintained, TypeScript rewrite of
// node-http-proxy (whose last release is years old, with known socket leaks on current Node), is used
// in production by Vite, JupyterHub and CoCalc, ships its own types, has two small dependencies
// (bundles cleanly into one file) and supports Node 20 in its 1.x line (2.x needs Node 22). It
// streams the upstream response straight into ours (so SSE is not buffered) and gives the hooks
// we need: per-request target and options, `proxyRes` to tap the body for metering and recording,
// and an error callback. @fastify/http-proxy would bring a web framework for one route; undici is
// an HTTP client, so the proxying (hop-by-hop headers, piping, aborts) would be ours to write.
// CONNECT is not something http-proxy-3 does: that part is a plain TCP splice (net.connect + pipe)
// after the allowlist check, which is all a CONNECT tunnel is.
import { createHash, timingSafeEqual } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as os from 'node:os';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { createProxyServer } from 'http-proxy-3';
import { CassetteStore, recordableHeaders, renderResponse, toRecordedEvent, recordedData, type Interaction, type RecordedEvent } from './cassette';
import type { GatewayConfig, ProviderConfig, TaskConfig } from './config';
import { Ledger } from './ledger';
import { SseParser } from './sse';
import { modelFromRequest, UsageExtractor, type MeteredUsage, type ProviderKind } from './usage';

export const MAX_REQUEST_BODY = 64 * 1024 * 1024;
/** Non-streamed response bodies are kept up to this size for metering and recording. */
export const MAX_TAPPED_BODY = 32 * 1024 * 1024;
const CONTROL_HEADER = 'x-agentvisor-control-token';
/** Request headers that may carry the agent's token (all removed before forwarding). */
const AUTH_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'];

export interface GatewayOptions {
  /** One line per request; default: stdout. Lines never hold a token or a credential. */
  log?: (line: string) => void;
}

export interface Gateway {
  server: http.Server;
  /** the control side's own server, when the config gives it a listener */
  controlServer?: http.Server;
  ledger: Ledger;
  /** Starts listening (and the control listener); resolves to the bound address (port 0 picks a free port). */
  listen(): Promise<net.AddressInfo>;
  /** where the control listener is bound, once listening */
  controlAddress(): net.AddressInfo | undefined;
  close(): Promise<void>;
}

/** The control listener's host: given, or the IPv4 address an interface has now; else loopback. */
export function controlHost(control: { host?: string; interface?: string }, interfaces = os.networkInterfaces()): string {
  if (control.host) return control.host;
  if (!control.interface) return '127.0.0.1';
  const found = (interfaces[control.interface] ?? []).find((a) => a.family === 'IPv4' && !a.internal);
  if (!found) throw new Error(`interface ${control.interface} has no IPv4 address (interfaces: ${Object.keys(interfaces).join(', ')})`);
  return found.address;
}

type Kind = ProviderKind | 'control' | 'proxy';

const STATUS_NAMES: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  402: 'FAILED_PRECONDITION',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  405: 'INVALID_ARGUMENT',
  407: 'UNAUTHENTICATED',
  410: 'NOT_FOUND',
  413: 'INVALID_ARGUMENT',
  502: 'UNAVAILABLE',
};

/** An error body in the shape the provider's own CLI reads, so it shows our message. */
export function errorBody(kind: Kind, status: number, type: string, message: string): unknown {
  switch (kind) {
    case 'anthropic':
      return { type: 'error', error: { type, message } };
    case 'openai':
    case 'openai-compatible':
      return { error: { message, type, code: type, param: null } };
    case 'gemini':
      return { error: { code: status, message, status: STATUS_NAMES[status] ?? 'UNKNOWN' } };
    default:
      return { error: { type, message } };
  }
}

function sendError(res: http.ServerResponse, kind: Kind, status: number, type: string, message: string, headers: http.OutgoingHttpHeaders = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const body = JSON.stringify(errorBody(kind, status, type, message));
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    // The Anthropic and OpenAI SDKs honour this: no retry storm on a refusal.
    'x-should-retry': 'false',
    'x-agentvisor-error': type,
    ...headers,
  });
  res.end(body);
}

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a), 'hex');
  const y = Buffer.from(sha256(b), 'hex');
  return timingSafeEqual(x, y);
}

function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | 'too-large'> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? 'too-large' : Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** `host[:port]` or `[v6][:port]` → parts; undefined if it is not one. */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/@]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].toLowerCase().replace(/\.$/, ''), port };
}

/** Whether a task's allowlist lets it reach host:port. Entries: `host`, `*.suffix`, either with `:port`. */
export function hostAllowed(patterns: string[], host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const p of patterns) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(p);
    if (!m) continue;
    const [, name, portPart] = m;
    if (portPart !== undefined && Number(portPart) !== port) continue;
    if (name.startsWith('*.')) {
      const suffix = name.slice(1); // ".example.com": subdomains only, not the apex
      if (h.endsWith(suffix) && h.length > suffix.length) return true;
    } else if (h === name) return true;
  }
  return false;
}

/** The token of a proxy request: `Proxy-Authorization: Basic base64(token:)` (or `:token`), or Bearer. */
function proxyToken(req: http.IncomingMessage): string | undefined {
  const h = req.headers['proxy-authorization'];
  if (typeof h !== 'string') return undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (basic) {
    const text = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = text.indexOf(':');
    const decode = (x: string) => {
      try {
        return decodeURIComponent(x);
      } catch {
        return x;
      }
    };
    const user = decode(colon < 0 ? text : text.slice(0, colon));
    const pass = colon < 0 ? '' : decode(text.slice(colon + 1));
    return user || pass || undefined;
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return bearer ? bearer[1] : undefined;
}

/** The credential headers of a provider, given its auth style. */
function credentialHeaders(p: ProviderConfig, credential: string): Record<string, string> {
  switch (p.auth) {
    case 'x-api-key':
      return { 'x-api-key': credential };
    case 'bearer':
      return { authorization: `Bearer ${credential}` };
    case 'x-goog-api-key':
      return { 'x-goog-api-key': credential };
    case 'query-key':
      return {};
  }
}

interface Exchange {
  task: TaskConfig;
  provider: ProviderConfig;
  method: string;
  /** The provider-side path without the query, for logs and cassettes. */
  path: string;
  requestModel?: string;
  stream: boolean;
  bodySha256: string;
  bodyBytes: number;
  started: number;
  seq: number;
  finished: boolean;
}

export function createGateway(cfg: GatewayConfig, opts: GatewayOptions = {}): Gateway {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const secrets = cfg.secrets;
  const say = (line: string) => {
    // Belt and braces: nothing we log should hold a secret, but if one slipped in, it goes no further.
    let l = line;
    for (const s of secrets) if (l.includes(s)) l = l.split(s).join('REDACTED');
    log(l);
  };

  const tasksByHash = new Map<string, TaskConfig>();
  for (const [token, t] of cfg.tasks) tasksByHash.set(sha256(token), t);
  const taskOf = (token: string | undefined) => (token ? tasksByHash.get(sha256(token)) : undefined);

  const ledger = new Ledger(cfg.prices, new Map([...cfg.tasks.values()].map((t) => [t.taskId, t.budget])), cfg.runBudget);
  const cassettes =
    cfg.mode !== 'live' && cfg.cassetteDir
      ? new CassetteStore(cfg.cassetteDir, [...cfg.tasks.values()].map((t) => t.taskId), secrets)
      : undefined;

  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  const proxy = createProxyServer({ xfwd: false, proxyTimeout: 10 * 60_000 });
  const exchanges = new WeakMap<http.IncomingMessage, Exchange>();
  // Every proxy.web call has its own error callback; this only keeps a stray event from throwing.
  proxy.on('error', (err) => say(`agentvisor gateway: proxy error: ${(err as Error).message}`));

  // ---------- metering (live and record): tap the upstream response as it streams through ----------
  proxy.on('proxyRes', (proxyRes, req, res) => {
    const ex = exchanges.get(req);
    if (!ex) return; // a forward-proxy request: not metered
    const contentType = String(proxyRes.headers['content-type'] ?? '');
    const isSse = /text\/event-stream/i.test(contentType);
    const extractor = new UsageExtractor(ex.provider.kind);
    const events: RecordedEvent[] = [];
    const recording = cfg.mode === 'record';
    const parser = isSse
      ? new SseParser((e) => {
          extractor.event(e.data);
          if (recording) events.push(toRecordedEvent(e));
        })
      : undefined;
    const chunks: Buffer[] = [];
    let kept = 0;
    const sink = (c: Buffer) => {
      if (parser) parser.push(c);
      else if (kept + c.length <= MAX_TAPPED_BODY) {
        chunks.push(c);
        kept += c.length;
      } else kept = Infinity;
    };
    // We ask upstream for identity encoding; if it compresses anyway, decode our copy.
    const encoding = String(proxyRes.headers['content-encoding'] ?? 'identity').toLowerCase();
    let decoder: zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined;
    if (encoding === 'gzip' || encoding === 'x-gzip') decoder = zlib.createGunzip();
    else if (encoding === 'deflate') decoder = zlib.createInflate();
    else if (encoding === 'br') decoder = zlib.createBrotliDecompress();
    if (decoder) {
      decoder.on('data', sink);
      decoder.on('error', () => undefined);
    }
    const finish = (complete: boolean) => {
      if (ex.finished) return;
      ex.finished = true;
      if (parser) parser.end();
      else if (kept !== Infinity) extractor.body(Buffer.concat(chunks).toString('utf8'));
      const usage = extractor.result();
      const status = proxyRes.statusCode ?? 0;
      charge(ex, status, usage, complete ? '' : ' (response cut short)');
      if (recording && cassettes) {
        const response: Interaction['response'] = { status, headers: recordableHeaders(proxyRes.headers) };
        if (parser) response.events = events;
        else if (kept !== Infinity) {
          const text = Buffer.concat(chunks).toString('utf8');
          const data = recordedData(text);
          if (typeof data === 'string') response.bodyText = text;
          else response.body = data;
        } else response.bodyText = '';
        try {
          cassettes.append(ex.task.taskId, ex.seq, { request: requestSummary(ex), response });
        } catch (err) {
          say(`agentvisor gateway: task=${ex.task.taskId} cannot write its cassette: ${(err as Error).message}`);
        }
      }
    };
    let ended = false;
    proxyRes.on('data', (c: Buffer) => (decoder ? decoder.write(c) : sink(c)));
    proxyRes.on('end', () => {
      ended = true;
      if (decoder) {
        decoder.once('end', () => finish(true));
        decoder.once('error', () => finish(true));
        decoder.end();
      }
      else finish(true);
    });
    // Cut short (client gone, upstream reset): count what came.
    proxyRes.on('close', () => {
      if (!ended) finish(false);
    });
    void res;
  });

  function requestSummary(ex: Exchange): Interaction['request'] {
    return {
      provider: ex.provider.name,
      method: ex.method,
      path: ex.path,
      ...(ex.requestModel ? { model: ex.requestModel } : {}),
      stream: ex.stream,
      bodyBytes: ex.bodyBytes,
      bodySha256: ex.bodySha256,
    };
  }

  function charge(ex: Exchange, status: number, usage: MeteredUsage | undefined, note = ''): void {
    const model = usage?.model ?? ex.requestModel;
    const { usd, priced } = ledger.record(ex.task.taskId, usage, model, status);
    const u = usage ?? { inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0 };
    say(
      `agentvisor gateway: task=${ex.task.taskId} provider=${ex.provider.name} ${ex.method} ${ex.path} status=${status} ` +
        `model=${model ?? '-'} in=${u.inputTokens} out=${u.outputTokens} cached=${u.cachedTokens} cache_write=${u.cacheWriteTokens} ` +
        `usd=${usd.toFixed(6)}${priced ? '' : ' (no price for this model)'} ms=${Date.now() - ex.started}` +
        (cfg.mode !== 'live' ? ` mode=${cfg.mode}` : '') +
        note,
    );
  }

  // ---------- model routes ----------
  async function modelRoute(req: http.IncomingMessage, res: http.ServerResponse, provider: ProviderConfig, rest: string, query: URLSearchParams): Promise<void> {
    const kind = provider.kind;
    const method = (req.method ?? 'GET').toUpperCase();
    const started = Date.now();
    const line = (task: string, status: number, what: string) =>
      say(`agentvisor gateway: task=${task} provider=${provider.name} ${method} ${rest} status=${status} ${what} ms=${Date.now() - started}`);

    // A connectivity probe of the base URL (Claude Code sends HEAD /): answered here.
    if (method === 'HEAD' && (rest === '/' || rest === '')) {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
      return;
    }

    const candidates: string[] = [];
    for (const h of AUTH_HEADERS) {
      const v = req.headers[h];
      if (typeof v !== 'string') continue;
      candidates.push(h === 'authorization' ? v.replace(/^Bearer\s+/i, '').trim() : v.trim());
    }
    const qkey = query.get('key');
    if (qkey) candidates.push(qkey);
    const task = candidates.map(taskOf).find((t) => t);
    if (!task) {
      line('-', 401, candidates.length ? 'refused: unknown token' : 'refused: no token');
      return sendError(res, kind, 401, 'authentication_error', `agentvisor gateway: ${candidates.length ? 'unknown task token' : 'no task token given'} (send the task's token as the API key)`);
    }
    if (!task.credentials.has(provider.name)) {
      line(task.taskId, 403, 'refused: provider not granted');
      return sendError(res, kind, 403, 'permission_error', `agentvisor gateway: task ${task.taskId} has no credential for provider ${provider.name}`);
    }
    const refusal = ledger.check(task.taskId);
    if (refusal) {
      ledger.refuse(task.taskId);
      line(task.taskId, 402, 'refused: budget exceeded');
      return sendError(res, kind, 402, 'budget_exceeded', refusal);
    }

    const body = await readBody(req, MAX_REQUEST_BODY);
    if (body === 'too-large') {
      line(task.taskId, 413, 'refused: body too large');
      return sendError(res, kind, 413, 'request_too_large', `agentvisor gateway: request body over ${MAX_REQUEST_BODY} bytes`);
    }
    let stream = /:streamGenerateContent\b/.test(rest);
    try {
      const v = body.length ? JSON.parse(body.toString('utf8')) : undefined;
      if (v && typeof v === 'object' && (v as { stream?: unknown }).stream === true) stream = true;
    } catch {
      /* not JSON */
    }
    const ex: Exchange = {
      task,
      provider,
      method,
      path: rest,
      requestModel: modelFromRequest(rest, body),
      stream,
      bodySha256: sha256(body),
      bodyBytes: body.length,
      started,
      seq: cassettes?.ticket() ?? 0,
      finished: false,
    };

    if (cfg.mode === 'replay') return replay(res, ex);

    // Forward: the token out, the real credential in.
    query.delete('key');
    if (provider.auth === 'query-key') query.set('key', task.credentials.get(provider.name)!);
    const qs = query.toString();
    const target = new URL(provider.upstream.href);
    target.pathname = (target.pathname.replace(/\/+$/, '') + rest) || '/';
    target.search = qs ? `?${qs}` : '';
    for (const h of [...AUTH_HEADERS, 'proxy-authorization', 'proxy-connection', 'cookie', 'transfer-encoding', 'content-length', 'host', 'accept-encoding', 'connection', 'keep-alive', 'expect']) {
      delete req.headers[h];
    }
    const headers: Record<string, string> = {
      ...credentialHeaders(provider, task.credentials.get(provider.name)!),
      'accept-encoding': 'identity',
    };
    if (method !== 'GET' && method !== 'HEAD') headers['content-length'] = String(body.length);
    exchanges.set(req, ex);
    proxy.web(
      req,
      res,
      {
        target,
        ignorePath: true,
        changeOrigin: true,
        headers,
        agent: target.protocol === 'https:' ? agents.https : agents.http,
        buffer: Readable.from(body.length ? [body] : []),
      },
      (err) => {
        if (ex.finished) return;
        ex.finished = true;
        const e = err as NodeJS.ErrnoException;
        say(`agentvisor gateway: task=${task.taskId} provider=${provider.name} ${method} ${rest} status=502 upstream error ${e.code ?? e.message} ms=${Date.now() - started}`);
        sendError(res, kind, 502, 'upstream_error', `agentvisor gateway: cannot reach ${provider.name} upstream ${provider.upstream.host} (${e.code ?? e.message})`);
      },
    );
  }

  function replay(res: http.ServerResponse, ex: Exchange): void {
    const found = cassettes!.next(ex.task.taskId, ex.provider.name, ex.method, ex.path, ex.bodySha256, ex.requestModel);
    if (!found.ok) {
      say(`agentvisor gateway: task=${ex.task.taskId} provider=${ex.provider.name} ${ex.method} ${ex.path} status=410 model=${ex.requestModel ?? '-'} replay: no recorded response ms=${Date.now() - ex.started}`);
      return sendError(res, ex.provider.kind, 410, 'cassette_exhausted', found.message);
    }
    const r = found.interaction.response;
    const { body, contentType, eventData } = renderResponse(r);
    const extractor = new UsageExtractor(ex.provider.kind);
    if (eventData) for (const d of eventData) extractor.event(d);
    else extractor.body(body);
    const headers: http.OutgoingHttpHeaders = { ...r.headers, 'x-agentvisor-replay': String(found.index + 1) };
    if (!Object.keys(headers).some((k) => k.toLowerCase() === 'content-type')) headers['content-type'] = contentType;
    headers['content-length'] = Buffer.byteLength(body);
    res.writeHead(r.status, headers);
    res.end(body);
    ex.finished = true;
    const usage = extractor.result();
    // the model asked for, when the response names another: what a cassette author needs to see
    const asked = ex.requestModel && usage?.model && usage.model !== ex.requestModel ? ` request_model=${ex.requestModel}` : '';
    charge(ex, r.status, usage, ` replay=#${found.index + 1}${asked}`);
  }

  // ---------- the egress allowlist ----------
  function egressRefusal(req: http.IncomingMessage, host: string, port: number): { status: number; message: string; task?: TaskConfig } | { task: TaskConfig } {
    const token = proxyToken(req);
    const task = taskOf(token);
    if (!task) {
      return {
        status: 407,
        message: `agentvisor gateway: proxy authentication required: ${token ? 'unknown task token' : 'no task token given'} (HTTPS_PROXY=http://<task token>@<gateway>:<port>)`,
      };
    }
    if (!hostAllowed(task.allowHosts, host, port)) {
      return { status: 403, task, message: `agentvisor gateway: host ${host} is not on the allowlist of task ${task.taskId}` };
    }
    return { task };
  }

  function onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    const reply = (status: number, reason: string, message: string, extra = '') => {
      const body = message + '\n';
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `x-agentvisor-error: ${message.replace(/[\r\n]/g, ' ')}\r\nconnection: close\r\n${extra}\r\n${body}`,
      );
    };
    const target = parseAuthority(req.url ?? '', 443);
    if (!target) {
      say(`agentvisor gateway: task=- CONNECT status=400 bad target`);
      return reply(400, 'Bad Request', 'agentvisor gateway: CONNECT needs host:port');
    }
    const verdict = egressRefusal(req, target.host, target.port);
    if ('status' in verdict) {
      say(`agentvisor gateway: task=${verdict.task?.taskId ?? '-'} CONNECT ${target.host}:${target.port} status=${verdict.status} refused`);
      return reply(verdict.status, verdict.status === 407 ? 'Proxy Authentication Required' : 'Forbidden', verdict.message, verdict.status === 407 ? 'proxy-authenticate: Basic realm="agentvisor"\r\n' : '');
    }
    const started = Date.now();
    const upstream = net.connect(target.port, target.host.replace(/^\[|\]$/g, ''));
    let open = false;
    upstream.once('connect', () => {
      open = true;
      say(`agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} status=200 tunnel open`);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!open) {
        say(`agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} status=502 ${err.code ?? err.message}`);
        reply(502, 'Bad Gateway', `agentvisor gateway: cannot reach ${target.host}:${target.port} (${err.code ?? err.message})`);
      } else socket.destroy();
    });
    upstream.on('close', () => {
      if (open) socket.end();
    });
    socket.on('close', () => {
      upstream.destroy();
      if (open) say(`agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} tunnel closed ms=${Date.now() - started}`);
    });
  }

  function forwardHttp(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const host = url.hostname.toLowerCase();
    const method = req.method ?? 'GET';
    const verdict = egressRefusal(req, host, port);
    if ('status' in verdict) {
      say(`agentvisor gateway: task=${verdict.task?.taskId ?? '-'} ${method} http://${host}:${port} status=${verdict.status} refused`);
      const body = verdict.message + '\n';
      res.writeHead(verdict.status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-agentvisor-error': verdict.message,
        ...(verdict.status === 407 ? { 'proxy-authenticate': 'Basic realm="agentvisor"' } : {}),
      });
      res.end(body);
      return;
    }
    delete req.headers['proxy-authorization'];
    delete req.headers['proxy-connection'];
    const started = Date.now();
    res.on('finish', () =>
      say(`agentvisor gateway: task=${verdict.task.taskId} ${method} ${url.protocol}//${host}:${port}${url.pathname} status=${res.statusCode} proxied ms=${Date.now() - started}`),
    );
    proxy.web(
      req,
      res,
      { target: url, ignorePath: true, changeOrigin: true, agent: url.protocol === 'https:' ? agents.https : agents.http },
      (err) => {
        const e = err as NodeJS.ErrnoException;
        if (res.headersSent) return void res.destroy();
        const body = `agentvisor gateway: cannot reach ${host}:${port} (${e.code ?? e.message})\n`;
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    );
  }

  // ---------- the control side ----------
  function control(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    // a refused control call is worth a line: it is someone without the token, or an agent probing
    res.on('finish', () => {
      if (res.statusCode >= 400) say(`agentvisor gateway: control ${req.method} ${pathname} status=${res.statusCode} from=${req.socket.remoteAddress ?? '-'}`);
    });
    const json = (status: number, v: unknown) => {
      const body = JSON.stringify(v, null, 2) + '\n';
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (pathname === '/_agentvisor/health') return json(200, { ok: true, mode: cfg.mode });
    if (pathname === '/_agentvisor/usage') {
      if (!cfg.controlToken) return sendError(res, 'control', 403, 'permission_error', 'agentvisor gateway: the control API is off (no controlToken in the config)');
      const given = req.headers[CONTROL_HEADER] ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      if (typeof given !== 'string' || !given || !safeEqual(given, cfg.controlToken)) {
        return sendError(res, 'control', 401, 'authentication_error', `agentvisor gateway: the usage API needs the control token in the ${CONTROL_HEADER} header`);
      }
      if (req.method !== 'GET') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: GET only');
      return json(200, { mode: cfg.mode, ...ledger.report() });
    }
    sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no such control route ${pathname}`);
  }

  // ---------- dispatch ----------
  const server = http.createServer((req, res) => {
    const raw = req.url ?? '/';
    const fail = (err: unknown) => {
      say(`agentvisor gateway: internal error on ${req.method} ${raw.split('?')[0]}: ${(err as Error).message}`);
      sendError(res, 'control', 500, 'internal_error', 'agentvisor gateway: internal error');
    };
    try {
      let pathAndQuery = raw;
      if (/^https?:\/\//i.test(raw)) {
        const url = new URL(raw);
        // An agent whose HTTP_PROXY also covers the gateway's own base URL sends its model calls as
        // absolute URIs to us: serve those here rather than as egress.
        const local = server.address();
        const selfPort = typeof local === 'object' && local ? local.port : -1;
        const first = url.pathname.split('/')[1] ?? '';
        if (Number(url.port || 80) === selfPort && (cfg.providers.has(first) || (!cfg.control && first === '_agentvisor'))) pathAndQuery = url.pathname + url.search;
        else return forwardHttp(req, res, url);
      }
      const q = pathAndQuery.indexOf('?');
      const pathname = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : pathAndQuery.slice(q + 1));
      if (pathname.startsWith('/_agentvisor/')) {
        if (!cfg.control) return control(req, res, pathname);
        say(`agentvisor gateway: ${req.method} ${pathname} status=404 refused: no control route on this port from=${req.socket.remoteAddress ?? '-'}`);
        return sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no route ${pathname}`);
      }
      const m = /^\/([^/]+)(\/.*)?$/.exec(pathname);
      const provider = m ? cfg.providers.get(m[1]) : undefined;
      if (!provider) {
        return sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no route ${pathname}; model routes are /<provider>/... for providers ${[...cfg.providers.keys()].join(', ')}`);
      }
      modelRoute(req, res, provider, m![2] ?? '/', query).catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    try {
      onConnect(req, socket, head);
    } catch (err) {
      say(`agentvisor gateway: internal error on CONNECT: ${(err as Error).message}`);
      socket.destroy();
    }
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  // Long model calls: no request-wide timeout (the upstream socket has proxyTimeout).
  server.requestTimeout = 0;

  // the control side's own listener: control routes only
  const controlServer = cfg.control
    ? http.createServer((req, res) => {
        try {
          const pathname = new URL(req.url ?? '/', 'http://x').pathname;
          if (pathname.startsWith('/_agentvisor/')) return control(req, res, pathname);
          sendError(res, 'control', 404, 'not_found', `agentvisor gateway: the control port serves /_agentvisor/... only`);
        } catch {
          sendError(res, 'control', 400, 'invalid_request', 'agentvisor gateway: bad request');
        }
      })
    : undefined;
  controlServer?.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  const listenOn = (srv: http.Server, port: number, host: string) =>
    new Promise<net.AddressInfo>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => {
        srv.off('error', reject);
        resolve(srv.address() as net.AddressInfo);
      });
    });

  return {
    server,
    controlServer,
    ledger,
    listen: async () => {
      const addr = await listenOn(server, cfg.listen.port, cfg.listen.host);
      if (controlServer && cfg.control) {
        try {
          await listenOn(controlServer, cfg.control.port, controlHost(cfg.control));
        } catch (err) {
          server.close();
          throw new Error(`control listener: ${(err as Error).message}`);
        }
      }
      return addr;
    },
    controlAddress: () => (controlServer?.address() as net.AddressInfo | null) ?? undefined,
    close: () =>
      new Promise((resolve) => {
        let open = controlServer?.listening ? 2 : 1;
        const done = () => --open === 0 && resolve();
        server.close(done);
        server.closeAllConnections();
        if (controlServer?.listening) {
          controlServer.close(done);
          controlServer.closeAllConnections();
        }
        agents.http.destroy();
        agents.https.destroy();
        proxy.close();
      }),
  };
}
