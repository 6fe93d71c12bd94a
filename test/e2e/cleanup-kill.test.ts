// The worker is killed with SIGKILL inside each clean-up activity: those of a completed run
// (removeContainers, stopGateway, removeEvaluation) and those of a failed run's rollback
// (deleteBranches, removeWorkspace, removeSharedWorkspace). The retried clean-up starts within the
// heartbeat timeout, not the start-to-close one, and nothing is left afterwards.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { loadConfig } from '../../client/config';
import { layerOf } from '../../activities/workspace-overlay';
import { runArtifactsDir } from '../../paths/data-folder';
import { startRun, waitForRun } from '../../client/api';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { containerName } from '../../runtimes/runtime';
import { expectCompletedWithTree } from '../support/run-result';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { dockerGate } from '../support/docker-gate';
import { killedWorkers } from '../support/processes';
import { until } from '../support/wait';
import { installStallHook, recoveryTimes } from '../support/stall';

/**
 * CLEANUP_ACTIVITY's heartbeat timeout (10 s) + its first retry interval (1 s) + a new worker's start
 * and a margin. Without the heartbeat timeout a retry waits for the start-to-close one (2 minutes).
 */
const BOUND_MS = 16_000;

/** The activities a workflow's worker is inside of now (started, not finished). */
async function startedActivities(client: Client, workflowId: string): Promise<string[]> {
  const { raw } = await client.workflow.getHandle(workflowId).describe();
  return (raw.pendingActivities ?? [])
    .filter((a) => a.state === temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED)
    .map((a) => a.activityType?.name ?? '?');
}

async function networksOfRun(runId: string): Promise<string[]> {
  const networks = await new Docker().listNetworks({ filters: { name: [`agentvisor-${runId}`] } });
  return networks.map((n) => n.Name);
}

test("SIGKILL of the worker inside the clean-up of a completed run: a task's container, the gateway, the evaluation", async () => {
  const repo = makeRepo();
  const gateDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-gate-'));
  const gate = await dockerGate(gateDir);
  // allowHosts gives the run a gateway
  const file = writeGraph(`
name: cleanup-kill-completed
repo: ${repo}
agents:
  ok: { harness: command, command: "echo a > a.txt", allowHosts: [nothing.invalid] }
tasks:
  - { id: a, agent: ok }
evaluate: { command: "test -f a.txt" }
`);
  const cfg = loadConfig();
  const runId = `cleanup-kill-done-${Date.now().toString(36)}`;
  // each removal is held once the container is there: the worker is then inside the activity removing it
  const held = {
    task: gate.holdRemoval(containerName(runId, 'a')),
    gateway: gate.holdRemoval(containerName(runId, '_gateway')),
    evaluation: gate.holdRemoval(containerName(runId, '_evaluate')),
  };
  const workers = await killedWorkers({ ...process.env, DOCKER_HOST: gate.dockerHost });
  const { kills, restart } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await held.task;
    expect(await startedActivities(started.client, `${runId}/a`)).toEqual(['removeContainers']);
    await restart('removeContainers');
    await held.gateway;
    expect(await startedActivities(started.client, runId)).toEqual(['stopGateway']);
    await restart('stopGateway');
    await held.evaluation;
    expect(await startedActivities(started.client, runId)).toEqual(['removeEvaluation']);
    await restart('removeEvaluation');

    const report = await waitForRun(started.client, runId, cfg);
    // completed, evaluated, and the merged tree exactly
    expectCompletedWithTree(repo, report, ['README.md', 'a.txt', 'src/value.txt']);
    expect(sh(repo, 'log', '--merges', '--format=%s', report.integrationBranch).trim()).toBe('agentvisor: merge a');

    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/a`], kills);
    console.log(
      'recovery after each kill (ms):',
      recoveries.map((r) => `${r.stage}: ${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '),
    );
    expect(recoveries.map((r) => [r.stage, r.workflow, r.activity, r.attempt]).sort()).toEqual([
      ['removeContainers', `${runId}/a`, 'removeContainers', 2],
      ['removeEvaluation', runId, 'removeEvaluation', 2],
      ['stopGateway', runId, 'stopGateway', 2],
    ]);
    for (const r of recoveries) expect(r.ms).toBeLessThan(BOUND_MS);

    // nothing left: no container (the gateway's included), no network, no workspace
    expect(await containersOfRun(runId)).toEqual([]);
    expect(await networksOfRun(runId)).toEqual([]);
    const worktrees = path.join(runArtifactsDir(cfg.dataDir, runId), 'worktrees');
    expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([]);
  } finally {
    await workers.stop();
    await started.client.connection.close();
    await gate.close();
    rmSync(gateDir, { recursive: true, force: true });
  }
}, 420_000);

