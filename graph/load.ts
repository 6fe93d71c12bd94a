// Reads a graph file: YAML → schema → structure checks → the resolved GraphSpec.
// Every problem found is reported with its line and column; nothing here touches the repository.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { graphSchema, type GraphFile, type TaskFile } from './schema';
import { checkGraph, topologicalOrder } from './graph-checks';
import { promptSizeProblems } from './prompt-size';
import { BadInputError, type Problem } from './problems';
import { parseDuration, parseSize } from './units';
import { resolvePlacement, resolveRemote } from './placement';
import { parseYamlWithPlaces, placeOf, placeOfKey } from './yaml-places';
import {
  DEFAULT_RETRY,
  DEFAULT_EVALUATE_TIMEOUT_MS,
  DEFAULT_TASK_TIMEOUT_MS,
  type AgentSpec,
  type ApprovalSpec,
  type MergeSpec,
  type TaskSpec,
  type GraphSpec,
  type Limits,
} from './types';

export interface LoadResult {
  graph?: GraphSpec;
  problems: Problem[];
  /** line and column of a dotted path in the file, for problems found later (repo, credentials) */
  locate?: (dottedPath: string) => { line?: number; column?: number };
}

/** Parses and checks a graph file; never throws for bad content, only reports problems. */
export function loadGraphFile(file: string): LoadResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    return { problems: [{ message: `cannot read graph file: ${(err as NodeJS.ErrnoException).code ?? err}` }] };
  }
  return parseGraph(text, path.dirname(path.resolve(file)));
}

export function parseGraph(text: string, baseDir: string): LoadResult {
  const { doc, at, syntaxProblem } = parseYamlWithPlaces(text);
  if (syntaxProblem) return { problems: [syntaxProblem] };
  const parsed = graphSchema.safeParse(doc.toJS());
  if (!parsed.success) {
    return {
      problems: parsed.error.issues.flatMap((issue) => {
        const p = issue.path.map(String);
        // An unknown key is reported at the key itself (one problem each), not at the map holding it.
        if (issue.code === 'unrecognized_keys') {
          return issue.keys.map((key) => {
            const kp = [...p, key];
            return { message: `unknown key "${key}"`, path: kp.join('.'), ...(placeOfKey(doc, p, key, at) ?? placeOf(doc, kp, at)) };
          });
        }
        // a union (runsOn: a name or an object) whose value had one branch's type: that branch's problems
        const matched =
          issue.code === 'invalid_union'
            ? issue.errors.find((branch) => branch.length > 0 && branch.every((e) => e.path.length > 0))
            : undefined;
        if (matched) {
          return matched.map((e) => {
            const ep = [...p, ...e.path.map(String)];
            if (e.code === 'unrecognized_keys') {
              return { message: `unknown key "${e.keys[0]}"`, path: [...ep, e.keys[0]].join('.'), ...placeOf(doc, ep, at) };
            }
            return { message: e.message, path: ep.join('.'), ...placeOf(doc, ep, at) };
          });
        }
        return [{ message: issue.message, path: p.join('.') || undefined, ...placeOf(doc, p, at) }];
      }),
    };
  }
  const problems = [...checkGraph(parsed.data), ...homeFileProblems(parsed.data, baseDir), ...promptSizeProblems(parsed.data)].map((p) => ({
    ...p,
    ...placeOf(doc, p.path!.split('.'), at),
  }));
  if (problems.length > 0) return { problems };
  const locate = (dotted: string) => placeOf(doc, dotted.split('.'), at);
  return { graph: resolve(parsed.data, baseDir), problems: [], locate };
}

/** Loads a graph or throws BadInputError with every problem. */
export function loadGraphOrThrow(file: string): GraphSpec {
  const { graph, problems } = loadGraphFile(file);
  if (!graph) throw new BadInputError(problems, file);
  return graph;
}

/** An agent's HOME files travel in the workflow's input (Temporal history): kept small. */
export const MAX_HOME_BYTES = 256 * 1024;

const homeSource = (from: string, baseDir: string) => path.resolve(baseDir, from.replace(/^~(?=\/|$)/, process.env.HOME ?? '~'));

