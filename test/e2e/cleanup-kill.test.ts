// The worker is killed with SIGKILL inside the clean-up activities of a failed run (its rollback):
// the retried clean-up starts within the heartbeat timeout, not the start-to-close one, and the
// rollback is complete afterwards.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { loadConfig } from '../../client/config';
import { runArtifactsDir } from '../../paths/data-folder';
import { startRun, waitForRun } from '../../client/api';
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { killedWorkers } from '../support/processes';
import { until } from '../support/wait';
import { installStallHook, recoveryTimes } from '../support/stall';

/**
 * CLEANUP_ACTIVITY's heartbeat timeout (10 s) + its first retry interval (1 s) + a new worker's start
 * and a margin. Without the heartbeat timeout a retry waits for the start-to-close one (2 minutes).
 */
const BOUND_MS = 16_000;

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
    console.log('recovery after each kill (ms):', recoveries.map((r) => `${r.stage}: ${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '));
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
  const junk = path.join(runArtifactsDir(cfg.dataDir, runId), 'worktrees', 'c', 'junk');
  const count = () => (existsSync(junk) ? readdirSync(junk).length : 0);
  // a plain folder: a disk-limited workspace is a filesystem of its own, gone in milliseconds by
  // unmounting, whatever it holds (activities/disk-limit.ts)
  const env = { ...process.env, AGENTVISOR_LIMIT_DISK: 'off' };
  const workers = await killedWorkers(env);
  const { kills } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('the agent to leave its files', () => count() >= FILES * 0.9, 120_000);
    // the rollback removes the container first, then the workspace: inside the removal, files go
    await until('the removal of the workspace', async () => (await containersOfRun(runId)).length === 0 && count() < FILES && count() > 0, 60_000);
    await workers.restart('removeWorkspace');
    const left = count(); // (the killed worker removes no more)
    expect(left).toBeGreaterThan(0); // killed inside the removal, not after it

    const report = await waitForRun(started.client, runId, cfg);
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/task failed: c \(agent exited with code 1\)/);
    expect(report.error).not.toMatch(/rollback incomplete/);
    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/c`], kills);
    console.log('recovery after the kill (ms):', recoveries.map((r) => `${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '), `; ${left} of ${FILES} files were left at the kill`);
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
