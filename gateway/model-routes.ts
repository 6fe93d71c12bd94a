// Model routes, /<provider>/<path>: the task's token in, the real credential out. Each call is
// checked against the task's grants and budget, then forwarded (live, record) or answered from the
// task's cassette (replay); the response is metered as it streams through, and in record mode
// appended to the cassette.
import { EventEmitter } from 'node:events';
import type * as http from 'node:http';
import type { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import { Agent, type Dispatcher } from 'undici';
import {
  CassetteStore,
  recordableHeaders,
  renderResponse,
  toRecordedEvent,
  recordedData,
  type Interaction,
  type RecordedEvent,
} from './cassette';
import type { GatewayConfig, ProviderConfig, TaskConfig } from './config';
import { clientConnectionHeaders, stripHopByHop } from './hop-by-hop';
import { readModelRequest } from './model-request';
import { readBody, sendError } from './http';
import type { Ledger } from './ledger';
import type { Admissions } from './admissions';
import { SseParser } from './sse';
import { sha256 } from './tokens';
import { UsageExtractor, type MeteredUsage } from './usage';

export const MAX_REQUEST_BODY = 64 * 1024 * 1024;
/** Non-streamed response bodies are kept up to this size for metering and recording. */
export const MAX_TAPPED_BODY = 32 * 1024 * 1024;
/** An upstream that sends nothing for this long (no headers, or no next chunk) is given up. */
export const UPSTREAM_TIMEOUT_MS = 10 * 60_000;
/** Request headers that may carry the agent's token (all removed before forwarding). */
const AUTH_HEADERS = ['authorization', 'x-api-key', 'x-goog-api-key', 'api-key'];

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
  /** empty in live mode, where no cassette needs it */
  bodySha256: string;
  bodyBytes: number;
  started: number;
  seq: number;
  finished: boolean;
}

export interface ModelRoutes {
  /** Serves one model call: `rest` is the provider-side path, after /<provider>. */
  serve(req: http.IncomingMessage, res: http.ServerResponse, provider: ProviderConfig, rest: string, query: URLSearchParams): Promise<void>;
  /** Closes the upstream connections. */
  close(): Promise<void>;
  /** A task added to the run: its cassette is loaded (record and replay; throws CassetteError). */
  addTask(taskId: string): void;
}

