// Agents on several hosts: three `agentvisor worker --host` processes stand in for three machines,
// each with its own data folder (its clone of the remote, worktrees, logs) and, where the test can
// make one, its own network namespace (test/support/hosts.ts). A bare repository is the remote. The
// run is started from this process, which runs no worker: every step happens on some host.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../client/config';
import { startRun, waitForRun, type RunReport } from '../../client/api';
import { describeHosts } from '../../client/hosts';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { startHosts, type Hosts } from '../support/hosts';
import { DockerRuntime } from '../../runtimes/docker';
import { recordHistories } from '../support/record-history';
import { recordStarts, until } from '../support/wait';
import { testClient } from '../support/temporal';

const git = (dir: string, ...args: string[]) => execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd: dir, encoding: 'utf8' });

let hosts: Hosts;
let origin: string;
let client: Client;
const cfg = loadConfig();

beforeAll(async () => {
  const seed = makeRepo();
  origin = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-origin-')), 'origin.git');
  git(os.tmpdir(), 'clone', '--quiet', '--bare', seed, origin);
  hosts = await startHosts(
    [{ name: 'host-a', labels: ['gpu'], capacity: 2 }, { name: 'host-b' }, { name: 'host-c', labels: ['gpu', 'big-memory'], capacity: 2 }],
    origin,
  );
  console.log(`hosts: ${hosts.network}`);
  client = await testClient();
}, 120_000);

afterAll(async () => {
  await client?.connection.close();
  await hosts?.close();
});

const originRefs = () => git(origin, 'for-each-ref', '--format=%(refname) %(objectname)');
const logOf = (host: string, runId: string, task: string) => path.join(hosts.hosts[host].dataDir, 'runs', runId, 'logs', `${task}.log`);

/** Worktrees left in a host's clones of the remote (the bare clone itself is not one). */
function leftoverWorktrees(host: string): string[] {
  const clones = path.join(hosts.hosts[host].dataDir, 'clones');
  if (!existsSync(clones)) return [];
  return execFileSync(
    'sh',
    [
      '-c',
      `for c in ${clones}/*; do git -c safe.directory='*' -C "$c" worktree list --porcelain | grep '^worktree' | grep -v "$c\\$"; done; true`,
    ],
    { encoding: 'utf8' },
  )
    .split('\n')
    .filter(Boolean);
}

async function start(yaml: string, runId: string) {
  const started = await startRun(writeGraph(yaml), { config: cfg, worker: 'none', runId });
  await started.client.connection.close();
  return runId;
}
const finish = (runId: string): Promise<RunReport> => waitForRun(client, runId, cfg);

test('tasks run on the hosts they are placed on, their branches arrive in the remote, and the merge is evaluated', async () => {
  const runId = await start(
    `
name: hosts-placed
remote: ${hosts.remote}
agents:
  w: { harness: command, command: "echo $AGENTVISOR_TASK > $AGENTVISOR_TASK.txt" }
tasks:
  - { id: on-a, agent: w, runsOn: host-a }
  - { id: on-b, agent: w, runsOn: { host: host-b } }
  - { id: big-gpu, agent: w, runsOn: { labels: [gpu, big-memory] } }
  - { id: anywhere, agent: w, after: [on-a, on-b] }
merge: { runsOn: host-b }
evaluate:
  command: "test -f on-a.txt && test -f on-b.txt && test -f big-gpu.txt && test -f anywhere.txt && grep -q on-a on-a.txt"
  runsOn: { labels: [gpu] }
`,
    'hosts-placed-1',
  );
  const report = await finish(runId);
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });

  // each task ran where it was placed: the result says so, and its log is in that host's data folder only
  const hostOf = Object.fromEntries(report.tasks.map((t) => [t.id, t.host]));
  expect(hostOf).toMatchObject({ 'on-a': 'host-a', 'on-b': 'host-b', 'big-gpu': 'host-c' });
  expect(['host-a', 'host-b', 'host-c']).toContain(hostOf.anywhere);
  for (const t of report.tasks) {
    for (const h of Object.keys(hosts.hosts)) expect([t.id, h, existsSync(logOf(h, runId, t.id))]).toEqual([t.id, h, h === t.host]);
  }
  expect(report.merge).toMatchObject({ status: 'merged', host: 'host-b' });
  expect(report.evaluation).toMatchObject({ passed: true });
  expect(['host-a', 'host-c']).toContain(report.evaluation!.host);
  expect(existsSync(path.join(hosts.hosts[report.evaluation!.host!].dataDir, 'runs', runId, 'logs', 'evaluation.log'))).toBe(true);

  // the branches are in the remote, and the integration branch holds everyone's work, merged once each
  const refs = originRefs();
  for (const t of report.tasks) expect(refs).toContain(`refs/heads/${t.branch} ${t.commit}`);
  expect(refs).toContain(`refs/heads/${report.integrationBranch} ${report.merge.commit}`);
  expect(git(origin, 'ls-tree', '--name-only', report.integrationBranch).split('\n')).toEqual(
    expect.arrayContaining(['on-a.txt', 'on-b.txt', 'big-gpu.txt', 'anywhere.txt']),
  );
  expect(git(origin, 'log', '--merges', '--format=%s', '--first-parent', report.integrationBranch).trim().split('\n').sort()).toEqual([
    'agentvisor: merge anywhere',
    'agentvisor: merge big-gpu',
    'agentvisor: merge on-a',
    'agentvisor: merge on-b',
  ]);
  // nothing left behind on any host
  expect(await containersOfRun(runId)).toEqual([]);
  for (const h of Object.keys(hosts.hosts)) expect([h, leftoverWorktrees(h)]).toEqual([h, []]);
  recordHistories('hosts', [runId, `${runId}/on-a`, `${runId}/big-gpu`]);
});

