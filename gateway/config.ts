// The gateway's config file (JSON). It holds no secret values: each credential is a reference
// (an environment variable of the gateway process, or a file inside the gateway container) that
// the gateway resolves when it starts. The per-task tokens in it are random values the run makes
// for its agents; they are worth nothing outside this gateway.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { z } from 'zod';
import { DEFAULT_PRICES, priceSchema, type Price } from './prices';
import type { ProviderKind } from './usage';

export const PROVIDER_KINDS = ['anthropic', 'openai', 'gemini', 'openai-compatible'] as const;
export const AUTH_STYLES = ['x-api-key', 'bearer', 'x-goog-api-key', 'query-key'] as const;
export type AuthStyle = (typeof AUTH_STYLES)[number];

/** Where each kind's real credential goes, and its public upstream, unless the config says otherwise. */
export const KIND_DEFAULTS: Record<ProviderKind, { auth: AuthStyle; upstream?: string }> = {
  anthropic: { auth: 'x-api-key', upstream: 'https://api.anthropic.com' },
  openai: { auth: 'bearer', upstream: 'https://api.openai.com' },
  gemini: { auth: 'x-goog-api-key', upstream: 'https://generativelanguage.googleapis.com' },
  'openai-compatible': { auth: 'bearer' },
};

/** A task's or a run's budget: the graph's `budget` fields (graph/schema.ts) are this too. */
export const budgetSchema = z
  .object({
    tokens: z.number().int().positive().optional().describe('All tokens: input (cached or not) + output'),
    usd: z.number().positive().optional().describe('US dollars, priced with the price table'),
  })
  .strict();

const upstreamUrl = z.string().refine(
  (s) => {
    try {
      const u = new URL(s);
      return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password && !u.search && !u.hash;
    } catch {
      return false;
    }
  },
  { message: 'expected an http:// or https:// URL with no credentials, query or fragment' },
);

const providerSchema = z
  .object({
    kind: z.enum(PROVIDER_KINDS),
    upstream: upstreamUrl.optional().describe("The provider's base URL; the rest of the route's path is appended"),
    auth: z.enum(AUTH_STYLES).optional().describe('How the real credential is sent (default: by kind)'),
  })
  .strict();

/**
 * `env:NAME`, `file:/path`, a bare absolute path (a file) or a bare UPPER_CASE name (an env var).
 * Bare names must be upper case so that a secret pasted here by mistake (mixed case) is refused
 * by a message that does not repeat it.
 */
const credentialRef = z.string().regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:\/.+|\/.+|[A-Z_][A-Z0-9_]*)$/, {
  message:
    'expected a reference: an environment variable name (UPPER_CASE, or env:NAME) or an absolute file path (or file:/path), never the secret itself',
});

