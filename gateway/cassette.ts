// Cassettes: one file per task, `<cassetteDir>/<taskId>.yaml` (or .yml or .json), holding the
// task's model exchanges in order. Written by record mode, served by replay mode, and plain enough
// to write by hand:
//
//   version: 1
//   task: implement
//   interactions:
//     - request: { provider: anthropic, method: POST, path: /v1/messages }
//       response:
//         status: 200                         # default 200
//         headers: { request-id: req_1 }      # optional
//         events:                             # an SSE stream ...
//           - event: message_start
//             data: { type: message_start, message: { model: claude-sonnet-4-5, usage: { input_tokens: 10, output_tokens: 1 } } }
//           - event: message_stop
//             data: { type: message_stop }
//     - request: { provider: openai, path: /v1/chat/completions }
//       response:
//         body: { choices: [], usage: { prompt_tokens: 5, completion_tokens: 2 } }   # ... or JSON
//         # bodyText: "raw text"                                                      # ... or text
//
// `data` is JSON (written out compactly) or a string (sent as is). `path` is the provider's path,
// without the `/<provider>` route prefix and without the query. Recorded requests also carry
// `model`, `stream`, `bodyBytes` and `bodySha256` (a summary: request bodies are not stored).
//
// Replay serves, for each request, the first unused interaction of the same provider, method and
// path whose bodySha256 equals the request's, else the first unused one of the same route whose
// `model` is the request's model, else the first unused one of the same route: recorded order is
// kept, and a concurrent side request (a title made with a smaller model, a probe) does not shift
// the main conversation. A hand-written cassette names `model` where a CLI makes such side calls.
import { existsSync, readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { Document, isCollection, isScalar, parse as parseYaml, visit } from 'yaml';
import { z } from 'zod';
import { serializeSseEvent, type SseEvent } from './sse';

const jsonValue: z.ZodType<unknown> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(jsonValue), z.record(z.string(), jsonValue)]),
);

const eventSchema = z
  .object({
    event: z.string().optional(),
    id: z.string().optional(),
    retry: z.number().int().nonnegative().optional(),
    data: jsonValue.describe('JSON (sent compactly) or a string (sent as is)'),
  })
  .strict();

const requestSchema = z
  .object({
    provider: z.string().min(1),
    method: z
      .string()
      .regex(/^[A-Za-z]+$/)
      .default('POST')
      .transform((m) => m.toUpperCase()),
    path: z.string().startsWith('/', { message: 'expected a path starting with /' }),
    model: z.string().optional(),
    stream: z.boolean().optional(),
    bodyBytes: z.number().int().nonnegative().optional(),
    bodySha256: z
      .string()
      .regex(/^[0-9a-f]{64}$/)
      .optional(),
    note: z.string().optional(),
  })
  .strict();

const responseSchema = z
  .object({
    status: z.number().int().min(100).max(599).default(200),
    headers: z.record(z.string(), z.union([z.string(), z.number()]).transform(String)).default({}),
    events: z.array(eventSchema).optional(),
    body: jsonValue.optional(),
    bodyText: z.string().optional(),
  })
  .strict()
  .refine((r) => [r.events, r.body, r.bodyText].filter((x) => x !== undefined).length <= 1, {
    message: 'a response has at most one of events, body and bodyText',
  });

const interactionSchema = z.object({ request: requestSchema, response: responseSchema }).strict();

export const cassetteSchema = z
  .object({
    version: z.literal(1).default(1),
    task: z.string().optional(),
    interactions: z.array(interactionSchema).default([]),
  })
  .strict();

export type Interaction = z.output<typeof interactionSchema>;
export type RecordedEvent = z.output<typeof eventSchema>;
export type Cassette = z.output<typeof cassetteSchema>;

export class CassetteError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`bad cassette ${file}: ${detail}`);
    this.name = 'CassetteError';
  }
}

const EXTENSIONS = ['.yaml', '.yml', '.json'];

