// Chaos on the real parts: the worker is killed with SIGKILL at each stage of a run (workspace
// setup, agents running, merge, evaluation); a new worker finishes the run with the same result as
// an undisturbed one, no container runs twice, no commit or merge is made twice, nothing is left.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { getRunReport, startRun, waitForRun } from '../../client/api';
import { expectCompletedWithTree, expectEachMadeOnce } from '../support/run-result';
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { killedWorkers } from '../support/processes';
import { recordStarts, until } from '../support/wait';
import { installStallHook, recoveryTimes } from '../support/stall';

test('SIGKILL of the worker during workspace setup, agents, commit, merge and evaluation loses nothing and costs seconds', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const flags = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-flags-'));
  const file = writeGraph(`
name: chaos
repo: ${repo}
agents:
  slow-a: { harness: command, command: "echo a-start; sleep 6; echo a > a.txt; echo a-end" }
  slow-b: { harness: command, command: "sleep 6; echo b > b.txt" }
tasks:
  - { id: a, agent: slow-a, retry: { attempts: 3, backoff: 1s } }
  - { id: b, agent: slow-b, retry: { attempts: 3, backoff: 1s } }
evaluate: { command: "sleep 6; test -f a.txt && test -f b.txt && echo eval-ok" }
`);
  const cfg = loadConfig();
  const runId = `chaos-${Date.now().toString(36)}`;
  const starts = await recordStarts(runId);
  // both stalls are in place before the run starts: a step cannot pass before its stall exists
  installStallHook(repo, flags, ['setup', 'commit', 'merge']);
  const workers = await killedWorkers();
  const { kills, restart } = workers;
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  try {
    await until('workspace setup', () => existsSync(path.join(flags, 'setup.hit')));
    await restart('workspace setup');

    await until('agents running', async () => (await containersOfRun(runId)).length === 2);
    await restart('agents');

    await until('commit', () => existsSync(path.join(flags, 'commit.hit')));
    await restart('commit');

    await until('merge', () => existsSync(path.join(flags, 'merge.hit')));
    await restart('merge');

    await until(
      'evaluation',
      async () => (await getRunReport(started.client, runId, cfg)).merge.status === 'merged' && (await containersOfRun(runId)).length === 1,
    );
    await restart('evaluation');

    const report = await waitForRun(started.client, runId, cfg);
    // completed, evaluated, and the merged tree exactly
    expectCompletedWithTree(repo, report, ['README.md', 'a.txt', 'b.txt', 'src/value.txt']);
    // one commit per agent, one merge per task: nothing made twice
    expectEachMadeOnce(repo, report, { agents: ['slow-a', 'slow-b'], merges: ['a', 'b'] });
    // each agent's container started once: re-attached after the kill, not run again; the task killed
    // in its commit collected again (the same commit: the log above has one commit per agent)
    const counts = starts.counts();
    expect({ a: counts.a, b: counts.b, _evaluate: counts._evaluate }).toEqual({ a: 1, b: 1, _evaluate: 1 });
    // (a collector in flight at the kill may run again too: it finds the same commit)
    expect(counts['a:collector'] + counts['b:collector']).toBeGreaterThanOrEqual(3);
    expect(Math.max(counts['a:collector'], counts['b:collector'])).toBeLessThanOrEqual(2);
    // every retry after a kill started within the heartbeat timeout (10 s) + the retry interval (1 s)
    // + a worker's start and a margin: the recovery time, from the history's timestamps
    const recoveries = await recoveryTimes(started.client, [runId, `${runId}/a`, `${runId}/b`], kills);
    // (printed before the checks, so that a failure shows them)
    console.log(
      'kills (ms from the first):',
      kills.map((k) => `${k.stage} ${k.at - kills[0].at}`).join(', '),
      '; recovery after each kill (ms):',
      recoveries.map((r) => `${r.stage} ${r.workflow} ${r.activity}#${r.attempt} ${r.ms}`).join(', '),
    );
    // each kill cost a retry of the activity it interrupted (kills close together share retries,
    // which are then measured from the later kill: the bound still holds from the earlier one)
    const interrupted: Record<string, string> = {
      'workspace setup': 'provisionWorkspace',
      agents: 'runAgent',
      commit: 'collectOutput',
      merge: 'mergeTasks',
      evaluation: 'evaluate',
    };
    for (const k of kills) expect(recoveries.map((r) => r.activity)).toContain(interrupted[k.stage]);
    expect(Math.max(...recoveries.map((r) => r.ms))).toBeLessThan(20_000);
    expect(await containersOfRun(runId)).toEqual([]);
    expect(repoState(repo).worktrees).toBe(before.worktrees);
  } finally {
    starts.stop();
    await workers.stop();
    await started.client.connection.close();
    rmSync(flags, { recursive: true, force: true });
  }
});