/** `host`, `*.suffix`, either with an optional `:port`; IPv6 literals in brackets. */
export const HOST_PATTERN =
  /^(\*\.)?([a-z0-9]([a-z0-9-]*[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$|^\[[0-9a-f:.]+\](:\d{1,5})?$/;

const taskSchema = z
  .object({
    taskId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'expected a task id of letters, digits, . _ -' }),
    credentials: z.record(z.string(), credentialRef).default({}).describe('provider name → credential reference'),
    allowHosts: z
      .array(
        z
          .string()
          .transform((s) => s.trim().toLowerCase())
          .pipe(z.string().regex(HOST_PATTERN, { message: 'expected host, *.suffix, host:port or [ipv6]' })),
      )
      .default([])
      .describe('Hosts the task may reach through the forward proxy; default deny'),
    budget: budgetSchema.optional(),
  })
  .strict();

const TOKEN = /^[A-Za-z0-9._~-]{16,}$/;

/**
 * A task added to the run while its gateway runs (POST /_agentvisor/tasks, added-tasks.ts): its
 * token by its hash (the token itself never travels), and its credentials as the worker resolved
 * them, since a running gateway's environment cannot grow.
 */
export const addedTaskSchema = taskSchema
  .extend({
    // a conflict's resolver runs as _resolve-<task> (never a graph task's id)
    taskId: z.string().regex(/^_?[A-Za-z0-9][A-Za-z0-9._-]*$/, { message: 'expected a task id of letters, digits, . _ -' }),
    tokenSha256: z.string().regex(/^[0-9a-f]{64}$/, { message: 'expected the SHA-256 of the task token, in hex' }),
    credentials: z
      .record(z.string(), z.string().nullable())
      .default({})
      .describe('provider name → the credential value; null where the worker cannot give it (a Kubernetes Secret)'),
  })
  .strict();
export type AddedTask = z.output<typeof addedTaskSchema>;

export const gatewayConfigSchema = z
  .object({
    listen: z.object({ host: z.string().min(1).default('0.0.0.0'), port: z.number().int().min(0).max(65535) }).strict(),
    control: z
      .object({
        host: z.string().min(1).optional(),
        interface: z.string().min(1).optional().describe('Listen on the IPv4 address this interface has when the gateway starts'),
        port: z.number().int().min(0).max(65535),
      })
      .strict()
      .refine((c) => !(c.host && c.interface), { message: 'give host or interface, not both' })
      .optional()
      .describe('A listener of its own for /_agentvisor/...; with it, the listen port serves no control route'),
    mode: z.enum(['live', 'record', 'replay']).default('live'),
    cassetteDir: z.string().min(1).optional().describe('Folder of <taskId>.yaml cassettes (record and replay)'),
    controlToken: z
      .string()
      .regex(TOKEN, { message: 'expected at least 16 characters of letters, digits, . _ ~ -' })
      .optional()
      .describe('Required in the x-agentvisor-control-token header of /_agentvisor/usage'),
    providers: z
      .record(z.string().regex(/^[a-z0-9][a-z0-9-]*$/, { message: 'expected a provider name of a-z, 0-9, -' }), providerSchema)
      .refine((p) => Object.keys(p).length > 0, { message: 'expected at least one provider' }),
    tasks: z.record(
      z.string().regex(TOKEN, { message: 'a task token must be at least 16 characters of letters, digits, . _ ~ -' }),
      taskSchema,
    ),
    runBudget: budgetSchema.optional(),
    runAdmission: z
      .object({ from: z.number().min(0).max(1), waitMs: z.number().int().min(1).max(600_000).default(30_000) })
      .strict()
      .optional()
      .describe(
        "From this share of runBudget on (with what was spent elsewhere), each model call waits for the run's grant, relayed by the worker (GET/POST /_agentvisor/admissions), for at most waitMs",
      ),
    prices: z.record(z.string().min(1), priceSchema).default({}).describe('Overrides and extends the default price table'),
  })
  .strict();

/**
 * The config file as written (defaults may be left out): what agentvisor's worker writes for a
 * run's gateway (activities/gateway.ts), checked against this schema at compile time.
 */
export type GatewayConfigFile = z.input<typeof gatewayConfigSchema>;
type Parsed = z.output<typeof gatewayConfigSchema>;

export type Budget = z.output<typeof budgetSchema>;

export interface ProviderConfig {
  name: string;
  kind: ProviderKind;
  upstream: URL;
  auth: AuthStyle;
}

export interface TaskConfig {
  taskId: string;
  /** provider name → the credential value (empty in replay mode, which never calls upstream). */
  credentials: Map<string, string>;
  /** provider name → the reference, for messages. */
  credentialRefs: Record<string, string>;
  allowHosts: string[];
  budget?: Budget;
}

export interface GatewayConfig {
  listen: { host: string; port: number };
  /** the control side's own listener (host, or an interface's IPv4 address; default 127.0.0.1) */
  control?: { host?: string; interface?: string; port: number };
  mode: 'live' | 'record' | 'replay';
  cassetteDir?: string;
  controlToken?: string;
  providers: Map<string, ProviderConfig>;
  /** token → task */
  tasks: Map<string, TaskConfig>;
  runBudget?: Budget;
  /** a host's gateway of a run on several hosts: near the run's budget, the run admits each call (admissions.ts) */
  runAdmission?: { from: number; waitMs: number };
  prices: Record<string, Price>;
  /** Every secret value the gateway holds (credentials, tokens): never logged, never recorded. */
  secrets: string[];
}

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`bad gateway config ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** An issue path with task tokens replaced by the task's id (tokens are not printed). */
function describePath(raw: unknown, p: PropertyKey[]): string {
  const parts: string[] = [];
  for (let i = 0; i < p.length; i++) {
    const seg = p[i];
    if (i === 1 && p[0] === 'tasks' && typeof seg === 'string') {
      const tasks = (raw as { tasks?: Record<string, { taskId?: unknown }> }).tasks ?? {};
      const id = tasks[seg]?.taskId;
      const index = Object.keys(tasks).indexOf(seg);
      parts.push(typeof id === 'string' ? `[taskId=${id}]` : `[#${index + 1}]`);
    } else if (typeof seg === 'number') parts.push(`[${seg}]`);
    else parts.push(parts.length ? `.${String(seg)}` : String(seg));
  }
  return parts.join('') || '(top level)';
}

