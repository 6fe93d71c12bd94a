// A hostile agent stays in its box: one attack per test, on the real engine and the real Temporal
// server, each judged by what the host sees (the run's result, the container as the engine and its
// cgroup report it, the host's free space), never by what the agent prints. Limits are small (and
// the CPU share low) so the attacks stay quick and gentle on a shared machine.
import { execFileSync } from 'node:child_process';
import { statfsSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import Docker from 'dockerode';
import { workerLimits, type LimitFlags } from '../../activities/limits';
import {
  IMAGE_SUFFIX,
  isDiskFull,
  mountLimitedDir,
  releaseLimitedDir,
  releaseLimitedDirsUnder,
  remountLimitedDir,
} from '../../activities/disk-limit';
import { releaseOverlaysUnder } from '../../activities/workspace-overlay';
import { collectGarbage } from '../../client/gc';
import { DockerRuntime } from '../../runtimes/docker';
import { scopeOf } from '../../runtimes/runtime';
import { containerName } from '../../runtimes/runtime';
import { createWorker } from '../../workers/worker';
import type { RunReport } from '../../contract/run-types';
import { makeRepo, writeGraph } from '../support/repo';
import { runToEnd, testClient } from '../support/temporal';

const docker = new Docker();
const MiB = 1024 ** 2;

/** A real worker (real activities, Docker) with these default limits, for the duration of `fn`. */
async function withWorker<T>(flags: LimitFlags, fn: () => Promise<T>): Promise<T> {
  const { worker, connection } = await createWorker({
    address: process.env.TEMPORAL_ADDRESS!,
    namespace: 'default',
    limits: workerLimits(flags, {}),
    overrides: { shutdownGraceTime: '1 second' },
  });
  try {
    return await worker.runUntil(fn);
  } finally {
    await connection.close();
  }
}

const graph = (agents: string, tasks: string, extra = '') =>
  writeGraph(`
name: attack
repo: ${makeRepo()}
failFast: false
agents:
${agents}
tasks:
${tasks}
${extra}`);

/** Containers kept by --keep-on-failure runs, and their worktrees' mounts: removed after each test. */
const kept: string[] = [];
afterEach(async () => {
  for (const name of kept.splice(0))
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
  const runs = path.join(process.env.AGENTVISOR_HOME!, 'runs');
  for (const run of existsSync(runs) ? readdirSync(runs) : []) {
    // (a copy-on-write workspace is an overlay on a layer of its own: unmounted first)
    await releaseOverlaysUnder(path.join(runs, run, 'worktrees'));
    await releaseLimitedDirsUnder(path.join(runs, run, 'worktrees'));
  }
});

const inspect = (name: string) => docker.getContainer(name).inspect();
const task = (report: RunReport, id: string) => report.tasks.find((t) => t.id === id)!;
/**
 * Mounts of this process's namespace under this file's runs and folders (limited folders left
 * mounted); other test files share the data folder, and a completed run's kept /shared stays mounted.
 */
const mountsUnderHome = () =>
  readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter(
      (p) =>
        p &&
        [path.join(process.env.AGENTVISOR_HOME!, 'runs', 'attack-'), path.join(process.env.AGENTVISOR_HOME!, 'limited')].some((prefix) =>
          p.startsWith(prefix),
        ),
    );

test("memory: an agent with no limits that takes 3 GiB is killed by the worker's default", async () => {
  // the worker's default (here 512m, from its flags) applies to an agent whose graph sets no limits
  const file = graph(
    `  hog: { harness: command, command: "node -e 'const a = []; for (let i = 0; i < 48; i++) a.push(Buffer.alloc(64 * 1024 * 1024, 1))'" }`,
    `  - { id: hog, agent: hog, timeout: 60s }`,
  );
  const report = await withWorker({ memory: '512m', cpus: '0.5' }, () => runToEnd(file, { runId: 'attack-memory', keepOnFailure: true }));
  const name = containerName('attack-memory', 'hog');
  kept.push(name);
  expect(task(report, 'hog')).toMatchObject({ status: 'failed', exitCode: 137 });
  expect(task(report, 'hog').error).toMatch(/out of memory/);
  const c = await inspect(name);
  expect(c.HostConfig.Memory).toBe(512 * MiB);
  expect(c.HostConfig.MemorySwap).toBe(512 * MiB);
  expect(c.State.OOMKilled).toBe(true);
});

test('disk: writing past the disk limit fails the task with "disk limit exceeded"; the host loses at most the limit', async () => {
  const home = process.env.AGENTVISOR_HOME!;
  const free = () => {
    const s = statfsSync(home);
    return s.bavail * s.bsize;
  };
  // two writers of 2 GiB: one that ignores the refused writes and stays (stopped by the watch), one
  // that gives up at once (failed by the check after it exits)
  const file = graph(
    `  stays: { harness: command, command: "dd if=/dev/zero of=big bs=1M count=2048; sleep 120", limits: { disk: 64m, cpus: 0.5 } }
  quits: { harness: command, command: "dd if=/dev/zero of=big bs=1M count=2048 && echo wrote it", limits: { disk: 64m, cpus: 0.5 } }`,
    `  - { id: stays, agent: stays, timeout: 90s }
  - { id: quits, agent: quits, timeout: 90s }`,
  );
  const before = free();
  let lowest = before;
  const sampler = setInterval(() => (lowest = Math.min(lowest, free())), 50);
  const started = Date.now();
  const report = await withWorker({}, () => runToEnd(file, { runId: 'attack-disk' })).finally(() => clearInterval(sampler));
  const took = Date.now() - started;

  // two workspaces of 64 MiB; 2 GiB would have gone through without the limit. The rest of the
  // margin is for others writing on this disk meanwhile (the machine is shared).
  expect(before - lowest).toBeLessThan(2 * 64 * MiB + 256 * MiB);
  for (const id of ['stays', 'quits']) expect(task(report, id)).toMatchObject({ status: 'failed', error: 'disk limit exceeded' });
  // stopped by the watch, long before its timeout (the sleep is 120 s)
  expect(took).toBeLessThan(60_000);
  // nothing left: no mount, no image, no worktree
  expect(mountsUnderHome()).toEqual([]);
  const worktrees = path.join(home, 'runs', 'attack-disk', 'worktrees');
  expect(
    (existsSync(worktrees) ? readdirSync(worktrees) : []).filter((n) => n.endsWith(IMAGE_SUFFIX) || n === 'stays' || n === 'quits'),
  ).toEqual([]);
});

test('disk: the evaluation has its own disk limit; past it the run fails saying so', async () => {
  const file = graph(
    `  w: { harness: command, command: "echo ok > ok.txt" }`,
    `  - { id: w, agent: w }`,
    `evaluate: { command: "dd if=/dev/zero of=big bs=1M count=512", limits: { disk: 32m, cpus: 0.5 } }`,
  );
  const report = await withWorker({}, () => runToEnd(file, { runId: 'attack-disk-eval' }));
  expect(report.status).toBe('failed');
  expect(report.evaluation).toMatchObject({ passed: false, reason: 'disk limit exceeded' });
  expect(report.error).toMatch(/^evaluation failed \(disk limit exceeded\)/);
  expect(mountsUnderHome()).toEqual([]);
});

test('processes: a fork bomb is held by the default process limit', async () => {
  const name = containerName('attack-fork', 'bomb');
  const file = graph(
    // the CPU share and memory are low so the bomb stays gentle on a shared machine
    `  bomb: { harness: command, command: "b() { b | b & }; b; sleep 30", limits: { cpus: 0.5, memory: 256m } }`,
    `  - { id: bomb, agent: bomb, timeout: 10s }`,
  );
  // the container's pids cgroup, read on the host while the bomb runs (cgroup v1 or v2)
  let most = 0;
  let refused = 0;
  let max = '';
  const sampler = setInterval(async () => {
    try {
      const id = (await inspect(name)).Id;
      const dir = [
        `/sys/fs/cgroup/pids/docker/${id}`,
        `/sys/fs/cgroup/system.slice/docker-${id}.scope`,
        `/sys/fs/cgroup/docker/${id}`,
      ].find((d) => existsSync(d));
      if (!dir) return;
      most = Math.max(most, Number(readFileSync(path.join(dir, 'pids.current'), 'utf8')));
      max = readFileSync(path.join(dir, 'pids.max'), 'utf8').trim();
      refused = Math.max(refused, Number(/max (\d+)/.exec(readFileSync(path.join(dir, 'pids.events'), 'utf8'))?.[1] ?? 0));
    } catch {
      // not there yet, or gone
    }
  }, 200);
  const report = await withWorker({}, () => runToEnd(file, { runId: 'attack-fork' })).finally(() => clearInterval(sampler));
  expect(task(report, 'bomb')).toMatchObject({ status: 'failed' });
  expect(max).toBe('512');
  expect(most).toBeGreaterThan(400); // the bomb did reach the limit...
  expect(most).toBeLessThanOrEqual(512); // ...and never went past it
  expect(refused).toBeGreaterThan(0); // forks were refused
});

test("time: a process that ignores SIGTERM is still stopped at the task's timeout", async () => {
  const name = containerName('attack-term', 'stubborn');
  const file = graph(
    `  stubborn: { harness: command, command: "trap '' TERM; sleep 600", limits: { cpus: 0.5 } }`,
    `  - { id: stubborn, agent: stubborn, timeout: 3s }`,
  );
  const report = await withWorker({}, () => runToEnd(file, { runId: 'attack-term', keepOnFailure: true }));
  kept.push(name);
  const t = task(report, 'stubborn');
  expect(t).toMatchObject({ status: 'failed', error: 'timed out after 3s' });
  const c = await inspect(name);
  expect(c.State.Running).toBe(false);
  expect(c.State.ExitCode).toBe(137); // SIGKILL: it ignored the SIGTERM
  // the timeout, the grace period of the stop (5 s) and some slack
  const ran = new Date(c.State.FinishedAt).getTime() - new Date(c.State.StartedAt).getTime();
  expect(ran).toBeGreaterThanOrEqual(3_000);
  expect(ran).toBeLessThan(3_000 + 5_000 + 5_000);
});

test("gc: a finished run's limited worktrees are unmounted and deleted, its kept /shared becomes a plain folder", async () => {
  // what a run that crashed (unknown to Temporal) left: a limited worktree and a limited /shared
  const repo = makeRepo();
  const dir = path.join(process.env.AGENTVISOR_HOME!, 'runs', 'attack-gc');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ runId: 'attack-gc', repo }));
  await mountLimitedDir(path.join(dir, 'worktrees', 't'), 32 * MiB);
  await mountLimitedDir(path.join(dir, 'shared'), 32 * MiB);
  writeFileSync(path.join(dir, 'shared', 'notes.md'), 'kept\n');
  expect(mountsUnderHome()).toHaveLength(2);

  const client = await testClient();
  try {
    const report = await collectGarbage({
      client,
      runtime: new DockerRuntime(),
      scope: scopeOf('default', process.env.TEMPORAL_ADDRESS!),
      dataDir: process.env.AGENTVISOR_HOME!,
    });
    // (gc sweeps the other test files' finished runs too)
    expect(report.worktrees.filter((p) => p.startsWith(dir + path.sep))).toEqual([path.join(dir, 'worktrees', 't')]);
    expect(report.settled.filter((p) => p.startsWith(dir + path.sep))).toEqual([path.join(dir, 'shared')]);
  } finally {
    await client.connection.close();
  }
  expect(mountsUnderHome()).toEqual([]);
  expect(readdirSync(path.join(dir, 'worktrees'))).toEqual([]);
  expect(readdirSync(dir).sort()).toEqual(['run.json', 'shared', 'worktrees']);
  expect(readFileSync(path.join(dir, 'shared', 'notes.md'), 'utf8')).toBe('kept\n');
  expect(statSync(path.join(dir, 'shared')).dev).toBe(statSync(dir).dev);
});