test('SIGKILL of the worker inside the rollback: a task deleting its branch, the run deleting the integration branch', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const flags = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-flags-'));
  // c's own rollback deletes its branch (delete-c); then the run's deletes a's branch and the
  // integration branch (delete-integration)
  installStallHook(repo, flags, ['delete-c', 'delete-integration']);
  const file = writeGraph(`
name: cleanup-kill
repo: ${repo}
agents:
  ok: { harness: command, command: "echo a > a.txt" }
  bad: { harness: command, command: "sleep 2; echo c > c.txt; exit 1" }
tasks:
  - { id: a, agent: ok }
  - { id: c, agent: bad }
`);
  const cfg = loadConfig();
  const runId = `cleanup-kill-${Date.now().toString(36)}`;
  const workers = await killedWorkers();
  const { kills, restart } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('the task branch deletion', () => existsSync(path.join(flags, 'delete-c.hit')));
    await restart('deleteBranches (task)');
    // (long enough for a retry after the start-to-close timeout, so that a missing heartbeat timeout
    // fails on the bound below and says by how much)
    await until('the integration branch deletion', () => existsSync(path.join(flags, 'delete-integration.hit')), 150_000);
    await restart('deleteBranches (run)');

    const report = await waitForRun(started.client, runId, cfg);
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/task failed: c \(agent exited with code 1\)/);
    expect(report.error).not.toMatch(/rollback incomplete/);

    // each kill cost one retry of the clean-up it interrupted, started within the bound
    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/a`, `${runId}/c`], kills);
    console.log(
      'recovery after each kill (ms):',
      recoveries.map((r) => `${r.stage}: ${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '),
    );
    expect(recoveries.map((r) => [r.stage, r.workflow, r.activity])).toEqual([
      ['deleteBranches (run)', runId, 'deleteBranches'],
      ['deleteBranches (task)', `${runId}/c`, 'deleteBranches'],
    ]);
    for (const r of recoveries) expect(r.ms).toBeLessThan(BOUND_MS);

    // the rollback is complete: refs and worktrees as before, no container, network or workspace
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun(runId)).toEqual([]);
    const networks = await new Docker().listNetworks({ filters: { name: [`agentvisor-${runId}`] } });
    expect(networks.map((n) => n.Name)).toEqual([]);
    const worktrees = path.join(runArtifactsDir(cfg.dataDir, runId), 'worktrees');
    expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([]);
  } finally {
    await workers.stop();
    await started.client.connection.close();
    rmSync(flags, { recursive: true, force: true });
  }
}, 420_000);

