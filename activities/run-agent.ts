// A task's agent: its harness's command in a container with the task's workspace mounted, on a
// network of its own with the run's gateway (or on none), within its limits; what it did is read
// from its output. A failure worth another attempt (killed from outside, a transient provider
// error) throws, so Temporal retries it per the task's policy; every other outcome is a result.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { agentNeedsGateway } from '../graph/gateway-needs';
import { harnessFor } from '../harnesses';
import { HOME_FILES_MOUNT, PROMPT_FILE, PROMPT_MOUNT, WORKSPACE, renderPrompt, type AgentResult } from '../harnesses/harness';
import { homeFilesDir, promptDir, taskLogPath, workspaceBasesDir } from '../paths/run-folder';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName } from '../runtimes/runtime';
import { taskBranch, type TaskInput, type Usage } from '../contract/run-types';
import { restartConflictedMerge } from './conflicts';
import { killedFromOutside, runContainer, type ContainerOutcome } from './container-run';
import type { ActivityContext } from './context';
import { sharedMounts } from './coordination';
import { DISK_LIMIT_EXCEEDED, isDiskFull, remountLimitedDir } from './disk-limit';
import { remountOverlayWorkspace } from './workspace-overlay';
import { GATEWAY_ALIAS, GATEWAY_PORT, closeTaskNetwork, gatewayUrl, openTaskNetwork, taskUsage } from './gateway';
import { withHeartbeat } from './heartbeat';
import { joinBudgetRelay } from './budget-relay';
import { syncRunSpend } from './host-gateway';
import { ensureGatewayKnowsTask } from './gateway-tasks';
import { effectiveLimits } from './limits';
import { countAgentOutcome, countAgentRetry, recordUsage } from './metrics';
import { retryWatch, upstreamErrorsNote } from './retry-watch';
import { outputTail } from './output-tail';
import { chownTree } from './sandbox-user';
import { createWorkspace } from './workspace';

