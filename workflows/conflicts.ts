// Conflict resolution at the merge. The graph's merge.onConflict chooses what a conflicting task
// branch leads to: fail the run (the default, and what runs before this existed do); retry the task
// on top of the integration branch as it is (its agent then sees the work it conflicted with); or
// resolve: a resolver agent (any harness) gets a worktree with the conflicted merge in progress and
// must leave it resolved, which agentvisor then commits as the merge. Each task gets one try; the
// merge then goes on, and the result is evaluated like any other change.
import { isCancellation, patched, startChild } from '@temporalio/workflow';
import { DEFAULT_RETRY, DEFAULT_TASK_TIMEOUT_MS, type TaskSpec } from '../graph/types';
import { resolverActivities } from './resolver-activities';
import { rootMessage } from './failure';
import { CONFLICT_RESOLUTION_PATCH } from './patches';
import { runTask } from './run-task';
import {
  taskBranch,
  type ConflictResolution,
  type MergeConflict,
  type MergeReport,
  type RunInput,
  type RunReport,
  type TaskInput,
  type TaskResult,
} from '../contract/run-types';
import type { Saga } from './saga';

export interface MergeContext {
  input: RunInput;
  report: RunReport;
  saga: Saga;
  /** each task's result (a retry replaces it) and the input it ran with */
  results: Map<string, TaskResult>;
  taskInputs: Map<string, TaskInput>;
  gateway: TaskInput['gateway'];
  /** merges every task branch not merged yet into the integration branch, in graph order */
  mergeAll: () => Promise<MergeReport>;
  publish: () => void;
  sharedFor: (task: TaskSpec) => TaskInput['shared'];
}

export async function mergeResolvingConflicts(ctx: MergeContext): Promise<MergeReport> {
  const strategy = ctx.input.graph.merge?.onConflict ?? 'fail';
  const met: MergeConflict[] = []; // conflicts resolved on the way
  const tried = new Set<string>();
  for (;;) {
    const merge = await ctx.mergeAll();
    if (merge.status !== 'conflict' || strategy === 'fail' || !patched(CONFLICT_RESOLUTION_PATCH)) {
      return { ...merge, conflicts: [...met, ...merge.conflicts] };
    }
    const c = merge.conflicts[0];
    if (tried.has(c.taskId)) {
      const again = {
        ...c,
        resolution: {
          strategy,
          status: 'failed',
          reason: `it conflicted again after its ${strategy === 'retry' ? 'retry' : 'resolution'}`,
        },
      } as MergeConflict;
      return { ...merge, conflicts: [...met, again] };
    }
    tried.add(c.taskId);
    ctx.report.merge = { status: 'pending', conflicts: [...met, c], commit: merge.commit };
    ctx.publish();
    const resolution = strategy === 'retry' ? await retryOnIntegration(ctx, c, merge.commit!) : await handToResolver(ctx, c);
    if (resolution.status === 'failed') return { ...merge, conflicts: [...met, { ...c, resolution }] };
    met.push({ ...c, resolution });
  }
}

/** The task again, from the integration branch as it is now (which holds what it conflicted with). */
async function retryOnIntegration(ctx: MergeContext, c: MergeConflict, integrationCommit: string): Promise<ConflictResolution> {
  const { runId, graph } = ctx.input;
  const entry = ctx.report.tasks.find((t) => t.id === c.taskId)!;
  const original = ctx.taskInputs.get(c.taskId)!;
  entry.note = `conflicted with ${c.conflictsWith.join(', ') || 'the integration branch'} in ${c.files.join(', ')}; retried on top of the integration branch`;
  Object.assign(entry, { status: 'running', startedAt: Date.now(), finishedAt: undefined });
  ctx.publish();
  try {
    const handle = await startChild(runTask, {
      workflowId: `${runId}/${c.taskId}/retry`,
      args: [{ ...original, baseCommit: integrationCommit, dependencyBranches: [], dependencyCommits: [] }],
      staticSummary: `${graph.name} · ${c.taskId} (retried after a merge conflict) · ${original.agent.name} (${original.agent.harness})`,
    });
    const result = await handle.result();
    ctx.results.set(c.taskId, result);
    Object.assign(entry, { ...result, status: 'succeeded', finishedAt: Date.now() });
    ctx.publish();
    return { strategy: 'retry', status: 'resolved' };
  } catch (err) {
    if (isCancellation(err)) throw err;
    Object.assign(entry, { status: 'failed', error: rootMessage(err), finishedAt: Date.now() });
    ctx.publish();
    return { strategy: 'retry', status: 'failed', reason: `its retry failed: ${rootMessage(err)}` };
  }
}

