// The arms an experiment compares, and how each becomes ordinary task graphs:
// - single: one task, one agent doing the whole job;
// - serial: write → test → audit, each task starting from the previous one's work (`after`);
// - parallel: the same three tasks at once, each on its own branch, merged with the experiment's
//   merge settings (conflicts counted, and failed, retried or resolved as they say);
// - best-of-n: N runs of the single graph at once; the experiment workflow keeps the run whose
//   evaluation scores best (passed, then most tests passed, then least cost, then the first) and
//   deletes the others' branches. The cell's tokens, cost and agent time are those of all N;
// - graph: any graph file, with {{repo}}, {{baseBranch}}, {{task}} and {{subject}} replaced by the
//   subject's (each stands for a whole YAML value and is written as a quoted string).
// Every cell gets the subject's evaluation (wrapped to carry a JUnit file back) and the budget.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parse, stringify } from 'yaml';
import { needsGateway } from '../graph/gateway-needs';
import { parseGraph } from '../graph/load';
import type { Problem } from '../graph/problems';
import { SAFE_ID } from '../graph/graph-checks';
import type { GraphSpec } from '../graph/types';
import { JUNIT_BEGIN, JUNIT_END, JUNIT_ENV, JUNIT_PATH, type CellKey } from '../contract/experiment-types';
import { BUILT_IN_ARMS, type BuiltInArm, type ExperimentFile, type SubjectFile } from './schema';

export interface Arm {
  name: string;
  kind: BuiltInArm | 'graph' | 'unknown';
  /** as written, for messages */
  written: string;
  n?: number;
  /** absolute path of a graph arm's file */
  graphFile?: string;
  index: number;
}

export interface CellRunPlan {
  runId: string;
  graph: GraphSpec;
  /** the graph as a graph file (what --print-graphs shows) */
  yaml: string;
}

export interface CellPlan extends CellKey {
  runs: CellRunPlan[];
}

const DEFAULT_N = 3;

export function resolveArms(spec: ExperimentFile, baseDir: string): Arm[] {
  return spec.arms.map((a, index) => {
    if (typeof a === 'string') {
      const kind = (BUILT_IN_ARMS as readonly string[]).includes(a) ? (a as BuiltInArm) : 'unknown';
      const n = kind === 'best-of-n' ? DEFAULT_N : undefined;
      return { name: n ? `best-of-${n}` : a, kind, written: a, n, index };
    }
    if (a.graph !== undefined) {
      const graphFile = path.resolve(baseDir, a.graph);
      return { name: a.name ?? path.basename(a.graph).replace(/\.ya?ml$/, ''), kind: 'graph', written: a.graph, graphFile, index };
    }
    const written = a.arm ?? '';
    const kind = (BUILT_IN_ARMS as readonly string[]).includes(written) ? (written as BuiltInArm) : 'unknown';
    const n = kind === 'best-of-n' ? (a.n ?? DEFAULT_N) : undefined;
    return { name: a.name ?? (n ? `best-of-${n}` : written), kind, written, n, index };
  });
}

/** The agent playing each part of the built-in arms. */
function roleAgent(spec: ExperimentFile, role: 'single' | 'writer' | 'tester' | 'auditor'): string {
  return spec.roles[role] ?? role;
}

const ROLES_OF: Record<BuiltInArm, ('single' | 'writer' | 'tester' | 'auditor')[]> = {
  single: ['single'],
  'best-of-n': ['single'],
  serial: ['writer', 'tester', 'auditor'],
  parallel: ['writer', 'tester', 'auditor'],
};

