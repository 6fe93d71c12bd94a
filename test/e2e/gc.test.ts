// gc removes what a hard crash left (by label and by the run's folder), leaves running runs and
// anything agentvisor did not create alone; the dev server keeps closed runs as long as asked.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { connect } from '../../client/connection';
import { findTemporalCli, startDevServerInBackground } from '../../client/dev-server';
import { collectGarbage } from '../../client/gc';
import { cancelRun, startRun, waitForRun } from '../../client/api';
import { DockerRuntime } from '../../runtimes/docker';
import { BASE_IMAGE } from '../../images/constants';
import { LABEL_RUN, LABEL_SCOPE, LABEL_TASK, scopeOf } from '../../runtimes/runtime';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { freePort } from '../support/ports';
import { withRealWorker } from '../support/temporal';

test('gc sweeps a crashed run’s debris and nothing else', async () => {
  const cfg = loadConfig();
  const runtime = new DockerRuntime();
  const repo = makeRepo();
  const before = repoState(repo);

  // debris of a run that crashed hard (its workflow unknown to Temporal): a container, a worktree, branches
  const crashed = 'gc-crashed-run';
  const dir = path.join(cfg.dataDir, 'runs', crashed);
  mkdirSync(path.join(dir, 'worktrees'), { recursive: true });
  writeFileSync(path.join(dir, 'run.json'), JSON.stringify({ runId: crashed, repo }));
  sh(repo, 'branch', `agentvisor/${crashed}`);
  sh(repo, 'worktree', 'add', '-q', '-b', `agentvisor-tasks/${crashed}/t1`, path.join(dir, 'worktrees', 't1'));
  const spec = (name: string, labels: Record<string, string>) => ({
    name,
    image: BASE_IMAGE,
    command: ['sleep', '300'],
    env: {},
    workdir: '/',
    mounts: [],
    user: '1000:1000',
    labels,
    network: 'none',
    tmpfs: ['/tmp'],
  });
  const scope = scopeOf(cfg.namespace, cfg.address);
  for (const name of ['agentvisor-gc-debris', 'agentvisor-gc-other-cluster', 'not-ours-gc-test']) await runtime.remove(name); // an earlier failed attempt's
  await runtime.start(spec('agentvisor-gc-debris', { [LABEL_RUN]: crashed, [LABEL_TASK]: 't1', [LABEL_SCOPE]: scope }));
  // a run of another Temporal server on the same engine: unknown here, so never judged dead
  await runtime.start(
    spec('agentvisor-gc-other-cluster', { [LABEL_RUN]: 'elsewhere', [LABEL_TASK]: 't', [LABEL_SCOPE]: 'default@10.0.0.1:7233' }),
  );
  await runtime.start(spec('not-ours-gc-test', { 'some.other.label': 'x' })); // someone else's

  // a run that is alive must keep its container
  const file = writeGraph(`
name: alive
repo: ${repo}
agents: { w: { harness: command, command: "sleep 60" } }
tasks: [ { id: busy, agent: w } ]
`);
  await withRealWorker(async () => {
    const started = await startRun(file, { config: cfg, worker: 'none', runId: 'gc-alive' });
    try {
      for (let i = 0; i < 100 && (await containersOfRun('gc-alive')).length === 0; i++) await new Promise((r) => setTimeout(r, 200));
      const dry = await collectGarbage({ client: started.client, runtime, scope, dataDir: cfg.dataDir, dryRun: true, branches: true });
      expect(dry.containers).toEqual(['agentvisor-gc-debris']);
      expect((await runtime.inspect('agentvisor-gc-debris')).state).toBe('running'); // dry run touched nothing

      const swept = await collectGarbage({ client: started.client, runtime, scope, dataDir: cfg.dataDir, branches: true });
      expect(swept.containers).toEqual(['agentvisor-gc-debris']);
      expect(swept.worktrees.filter((p) => p.startsWith(dir + path.sep))).toEqual([path.join(dir, 'worktrees', 't1')]);
      // (other test files' failed runs share the data folder: their branches go too)
      expect(swept.branches.filter((b) => b.startsWith(`${repo}:`)).sort()).toEqual([
        `${repo}:agentvisor-tasks/${crashed}/t1`,
        `${repo}:agentvisor/${crashed}`,
      ]);
      expect(swept.skippedRunning).toContain('gc-alive');
      expect(await containersOfRun('gc-alive')).toHaveLength(1);
      expect((await runtime.inspect('agentvisor-gc-debris')).state).toBe('missing');
      expect((await runtime.inspect('not-ours-gc-test')).state).toBe('running');
      expect((await runtime.inspect('agentvisor-gc-other-cluster')).state).toBe('running');

      await cancelRun(started.client, 'gc-alive');
      await waitForRun(started.client, 'gc-alive', cfg);
    } finally {
      await started.client.connection.close();
      await runtime.remove('not-ours-gc-test');
      await runtime.remove('agentvisor-gc-other-cluster');
    }
  });
  expect(repoState(repo)).toEqual(before);
});

test('the embedded server keeps closed runs for the configured retention', async () => {
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-retention-'));
  const port = await freePort();
  const { pid } = await startDevServerInBackground({ dataDir, port, uiPort: await freePort(), retention: '45d' });
  try {
    const out = execFileSync(
      findTemporalCli()!,
      ['operator', 'namespace', 'describe', '--address', `127.0.0.1:${port}`, '-o', 'json', 'default'],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(out).config.workflowExecutionRetentionTtl).toBe(`${45 * 24 * 3600}s`);
    const client = await connect({ ...loadConfig(), address: `127.0.0.1:${port}`, explicitAddress: true }, { startServer: false });
    await client.connection.close();
  } finally {
    process.kill(pid, 'SIGTERM');
    // the server writes its database until it exits
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
        await new Promise((r) => setTimeout(r, 100));
      } catch {
        break;
      }
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
});
