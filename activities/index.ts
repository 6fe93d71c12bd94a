// The activities of a run, made by a factory that takes their dependencies (the container runtime),
// as in the Temporal samples. Workflows import only the type `RunActivities`.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { harnessFor } from '../harnesses';
import { HOME_FILES_MOUNT, WORKSPACE, type AgentResult } from '../harnesses/harness';
import { BASE_IMAGE } from '../images/constants';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName, type ContainerRuntime } from '../runtimes/runtime';
import type { EvaluateSpec } from '../spec/types';
import {
  integrationBranch,
  type EvaluationReport,
  type MergeReport,
  type RunReport,
  type TaskInput,
} from '../workflows/run-types';
import { runContainer, type ContainerOutcome } from './container-run';
import { withHeartbeat } from './heartbeat';
import { countAgentOutcome, countEvaluation } from './metrics';
import { appendLedger, decideReuse, taskSpecHash, type LedgerEntry, type ReuseDecision } from './ledger';
import {
  addDetachedWorktree,
  addTaskWorktree,
  chownTree,
  commitWorktree,
  createIntegrationBranch,
  deleteBranches,
  git,
  mergeTaskBranches,
  removeWorktree,
  resetWorktree,
  type DiffStats,
  type Worktree,
} from './git';
import { sandboxUser } from './sandbox-user';

export interface ActivityDeps {
  runtime: ContainerRuntime;
  /** LABEL_SCOPE value for this worker's containers (namespace@address) */
  scope?: string;
}

export const taskWorktreePath = (artifactsDir: string, taskId: string) => path.join(artifactsDir, 'worktrees', taskId);
export const ledgerPath = (artifactsDir: string) => path.join(artifactsDir, 'ledger.jsonl');
export const taskLogPath = (artifactsDir: string, taskId: string) => path.join(artifactsDir, 'logs', `${taskId}.log`);

/**
 * SIGKILL (137) or SIGTERM (143) that agentvisor did not send: a `docker kill`, a daemon restart, a
 * reboot. Transient: the task is retried per its policy. An out-of-memory kill is the agent's own.
 */
function killedFromOutside(o: ContainerOutcome): boolean {
  return !o.timedOut && !o.oomKilled && (o.exitCode === 137 || o.exitCode === 143);
}