export interface ResolveOptions {
  /** Where env references are read (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** For messages, and the base of a relative cassetteDir. */
  source?: string;
}

/** Validates a parsed config object and resolves its credential references. Throws ConfigError. */
export function resolveGatewayConfig(raw: unknown, opts: ResolveOptions = {}): GatewayConfig {
  const source = opts.source ?? '(config)';
  const env = opts.env ?? process.env;
  const r = gatewayConfigSchema.safeParse(raw);
  if (!r.success) {
    throw new ConfigError(
      source,
      // Paths name tasks by taskId (or position), never by their token.
      r.error.issues.map((i) => {
        const inner = i.code === 'invalid_key' ? i.issues[0]?.message : undefined;
        return `${describePath(raw, i.path)}: ${inner ?? i.message}`;
      }),
    );
  }
  const c: Parsed = r.data;
  const problems: string[] = [];

  if ((c.mode === 'record' || c.mode === 'replay') && !c.cassetteDir) problems.push(`cassetteDir: required in ${c.mode} mode`);

  const providers = new Map<string, ProviderConfig>();
  for (const [name, p] of Object.entries(c.providers)) {
    const upstream = p.upstream ?? KIND_DEFAULTS[p.kind].upstream;
    if (!upstream) {
      problems.push(`providers.${name}.upstream: required for kind ${p.kind}`);
      continue;
    }
    providers.set(name, { name, kind: p.kind, upstream: new URL(upstream), auth: p.auth ?? KIND_DEFAULTS[p.kind].auth });
  }

  const secrets: string[] = [];
  const tasks = new Map<string, TaskConfig>();
  const seen = new Set<string>();
  for (const [token, t] of Object.entries(c.tasks)) {
    secrets.push(token);
    if (seen.has(t.taskId)) problems.push(`tasks[taskId=${t.taskId}]: duplicate taskId (one token per task)`);
    seen.add(t.taskId);
    if (c.controlToken && token === c.controlToken) problems.push(`tasks[taskId=${t.taskId}]: a task token must differ from controlToken`);
    const credentials = new Map<string, string>();
    for (const [provider, ref] of Object.entries(t.credentials)) {
      const where = `tasks[taskId=${t.taskId}].credentials.${provider}`;
      if (!c.providers[provider]) {
        problems.push(`${where}: unknown provider "${provider}" (providers: ${Object.keys(c.providers).join(', ')})`);
        continue;
      }
      if (c.mode === 'replay') {
        credentials.set(provider, '');
        continue;
      }
      const value = readCredential(ref, env);
      if (typeof value !== 'string') {
        problems.push(`${where}: ${value.problem}`);
        continue;
      }
      credentials.set(provider, value);
      secrets.push(value);
    }
    tasks.set(token, { taskId: t.taskId, credentials, credentialRefs: t.credentials, allowHosts: t.allowHosts, budget: t.budget });
  }
  if (c.controlToken) secrets.push(c.controlToken);

  if (problems.length) throw new ConfigError(source, problems);

  let cassetteDir = c.cassetteDir;
  if (cassetteDir && !path.isAbsolute(cassetteDir) && opts.source && opts.source !== '(config)') {
    cassetteDir = path.resolve(path.dirname(opts.source), cassetteDir);
  }
  return {
    listen: c.listen,
    ...(c.control ? { control: c.control } : {}),
    mode: c.mode,
    cassetteDir,
    controlToken: c.controlToken,
    providers,
    tasks,
    runBudget: c.runBudget,
    ...(c.runAdmission ? { runAdmission: c.runAdmission } : {}),
    prices: { ...DEFAULT_PRICES, ...c.prices },
    secrets: [...new Set(secrets.filter((s) => s.length >= 4))],
  };
}

function readCredential(ref: string, env: NodeJS.ProcessEnv): string | { problem: string } {
  const file = ref.startsWith('file:') ? ref.slice(5) : ref.startsWith('/') ? ref : undefined;
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      return { problem: `cannot read credential file ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    const value = text.trim();
    return value ? value : { problem: `credential file ${file} is empty` };
  }
  const name = ref.startsWith('env:') ? ref.slice(4) : ref;
  const value = env[name]?.trim();
  return value ? value : { problem: `environment variable ${name} is not set in the gateway's environment (or is empty)` };
}

/** Reads, parses and resolves a config file. Throws ConfigError naming every problem found. */
export function loadGatewayConfig(file: string, env: NodeJS.ProcessEnv = process.env): GatewayConfig {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [`cannot read the file (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(file, [`not valid JSON: ${(err as Error).message}`]);
  }
  return resolveGatewayConfig(raw, { env, source: file });
}
