// Chaos on the real parts: the worker is killed with SIGKILL at each stage of a run (workspace
// setup, agents running, merge, evaluation); a new worker finishes the run with the same result as
// an undisturbed one, no container runs twice, no commit or merge is made twice, nothing is left.
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { getRunReport, startRun, waitForRun } from '../../client/api';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { spawnWorker, type WorkerProcess } from '../support/processes';
import { recordStarts, until } from '../support/wait';

/**
 * The repository's reference-transaction hook (the user's own hook, which agentvisor's ref updates
 * run) stalls a chosen step once, so the test can kill the worker inside it: `setup`, the creation
 * of a task branch as its workspace is provisioned; `merge`, the move of the integration branch.
 * Installed before the run starts; a step is armed by a flag file and disarmed by its first hit.
 */
function installStallHook(repo: string, flags: string): void {
  const file = path.join(repo, '.git', 'hooks', 'reference-transaction');
  writeFileSync(
    file,
    `#!/bin/sh
[ "$1" = prepared ] || exit 0
while read old new ref; do
  case "$ref" in
    refs/heads/agentvisor-tasks/*) [ "$old" = ${'0'.repeat(40)} ] || continue; step=setup ;;
    refs/heads/agentvisor/*) [ "$old" = ${'0'.repeat(40)} ] && continue; step=merge ;;
    *) continue ;;
  esac
  if mkdir ${flags}/$step.hit 2>/dev/null; then sleep 6; fi
done
exit 0
`,
  );
  chmodSync(file, 0o755);
}

test('SIGKILL of the worker during worktree setup, agents, merge and evaluation loses nothing', async () => {
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
  installStallHook(repo, flags);
  let worker: WorkerProcess = await spawnWorker();
  const started = await startRun(file, { config: cfg, worker: 'none', runId });
  const restart = async (stage: string) => {
    await worker.kill9();
    worker = await spawnWorker();
    void stage;
  };
  try {
    await until('workspace setup', () => existsSync(path.join(flags, 'setup.hit')));
    await restart('workspace setup');

    await until('agents running', async () => (await containersOfRun(runId)).length === 2);
    await restart('agents');

    await until('merge', () => existsSync(path.join(flags, 'merge.hit')));
    await restart('merge');

    await until('evaluation', async () => (await getRunReport(started.client, runId, cfg)).merge.status === 'merged' && (await containersOfRun(runId)).length === 1);
    await restart('evaluation');

    const report = await waitForRun(started.client, runId, cfg);
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.evaluation).toMatchObject({ passed: true });
    expect(sh(repo, 'ls-tree', '--name-only', report.integrationBranch).split('\n')).toEqual(expect.arrayContaining(['a.txt', 'b.txt']));
    // one commit per agent, one merge per task: nothing made twice
    expect(sh(repo, 'log', '--format=%an', report.integrationBranch).split('\n').filter((a) => a.startsWith('slow')).sort()).toEqual(['slow-a', 'slow-b']);
    expect(sh(repo, 'log', '--merges', '--format=%s', report.integrationBranch).trim().split('\n').sort()).toEqual([
      'agentvisor: merge a',
      'agentvisor: merge b',
    ]);
    // each agent's container started once: re-attached after the kill, not run again
    expect(starts.counts()).toEqual({ a: 1, b: 1, 'a:collector': 1, 'b:collector': 1, _evaluate: 1 });
    expect(await containersOfRun(runId)).toEqual([]);
    expect(repoState(repo).worktrees).toBe(before.worktrees);
  } finally {
    starts.stop();
    await worker.stop();
    await started.client.connection.close();
    rmSync(flags, { recursive: true, force: true });
  }
});
