// One interface per agent kind: how to run one headless task of that agent in a container.
import type { AgentSpec, TaskSpec } from '../graph/types';
import { fillPromptTemplate } from '../graph/prompt-size';

export interface HarnessInput {
  graphName: string;
  agent: AgentSpec;
  task: TaskSpec;
  /** present when the run has a gateway: the agent reaches model providers only through it */
  gateway?: {
    /** e.g. http://agentvisor-gateway:8080; /anthropic, /openai and /gemini route to the providers */
    url: string;
    /** per-task random token, used as the CLI's API key; the gateway swaps in the real key */
    token: string;
  };
}

export interface HarnessInvocation {
  image: string;
  command: string[];
  env: Record<string, string>;
  /** files placed in the agent's HOME before it starts (settings, instructions); never credentials */
  files?: { path: string /* relative to HOME */; content: string }[];
}

export interface AgentResult {
  success: boolean;
  reason?: string;
  /**
   * inputTokens: prompt tokens not served from the provider's cache (cache writes included);
   * cachedTokens: prompt tokens read from the cache; outputTokens: completion tokens (reasoning
   * included). costUsd: as the CLI reports it (claude, opencode), else absent.
   */
  usage?: { inputTokens: number; outputTokens: number; cachedTokens: number; costUsd?: number };
  /** e.g. provider 429/5xx: worth a retry */
  transient?: boolean;
}

export interface Harness {
  readonly name: string;
  readonly defaultImage: string;
  /** the model provider this agent calls (its credential must be given), or none (command) */
  provider?(agent: AgentSpec): 'anthropic' | 'openai' | 'gemini' | undefined;
  build(input: HarnessInput): HarnessInvocation;
  /** one line of the agent's stdout → a short progress line for heartbeats/UI, or undefined */
  progress?(line: string): string | undefined;
  /**
   * one line of the agent's output → what failed, when the line says the CLI is about to retry a
   * failed model call (a 429, a 5xx). For CLIs whose own retry count cannot be set: runAgent stops
   * the agent once it has retried more than maxRetries(agent) times, and the task fails (transient)
   * with that reason instead of waiting through the CLI's backoff.
   */
  retrying?(line: string): string | undefined;
  /** the whole log + exit code → final result (usage, cost, failure reason) */
  result?(log: string, exitCode: number): AgentResult;
}

/** The task prompt inside the agent's template; {{prompt}}, {{task}}, {{agent}}, {{graph}}. */
export function renderPrompt({ graphName, agent, task }: HarnessInput): string {
  return fillPromptTemplate(agent.promptTemplate, { prompt: task.prompt, task: task.id, agent: agent.name, graph: graphName });
}

/**
 * Where runAgent mounts the task's prompt (read-only): a file, so that a prompt of any size that
 * can travel (graph/prompt-size.ts) reaches the agent; argv and the environment cannot hold one
 * (a single argument or variable is at most 128 KiB on Linux). The CLIs read it on stdin.
 */
export const PROMPT_MOUNT = '/agentvisor/task';
export const PROMPT_FILE = `${PROMPT_MOUNT}/prompt`;

// ---------------------------------------------------------------------------------------------
// helpers shared by the agent CLI harnesses

/** Where runAgent mounts the invocation's `files` (read-only); the command copies them into $HOME. */
export const HOME_FILES_MOUNT = '/agentvisor/home';
/** The task's worktree inside the container. */
export const WORKSPACE = '/workspace';
/** Turn limit for CLIs that have one, unless the agent's env sets AGENTVISOR_MAX_TURNS. */
export const DEFAULT_MAX_TURNS = 100;

/**
 * argv that copies the HOME files into place, then execs the CLI with its arguments and the task's
 * prompt file as stdin (each CLI takes its prompt from stdin in print mode, then reads no more
 * input: nothing can hang waiting for it). The CLI and its arguments travel as positional
 * parameters, never through the shell's parser.
 */
export function shellEntry(cli: string, args: string[]): string[] {
  return ['sh', '-c', `cp -a ${HOME_FILES_MOUNT}/. "$HOME"/ 2>/dev/null; exec "$0" "$@" < ${PROMPT_FILE}`, cli, ...args];
}

