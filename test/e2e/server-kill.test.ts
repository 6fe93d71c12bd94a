// The Temporal dev server is killed with SIGKILL mid-run (no clean shutdown) and started again on the
// same SQLite file: while the agents run, while the merge is under way (held down long enough that
// the worker's report of it is lost and the merge is done again) and while the evaluation runs.
// The run completes with nothing lost or done twice.
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { runArtifactsDir } from '../../paths/data-folder';
import { connect } from '../../client/connection';
import { startRun, waitForRun } from '../../client/api';
import { isListening } from '../../client/dev-server';
import { containerName } from '../../runtimes/runtime';
import { DockerRuntime } from '../../runtimes/docker';
import { expectCompletedWithTree, expectEachMadeOnce } from '../support/run-result';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { devServerWithFile, spawnWorker, type WorkerProcess } from '../support/processes';
import { freePort } from '../support/ports';
import { recordStarts, until } from '../support/wait';
import { eventTimes, installStallHook, recoveryTimes } from '../support/stall';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('SIGKILL of the dev server while agents run, during the merge and the evaluation: the run completes, nothing lost or done twice', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-server-kill-'));
  const port = await freePort();
  const server = await devServerWithFile(dataDir, port, await freePort());
  const env = { ...process.env, TEMPORAL_ADDRESS: server.address, AGENTVISOR_HOME: dataDir };
  const cfg = loadConfig(env);
  const repo = makeRepo();
  const flags = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-flags-'));
  installStallHook(repo, flags, ['merge'], 4);
  const file = writeGraph(`
name: server-kill
repo: ${repo}
agents:
  slow-a: { harness: command, command: "sleep 6; echo a > a.txt" }
  slow-b: { harness: command, command: "sleep 6; mkdir -p lib && echo b > lib/b.txt" }
tasks:
  - { id: a, agent: slow-a }
  - { id: b, agent: slow-b }
evaluate: { command: "sleep 6; test -f a.txt && test -f lib/b.txt && echo eval-ok" }
`);
  const runId = `server-kill-${Date.now().toString(36)}`;
  const starts = await recordStarts(runId);
  const runtime = new DockerRuntime();
  let worker: WorkerProcess | undefined;
  const kills: { stage: string; at: number; up: number }[] = [];
  /** SIGKILL, `downMs` without a server, then the same file again */
  const killServer = async (stage: string, downMs: number) => {
    await server.kill9();
    const at = Date.now();
    expect(await isListening('127.0.0.1', port)).toBe(false); // the server itself died, not a wrapper
    await sleep(downMs);
    await server.start();
    kills.push({ stage, at, up: Date.now() });
  };
  try {
    worker = await spawnWorker(env);
    const started = await startRun(file, { config: cfg, worker: 'none', runId });
    await started.client.connection.close();

    await until('agents running', async () => (await containersOfRun(runId)).length === 2);
    await killServer('agents', 3000);

    // the merge is stalled in the hook; the server stays down past the stall and the SDK's retries of
    // the worker's report, so the merge's first attempt is lost and a second one finds it done
    await until('merge', () => existsSync(path.join(flags, 'merge.hit')));
    await killServer('merge', 20_000);

    await until('evaluation', async () => (await runtime.inspect(containerName(runId, '_evaluate'))).state === 'running');
    await killServer('evaluation', 3000);

    const client = await connect(cfg, { startServer: false });
    try {
      const report = await waitForRun(client, runId, cfg);
      // completed, evaluated, and the merged tree exactly
      expectCompletedWithTree(repo, report, ['README.md', 'a.txt', 'lib/b.txt', 'src/value.txt']);
      // one commit per agent, one merge per task
      expectEachMadeOnce(repo, report, { agents: ['slow-a', 'slow-b'], merges: ['a', 'b'] });
      // each container started once: agents and evaluation re-attached, not run again
      const counts = starts.counts();
      expect({ a: counts.a, b: counts.b, _evaluate: counts._evaluate }).toEqual({ a: 1, b: 1, _evaluate: 1 });
      expect({ a: counts['a:collector'], b: counts['b:collector'] }).toEqual({ a: 1, b: 1 });
      // the branches a completed run leaves, and nothing else
      expect(sh(repo, 'for-each-ref', '--format=%(refname)').trim().split('\n').sort()).toEqual(
        [
          'refs/heads/main',
          `refs/heads/agentvisor/${runId}`,
          `refs/heads/agentvisor-tasks/${runId}/a`,
          `refs/heads/agentvisor-tasks/${runId}/b`,
        ].sort(),
      );
      expect(await containersOfRun(runId)).toEqual([]);
      const worktrees = path.join(runArtifactsDir(dataDir, runId), 'worktrees');
      expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([]);
      expect(repoState(repo).worktrees.trim().split('\n\n')).toHaveLength(1);

      const ids = [runId, `${runId}/a`, `${runId}/b`];
      // the merge's report was lost with the server: its second attempt started within the heartbeat
      // timeout (10 s) + a margin after the server came back
      const retries = await recoveryTimes(client, ids, kills);
      const mergeRetry = retries.find((r) => r.activity === 'mergeTasks');
      expect(mergeRetry).toBeDefined();
      // after every restart the run moved on within the heartbeat timeout + a margin
      const times = await eventTimes(client, ids);
      const moved = kills.map((k) => ({ stage: k.stage, ms: times.find((t) => t >= k.up)! - k.up }));
      const afterRestart = (r: { stage: string; ms: number }) => {
        const k = kills.find((x) => x.stage === r.stage)!;
        return r.ms - (k.up - k.at);
      };
      console.log(
        'after each server restart, the first event (ms):',
        moved.map((m) => `${m.stage} ${m.ms}`).join(', '),
        '; retried activities (ms after the restart):',
        retries.map((r) => `${r.activity}#${r.attempt} ${afterRestart(r)}`).join(', '),
      );
      expect(afterRestart(mergeRetry!)).toBeLessThan(15_000);
      for (const m of moved) expect(m.ms).toBeLessThan(15_000);
    } finally {
      await client.connection.close();
    }
  } finally {
    starts.stop();
    await worker?.stop();
    await server.stop();
    rmSync(flags, { recursive: true, force: true });
    rmSync(dataDir, { recursive: true, force: true });
  }
}, 240_000);