export function armProblems(spec: ExperimentFile, arms: Arm[]): Problem[] {
  const problems: Problem[] = [];
  const seen = new Set<string>();
  for (const arm of arms) {
    const at = `arms.${arm.index}`;
    if (arm.kind === 'unknown') {
      problems.push({
        path: at,
        message: `unknown arm "${arm.written}" (built in: ${BUILT_IN_ARMS.join(', ')}; or { graph: FILE } with placeholders)`,
      });
      continue;
    }
    if (!SAFE_ID.test(arm.name))
      problems.push({ path: at, message: `arm name "${arm.name}" is not a safe name (letters, digits, - and _)` });
    if (seen.has(arm.name)) problems.push({ path: at, message: `duplicate arm "${arm.name}": give one a name:` });
    seen.add(arm.name);
    if (arm.kind === 'graph') {
      if (!existsSync(arm.graphFile!)) problems.push({ path: `${at}.graph`, message: `graph file not found: ${arm.graphFile}` });
      continue;
    }
    for (const role of ROLES_OF[arm.kind]) {
      const agent = roleAgent(spec, role);
      if (!(agent in spec.agents)) {
        problems.push({
          path: spec.roles[role] ? `roles.${role}` : at,
          message: `arm "${arm.name}" needs an agent for the ${role} part: "${agent}" is not among the agents (${Object.keys(spec.agents).join(', ') || 'none'})`,
        });
      }
    }
    if (arm.n !== undefined && spec.budget?.tokens !== undefined && spec.budget.tokens < arm.n) {
      problems.push({
        path: 'budget.tokens',
        message: `a budget of ${spec.budget.tokens} tokens cannot be shared by the ${arm.n} candidates of arm "${arm.name}"`,
      });
    }
  }
  return problems;
}

/** The subject's evaluation, wrapped so that a JUnit file it writes comes back in its log. */
export function wrapEvaluation(command: string): string {
  return [
    `export ${JUNIT_ENV}=${JUNIT_PATH}`,
    '(',
    command,
    ')',
    'code=$?',
    `if [ -s "$${JUNIT_ENV}" ]; then echo '${JUNIT_BEGIN}'; base64 -w0 "$${JUNIT_ENV}"; echo; echo '${JUNIT_END}'; fi`,
    'exit $code',
  ].join('\n');
}

const PROMPTS = {
  single: (task: string) => `${task}\n\nDo the whole job: implement the change, write tests for it, then review and fix your work.`,
  writer: (task: string) => `${task}\n\nYou are the writer: implement the change.`,
  tester: (task: string) => `${task}\n\nYou are the tester: write tests for the change.`,
  auditor: (task: string) => `${task}\n\nYou are the auditor: review the change and fix what is wrong.`,
};

/** A built-in arm's graph, as a graph file would say it. */
function builtInGraph(
  spec: ExperimentFile,
  rawAgents: Record<string, unknown>,
  subject: SubjectFile,
  kind: BuiltInArm,
): Record<string, unknown> {
  const agents: Record<string, unknown> = {};
  for (const role of ROLES_OF[kind]) agents[roleAgent(spec, role)] = rawAgents[roleAgent(spec, role)];
  if (kind === 'single' || kind === 'best-of-n') {
    return { agents, tasks: [{ id: 'solve', agent: roleAgent(spec, 'single'), prompt: PROMPTS.single(subject.task) }] };
  }
  const chained = kind === 'serial';
  const tasks = [
    { id: 'write', agent: roleAgent(spec, 'writer'), prompt: PROMPTS.writer(subject.task) },
    { id: 'test', agent: roleAgent(spec, 'tester'), prompt: PROMPTS.tester(subject.task), ...(chained ? { after: ['write'] } : {}) },
    { id: 'audit', agent: roleAgent(spec, 'auditor'), prompt: PROMPTS.auditor(subject.task), ...(chained ? { after: ['test'] } : {}) },
  ];
  const resolver = spec.merge.resolver;
  if (resolver && rawAgents[resolver]) agents[resolver] = rawAgents[resolver];
  return {
    agents,
    tasks,
    ...(chained ? {} : { merge: { onConflict: spec.merge.onConflict, ...(resolver ? { resolver } : {}) } }),
  };
}

/**
 * A cell run's graph with its gateway recording to, or replaying from, a cassette folder of its own
 * (the gateway keeps one cassette per task: the folder tells the runs apart). The cell's graph is
 * otherwise the same, so a replayed experiment's cells are the recorded one's.
 */
function withCassettes(graph: GraphSpec, cassettesDir: string, mode: 'record' | 'replay'): GraphSpec {
  return { ...graph, gateway: { upstreams: {}, prices: {}, ...graph.gateway, mode, cassettesDir } };
}

