// The activities of a run, made by a factory that takes their dependencies (the container runtime),
// as in the Temporal samples. Workflows import only the type `RunActivities`.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { harnessFor } from '../harnesses';
import { HOME_FILES_MOUNT, WORKSPACE, type AgentResult } from '../harnesses/harness';
import { BASE_IMAGE } from '../images/constants';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName, type ContainerRuntime } from '../runtimes/runtime';
import type { EvaluateSpec, GraphSpec } from '../spec/types';
import { GATEWAY_ALIAS, GATEWAY_PORT, closeTaskNetwork, gatewayTokens, gatewayUrl, openTaskNetwork, startGateway, stopGateway, taskUsage, type GatewayHandle } from './gateway';
import { defaultDataDir } from '../paths/data-folder';
import { evaluationLogPath, evaluationWorktreePath, homeFilesDir, ledgerPath, reportPath, taskLogPath, taskWorktreePath } from '../paths/run-folder';
import {
  integrationBranch,
  taskBranch,
  type EvaluationReport,
  type MergeReport,
  type RunReport,
  type TaskInput,
  type Usage,
} from '../workflows/run-types';
import { runContainer, type ContainerOutcome } from './container-run';
import { outageTolerant } from './engine-outage';
import { withHeartbeat } from './heartbeat';
import { countAgentOutcome, countAgentRetry, countEvaluation, recordUsage } from './metrics';
import { appendLedger, decideReuse, taskSpecHash, type LedgerEntry, type ReuseDecision } from './ledger';
import { chownTree, createIntegrationBranch, deleteBranches, diffStats, git, mergeTaskBranches, resolveCommit, setBranch, startTaskBranch, type DiffStats } from './git';
import { collectWork, createWorkspace, removeWorkspaceDir } from './workspace';
import { terminalText } from '../workflows/text-safety';
import { sandboxUser } from './sandbox-user';
import { retryWatch, upstreamErrorsNote } from './retry-watch';
import { coordinationActivities, sharedMounts } from './coordination';
import { conflictActivities, restartConflictedMerge } from './conflicts';
import { DEFAULT_LIMITS, effectiveLimits, type ResolvedLimits } from './limits';
import { DISK_LIMIT_EXCEEDED, isDiskFull, remountLimitedDir } from './disk-limit';

export interface ActivityDeps {
  runtime: ContainerRuntime;
  /** LABEL_SCOPE value for this worker's containers (namespace@address) */
  scope?: string;
  /** the worker's default limits, for what a graph leaves unset (activities/limits.ts) */
  limits?: ResolvedLimits;
  /** the worker's data folder (its gateway key); default AGENTVISOR_HOME */
  dataDir?: string;
}

/** Where a task's workspace is, and the commit it starts from. */
export interface Workspace {
  path: string;
  branch: string;
  startCommit: string;
}

/**
 * SIGKILL (137) or SIGTERM (143) that agentvisor did not send: a `docker kill`, a daemon restart, a
 * reboot. Transient: the task is retried per its policy. An out-of-memory kill is the agent's own.
 */
function killedFromOutside(o: ContainerOutcome): boolean {
  return !o.timedOut && !o.oomKilled && !o.stoppedFor && (o.exitCode === 137 || o.exitCode === 143);
}

/** The one-file gateway built by `npm run build`, from the compiled tree or from the sources. */
function gatewayBundle(): string {
  for (const candidate of [path.join(__dirname, '..', 'gateway', 'gateway.bundle.js'), path.join(__dirname, '..', 'dist', 'gateway', 'gateway.bundle.js')]) {
    if (existsSync(candidate)) return candidate;
  }
  throw ApplicationFailure.nonRetryable('dist/gateway/gateway.bundle.js is missing: run `npm run build`', 'BadTaskInput');
}