test('the limited folder itself: idempotent, full when full, mounted again after a reboot, released', async () => {
  const dir = path.join(process.env.AGENTVISOR_HOME!, 'limited', 'w');
  await mountLimitedDir(dir, 32 * MiB, { uid: 1000, gid: 1000 });
  expect(readdirSync(dir)).toEqual([]); // empty: no lost+found
  expect(statSync(dir).uid).toBe(1000);
  writeFileSync(path.join(dir, 'kept'), 'x');
  await mountLimitedDir(dir, 32 * MiB); // again: nothing changes
  expect(readdirSync(dir)).toEqual(['kept']);
  expect(await isDiskFull(dir)).toBe(false);
  // a reboot: the mount goes, the image stays; the next agent mounts it again, files and all
  execFileSync('umount', [dir]);
  expect(mountsUnderHome()).toEqual([]);
  await remountLimitedDir(dir);
  expect(readdirSync(dir)).toEqual(['kept']);
  expect(() => execFileSync('dd', ['if=/dev/zero', `of=${path.join(dir, 'big')}`, 'bs=1M', 'count=64'], { stdio: 'ignore' })).toThrow();
  expect(await isDiskFull(dir)).toBe(true);
  expect(await releaseLimitedDir(dir)).toBe(true);
  expect(readdirSync(path.dirname(dir))).toEqual([]);
  expect(mountsUnderHome()).toEqual([]);
  // a folder without a disk limit is never made one by remounting
  mkdirSync(dir);
  await remountLimitedDir(dir);
  expect(mountsUnderHome()).toEqual([]);
});
