// One task: a worktree on its own branch, the agent in its container, its changes committed.
// A failed or cancelled task undoes its own steps; a succeeded one leaves its branch and commit
// (the ledger of finished work) and removes its worktree.
import { ApplicationFailure, CancellationScope, isCancellation, patched, proxyActivities } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import { runTaskOnHost } from './hosts';
import { HOSTS_PATCH } from './patches';
import { CLEANUP_ACTIVITY, STEP_ACTIVITY, asCancellation, containerActivity, proxyWith, settled } from './activity-options';
import { taskBranch, type TaskInput, type TaskResult } from '../contract/run-types';
import { rootMessage } from './failure';
import { Saga } from './saga';
import type { TaskActivities } from './task-activities';

const steps = proxyWith<RunActivities>(() => settled(STEP_ACTIVITY));
const cleanup = proxyActivities<RunActivities>(CLEANUP_ACTIVITY);

const RUN_QUEUE: TaskActivities = {
  steps,
  cleanup,
  container: (timeoutMs, retry) => proxyActivities<RunActivities>(settled(containerActivity(timeoutMs, retry))),
};

export async function runTask(input: TaskInput): Promise<TaskResult> {
  // a run with a remote places its tasks on hosts; a run without one is as it always was
  if (input.remote && patched(HOSTS_PATCH)) return runTaskOnHost(input, taskSteps);
  return taskSteps(input, RUN_QUEUE);
}

async function taskSteps(input: TaskInput, { steps, cleanup, container }: TaskActivities): Promise<TaskResult> {
  const { runId, taskId, repo, artifactsDir } = input;
  const branch = taskBranch(runId, taskId);
  const saga = new Saga();
  let partial: Partial<TaskResult> = { id: taskId, branch };
  try {
    saga.add('delete task branch', () => cleanup.deleteBranches({ repo, branches: [branch] }));
    saga.add('remove worktree', () => cleanup.removeWorkspace({ repo, artifactsDir, taskId }));
    const worktree = await steps.provisionWorkspace({ ...input, branch });

    saga.add('remove container', () => cleanup.removeContainers({ runId, taskId }));
    const { runAgent } = container(input.task.timeoutMs, input.task.retry);
    const outcome = await runAgent({ ...input, worktree: worktree.path, startCommit: worktree.startCommit });
    // outputTail: a field of the activity's result, passed on as data (no new command: no patch)
    partial = {
      ...partial,
      logPath: outcome.logPath,
      exitCode: outcome.exitCode,
      usage: outcome.usage ?? outcome.result?.usage,
      outputTail: outcome.outputTail,
    };
    if (outcome.budgetExceeded) {
      const which = outcome.budgetExceeded === 'run' ? "the run's" : "the task's";
      throw ApplicationFailure.create({
        type: 'BudgetExceeded',
        message: `${which} budget is spent`,
        nonRetryable: true,
        details: [{ ...partial, budget: outcome.budgetExceeded }],
      });
    }

    // the harness's reading of the agent's output can fail a run that exited 0 (an error result)
    if (outcome.exitCode !== 0 || outcome.timedOut || outcome.result?.success === false) {
      const reason = outcome.timedOut
        ? `timed out after ${Math.round(input.task.timeoutMs / 1000)}s`
        : outcome.oomKilled
          ? `killed: out of memory (exit ${outcome.exitCode})`
          : (outcome.result?.reason ?? `agent exited with code ${outcome.exitCode}`);
      throw ApplicationFailure.create({ type: 'TaskFailed', message: reason, nonRetryable: true, details: [partial] });
    }

    const stats = await steps.collectOutput({ ...input, worktree: worktree.path, startCommit: worktree.startCommit });
    // Only now, with its result recorded, may the container go (see runContainer).
    await cleanup.removeContainers({ runId, taskId });
    await steps.removeWorkspace({ repo, artifactsDir, taskId });
    return {
      id: taskId,
      status: 'succeeded',
      branch,
      commit: stats.commit,
      filesChanged: stats.filesChanged,
      insertions: stats.insertions,
      deletions: stats.deletions,
      files: stats.files,
      logPath: outcome.logPath,
      exitCode: outcome.exitCode,
      usage: outcome.usage ?? outcome.result?.usage,
      ...(outcome.outputTail ? { outputTail: outcome.outputTail } : {}),
    };
  } catch (caught) {
    const err = asCancellation(caught, 'the task was cancelled');
    if (!input.keepOnFailure) await CancellationScope.nonCancellable(() => saga.compensate());
    if (isCancellation(err)) throw err;
    if (err instanceof ApplicationFailure && (err.type === 'TaskFailed' || err.type === 'BudgetExceeded')) throw err;
    throw ApplicationFailure.create({
      type: 'TaskFailed',
      message: rootMessage(err),
      nonRetryable: true,
      details: [partial],
      cause: err as Error,
    });
  }
}