/** The cassette file of a task, if one exists. */
export function findCassette(dir: string, taskId: string): string | undefined {
  for (const ext of EXTENSIONS) {
    const f = path.join(dir, taskId + ext);
    if (existsSync(f)) return f;
  }
  return undefined;
}

/** Reads and validates a cassette file. Throws CassetteError naming the file and the problem. */
export function loadCassette(file: string): Cassette {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new CassetteError(file, (err as Error).message.split('\n')[0]);
  }
  if (raw === null || raw === undefined) raw = {};
  const r = cassetteSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0];
    const where = i.path
      .map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`))
      .join('')
      .replace(/^\./, '');
    throw new CassetteError(
      file,
      `${where || '(top level)'}: ${i.message}${r.error.issues.length > 1 ? ` (and ${r.error.issues.length - 1} more problems)` : ''}`,
    );
  }
  return r.data;
}

/** A data value as recorded: parsed JSON when writing it back compactly gives the same text. */
export function recordedData(text: string): unknown {
  try {
    const v = JSON.parse(text);
    if (typeof v === 'object' && v !== null && JSON.stringify(v) === text) return v;
  } catch {
    /* not JSON */
  }
  return text;
}

const dataText = (d: unknown): string => (typeof d === 'string' ? d : JSON.stringify(d));

export function toRecordedEvent(e: SseEvent): RecordedEvent {
  return {
    ...(e.event !== undefined ? { event: e.event } : {}),
    ...(e.id !== undefined ? { id: e.id } : {}),
    ...(e.retry !== undefined ? { retry: e.retry } : {}),
    data: recordedData(e.data),
  };
}

/** The body, content type and the SSE data of each event of a recorded response. */
export function renderResponse(r: Interaction['response']): { body: string; contentType: string; eventData?: string[] } {
  if (r.events) {
    const events = r.events.map((e) => ({ ...e, data: dataText(e.data) }));
    return { body: events.map(serializeSseEvent).join(''), contentType: 'text/event-stream', eventData: events.map((e) => e.data) };
  }
  if (r.body !== undefined) return { body: dataText(r.body), contentType: typeof r.body === 'string' ? 'text/plain' : 'application/json' };
  return { body: r.bodyText ?? '', contentType: 'text/plain' };
}

// Response headers that are never recorded: credentials and cookies, and hop-by-hop or framing
// headers that replay computes itself.
const DROP_HEADERS = new Set([
  'set-cookie',
  'cookie',
  'authorization',
  'proxy-authorization',
  'proxy-authenticate',
  'www-authenticate',
  'x-api-key',
  'x-goog-api-key',
  'api-key',
  'connection',
  'keep-alive',
  'transfer-encoding',
  'content-length',
  'content-encoding',
]);

export function recordableHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (v === undefined || DROP_HEADERS.has(k.toLowerCase())) continue;
    out[k.toLowerCase()] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}

/** Replaces every secret inside the strings of a value (keys included). */
export function redact<T>(v: T, secrets: string[]): T {
  if (!secrets.length) return v;
  const s = (x: string) => secrets.reduce((acc, sec) => acc.split(sec).join('REDACTED'), x);
  const walk = (x: unknown): unknown => {
    if (typeof x === 'string') return s(x);
    if (Array.isArray(x)) return x.map(walk);
    if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, val]) => [s(k), walk(val)]));
    return x;
  };
  return walk(v) as T;
}

interface Slot {
  interactions: Interaction[];
  used: boolean[];
  file?: string;
}

/** What replay found for a request. */
export type ReplayMatch = { ok: true; interaction: Interaction; index: number } | { ok: false; message: string };

/** The cassettes of the run's tasks: loaded (and validated) up front, then replayed or recorded. */
export class CassetteStore {
  private slots = new Map<string, Slot>();
  /** record mode: completed interactions waiting for their turn, by start order. */
  private recorded = new Map<string, { seq: number; interaction: Interaction }[]>();
  private seq = 0;

  constructor(
    private readonly dir: string,
    taskIds: string[],
    private readonly secrets: string[],
  ) {
    for (const id of taskIds) this.addTask(id);
  }

  /** A task's cassette, loaded once (a task added to the run: when the worker adds it); throws CassetteError. */
  addTask(taskId: string): void {
    if (this.slots.has(taskId)) return;
    const file = findCassette(this.dir, taskId);
    const c = file ? loadCassette(file) : undefined;
    this.slots.set(taskId, { interactions: c?.interactions ?? [], used: (c?.interactions ?? []).map(() => false), file });
  }

  /** Replay: the interaction that answers this request. */
  next(taskId: string, provider: string, method: string, providerPath: string, bodySha256: string, model?: string): ReplayMatch {
    const slot = this.slots.get(taskId);
    if (!slot || !slot.file) {
      return {
        ok: false,
        message: `agentvisor gateway (replay): no cassette for task ${taskId} (looked for ${path.join(this.dir, taskId)}.yaml, .yml, .json)`,
      };
    }
    const p = providerPath.split('?')[0];
    const same = (i: Interaction) => i.request.provider === provider && i.request.method === method && i.request.path.split('?')[0] === p;
    let idx = slot.interactions.findIndex((i, n) => !slot.used[n] && same(i) && i.request.bodySha256 === bodySha256);
    if (idx < 0 && model) idx = slot.interactions.findIndex((i, n) => !slot.used[n] && same(i) && i.request.model === model);
    if (idx < 0) idx = slot.interactions.findIndex((i, n) => !slot.used[n] && same(i));
    if (idx < 0) {
      const total = slot.interactions.filter(same).length;
      return {
        ok: false,
        message:
          `agentvisor gateway (replay): the cassette of task ${taskId} (${slot.file}) has no unused response for ` +
          `${method} ${p} on provider ${provider} (${total} recorded, all used; ${slot.used.filter((u) => !u).length} unused in all)`,
      };
    }
    slot.used[idx] = true;
    return { ok: true, interaction: slot.interactions[idx], index: idx };
  }

  /** Record: a sequence number taken when a request starts, so the file keeps start order. */
  ticket(): number {
    return ++this.seq;
  }

  /** Record: appends one interaction and rewrites the task's cassette (atomically). */
  append(taskId: string, seq: number, interaction: Interaction): string {
    const slot = this.slots.get(taskId) ?? { interactions: [], used: [] };
    this.slots.set(taskId, slot);
    const pending = this.recorded.get(taskId) ?? [];
    pending.push({ seq, interaction: redact(interaction, this.secrets) });
    pending.sort((a, b) => a.seq - b.seq);
    this.recorded.set(taskId, pending);
    const file = slot.file ?? path.join(this.dir, `${taskId}.yaml`);
    slot.file = file;
    const all = [...slot.interactions, ...pending.map((p) => p.interaction)];
    const cassette = { version: 1, task: taskId, interactions: all };
    mkdirSync(path.dirname(file), { recursive: true });
    let text: string;
    if (file.endsWith('.json')) text = JSON.stringify(cassette, null, 2) + '\n';
    else {
      const doc = new Document(cassette);
      // One line per SSE event and per JSON body: long streams stay readable and easy to edit.
      visit(doc, {
        Pair(_, pair) {
          const key = isScalar(pair.key) ? pair.key.value : undefined;
          if ((key === 'data' || key === 'body') && isCollection(pair.value)) pair.value.flow = true;
        },
      });
      doc.commentBefore = ' agentvisor gateway cassette: model exchanges of one task, in order (see gateway/cassette.ts)';
      text = doc.toString({ lineWidth: 0 });
    }
    const tmp = `${file}.tmp-${process.pid}`;
    writeFileSync(tmp, text);
    renameSync(tmp, file);
    return file;
  }
}
