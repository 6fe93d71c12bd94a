// The task-graph file format. Everything the user can write is described here, once; the JSON
// Schema for editors (graph.schema.json) is generated from it.
import { z } from 'zod';
// one shape for budgets and prices: the gateway's, whose configuration the worker writes from the graph
import { budgetSchema } from '../gateway/config';
import { priceSchema } from '../gateway/prices';
import { parseDuration, parseSize } from './units';
import { placementSchema, remoteSchema, requireRepoOrRemote } from './placement';

const duration = z
  .union([z.string(), z.number()])
  .refine((v) => parseDuration(v) !== undefined, { message: 'expected a duration such as 90s, 10m or 1h' })
  .describe('A duration: 90s, 10m, 1h, or a number of seconds');

const size = z
  .union([z.string(), z.number()])
  .refine((v) => parseSize(v) !== undefined, { message: 'expected a size such as 512m or 2g' })
  .describe('A size in bytes, or with a unit: 512m, 2g');

/** A credential is named by where to find it, never by its value. */
export const credentialRef = z
  .string()
  .regex(/^(env:[A-Za-z_][A-Za-z0-9_]*|file:.+|secret:[a-z0-9]([-a-z0-9.]*[a-z0-9])?\/[-._a-zA-Z0-9]+)$/, {
    message:
      'expected a reference: env:VARIABLE, file:/path or (a Kubernetes worker) secret:NAME/KEY, a Secret of its namespace (never the secret itself)',
  });

/** At least this much memory or disk (Docker refuses under 6 MB; a filesystem needs room of its own). */
const MIN_LIMIT_BYTES = 16 * 1024 ** 2;
// (a malformed size is reported once, by `size`)
const limitSize = size.refine((v) => (parseSize(v) ?? MIN_LIMIT_BYTES) >= MIN_LIMIT_BYTES, { message: 'expected at least 16m' });

/** Every field defaults to the worker's (agentvisor worker --memory/--cpus/--pids/--disk; README "Resource limits"). */
export const limitsSchema = z
  .object({
    memory: limitSize
      .optional()
      .describe("Memory limit, /tmp and HOME (in memory) included; the agent is killed (exit 137) above it. Default: the worker's, 4g"),
    cpus: z.number().min(0.01).optional().describe("CPU cores the container may use. Default: the worker's, 2"),
    pids: z.number().int().min(8).optional().describe("Maximum number of processes. Default: the worker's, 512"),
    disk: limitSize
      .optional()
      .describe(
        'Size of the workspace (/workspace is a filesystem of this size); past it the agent is stopped and the task fails with "disk limit exceeded". Default: the worker\'s, 10g',
      ),
  })
  .strict();

export const HARNESSES = ['command', 'claude-code', 'gemini-cli', 'codex', 'opencode'] as const;

/** Model providers the gateway can route to (credentials are keyed by these names). */
export const PROVIDERS = ['anthropic', 'openai', 'gemini'] as const;

export const gatewaySchema = z
  .object({
    mode: z
      .enum(['live', 'record', 'replay'])
      .default('live')
      .describe('record writes cassettes; replay serves them and never calls upstream'),
    cassettes: z.string().optional().describe('Folder of cassettes (replay) or where to write them (record); relative to this file'),
    upstreams: z.partialRecord(z.enum(PROVIDERS), z.url()).default({}).describe('Provider → upstream URL (tests, self-hosted models)'),
    prices: z.record(z.string(), priceSchema).default({}).describe('Model → price per million tokens; overrides the built-in table'),
  })
  .strict();

/** A gate: the task (before it starts) or the merge waits for `agentvisor approve` or `reject`. */
export const approvalSchema = z
  .object({
    timeout: duration.default('24h').describe('How long to wait for an answer'),
    onTimeout: z.enum(['approve', 'reject']).default('reject').describe('What happens when nobody answers in time'),
  })
  .strict()
  .describe('Wait for `agentvisor approve RUN GATE` (or reject); no container runs meanwhile. {} takes the defaults');

/** A path inside HOME: relative, without . or .. parts. */
const HOME_PATH = /^(?!\/)(?!(.*\/)?\.\.?(\/|$))[^\0]+$/;

export const agentSchema = z
  .object({
    harness: z.enum(HARNESSES).describe('How the agent is run'),
    image: z.string().min(1).optional().describe('Container image; defaults to the harness image'),
    command: z.string().min(1).optional().describe('Shell command (command harness); sees $AGENTVISOR_PROMPT'),
    model: z.string().min(1).optional(),
    promptTemplate: z.string().optional().describe('Wraps each task prompt; {{prompt}}, {{task}}, {{agent}} and {{graph}} are replaced'),
    credentials: z
      .record(z.string(), credentialRef)
      .default({})
      .describe('Provider (anthropic, openai, gemini) → reference; the gateway holds the value, the agent never does'),
    allowHosts: z
      .array(
        z.string().regex(/^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$/, { message: 'expected a host name such as registry.npmjs.org or *.example.com' }),
      )
      .default([])
      .describe('Other hosts the agent may reach through the gateway (HTTP/HTTPS proxy); default none'),
    budget: budgetSchema.optional().describe('Per task: model calls are refused beyond it'),
    readOnly: z.boolean().default(false).describe('Mount the worktree read-only (auditors)'),
    home: z
      .record(z.string(), z.string().min(1))
      .default({})
      .superRefine((home, ctx) => {
        for (const key of Object.keys(home)) {
          if (!HOME_PATH.test(key))
            ctx.addIssue({
              code: 'custom',
              path: [key],
              message: 'expected a path inside HOME, such as .claude/settings.json (relative, no . or .. parts)',
            });
        }
      })
      .describe(
        "Files put into the agent's HOME before it starts: path in HOME → a file to copy, relative to this file (settings, instructions; never credentials)",
      ),
    shared: z
      .enum(['rw', 'ro', 'none'])
      .default('none')
      .describe("Access to the run's shared workspace, mounted at /shared: rw, ro, or none (not mounted)"),
    env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/), z.string()).default({}),
    limits: limitsSchema.default({}),
  })
  .strict();