/** Files the harness puts in the agent's HOME, in a folder mounted read-only; none: no mount. */
async function writeHomeFiles(
  artifactsDir: string,
  taskId: string,
  files: { path: string; content: string }[],
  owner?: { uid: number; gid: number },
): Promise<string | undefined> {
  if (files.length === 0) return undefined;
  const dir = path.join(artifactsDir, 'home', taskId);
  for (const file of files) {
    const target = path.join(dir, file.path);
    if (!target.startsWith(dir + path.sep)) throw ApplicationFailure.nonRetryable(`harness file escapes HOME: ${file.path}`, 'BadTaskInput');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
  if (owner) await chownTree(dir, owner.uid, owner.gid);
  return dir;
}

export function createActivities({ runtime, scope = 'unscoped' }: ActivityDeps) {
  const user = sandboxUser();
  const owner = user.chownWorktrees ? { uid: user.uid, gid: user.gid } : undefined;

  return {
    /** The run's integration branch at the base commit (a resumed run names the earlier run's). */
    async prepareRun(input: { runId: string; repo: string; baseBranch: string; artifactsDir: string; baseCommit?: string }) {
      await mkdir(input.artifactsDir, { recursive: true });
      const baseCommit = await withHeartbeat('create integration branch', () =>
        createIntegrationBranch(input.repo, input.baseCommit ?? input.baseBranch, integrationBranch(input.runId)),
      );
      return { baseCommit };
    },

    async provisionWorkspace(input: TaskInput & { branch: string }): Promise<Worktree> {
      return withHeartbeat('provision worktree', () => addTaskWorktree({
        repo: input.repo,
        path: taskWorktreePath(input.artifactsDir, input.taskId),
        branch: input.branch,
        startPoint: input.baseCommit,
        merge: input.dependencyBranches,
        owner,
      }));
    },

    async runAgent(input: TaskInput & { worktree: string; startCommit: string }): Promise<ContainerOutcome & { logPath: string; result?: AgentResult }> {
      const harness = harnessFor(input.agent.harness);
      const invocation = harness.build({ graphName: input.graphName, agent: input.agent, task: input.task });
      const logPath = taskLogPath(input.artifactsDir, input.taskId);
      const name = containerName(input.runId, input.taskId);
      const home = await writeHomeFiles(input.artifactsDir, input.taskId, invocation.files ?? [], owner);
      const outcome = await runContainer(
        runtime,
        {
          name,
          image: invocation.image,
          command: invocation.command,
          env: { ...invocation.env, HOME: '/home/agent' },
          workdir: WORKSPACE,
          mounts: [
            { source: input.worktree, target: WORKSPACE, readOnly: input.agent.readOnly },
            ...(home ? [{ source: home, target: HOME_FILES_MOUNT, readOnly: true }] : []),
          ],
          user: `${user.uid}:${user.gid}`,
          labels: { [LABEL_RUN]: input.runId, [LABEL_TASK]: input.taskId, [LABEL_ROLE]: 'agent', [LABEL_SCOPE]: scope },
          memoryBytes: input.agent.limits.memoryBytes,
          cpus: input.agent.limits.cpus,
          pids: input.agent.limits.pids ?? 512,
          network: 'none',
          tmpfs: ['/home/agent', '/tmp'],
        },
        {
          logPath,
          timeoutMs: input.task.timeoutMs,
          // a fresh start after a killed attempt begins from a clean worktree
          beforeCreate: () => resetWorktree(input.worktree, input.startCommit, owner),
          progress: harness.progress?.bind(harness),
        },
      );
      const result = harness.result?.(await readFile(logPath, 'utf8'), outcome.exitCode);
      const killed = killedFromOutside(outcome);
      countAgentOutcome(
        input.agent.harness,
        killed ? 'killed' : outcome.timedOut ? 'timed_out' : outcome.oomKilled ? 'oom_killed' : outcome.exitCode === 0 && result?.success !== false ? 'succeeded' : 'failed',
      );
      if (killed || (result && !result.success && result.transient)) {
        // a transient failure: the next attempt starts a fresh container from a clean worktree
        await runtime.remove(name);
        throw ApplicationFailure.retryable(
          killed
            ? `the agent's container was killed (exit ${outcome.exitCode}) by something other than agentvisor`
            : `transient failure: ${result!.reason ?? 'the model provider refused the call'}`,
          killed ? 'AgentKilled' : 'AgentTransient',
        );
      }
      return { ...outcome, logPath, result };
    },

    /** Commits the agent's changes on its branch and records the work in the run's ledger. */
    async collectOutput(input: TaskInput & { worktree: string; startCommit: string }): Promise<DiffStats> {
      const summary = input.task.prompt.split('\n')[0].slice(0, 200);
      const stats = await withHeartbeat('commit', () =>
        commitWorktree({
          worktree: input.worktree,
          startCommit: input.startCommit,
          author: input.agent.name,
          message: `agentvisor: ${input.taskId} (${input.agent.name})${summary ? `\n\n${summary}` : ''}`,
        }),
      );
      await appendLedger(ledgerPath(input.artifactsDir), {
        runId: input.runId,
        taskId: input.taskId,
        specHash: taskSpecHash(input.agent, input.task),
        baseCommit: input.baseCommit,
        dependencyCommits: input.dependencyCommits,
        ...stats,
      });
      return stats;
    },

    /** Resume: may this task's work be taken from the earlier run's ledger? */
    async findReusableWork(input: TaskInput & { fromRunId: string; fromArtifactsDir: string }): Promise<ReuseDecision> {
      return decideReuse({
        repo: input.repo,
        ledgerFile: ledgerPath(input.fromArtifactsDir),
        fromRunId: input.fromRunId,
        agent: input.agent,
        task: input.task,
        baseCommit: input.baseCommit,
        dependencyCommits: input.dependencyCommits,
      });
    },

    /** Resume: the task's branch of this run points at the recorded commit; no agent runs. */
    async adoptRecordedWork(input: { repo: string; runId: string; artifactsDir: string; branch: string; entry: LedgerEntry }): Promise<void> {
      await git(input.repo).raw(['branch', '--force', input.branch, input.entry.commit]);
      await mkdir(input.artifactsDir, { recursive: true });
      await appendLedger(ledgerPath(input.artifactsDir), { ...input.entry, runId: input.runId });
    },

    async removeWorkspace(input: { repo: string; artifactsDir: string; taskId: string }): Promise<void> {
      await removeWorktree(input.repo, taskWorktreePath(input.artifactsDir, input.taskId));
    },

    /** Compensation: every container of the run (or of one task), whatever state it is in. */
    async removeContainers(input: { runId: string; taskId?: string }): Promise<number> {
      const labels: Record<string, string> = { [LABEL_RUN]: input.runId };
      if (input.taskId) labels[LABEL_TASK] = input.taskId;
      const found = await runtime.list(labels);
      await Promise.all(found.map((c) => runtime.remove(c.name)));
      return found.length;
    },

    async deleteBranches(input: { repo: string; branches: string[] }): Promise<string[]> {
      return deleteBranches(input.repo, input.branches);
    },

    async mergeTasks(input: {
      runId: string;
      repo: string;
      artifactsDir: string;
      tasks: { taskId: string; branch: string; files: string[] }[];
    }): Promise<MergeReport> {
      return withHeartbeat('merge', () =>
        mergeTaskBranches({
          repo: input.repo,
          worktree: taskWorktreePath(input.artifactsDir, '_merge'),
          integrationBranch: integrationBranch(input.runId),
          tasks: input.tasks,
        }),
      );
    },

    async evaluate(input: { runId: string; repo: string; artifactsDir: string; evaluate: EvaluateSpec }): Promise<EvaluationReport> {
      const worktree = taskWorktreePath(input.artifactsDir, '_evaluate');
      const logPath = path.join(input.artifactsDir, 'logs', 'evaluation.log');
      const name = containerName(input.runId, '_evaluate');
      // Re-attaching to a running evaluation must keep the worktree it has mounted.
      if ((await runtime.inspect(name)).state === 'missing' || !existsSync(worktree)) {
        await runtime.remove(name);
        await addDetachedWorktree(input.repo, worktree, integrationBranch(input.runId), owner);
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
            user: `${user.uid}:${user.gid}`,
            labels: { [LABEL_RUN]: input.runId, [LABEL_TASK]: '_evaluate', [LABEL_ROLE]: 'evaluation', [LABEL_SCOPE]: scope },
            memoryBytes: input.evaluate.limits.memoryBytes,
            cpus: input.evaluate.limits.cpus,
            pids: input.evaluate.limits.pids ?? 1024,
            network: 'none',
            tmpfs: ['/home/agent', '/tmp'],
          },
          { logPath, timeoutMs: input.evaluate.timeoutMs },
        );
        if (killedFromOutside(outcome)) {
          await runtime.remove(name);
          throw ApplicationFailure.retryable(`the evaluation container was killed (exit ${outcome.exitCode})`, 'AgentKilled');
        }
        countEvaluation(outcome.exitCode === 0 && !outcome.timedOut);
        return { passed: outcome.exitCode === 0 && !outcome.timedOut, exitCode: outcome.exitCode, logPath, timedOut: outcome.timedOut };
      }
    },

    /** After the evaluation's result is recorded: its container and worktree go. */
    async removeEvaluation(input: { runId: string; repo: string; artifactsDir: string }): Promise<void> {
      await runtime.remove(containerName(input.runId, '_evaluate'));
      await removeWorktree(input.repo, taskWorktreePath(input.artifactsDir, '_evaluate'));
    },

    async writeReport(report: RunReport): Promise<string> {
      const file = path.join(report.artifactsDir, 'report.json');
      await mkdir(report.artifactsDir, { recursive: true });
      await writeFile(file, JSON.stringify(report, null, 2) + '\n');
      return file;
    },

  };
}

export type RunActivities = ReturnType<typeof createActivities>;