export function maxTurns(agent: AgentSpec): number {
  const n = Number(agent.env?.AGENTVISOR_MAX_TURNS);
  return Number.isInteger(n) && n > 0 ? n : DEFAULT_MAX_TURNS;
}

/**
 * Retries of a failed model call (429, 5xx) inside the CLI, unless the agent's env sets
 * AGENTVISOR_MAX_RETRIES (0: none). Kept low: past them the task fails as transient and the
 * workflow retries it per the task's `retry` policy, so the retries stay bounded and visible.
 */
export const DEFAULT_MAX_RETRIES = 2;

export function maxRetries(agent: AgentSpec): number {
  const raw = agent.env?.AGENTVISOR_MAX_RETRIES;
  const n = raw === undefined || raw.trim() === '' ? NaN : Number(raw);
  return Number.isInteger(n) && n >= 0 ? n : DEFAULT_MAX_RETRIES;
}

/** " (HTTP 429)" unless the reason already names that status. */
export function statusNote(reason: string, status: number | undefined): string {
  return status !== undefined && !new RegExp(`\\b${status}\\b`).test(reason) ? ` (HTTP ${status})` : '';
}

/** The gateway URL without a trailing slash, plus a provider prefix. */
export function gatewayUrl(gateway: { url: string }, prefix: string): string {
  return `${gateway.url.replace(/\/+$/, '')}${prefix}`;
}

/**
 * The standing instructions every CLI agent gets (as its user-level instructions file: CLAUDE.md,
 * AGENTS.md, GEMINI.md): who it is, where it works, and that nobody will answer questions.
 */
export function agentInstructions({ graphName, agent, task }: HarnessInput): string {
  return [
    `# agentvisor`,
    ``,
    `You are the agent "${agent.name}" of the agentvisor task graph "${graphName}", working on task "${task.id}".`,
    `You run headless and unattended in a sandboxed container: nobody will answer questions or approve actions,`,
    `so never ask for confirmation; make reasonable assumptions and finish the task.`,
    agent.readOnly
      ? `Your working directory ${WORKSPACE} is a read-only checkout of the code: read and analyse, do not try to change files.`
      : `Your working directory ${WORKSPACE} is a git repository of your own, at the commit your task starts from.` +
        ` Change files there; you may use git (status, diff, log, add, commit, branch) as you like. When you finish,` +
        ` agentvisor takes your commits and whatever you left uncommitted onto the task's branch.`,
    `Work only inside ${WORKSPACE}. There is no internet access apart from the model provider.`,
    `When done, reply with a short summary of what you did.`,
    ``,
  ].join('\n');
}

/** The lines of a log that parse as JSON objects; other lines (warnings on stderr, …) are skipped. */
export function jsonLines(log: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of log.split(/\r?\n/)) {
    const obj = parseJsonLine(line);
    if (obj) out.push(obj);
  }
  return out;
}

export function parseJsonLine(line: string): Record<string, unknown> | undefined {
  const t = line.trim();
  if (!t.startsWith('{')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** One line, at most `max` characters. */
export function short(text: unknown, max = 120): string {
  const s = String(text ?? '')
    .replace(/\s+/g, ' ')
    .trim();
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export function num(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : 0;
}

export function obj(v: unknown): Record<string, unknown> {
  return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

/** Provider errors worth a retry: rate limits, overload, 5xx, network trouble. */
export function isTransientReason(reason: string): boolean {
  return /\b(429|500|502|503|504|529)\b|rate.?limit|too many requests|overloaded|resource.?exhausted|unavailable|timed? ?out|ECONNRESET|ECONNREFUSED|socket hang up|stream disconnected/i.test(
    reason,
  );
}

/** The last non-JSON, non-empty lines of a log (stderr), for a failure reason. */
export function logTail(log: string, lines = 3): string {
  const plain = log
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('{'));
  return short(plain.slice(-lines).join(' | '), 300);
}

/** A failed result from a reason, flagged transient when it looks like one. */
export function failure(reason: string, usage?: AgentResult['usage']): AgentResult {
  return { success: false, reason, usage, transient: isTransientReason(reason) || undefined };
}