export const taskSchema = z
  .object({
    id: z.string().min(1),
    agent: z.string().min(1),
    prompt: z.string().default(''),
    after: z.array(z.string()).default([]).describe('Ids of tasks whose work this task starts from'),
    approval: approvalSchema.optional().describe('Wait for approval before the task starts (its gate is named by its id)'),
    timeout: duration.optional().describe('Wall-clock limit of the agent; default 30m'),
    retry: z
      .object({
        attempts: z.number().int().min(1).max(20).default(3).describe('Tries in all, for transient failures'),
        backoff: duration.default('2s').describe('Wait before the first retry; doubles each time'),
      })
      .strict()
      .optional()
      .describe(
        'Retries of transient failures (a container that fails to start or is killed); an agent that exits non-zero is not retried',
      ),
    runsOn: placementSchema.optional(),
  })
  .strict();

export const graphSchema = z
  .object({
    name: z.string().min(1),
    repo: z.string().min(1).optional().describe('Path of the git repository, relative to this file'),
    remote: remoteSchema.optional(),
    baseBranch: z.string().min(1).default('main'),
    agents: z.record(z.string(), agentSchema).refine((a) => Object.keys(a).length > 0, {
      message: 'a graph needs at least one agent',
    }),
    tasks: z.array(taskSchema).min(1, { message: 'a graph needs at least one task' }),
    failFast: z.boolean().default(true).describe('A failed task cancels the running ones'),
    budget: budgetSchema.optional().describe('Per run: no model calls and no new tasks beyond it'),
    shared: z
      .object({
        keep: z
          .boolean()
          .default(false)
          .describe('Keep the shared workspace when a failed run is rolled back (a completed run always keeps it)'),
      })
      .strict()
      .optional()
      .describe("The run's shared workspace, for notes, plans and hand-offs; agents get it with shared: rw or ro"),
    proposals: z
      .object({
        from: z.array(z.string()).min(1).describe('Agents whose tasks may propose follow-up tasks (they need shared: rw)'),
        maxTasks: z.number().int().positive().default(10).describe('Proposed tasks accepted in the whole run, at most'),
        maxDepth: z
          .number()
          .int()
          .positive()
          .default(1)
          .describe("1: the graph's tasks may propose; 2: the tasks they proposed may too; …"),
        agents: z
          .array(z.string())
          .min(1)
          .optional()
          .describe(
            "Agents that proposed tasks may use; default: only the proposing task's own agent. A proposed task keeps the approval gate of its agent",
          ),
      })
      .strict()
      .optional()
      .describe('Follow-up tasks agents propose by writing task files into /shared/proposals; a proposal beyond these limits is refused'),
    gateway: gatewaySchema.optional(),
    merge: z
      .object({ strategy: z.enum(['no-ff']).default('no-ff'), runsOn: placementSchema.optional() })
      .extend({
        approval: approvalSchema.optional().describe('Wait for approval before merging (the gate is named merge)'),
        onConflict: z
          .enum(['fail', 'retry', 'resolve'])
          .default('fail')
          .describe(
            'A task branch that conflicts: fail the run; retry the task on top of the integration branch; or resolve: hand the conflicted merge to the resolver agent',
          ),
        resolver: z
          .string()
          .optional()
          .describe('The agent that resolves conflicts (onConflict: resolve); it gets a worktree with the conflicted merge in progress'),
        resolverTimeout: duration.optional().describe("The resolver's wall-clock limit; default 30m"),
      })
      .strict()
      .default({ strategy: 'no-ff', onConflict: 'fail' }),
    evaluate: z
      .object({
        command: z.string().min(1).describe('Shell command run on the merged tree; exit 0 passes'),
        image: z.string().min(1).optional(),
        timeout: duration.optional(),
        limits: limitsSchema.default({}),
        runsOn: placementSchema.optional(),
      })
      .strict()
      .optional(),
  })
  .strict()
  // checked even when other keys have problems, so a missing repo is reported with them
  .superRefine(requireRepoOrRemote, { when: () => true });

export type GraphFile = z.infer<typeof graphSchema>;
export type AgentFile = z.infer<typeof agentSchema>;
export type TaskFile = z.infer<typeof taskSchema>;