/** A graph arm's file with the subject's values in its placeholders. */
function graphArm(file: string, subject: SubjectFile, repo: string): unknown {
  const values: Record<string, string> = { repo, baseBranch: subject.baseBranch, task: subject.task, subject: subject.name };
  const text = readFileSync(file, 'utf8').replace(/\{\{\s*(repo|baseBranch|task|subject)\s*\}\}/g, (_, k: string) =>
    JSON.stringify(values[k]),
  );
  return parse(text);
}

export function expandCells(
  spec: ExperimentFile,
  arms: Arm[],
  baseDir: string,
  experimentId: string,
  /** the agents as written (the graph file shows them so, without defaults) */
  rawAgents: Record<string, unknown>,
  traffic?: { mode: 'record' | 'replay'; dir: string },
): { cells: CellPlan[]; problems: Problem[] } {
  const cells: CellPlan[] = [];
  const problems: Problem[] = [];
  for (const subject of spec.subjects) {
    const repo = path.resolve(baseDir, subject.repo);
    for (const arm of arms) {
      // the graph is the same for every repetition; it is built once per subject and arm
      let body: Record<string, unknown>;
      let graphDir = baseDir;
      try {
        body =
          arm.kind === 'graph'
            ? (graphArm(arm.graphFile!, subject, repo) as Record<string, unknown>)
            : builtInGraph(spec, rawAgents, subject, arm.kind as BuiltInArm);
        if (arm.kind === 'graph') graphDir = path.dirname(arm.graphFile!);
      } catch (err) {
        problems.push({ message: `arm "${arm.name}" on subject "${subject.name}": ${(err as Error).message}` });
        continue;
      }
      const n = arm.n ?? 1;
      const budget = spec.budget && {
        ...(spec.budget.tokens !== undefined ? { tokens: Math.floor(spec.budget.tokens / n) } : {}),
        ...(spec.budget.usd !== undefined ? { usd: spec.budget.usd / n } : {}),
      };
      const file = {
        name: `${spec.name}-${subject.name}-${arm.name}`,
        repo,
        baseBranch: subject.baseBranch,
        ...body,
        ...(spec.gateway && !body.gateway ? { gateway: spec.gateway } : {}),
        ...(budget && Object.keys(budget).length ? { budget } : {}),
        evaluate: { ...subject.evaluate!, command: wrapEvaluation(subject.evaluate!.command) },
      };
      const yaml = stringify(file, { lineWidth: 0 });
      const { graph, problems: graphProblems } = parseGraph(yaml, graphDir);
      if (!graph) {
        for (const p of graphProblems) {
          problems.push({ message: `arm "${arm.name}" on subject "${subject.name}": ${p.path ? `${p.path}: ` : ''}${p.message}` });
        }
        continue;
      }
      for (let rep = 1; rep <= spec.repeat; rep++) {
        const cellId = `${subject.name}.${arm.name}.r${rep}`;
        const base = `${experimentId}-${subject.name}-${arm.name}-r${rep}`;
        const runIds = n === 1 ? [base] : Array.from({ length: n }, (_, k) => `${base}-c${k + 1}`);
        const tooLong = runIds.find((id) => !SAFE_ID.test(id));
        if (tooLong) {
          problems.push({
            message: `cell ${cellId}: its run id "${tooLong}" is too long (at most 63): shorten the experiment, subject or arm name`,
          });
          continue;
        }
        cells.push({
          cellId,
          subject: subject.name,
          arm: arm.name,
          armKind: arm.kind,
          repetition: rep,
          // best-of-n's count is part of what the cell runs
          graphDigest: `${n}:${createHash('sha256').update(yaml).digest('hex')}`,
          runs: runIds.map((runId, k) => ({
            runId,
            graph:
              traffic && needsGateway(graph)
                ? withCassettes(
                    graph,
                    path.join(path.resolve(traffic.dir), subject.name, arm.name, `r${rep}`, n > 1 ? `c${k + 1}` : ''),
                    traffic.mode,
                  )
                : graph,
            yaml,
          })),
        });
      }
    }
  }
  return { cells, problems };
}