test('a stopped host: its task waits, then fails or moves as placed; back within the limit, it finishes there', async () => {
  await hosts.hosts['host-b'].stop();
  const before = originRefs();
  const yaml = (name: string, placement: string) => `
name: ${name}
remote: ${hosts.remote}
agents:
  w: { harness: command, command: "echo $AGENTVISOR_TASK > $AGENTVISOR_TASK.txt" }
tasks:
  - { id: t, agent: w, runsOn: ${placement} }
`;
  const [fails, moves, waits] = await Promise.all([
    start(yaml('hosts-fails', '{ host: host-b, wait: 4s, otherwise: fail }'), 'hosts-fails-1'),
    start(yaml('hosts-moves', '{ host: host-b, wait: 4s, otherwise: move }'), 'hosts-moves-1'),
    start(yaml('hosts-waits', '{ host: host-b, wait: 3m }'), 'hosts-waits-1'),
  ]);

  // the waiting task shows as work waiting for a worker
  await until('the task waiting for host-b', async () => (await describeHosts(client)).waiting.includes(`${waits}/t: claimHost`));

  const failed = await finish(fails);
  expect(failed.status).toBe('failed');
  expect(failed.tasks[0]).toMatchObject({ status: 'failed', error: 'no worker of host "host-b" started task t within 4s' });
  expect(failed.error).toContain('no worker of host "host-b" started task t within 4s');

  const moved = await finish(moves);
  expect({ status: moved.status, error: moved.error }).toEqual({ status: 'completed', error: undefined });
  expect(['host-a', 'host-c']).toContain(moved.tasks[0].host);
  expect(moved.tasks[0].note).toBe('moved: no worker of host "host-b" started task t within 4s');
  expect(git(origin, 'show', `${moved.integrationBranch}:t.txt`)).toBe('t\n');

  // past the others' limit, the third still waits; host-b comes back and runs it
  expect((await client.workflow.getHandle(waits).describe()).status.name).toBe('RUNNING');
  await hosts.hosts['host-b'].start();
  const waited = await finish(waits);
  expect({ status: waited.status, error: waited.error }).toEqual({ status: 'completed', error: undefined });
  expect(waited.tasks[0].host).toBe('host-b');
  expect(existsSync(logOf('host-b', waits, 't'))).toBe(true);

  // the failed run left nothing in the remote; the others added their branches only
  const after = originRefs();
  for (const line of before.split('\n').filter(Boolean)) expect(after).toContain(line);
  expect(after).not.toContain(fails);
  recordHistories('hosts-moved', [moves, `${moves}/t`]);
  recordHistories('hosts-timeout', [`${fails}/t`]);
});

test("a host's worker killed mid-task: the agent runs once and the task completes there after a restart", async () => {
  const runId = 'hosts-crash-1';
  const runtime = new DockerRuntime();
  const starts = await recordStarts(runId);
  try {
    await start(
      `
name: hosts-crash
remote: ${hosts.remote}
agents:
  slow: { harness: command, command: "echo start; sleep 8; echo done > slow.txt" }
tasks:
  - { id: slow, agent: slow, runsOn: host-a, retry: { attempts: 3, backoff: 1s } }
`,
      runId,
    );
    await until('the agent container running', async () => {
      const [name] = await containersOfRun(runId);
      return !!name && (await runtime.inspect(name.replace(/^\//, ''))).state === 'running';
    });
    // `hosts` shows it running on host-a (from the server's view of the pending activity)
    await until(
      'hosts to show the agent on host-a',
      async () =>
        (await describeHosts(client)).hosts.find((h) => h.name === 'host-a')?.running.includes(`${runId}/slow: runAgent`) ?? false,
      20_000,
    );
    await hosts.hosts['host-a'].kill9();
    await hosts.hosts['host-a'].start();

    const report = await finish(runId);
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    // re-attached to the container the first worker started, not run again
    expect(starts.counts()).toEqual({ slow: 1, 'slow:collector': 1 });
    expect(report.tasks[0]).toMatchObject({ host: 'host-a', files: ['slow.txt'] });
    expect(git(origin, 'show', `${report.integrationBranch}:slow.txt`)).toBe('done\n');
    expect(await containersOfRun(runId)).toEqual([]);
    expect(leftoverWorktrees('host-a')).toEqual([]);
  } finally {
    starts.stop();
  }
});