export function agentActivities({ runtime, scope, user, owner, defaults, tokens, workspaces }: ActivityContext) {
  return {
    async runAgent(
      input: TaskInput & { worktree: string; startCommit: string },
    ): Promise<
      ContainerOutcome & { logPath: string; result?: AgentResult; usage?: Usage; budgetExceeded?: 'task' | 'run'; outputTail?: string[] }
    > {
      const harness = harnessFor(input.agent.harness);
      // agents that call no provider and reach no host stay on no network at all
      const a = input.agent;
      const gw = input.gateway && agentNeedsGateway(a) ? input.gateway : undefined;
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
        // a host's gateway of a run with a remote: the run's spend on the other hosts counts too
        if (gw.host) await syncRunSpend(gw, tokens.control(input.runId), input.runId);
        const u = await taskUsage(gw.controlUrl, tokens.control(input.runId), input.taskId);
        if (u?.budgetExceeded) budgetExceeded = 'task';
        else if (u?.runBudgetExceeded) budgetExceeded = 'run';
        return budgetExceeded ? `budget exceeded (${budgetExceeded})` : undefined;
      };
      const logPath = taskLogPath(input.artifactsDir, input.taskId);
      const name = containerName(input.runId, input.taskId);
      // the harness's own files (settings, instructions), then the agent's `home` files
      const home = await writeHomeFiles(
        input.artifactsDir,
        input.taskId,
        [...(invocation.files ?? []), ...(input.agent.home ?? [])],
        owner,
      );
      const prompt = await writePromptFile(
        input.artifactsDir,
        input.taskId,
        renderPrompt({ graphName: input.graphName, agent: input.agent, task: input.task }),
        owner,
      );
      const shared = await sharedMounts(input, owner);
      // a task added during the run: its gateway (made from the run's first tasks) learns it first
      if (gw && token)
        await ensureGatewayKnowsTask({
          controlUrl: gw.controlUrl,
          controlToken: tokens.control(input.runId),
          taskId: input.taskId,
          taskToken: token,
          agent: a,
        });
      // an agent with the gateway: a network of its own, where the gateway is all there is
      const net = gw
        ? await withHeartbeat('network', () => openTaskNetwork(runtime, input.runId, input.taskId, scope, gw.host))
        : undefined;
      // before its first call, the gateway knows what the run's other hosts have spent
      if (gw?.host) await syncRunSpend(gw, tokens.control(input.runId), input.runId);
      const limits = effectiveLimits(input.agent.limits, defaults);
      // DISK LIMIT: after a reboot the folders are there but not their mounts: mounted again
      // (a copy-on-write workspace: its layer's filesystem, then the overlay; workspace-overlay.ts)
      if (!(await remountOverlayWorkspace(input.worktree))) await remountLimitedDir(input.worktree);
      if (input.shared) await remountLimitedDir(input.shared.dir);
      // DISK LIMIT: a full workspace (or a full shared workspace the agent writes) stops the agent
      const diskFull = async () =>
        (await isDiskFull(input.worktree)) || (!!input.shared && !input.shared.readOnly && (await isDiskFull(input.shared.dir)))
          ? DISK_LIMIT_EXCEEDED
          : undefined;
      // near the run's budget, the run admits each of this host's calls: relayed while the agent runs
      const leaveRelay = gw?.host
        ? joinBudgetRelay({ runId: input.runId, host: gw.host, controlUrl: gw.controlUrl, controlToken: tokens.control(input.runId) })
        : undefined;
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
            { source: prompt, target: PROMPT_MOUNT, readOnly: true },
            ...shared.mounts,
          ],
          user: user,
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
              ? () =>
                  restartConflictedMerge({
                    repo: input.repo,
                    dir: input.worktree,
                    startCommit: input.startCommit,
                    branch: input.conflict!.branch,
                    taskId: input.conflict!.taskId,
                    author: input.agent.name,
                    owner,
                    diskBytes: limits.diskBytes,
                  }).then(() => undefined)
              : () =>
                  createWorkspace({
                    repo: input.repo,
                    dir: input.worktree,
                    commit: input.startCommit,
                    branch: taskBranch(input.runId, input.taskId),
                    author: input.agent.name,
                    owner,
                    diskBytes: limits.diskBytes,
                    bases: workspaces === 'overlay' ? workspaceBasesDir(input.artifactsDir) : undefined,
                  }).then(() => undefined),
          progress: (line) => retries.progress(line),
        },
      ).finally(() => leaveRelay?.());
      // the container has exited: its network goes (a container still running keeps it; stopGateway sweeps)
      if (net) await closeTaskNetwork(runtime, input.runId, input.taskId);
      const parsed = harness.result?.(await readFile(logPath, 'utf8'), outcome.exitCode);
      // an agent that filled its disk fails with that reason, whether the watch stopped it or it
      // gave up by itself between two looks (a write refused with ENOSPC), whatever it exits with
      const overDisk =
        outcome.stoppedFor === DISK_LIMIT_EXCEEDED || (!outcome.stoppedFor && !outcome.timedOut && (await diskFull()) !== undefined);
      const result = overDisk
        ? { ...parsed, success: false, reason: DISK_LIMIT_EXCEEDED }
        : (outcome.stoppedFor && retries.result(parsed?.usage)) || parsed;
      let usage = result?.usage;
      if (gw) {
        await checkBudget();
        // the gateway's meter is the authority on usage: it sees every model call, whatever the CLI says
        const u = await taskUsage(gw.controlUrl, tokens.control(input.runId), input.taskId);
        // (inputTokens: every input token not read from a cache, cache writes included, as the harnesses count them)
        if (u)
          usage = {
            inputTokens: u.inputTokens + (u.cacheWriteTokens ?? 0),
            outputTokens: u.outputTokens,
            cachedTokens: u.cachedTokens,
            costUsd: u.usd,
          };
        // a CLI stopped for its retries may not have said which status it got: the gateway knows
        if (u && result && retries.exhausted()) result.reason = `${result.reason ?? ''}${upstreamErrorsNote(u.errors)}`;
        if (budgetExceeded) {
          recordUsage(input.agent.harness, usage);
          countAgentOutcome(input.agent.harness, 'budget_exceeded');
          return {
            ...outcome,
            logPath,
            result,
            usage,
            budgetExceeded,
            outputTail: await outputTail(logPath, harness, token ? [token] : []),
          };
        }
      }
      // why it failed, in its own words; or what a read-only agent found
      const failed = outcome.exitCode !== 0 || outcome.timedOut || outcome.oomKilled || result?.success === false || overDisk;
      const tail = failed || input.agent.readOnly ? await outputTail(logPath, harness, token ? [token] : []) : undefined;
      const killed = killedFromOutside(outcome);
      countAgentOutcome(
        input.agent.harness,
        killed
          ? 'killed'
          : outcome.timedOut
            ? 'timed_out'
            : outcome.oomKilled
              ? 'oom_killed'
              : outcome.exitCode === 0 && result?.success !== false
                ? 'succeeded'
                : 'failed',
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
      return { ...outcome, ...(overDisk ? { stoppedFor: DISK_LIMIT_EXCEEDED } : {}), logPath, result, usage, outputTail: tail };
    },

    /**
     * Compensation: every container of the run (or of one task), whatever state it is in; of this
     * server's run only (another server's run may have the same id).
     */
    async removeContainers(input: { runId: string; taskId?: string }): Promise<number> {
      const labels: Record<string, string> = { [LABEL_RUN]: input.runId, [LABEL_SCOPE]: scope };
      if (input.taskId) labels[LABEL_TASK] = input.taskId;
      const found = await runtime.list(labels);
      await Promise.all(found.map((c) => runtime.remove(c.name)));
      return found.length;
    },
  };
}

/** The task's prompt in a file of a folder of its own, mounted read-only: the agent reads it there. */
async function writePromptFile(
  artifactsDir: string,
  taskId: string,
  prompt: string,
  owner?: { uid: number; gid: number },
): Promise<string> {
  const dir = promptDir(artifactsDir, taskId);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, path.basename(PROMPT_FILE)), prompt);
  if (owner) await chownTree(dir, owner.uid, owner.gid);
  return dir;
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
    if (!target.startsWith(dir + path.sep))
      throw ApplicationFailure.nonRetryable(`harness file escapes HOME: ${file.path}`, 'BadTaskInput');
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