test('SIGKILL of the worker inside the rollback: a task removing its workspace', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  // 150 000 files take the worker seconds to remove (3.4 s for 200 000 here): long enough to be
  // killed inside removeWorkspace, which the task's rollback runs once its container is removed
  const FILES = 150_000;
  const file = writeGraph(`
name: cleanup-kill-workspace
repo: ${repo}
agents:
  bad: { harness: command, command: "mkdir junk && cd junk && seq 1 ${FILES} | xargs touch && exit 1" }
tasks:
  - { id: c, agent: bad }
`);
  const cfg = loadConfig();
  const runId = `cleanup-kill-ws-${Date.now().toString(36)}`;
  const workspace = path.join(runArtifactsDir(cfg.dataDir, runId), 'worktrees', 'c');
  // an overlay workspace (activities/workspace-overlay.ts) holds the agent's files in its upper
  // layer: the removal unmounts the workspace at once, then deletes the layer file by file
  const upperJunk = path.join(layerOf(workspace), 'upper', 'junk');
  const junk = path.join(workspace, 'junk');
  const count = () => (existsSync(upperJunk) ? readdirSync(upperJunk).length : existsSync(junk) ? readdirSync(junk).length : 0);
  // a plain folder: a disk-limited workspace is a filesystem of its own, gone in milliseconds by
  // unmounting, whatever it holds (activities/disk-limit.ts)
  const env = { ...process.env, AGENTVISOR_LIMIT_DISK: 'off' };
  const workers = await killedWorkers(env);
  const { kills } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('the agent to leave its files', () => count() >= FILES * 0.9, 120_000);
    // the rollback removes the container first, then the workspace: inside the removal, files go
    await until(
      'the removal of the workspace',
      async () => (await containersOfRun(runId)).length === 0 && count() < FILES && count() > 0,
      60_000,
    );
    await workers.restart('removeWorkspace');
    const left = count(); // (the killed worker removes no more)
    expect(left).toBeGreaterThan(0); // killed inside the removal, not after it

    const report = await waitForRun(started.client, runId, cfg);
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/task failed: c \(agent exited with code 1\)/);
    expect(report.error).not.toMatch(/rollback incomplete/);
    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/c`], kills);
    console.log(
      'recovery after the kill (ms):',
      recoveries.map((r) => `${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '),
      `; ${left} of ${FILES} files were left at the kill`,
    );
    expect(recoveries.map((r) => [r.workflow, r.activity])).toEqual([[`${runId}/c`, 'removeWorkspace']]);
    expect(recoveries[0].ms).toBeLessThan(BOUND_MS);

    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun(runId)).toEqual([]);
    const worktrees = path.join(runArtifactsDir(cfg.dataDir, runId), 'worktrees');
    expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([]);
  } finally {
    await workers.stop();
    await started.client.connection.close();
  }
}, 420_000);

test('SIGKILL of the worker inside the rollback: the run removing its shared workspace', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  // as many files as in the workspace's case above, left in the shared folder
  const FILES = 150_000;
  const file = writeGraph(`
name: cleanup-kill-shared
repo: ${repo}
agents:
  bad: { harness: command, shared: rw, command: "mkdir /shared/junk && cd /shared/junk && seq 1 ${FILES} | xargs touch && exit 1" }
tasks:
  - { id: c, agent: bad }
`);
  const cfg = loadConfig();
  const runId = `cleanup-kill-shared-${Date.now().toString(36)}`;
  const shared = path.join(runArtifactsDir(cfg.dataDir, runId), 'shared');
  const junk = path.join(shared, 'junk');
  let most = 0;
  const count = () => {
    const n = existsSync(junk) ? readdirSync(junk).length : 0;
    most = Math.max(most, n);
    return n;
  };
  // a plain folder, as above
  const workers = await killedWorkers({ ...process.env, AGENTVISOR_LIMIT_DISK: 'off' });
  const { kills } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('the agent to leave its files', () => count() === FILES, 120_000);
    // the task's own rollback goes first (its container and workspace), then the run's: the shared folder
    await until('the removal of the shared workspace', () => count() < FILES && most === FILES && count() > 0, 60_000);
    expect(await startedActivities(started.client, runId)).toEqual(['removeSharedWorkspace']);
    await workers.restart('removeSharedWorkspace');
    const left = count();
    expect(left).toBeGreaterThan(0);

    const report = await waitForRun(started.client, runId, cfg);
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/task failed: c \(agent exited with code 1\)/);
    expect(report.error).not.toMatch(/rollback incomplete/);
    expect(report.shared).toMatchObject({ removed: true });
    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/c`], kills);
    console.log(
      'recovery after the kill (ms):',
      recoveries.map((r) => `${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '),
      `; ${left} of ${FILES} files were left at the kill`,
    );
    expect(recoveries.map((r) => [r.workflow, r.activity])).toEqual([[runId, 'removeSharedWorkspace']]);
    expect(recoveries[0].ms).toBeLessThan(BOUND_MS);

    expect(existsSync(shared)).toBe(false);
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun(runId)).toEqual([]);
  } finally {
    await workers.stop();
    await started.client.connection.close();
  }
}, 420_000);