/** Loads the cassettes in record and replay mode (throws CassetteError); meters the upstream's answers. */
export function createModelRoutes(deps: {
  cfg: GatewayConfig;
  ledger: Ledger;
  /** a host's gateway of a run on several hosts: near the run's budget, the run admits each call */
  admissions?: Admissions;
  taskOf: (token: string | undefined) => TaskConfig | undefined;
  say: (line: string) => void;
}): ModelRoutes {
  const { cfg, ledger, admissions, taskOf, say } = deps;
  /** near the run's budget: each call waits for the run's grant (admissions.ts); never without `admissions` */
  const askingRun = () => ledger.runShare() >= cfg.runAdmission!.from;
  const cassettes =
    cfg.mode !== 'live' && cfg.cassetteDir
      ? new CassetteStore(
          cfg.cassetteDir,
          [...cfg.tasks.values()].map((t) => t.taskId),
          cfg.secrets,
        )
      : undefined;
  // Upstream calls: undici's pool, keep-alive, one idle-or-answer timeout like the proxy's before.
  const upstream = new Agent({ headersTimeout: UPSTREAM_TIMEOUT_MS, bodyTimeout: UPSTREAM_TIMEOUT_MS });

  // ---------- metering (live and record): tap the upstream response as it streams through ----------
  function meter(ex: Exchange, status: number, headers: http.IncomingHttpHeaders, body: Readable): void {
    const contentType = String(headers['content-type'] ?? '');
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
    const encoding = String(headers['content-encoding'] ?? 'identity').toLowerCase();
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
      charge(ex, status, usage, complete ? '' : ' (response cut short)');
      if (recording && cassettes) {
        const response: Interaction['response'] = { status, headers: recordableHeaders(headers) };
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
    body.on('data', (c: Buffer) => (decoder ? decoder.write(c) : sink(c)));
    body.on('end', () => {
      ended = true;
      if (decoder) {
        decoder.once('end', () => finish(true));
        decoder.once('error', () => finish(true));
        decoder.end();
      } else finish(true);
    });
    // Cut short (client gone, upstream reset): count what came.
    body.on('close', () => {
      if (!ended) finish(false);
    });
  }

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
    // near the budget, every call's spend reaches the run promptly: the worker's relay wakes
    if (admissions && askingRun()) admissions.changed();
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
  async function modelRoute(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    provider: ProviderConfig,
    rest: string,
    query: URLSearchParams,
  ): Promise<void> {
    const kind = provider.kind;
    const method = (req.method ?? 'GET').toUpperCase();
    const started = Date.now();
    const line = (task: string, status: number, what: string) =>
      say(
        `agentvisor gateway: task=${task} provider=${provider.name} ${method} ${rest} status=${status} ${what} ms=${Date.now() - started}`,
      );

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
      return sendError(
        res,
        kind,
        401,
        'authentication_error',
        `agentvisor gateway: ${candidates.length ? 'unknown task token' : 'no task token given'} (send the task's token as the API key)`,
      );
    }
    if (!task.credentials.has(provider.name)) {
      line(task.taskId, 403, 'refused: provider not granted');
      return sendError(
        res,
        kind,
        403,
        'permission_error',
        `agentvisor gateway: task ${task.taskId} has no credential for provider ${provider.name}`,
      );
    }
    const refusal = ledger.check(task.taskId);
    if (refusal) {
      ledger.refuse(task.taskId);
      line(task.taskId, 402, 'refused: budget exceeded');
      return sendError(res, kind, 402, 'budget_exceeded', refusal);
    }
    if (admissions && askingRun()) {
      const admission = await admissions.ask(task.taskId);
      if (admission === 'timeout') {
        line(task.taskId, 503, 'refused: the run did not admit the call in time');
        return sendError(
          res,
          kind,
          503,
          'admission_timeout',
          `agentvisor gateway: the run's budget is nearly spent, so each model call needs the run's grant, and the run did not answer within ${cfg.runAdmission!.waitMs} ms`,
        );
      }
      if (admission === 'refused') {
        ledger.refuse(task.taskId);
        line(task.taskId, 402, 'refused: budget exceeded (by the run)');
        // the worker told the gateway the run's total with the answer: the ledger says why
        const why =
          ledger.check(task.taskId) ?? `agentvisor: budget exceeded for the run; task ${task.taskId} may make no more model calls`;
        return sendError(res, kind, 402, 'budget_exceeded', why);
      }
      say(
        `agentvisor gateway: task=${task.taskId} provider=${provider.name} ${method} ${rest} granted by the run ms=${Date.now() - started}`,
      );
    }

    const body = await readBody(req, MAX_REQUEST_BODY);
    if (body === 'too-large') {
      line(task.taskId, 413, 'refused: body too large');
      return sendError(res, kind, 413, 'request_too_large', `agentvisor gateway: request body over ${MAX_REQUEST_BODY} bytes`);
    }
    const { model: requestModel, stream } = readModelRequest(rest, body);
    const ex: Exchange = {
      task,
      provider,
      method,
      path: rest,
      requestModel,
      stream,
      // only cassettes need it (record and replay): hashing a large body costs as much as parsing it
      bodySha256: cassettes ? sha256(body) : '',
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
    target.pathname = target.pathname.replace(/\/+$/, '') + rest || '/';
    target.search = qs ? `?${qs}` : '';
    stripHopByHop(req.headers);
    for (const h of [...AUTH_HEADERS, 'proxy-authorization', 'cookie', 'content-length', 'host', 'accept-encoding', 'expect']) {
      delete req.headers[h];
    }
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = v;
    Object.assign(headers, credentialHeaders(provider, task.credentials.get(provider.name)!), { 'accept-encoding': 'identity' });
    if (method !== 'GET' && method !== 'HEAD') headers['content-length'] = String(body.length);

    // The client gone, before or during the answer: undici gives the upstream call up. An
    // EventEmitter, not an AbortController: one of those per call and the DOMException of each
    // abort (stream.pipeline makes both too) were 6% of the gateway's CPU.
    const clientGone = new EventEmitter();
    let gone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      gone = true;
      clientGone.emit('abort');
    });
    let answer: Dispatcher.ResponseData;
    try {
      answer = await upstream.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: method as Dispatcher.HttpMethod,
        headers,
        body: method !== 'GET' && method !== 'HEAD' ? body : undefined,
        signal: clientGone,
      });
    } catch (err) {
      ex.finished = true;
      const e = err as NodeJS.ErrnoException;
      const why = gone ? 'client closed the connection first' : `upstream error ${e.code ?? e.message}`;
      say(
        `agentvisor gateway: task=${task.taskId} provider=${provider.name} ${method} ${rest} status=502 ${why} ms=${Date.now() - started}`,
      );
      return sendError(
        res,
        kind,
        502,
        'upstream_error',
        `agentvisor gateway: cannot reach ${provider.name} upstream ${provider.upstream.host} (${e.code ?? e.message})`,
      );
    }
    const answerHeaders = answer.headers as http.IncomingHttpHeaders;
    meter(ex, answer.statusCode, answerHeaders, answer.body);
    const out = { ...answerHeaders };
    clientConnectionHeaders(out, res);
    res.writeHead(answer.statusCode, out as http.OutgoingHttpHeaders);
    // Streamed through as it comes (SSE unbuffered); an upstream cut short cuts the client's answer
    // short too (a client gone stops the upstream call: the signal above).
    answer.body.on('error', () => res.destroy());
    answer.body.pipe(res);
  }

  function replay(res: http.ServerResponse, ex: Exchange): void {
    const found = cassettes!.next(ex.task.taskId, ex.provider.name, ex.method, ex.path, ex.bodySha256, ex.requestModel);
    if (!found.ok) {
      say(
        `agentvisor gateway: task=${ex.task.taskId} provider=${ex.provider.name} ${ex.method} ${ex.path} status=410 model=${ex.requestModel ?? '-'} replay: no recorded response ms=${Date.now() - ex.started}`,
      );
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

  return { serve: modelRoute, close: () => upstream.destroy(), addTask: (taskId) => cassettes?.addTask(taskId) };
}