/** Files the harness puts in the agent's HOME, in a folder mounted read-only; none: no mount. */
async function writeHomeFiles(
  artifactsDir: string,
  taskId: string,
  files: { path: string; content: string }[],
  owner?: { uid: number; gid: number },
): Promise<string | undefined> {
  if (files.length === 0) return undefined;
  const dir = homeFilesDir(artifactsDir, taskId);
  for (const file of files) {
    const target = path.join(dir, file.path);
    if (!target.startsWith(dir + path.sep)) throw ApplicationFailure.nonRetryable(`harness file escapes HOME: ${file.path}`, 'BadTaskInput');
    await mkdir(path.dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
  if (owner) await chownTree(dir, owner.uid, owner.gid);
  return dir;
}

/** True in an activity's first attempt; outside an activity (scripts, tests), false: reset anyway. */
function firstAttempt(): boolean {
  try {
    return Context.current().info.attempt === 1;
  } catch {
    return false;
  }
}

export function createActivities({ runtime: engine, scope = 'unscoped', limits: defaults = DEFAULT_LIMITS, dataDir = defaultDataDir() }: ActivityDeps) {
  // every engine call of the activities waits out an engine restart (activities/engine-outage.ts)
  const runtime = outageTolerant(engine);
  const user = sandboxUser();
  const owner = user.chownWorktrees ? { uid: user.uid, gid: user.gid } : undefined;
  const tokens = gatewayTokens(dataDir);

  return {
    ...coordinationActivities({ owner, diskBytes: defaults.diskBytes }),
    ...conflictActivities({ owner, worktreePath: taskWorktreePath, diskBytes: defaults.diskBytes, collect: (o) => collectWork({ runtime, scope, user: `${user.uid}:${user.gid}`, owner, ...o }) }),

    /** The run's integration branch at the base commit (a resumed run names the earlier run's). */
    async prepareRun(input: { runId: string; repo: string; baseBranch: string; artifactsDir: string; baseCommit?: string }) {
      await mkdir(input.artifactsDir, { recursive: true });
      const baseCommit = await withHeartbeat('create integration branch', () =>
        createIntegrationBranch(input.repo, input.baseCommit ?? input.baseBranch, integrationBranch(input.runId)),
      );
      return { baseCommit };
    },

    async provisionWorkspace(input: TaskInput & { branch: string }): Promise<Workspace> {
      return withHeartbeat('provision workspace', async () => {
        const startCommit = await startTaskBranch({ repo: input.repo, branch: input.branch, startPoint: input.baseCommit, merge: input.dependencyBranches });
        const dir = taskWorktreePath(input.artifactsDir, input.taskId);
        // DISK LIMIT: the workspace is a filesystem of the agent's disk limit (activities/disk-limit.ts)
        const diskBytes = effectiveLimits(input.agent.limits, defaults).diskBytes;
        await createWorkspace({ repo: input.repo, dir, commit: startCommit, branch: input.branch, author: input.agent.name, owner, diskBytes });
        return { path: dir, branch: input.branch, startCommit };
      });
    },

    async runAgent(
      input: TaskInput & { worktree: string; startCommit: string },
    ): Promise<ContainerOutcome & { logPath: string; result?: AgentResult; usage?: Usage; budgetExceeded?: 'task' | 'run' }> {
      const harness = harnessFor(input.agent.harness);
      // agents that call no provider and reach no host stay on no network at all
      const a = input.agent;
      const gw = input.gateway && (Object.keys(a.credentials).length > 0 || (a.allowHosts ?? []).length > 0 || a.harness !== 'command') ? input.gateway : undefined;
      const token = gw ? tokens.task(input.runId, input.taskId) : undefined;
      const invocation = harness.build({
        graphName: input.graphName,
        agent: input.agent,
        task: input.task,
        gateway: gw && token ? { url: gatewayUrl, token } : undefined,
      });
      // every agent of a run with a gateway may use it as its HTTP(S) proxy (allowlisted hosts only)
      const proxyEnv: Record<string, string> =
        gw && token
          ? {
              AGENTVISOR_GATEWAY_URL: gatewayUrl,
              AGENTVISOR_GATEWAY_TOKEN: token,
              HTTP_PROXY: `http://${token}@${GATEWAY_ALIAS}:${GATEWAY_PORT}`,
              HTTPS_PROXY: `http://${token}@${GATEWAY_ALIAS}:${GATEWAY_PORT}`,
              NO_PROXY: GATEWAY_ALIAS,
            }
          : {};
      const retries = retryWatch(harness, input.agent);
      let budgetExceeded: 'task' | 'run' | undefined;
      const checkBudget = async () => {
        if (!gw) return undefined;
        const u = await taskUsage(gw.controlUrl, tokens.control(input.runId), input.taskId);
        if (u?.budgetExceeded) budgetExceeded = 'task';
        else if (u?.runBudgetExceeded) budgetExceeded = 'run';
        return budgetExceeded ? `budget exceeded (${budgetExceeded})` : undefined;
      };
      const logPath = taskLogPath(input.artifactsDir, input.taskId);
      const name = containerName(input.runId, input.taskId);
      // the harness's own files (settings, instructions), then the agent's `home` files
      const home = await writeHomeFiles(input.artifactsDir, input.taskId, [...(invocation.files ?? []), ...(input.agent.home ?? [])], owner);
      const shared = await sharedMounts(input, owner);
      // an agent with the gateway: a network of its own, where the gateway is all there is
      const net = gw ? await withHeartbeat('network', () => openTaskNetwork(runtime, input.runId, input.taskId, scope)) : undefined;
      const limits = effectiveLimits(input.agent.limits, defaults);
      // DISK LIMIT: after a reboot the folders are there but not their mounts: mounted again
      await remountLimitedDir(input.worktree);
      if (input.shared) await remountLimitedDir(input.shared.dir);
      // DISK LIMIT: a full workspace (or a full shared workspace the agent writes) stops the agent
      const diskFull = async () =>
        (await isDiskFull(input.worktree)) || (!!input.shared && !input.shared.readOnly && (await isDiskFull(input.shared.dir))) ? DISK_LIMIT_EXCEEDED : undefined;
      const outcome = await runContainer(
        runtime,
        {
          name,
          image: invocation.image,
          command: invocation.command,
          env: { ...proxyEnv, ...invocation.env, ...shared.env, HOME: '/home/agent' },
          workdir: WORKSPACE,
          mounts: [
            { source: input.worktree, target: WORKSPACE, readOnly: input.agent.readOnly },
            ...(home ? [{ source: home, target: HOME_FILES_MOUNT, readOnly: true }] : []),
            ...shared.mounts,
          ],
          user: `${user.uid}:${user.gid}`,
          labels: { [LABEL_RUN]: input.runId, [LABEL_TASK]: input.taskId, [LABEL_ROLE]: 'agent', [LABEL_SCOPE]: scope },
          memoryBytes: limits.memoryBytes,
          cpus: limits.cpus,
          pids: limits.pids,
          diskBytes: limits.diskBytes || undefined,
          network: net?.network ?? 'none',
          // the gateway's name without DNS; names it does not know are forwarded to the gateway,
          // which answers no DNS: they go nowhere (not to the host's resolvers)
          ...(net ? { hosts: { [GATEWAY_ALIAS]: net.gatewayIp }, dns: [net.gatewayIp] } : {}),
          tmpfs: ['/home/agent', '/tmp'],
        },
        {
          logPath,
          timeoutMs: input.task.timeoutMs,
          watch: async () => retries.exhausted() ?? (await diskFull()) ?? (gw ? await checkBudget() : undefined),
          // a fresh start after a killed attempt begins from a new workspace (nothing of the
          // former one is read); the first attempt has the one provisionWorkspace has just made
          beforeCreate: firstAttempt()
            ? undefined
            : input.conflict // a resolver's workspace starts again with its merge in progress
              ? () => restartConflictedMerge({ repo: input.repo, dir: input.worktree, startCommit: input.startCommit, branch: input.conflict!.branch, taskId: input.conflict!.taskId, author: input.agent.name, owner, diskBytes: limits.diskBytes }).then(() => undefined)
              : () => createWorkspace({ repo: input.repo, dir: input.worktree, commit: input.startCommit, branch: taskBranch(input.runId, input.taskId), author: input.agent.name, owner, diskBytes: limits.diskBytes }).then(() => undefined),
          progress: (line) => retries.progress(line),
        },
      );
      // the container has exited: its network goes (a container still running keeps it; stopGateway sweeps)
      if (net) await closeTaskNetwork(runtime, input.runId, input.taskId);
      const parsed = harness.result?.(await readFile(logPath, 'utf8'), outcome.exitCode);
      // an agent that filled its disk fails with that reason, whether the watch stopped it or it
      // gave up by itself between two looks (a write refused with ENOSPC), whatever it exits with
      const overDisk = outcome.stoppedFor === DISK_LIMIT_EXCEEDED || (!outcome.stoppedFor && !outcome.timedOut && (await diskFull()) !== undefined);
      const result = overDisk
        ? { ...parsed, success: false, reason: DISK_LIMIT_EXCEEDED }
        : (outcome.stoppedFor && retries.result(parsed?.usage)) || parsed;
      let usage = result?.usage;
      if (gw) {
        await checkBudget();
        // the gateway's meter is the authority on usage: it sees every model call, whatever the CLI says
        const u = await taskUsage(gw.controlUrl, tokens.control(input.runId), input.taskId);
        // (inputTokens: every input token not read from a cache, cache writes included, as the harnesses count them)
        if (u) usage = { inputTokens: u.inputTokens + (u.cacheWriteTokens ?? 0), outputTokens: u.outputTokens, cachedTokens: u.cachedTokens, costUsd: u.usd };
        // a CLI stopped for its retries may not have said which status it got: the gateway knows
        if (u && result && retries.exhausted()) result.reason = `${result.reason ?? ''}${upstreamErrorsNote(u.errors)}`;
        if (budgetExceeded) {
          recordUsage(input.agent.harness, usage);
          countAgentOutcome(input.agent.harness, 'budget_exceeded');
          return { ...outcome, logPath, result, usage, budgetExceeded };
        }
      }
      const killed = killedFromOutside(outcome);
      countAgentOutcome(
        input.agent.harness,
        killed ? 'killed' : outcome.timedOut ? 'timed_out' : outcome.oomKilled ? 'oom_killed' : outcome.exitCode === 0 && result?.success !== false ? 'succeeded' : 'failed',
      );
      recordUsage(input.agent.harness, usage);
      if (killed || (result && !result.success && result.transient)) {
        // a transient failure: the next attempt starts a fresh container from a clean worktree
        countAgentRetry(input.agent.harness, killed ? 'killed' : 'transient');
        await runtime.remove(name);
        throw ApplicationFailure.retryable(
          killed
            ? `the agent's container was killed (exit ${outcome.exitCode}) by something other than agentvisor`
            : `transient failure: ${result!.reason ?? 'the model provider refused the call'}`,
          killed ? 'AgentKilled' : 'AgentTransient',
        );
      }
      return { ...outcome, ...(overDisk ? { stoppedFor: DISK_LIMIT_EXCEEDED } : {}), logPath, result, usage };
    },

    /** The run's gateway (network, container); returns where the worker reaches its control side. */
    async startGateway(input: { runId: string; artifactsDir: string; graph: GraphSpec }): Promise<GatewayHandle> {
      return withHeartbeat('start gateway', () => startGateway({ runtime, scope, owner, user: `${user.uid}:${user.gid}`, bundle: gatewayBundle(), tokens, ...input }));
    },

    async stopGateway(input: { runId: string }): Promise<void> {
      await stopGateway(runtime, input.runId, scope);
    },

    /**
     * The agent's work (committed or not) onto its branch, through the collector (workspace.ts),
     * and recorded in the run's ledger. A read-only agent changed nothing: no collector runs.
     */
    async collectOutput(input: TaskInput & { worktree: string; startCommit: string }): Promise<DiffStats> {
      // (a proposed task's prompt is an agent's text: no control characters into git log)
      const summary = terminalText(input.task.prompt.split('\n')[0]).slice(0, 200);
      const branch = taskBranch(input.runId, input.taskId);
      const stats = await withHeartbeat('collect', async () => {
        const tip = input.agent.readOnly
          ? undefined
          : await collectWork({
              runtime,
              scope,
              user: `${user.uid}:${user.gid}`,
              owner,
              runId: input.runId,
              id: input.taskId,
              taskId: input.taskId,
              repo: input.repo,
              workspace: input.worktree,
              artifactsDir: input.artifactsDir,
              startCommit: input.startCommit,
              author: input.agent.name,
              message: `agentvisor: ${input.taskId} (${input.agent.name})${summary ? `\n\n${summary}` : ''}`,
              diskBytes: effectiveLimits(input.agent.limits, defaults).diskBytes,
            });
        await setBranch(input.repo, branch, tip ?? input.startCommit);
        return diffStats(input.repo, input.startCommit, branch);
      });
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
      const worktree = taskWorktreePath(input.artifactsDir, input.taskId);
      // it may queue behind other worktree commands of the repository (git.ts): heartbeat meanwhile
      // DISK LIMIT: unmounts, then deletes the folder and its image
      await withHeartbeat('remove workspace', () => removeWorkspaceDir(taskWorktreePath(input.artifactsDir, input.taskId)));
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
          integrationBranch: integrationBranch(input.runId),
          tasks: input.tasks,
        }),
      );
    },

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
        await createWorkspace({ repo: input.repo, dir: worktree, commit, branch: integrationBranch(input.runId), author: 'evaluation', owner, diskBytes: limits.diskBytes });
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
            memoryBytes: limits.memoryBytes,
            cpus: limits.cpus,
            diskBytes: limits.diskBytes || undefined,
            // a test suite may start many processes; still bounded
            pids: input.evaluate.limits.pids ?? Math.max(limits.pids, 1024),
            network: 'none',
            tmpfs: ['/home/agent', '/tmp'],
          },
          { logPath, timeoutMs: input.evaluate.timeoutMs, watch: async () => ((await isDiskFull(worktree)) ? DISK_LIMIT_EXCEEDED : undefined) },
        );
        if (killedFromOutside(outcome)) {
          await runtime.remove(name);
          throw ApplicationFailure.retryable(`the evaluation container was killed (exit ${outcome.exitCode})`, 'AgentKilled');
        }
        const overDisk = outcome.stoppedFor === DISK_LIMIT_EXCEEDED || (!outcome.timedOut && (await isDiskFull(worktree)));
        const passed = outcome.exitCode === 0 && !outcome.timedOut && !overDisk;
        countEvaluation(passed);
        return { passed, exitCode: outcome.exitCode, logPath, timedOut: outcome.timedOut, ...(overDisk ? { reason: DISK_LIMIT_EXCEEDED } : {}) };
      }
    },

    /** After the evaluation's result is recorded: its container and worktree go. */
    async removeEvaluation(input: { runId: string; repo: string; artifactsDir: string }): Promise<void> {
      await runtime.remove(containerName(input.runId, '_evaluate'));
      await removeWorkspaceDir(evaluationWorktreePath(input.artifactsDir)); // DISK LIMIT: unmounts too
    },

    async writeReport(report: RunReport): Promise<string> {
      const file = reportPath(report.artifactsDir);
      await mkdir(report.artifactsDir, { recursive: true });
      await writeFile(file, JSON.stringify(report, null, 2) + '\n');
      return file;
    },

  };
}

export type LocalActivities = ReturnType<typeof createActivities>;
/** What workflows call: these, able to work through a git remote (activities/remote.ts), and claimHost. */
export type RunActivities = import('./remote').WorkerActivities;
