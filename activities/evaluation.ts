// The run's evaluation: the graph's command in a container, on a workspace of the merged
// integration branch, with no network; its exit code says whether the run passed.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { BASE_IMAGE } from '../images/constants';
import { evaluationLogPath, evaluationWorktreePath } from '../paths/run-folder';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName } from '../runtimes/runtime';
import type { EvaluateSpec } from '../graph/types';
import { integrationBranch, type EvaluationReport } from '../contract/run-types';
import { killedFromOutside, runContainer } from './container-run';
import type { ActivityContext } from './context';
import { DISK_LIMIT_EXCEEDED, isDiskFull } from './disk-limit';
import { resolveCommit } from './git';
import { effectiveLimits } from './limits';
import { countEvaluation } from './metrics';
import { createWorkspace, removeWorkspaceDir } from './workspace';

export function evaluationActivities({ runtime, scope, user, owner, defaults }: ActivityContext) {
  return {
    async evaluate(input: { runId: string; repo: string; artifactsDir: string; evaluate: EvaluateSpec }): Promise<EvaluationReport> {
      const worktree = evaluationWorktreePath(input.artifactsDir);
      const logPath = evaluationLogPath(input.artifactsDir);
      const name = containerName(input.runId, '_evaluate');
      const limits = effectiveLimits(input.evaluate.limits, defaults);
      // Re-attaching to a running evaluation must keep the worktree it has mounted.
      if ((await runtime.inspect(name)).state === 'missing' || !existsSync(worktree)) {
        await runtime.remove(name);
        const commit = await resolveCommit(input.repo, integrationBranch(input.runId));
        // DISK LIMIT: the evaluation's workspace is a filesystem of its disk limit (see provisionWorkspace)
        await createWorkspace({
          repo: input.repo,
          dir: worktree,
          commit,
          branch: integrationBranch(input.runId),
          author: 'evaluation',
          owner,
          diskBytes: limits.diskBytes,
        });
      }
      {
        const outcome = await runContainer(
          runtime,
          {
            name,
            image: input.evaluate.image ?? BASE_IMAGE,
            command: ['sh', '-c', input.evaluate.command],
            env: { HOME: '/home/agent', CI: 'true' },
            workdir: '/workspace',
            mounts: [{ source: worktree, target: '/workspace', readOnly: false }],
            user: user,
            labels: { [LABEL_RUN]: input.runId, [LABEL_TASK]: '_evaluate', [LABEL_ROLE]: 'evaluation', [LABEL_SCOPE]: scope },
            memoryBytes: limits.memoryBytes,
            cpus: limits.cpus,
            diskBytes: limits.diskBytes || undefined,
            // a test suite may start many processes; still bounded
            pids: input.evaluate.limits.pids ?? Math.max(limits.pids, 1024),
            network: 'none',
            tmpfs: ['/home/agent', '/tmp'],
          },
          {
            logPath,
            timeoutMs: input.evaluate.timeoutMs,
            watch: async () => ((await isDiskFull(worktree)) ? DISK_LIMIT_EXCEEDED : undefined),
          },
        );
        if (killedFromOutside(outcome)) {
          await runtime.remove(name);
          throw ApplicationFailure.retryable(`the evaluation container was killed (exit ${outcome.exitCode})`, 'AgentKilled');
        }
        const overDisk = outcome.stoppedFor === DISK_LIMIT_EXCEEDED || (!outcome.timedOut && (await isDiskFull(worktree)));
        const passed = outcome.exitCode === 0 && !outcome.timedOut && !overDisk;
        countEvaluation(passed);
        return {
          passed,
          exitCode: outcome.exitCode,
          logPath,
          timedOut: outcome.timedOut,
          ...(overDisk ? { reason: DISK_LIMIT_EXCEEDED } : {}),
        };
      }
    },

    /** After the evaluation's result is recorded: its container and worktree go. */
    async removeEvaluation(input: { runId: string; repo: string; artifactsDir: string }): Promise<void> {
      await runtime.remove(containerName(input.runId, '_evaluate'));
      await removeWorkspaceDir(evaluationWorktreePath(input.artifactsDir)); // DISK LIMIT: unmounts too
    },
  };
}