/** Every `home` file must be a readable text file, and an agent's files small enough to travel. */
function homeFileProblems(file: GraphFile, baseDir: string): Problem[] {
  const problems: Problem[] = [];
  for (const [name, a] of Object.entries(file.agents)) {
    let total = 0;
    for (const [p, from] of Object.entries(a.home)) {
      const where = `agents.${name}.home.${p}`;
      try {
        total += Buffer.byteLength(readFileSync(homeSource(from, baseDir), 'utf8'));
      } catch (err) {
        problems.push({
          path: where,
          message: `home file of agent "${name}" cannot be read: ${homeSource(from, baseDir)} (${(err as NodeJS.ErrnoException).code ?? err})`,
        });
      }
    }
    if (total > MAX_HOME_BYTES) {
      problems.push({
        path: `agents.${name}.home`,
        message: `the home files of agent "${name}" are ${total} bytes; at most ${MAX_HOME_BYTES} (they travel in the run's history)`,
      });
    }
  }
  return problems;
}

function limits(l: { memory?: string | number; cpus?: number; pids?: number; disk?: string | number }): Limits {
  return {
    memoryBytes: l.memory === undefined ? undefined : parseSize(l.memory),
    cpus: l.cpus,
    pids: l.pids,
    ...(l.disk === undefined ? {} : { diskBytes: parseSize(l.disk) }),
  };
}

function approval(a: { timeout: string | number; onTimeout: 'approve' | 'reject' }): ApprovalSpec {
  return { timeoutMs: parseDuration(a.timeout)!, onTimeout: a.onTimeout };
}

/** One task as the workflow takes it (defaults applied, milliseconds): a graph file's, or one added to a running run. */
export function resolveTask(t: TaskFile): TaskSpec {
  return {
    id: t.id,
    agent: t.agent,
    prompt: t.prompt,
    after: t.after,
    timeoutMs: t.timeout === undefined ? DEFAULT_TASK_TIMEOUT_MS : parseDuration(t.timeout)!,
    retry: t.retry ? { maximumAttempts: t.retry.attempts, initialIntervalMs: parseDuration(t.retry.backoff)! } : DEFAULT_RETRY,
    approval: t.approval && approval(t.approval),
    runsOn: resolvePlacement(t.runsOn),
  };
}

/** The merge's coordination settings; undefined when the graph sets none (as graphs before them). */
function mergeSpec(m: GraphFile['merge']): MergeSpec | undefined {
  if (!m.approval && m.onConflict === 'fail') return undefined;
  return {
    approval: m.approval && approval(m.approval),
    onConflict: m.onConflict,
    resolver: m.resolver,
    resolverTimeoutMs: m.resolverTimeout === undefined ? undefined : parseDuration(m.resolverTimeout),
  };
}

function resolve(file: GraphFile, baseDir: string): GraphSpec {
  const agents: Record<string, AgentSpec> = {};
  for (const [name, a] of Object.entries(file.agents)) {
    agents[name] = {
      name,
      harness: a.harness,
      image: a.image,
      command: a.command,
      model: a.model,
      promptTemplate: a.promptTemplate,
      credentials: a.credentials,
      readOnly: a.readOnly,
      home: Object.keys(a.home).length
        ? Object.entries(a.home).map(([p, from]) => ({ path: p, content: readFileSync(homeSource(from, baseDir), 'utf8') }))
        : undefined,
      shared: a.shared === 'none' ? undefined : a.shared,
      env: a.env,
      limits: limits(a.limits),
      allowHosts: a.allowHosts,
      budget: a.budget,
    };
  }
  const tasks = topologicalOrder(file.tasks.map(resolveTask));
  return {
    name: file.name,
    // with a remote, the run uses no local repository: the remote stands for it in reports
    repo:
      file.remote !== undefined
        ? resolveRemote(file.remote, baseDir)
        : path.resolve(baseDir, file.repo!.replace(/^~(?=\/|$)/, process.env.HOME ?? '~')),
    remote: file.remote === undefined ? undefined : resolveRemote(file.remote, baseDir),
    mergeRunsOn: resolvePlacement(file.merge.runsOn),
    baseBranch: file.baseBranch,
    agents,
    tasks,
    failFast: file.failFast,
    budget: file.budget,
    merge: mergeSpec(file.merge),
    proposals: file.proposals,
    shared: Object.values(agents).some((a) => a.shared) ? { keep: file.shared?.keep ?? false } : undefined,
    gateway: file.gateway && {
      mode: file.gateway.mode,
      cassettesDir: file.gateway.cassettes === undefined ? undefined : path.resolve(baseDir, file.gateway.cassettes),
      upstreams: file.gateway.upstreams,
      prices: file.gateway.prices,
    },
    evaluate: file.evaluate && {
      command: file.evaluate.command,
      image: file.evaluate.image,
      timeoutMs: file.evaluate.timeout === undefined ? DEFAULT_EVALUATE_TIMEOUT_MS : parseDuration(file.evaluate.timeout)!,
      limits: limits(file.evaluate.limits),
      runsOn: resolvePlacement(file.evaluate.runsOn),
    },
  };
}