/** The resolver agent in a worktree with the conflicted merge in progress; then the merge committed. */
async function handToResolver(ctx: MergeContext, c: MergeConflict): Promise<ConflictResolution> {
  const { runId, graph, artifactsDir } = ctx.input;
  const name = graph.merge!.resolver!;
  const agent = graph.agents[name];
  const id = `_resolve-${c.taskId}`; // as activities/conflicts.ts names it: never a task id
  const repo = graph.repo;
  // on the run's queue, or with a remote on a host of the merge's placement
  const { steps, cleanup, container, host } = await resolverActivities(graph, c.taskId);
  const removeResolver = async () => {
    await cleanup.removeContainers({ runId, taskId: id });
    await cleanup.removeWorkspace({ repo, artifactsDir, taskId: id, runId });
  };
  ctx.saga.add(`remove the resolver of ${c.taskId}`, removeResolver);
  const prepared = await steps.prepareResolution({ runId, repo, artifactsDir, taskId: c.taskId });
  const task: TaskSpec = {
    id,
    agent: name,
    prompt: resolverPrompt(ctx.input, c, prepared.files),
    after: [],
    timeoutMs: graph.merge?.resolverTimeoutMs ?? DEFAULT_TASK_TIMEOUT_MS,
    retry: DEFAULT_RETRY,
  };
  const { runAgent } = container(task.timeoutMs, task.retry);
  const outcome = await runAgent({
    runId,
    graphName: graph.name,
    repo,
    artifactsDir,
    taskId: id,
    baseCommit: prepared.startCommit,
    dependencyBranches: [],
    dependencyCommits: [],
    keepOnFailure: ctx.input.keepOnFailure,
    gateway: ctx.gateway,
    agent,
    task,
    shared: ctx.sharedFor(task),
    conflict: { taskId: c.taskId, branch: taskBranch(runId, c.taskId) },
    worktree: prepared.worktree,
    startCommit: prepared.startCommit,
  });
  const base = { strategy: 'resolve' as const, by: name, logPath: outcome.logPath, ...(host ? { host } : {}) };
  let resolution: ConflictResolution;
  if (outcome.exitCode !== 0 || outcome.timedOut || outcome.budgetExceeded || outcome.result?.success === false) {
    const why = outcome.timedOut
      ? `timed out after ${Math.round(task.timeoutMs / 1000)}s`
      : outcome.budgetExceeded
        ? 'its budget is spent'
        : (outcome.result?.reason ?? `it exited with code ${outcome.exitCode}`);
    resolution = { ...base, status: 'failed', reason: `the resolver ${name} failed: ${why}` };
  } else {
    const done = await steps.finishResolution({
      runId,
      repo,
      taskId: c.taskId,
      worktree: prepared.worktree,
      startCommit: prepared.startCommit,
      files: prepared.files,
      resolver: name,
    });
    resolution = done.resolved
      ? { ...base, status: 'resolved', commit: done.commit }
      : { ...base, status: 'failed', reason: `the resolver ${name} left it unresolved: ${done.reason}` };
  }
  await removeResolver();
  return resolution;
}

function resolverPrompt(input: RunInput, c: MergeConflict, files: string[]): string {
  const asked = [c.taskId, ...c.conflictsWith].map((id) => {
    const t = input.graph.tasks.find((x) => x.id === id);
    return t?.prompt ? `- ${id}: ${t.prompt.split('\n')[0]}` : `- ${id}`;
  });
  return [
    `Resolve a merge conflict. The work of task ${c.taskId} is being merged into the integration branch, which already holds the work of ${c.conflictsWith.join(', ') || 'other tasks'}; they conflict in ${files.join(', ')}.`,
    'The merge is in progress in this worktree. Edit the conflicted files so that they keep what each side meant and no conflict markers (<<<<<<<, =======, >>>>>>>) remain. Do not commit: agentvisor commits what you leave as the merge.',
    '',
    'What the tasks were asked:',
    ...asked,
  ].join('\n');
}
