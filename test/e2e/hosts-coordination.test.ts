// Resume and conflict retry/resolve for runs with a remote: two `agentvisor worker --host` processes
// in network namespaces of their own (test/support/hosts.ts) stand in for two machines, a bare
// repository served by `git daemon` is the remote. This process runs no worker: every step happens
// on a host, and what a host left in its own data folder is out of reach of the other.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Client } from '@temporalio/client';
import { loadConfig } from '../../client/config';
import { resumeRun, startRun, waitForRun, type RunReport } from '../../client/api';
import { findTemporalCli } from '../../client/dev-server';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { startHosts, type Hosts } from '../support/hosts';
import { recordStarts } from '../support/wait';
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
  hosts = await startHosts([{ name: 'host-a' }, { name: 'host-b' }], origin);
  console.log(`hosts: ${hosts.network}`);
  client = await testClient();
}, 120_000);

afterAll(async () => {
  await client?.connection.close();
  await hosts?.close();
});

const originRefs = () => git(origin, 'for-each-ref', '--format=%(refname) %(objectname)');
const finish = (runId: string): Promise<RunReport> => waitForRun(client, runId, cfg);

async function deleteHistory(runId: string): Promise<void> {
  const temporal = findTemporalCli()!;
  const address = ['--address', process.env.TEMPORAL_ADDRESS!];
  execFileSync(temporal, ['workflow', 'delete', '--yes', '-w', runId, ...address]);
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync(temporal, ['workflow', 'describe', '-w', runId, ...address], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      return; // gone
    }
  }
  throw new Error(`the history of ${runId} is still there`);
}

const resumable = (remote: string, third: string) => `
name: remote-resumable
remote: ${remote}
agents:
  w: { harness: command, command: 'echo "$AGENTVISOR_TASK" > "$AGENTVISOR_TASK.txt"' }
  third: { harness: command, command: '${third}' }
tasks:
  - { id: first, agent: w, runsOn: host-a }
  - { id: second, agent: w, runsOn: host-b }
  - { id: third, agent: third, after: [first, second], runsOn: host-b }
evaluate: { command: "test -f first.txt && test -f second.txt && test -f third.txt", runsOn: host-a }
`;

test('resume with a remote: the finished work is found in the remote, after a rollback and without the old history', async () => {
  const file = writeGraph(resumable(hosts.remote, 'echo broken; exit 1'));
  const started = await startRun(file, { config: cfg, worker: 'none', runId: 'remote-resume-old' });
  await started.client.connection.close();
  const failed = await finish('remote-resume-old');
  expect(failed.status).toBe('failed');
  expect(failed.tasks.map((t) => [t.id, t.status, t.host])).toEqual([
    ['first', 'succeeded', 'host-a'],
    ['second', 'succeeded', 'host-b'],
    ['third', 'failed', 'host-b'],
  ]);
  // rolled back: no branch of the run is left on the remote; its ledger is, keeping the work reachable
  const refs = originRefs();
  expect(refs).not.toContain('refs/heads/agentvisor');
  expect(refs).toContain(`refs/agentvisor-ledger/remote-resume-old/first`);
  expect(refs).toContain(`refs/agentvisor-ledger/remote-resume-old/second`);
  expect(refs).not.toContain(`refs/agentvisor-ledger/remote-resume-old/third`);
  // this machine has no ledger of the run: the hosts wrote theirs in their own data folders
  expect(existsSync(path.join(cfg.dataDir, 'runs', 'remote-resume-old', 'ledger.jsonl'))).toBe(false);
  await deleteHistory('remote-resume-old');

  writeFileSync(file, resumable(hosts.remote, 'echo third > third.txt'));
  const starts = await recordStarts('remote-resume-new');
  try {
    const resumed = await resumeRun('remote-resume-old', { config: cfg, worker: 'none', runId: 'remote-resume-new' });
    await resumed.client.connection.close();
    const report = await finish('remote-resume-new');
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(report.tasks.map((t) => [t.id, t.reusedFrom, t.note])).toEqual([
      ['first', 'remote-resume-old', undefined],
      ['second', 'remote-resume-old', undefined],
      ['third', undefined, 'redone: no finished work recorded in run remote-resume-old'],
    ]);
    expect(report.tasks[2].host).toBe('host-b');
    // only the third agent ran again
    expect(starts.counts()).toEqual({ third: 1, 'third:collector': 1, _evaluate: 1 });
    // the reused work is the earlier commits, now on the new run's branches on the remote
    expect(git(origin, 'rev-parse', 'agentvisor-tasks/remote-resume-new/first').trim()).toBe(failed.tasks[0].commit);
    expect(git(origin, 'rev-parse', 'agentvisor-tasks/remote-resume-new/second').trim()).toBe(failed.tasks[1].commit);
    expect(git(origin, 'ls-tree', '--name-only', report.integrationBranch).split('\n')).toEqual(
      expect.arrayContaining(['first.txt', 'second.txt', 'third.txt']),
    );
    // and in its ledger, so that a resume of the resumed run reuses them too
    for (const t of ['first', 'second', 'third']) expect(originRefs()).toContain(`refs/agentvisor-ledger/remote-resume-new/${t}`);
    expect(await containersOfRun('remote-resume-new')).toEqual([]);
  } finally {
    starts.stop();
  }
});

const conflicting = (name: string, remote: string, merge: string, agents = '') => `
name: ${name}
remote: ${remote}
agents:
  left:  { harness: command, command: "printf 'one\\\\nLEFT\\\\nthree\\\\n' > src/value.txt" }
  right: { harness: command, command: "sed -i '2s/$/-RIGHT/' src/value.txt" }
${agents}
tasks:
  - { id: left-edit, agent: left, runsOn: host-a }
  - { id: right-edit, agent: right, runsOn: host-b }
merge:
${merge}
`;

test('conflict retry and resolve with a remote: on hosts, from the remote, the result pushed back', async () => {
  const retried = await startRun(writeGraph(conflicting('remote-retried', hosts.remote, '  onConflict: retry\n  runsOn: host-a')), {
    config: cfg,
    worker: 'none',
    runId: 'remote-retried-1',
  });
  await retried.client.connection.close();
  const resolved = await startRun(
    writeGraph(
      conflicting(
        'remote-resolved',
        hosts.remote,
        '  onConflict: resolve\n  resolver: fixer\n  runsOn: host-b',
        `  fixer:
    harness: command
    command: |
      grep -q '^<<<<<<<' src/value.txt || { echo "no conflicted merge here"; exit 3; }
      echo "$AGENTVISOR_PROMPT" | head -n 1
      printf 'one\\nLEFT and RIGHT\\nthree\\n' > src/value.txt`,
      ),
    ),
    { config: cfg, worker: 'none', runId: 'remote-resolved-1' },
  );
  await resolved.client.connection.close();

  // retried on its own host, on top of the integration branch as the remote had it: its agent saw LEFT
  const again = await finish('remote-retried-1');
  expect({ status: again.status, error: again.error }).toEqual({ status: 'completed', error: undefined });
  expect(again.merge.conflicts).toEqual([
    { taskId: 'right-edit', conflictsWith: ['left-edit'], files: ['src/value.txt'], resolution: { strategy: 'retry', status: 'resolved' } },
  ]);
  expect(again.tasks[1]).toMatchObject({ host: 'host-b', note: expect.stringContaining('retried on top of the integration branch') });
  expect(git(origin, 'show', `${again.integrationBranch}:src/value.txt`)).toBe('one\nLEFT-RIGHT\nthree\n');
  expect(git(origin, 'rev-parse', again.integrationBranch).trim()).toBe(again.merge.commit);

  // resolved by the resolver on the merge's host; its merge commit is on the remote
  const ok = await finish('remote-resolved-1');
  expect({ status: ok.status, error: ok.error }).toEqual({ status: 'completed', error: undefined });
  const resolution = ok.merge.conflicts[0].resolution!;
  expect(ok.merge.conflicts[0]).toMatchObject({ taskId: 'right-edit', conflictsWith: ['left-edit'], files: ['src/value.txt'] });
  expect(resolution).toMatchObject({ strategy: 'resolve', by: 'fixer', status: 'resolved', host: 'host-b' });
  expect(git(origin, 'show', `${ok.integrationBranch}:src/value.txt`)).toBe('one\nLEFT and RIGHT\nthree\n');
  expect(git(origin, 'log', '-1', '--format=%an|%s', resolution.commit!).trim()).toBe(
    'fixer|agentvisor: merge right-edit (conflict resolved by fixer)',
  );
  expect(git(origin, 'merge-base', '--is-ancestor', resolution.commit!, ok.integrationBranch)).toBe('');
  // its log is on the host it ran on
  const log = path.join(hosts.hosts['host-b'].dataDir, 'runs', 'remote-resolved-1', 'logs', '_resolve-right-edit.log');
  expect(readFileSync(log, 'utf8')).toContain('Resolve a merge conflict. The work of task right-edit');
  expect(resolution.logPath).toBe(log);

  for (const id of ['remote-retried-1', 'remote-resolved-1']) expect(await containersOfRun(id)).toEqual([]);
});

const logOf = (host: string, runId: string, task: string) => path.join(hosts.hosts[host].dataDir, 'runs', runId, 'logs', `${task}.log`);

test('the shared workspace across hosts: each task sees what finished before it, rw writes are pushed, ro ones never leave', async () => {
  const shares = await startRun(
    writeGraph(`
name: remote-shared
remote: ${hosts.remote}
agents:
  planner:
    harness: command
    shared: rw
    command: |
      echo "the plan, from $(cat /etc/hostname)" > /shared/plan.md
      mkdir -p /shared/notes && echo planner > /shared/notes/planner.md
      echo planner > /shared/same.txt
      ln -s /etc/shadow /shared/leak
  coder:
    harness: command
    shared: rw
    command: |
      echo "$AGENTVISOR_TASK" > /shared/notes/$AGENTVISOR_TASK.md
      echo "$AGENTVISOR_TASK" > /shared/same.txt
  auditor:
    harness: command
    readOnly: true
    shared: ro
    command: |
      echo "read: $(cat /shared/plan.md) / $(ls /shared/notes | tr '\\n' ' ')"
      echo "link: $(readlink /shared/leak)"
      echo sneaky > /shared/sneaky.txt 2>/dev/null && echo "wrote" || echo "could not write"
  watcher:
    harness: command
    shared: ro
    command: |
      for i in $(seq 120); do test -f /shared/notes/code-a.md && break; sleep 1; done
      echo "saw: $(cat /shared/notes/code-a.md)"
tasks:
  - { id: plan, agent: planner, runsOn: host-a }
  - { id: watch, agent: watcher, after: [plan], runsOn: host-b }
  - { id: code-a, agent: coder, after: [plan], runsOn: host-a }
  - { id: code-b, agent: coder, after: [plan], runsOn: host-b }
  - { id: audit, agent: auditor, after: [code-a, code-b], runsOn: host-b }
`),
    { config: cfg, worker: 'none', runId: 'remote-shared-1' },
  );
  await shares.client.connection.close();
  const rollsBack = await startRun(
    writeGraph(`
name: remote-shared-fails
remote: ${hosts.remote}
agents:
  writer: { harness: command, shared: rw, command: "echo note > /shared/note.txt" }
  breaks: { harness: command, command: "exit 3" }
tasks:
  - { id: write, agent: writer, runsOn: host-a }
  - { id: break, agent: breaks, after: [write], runsOn: host-b }
`),
    { config: cfg, worker: 'none', runId: 'remote-shared-fails-1' },
  );
  await rollsBack.client.connection.close();

  const report = await finish('remote-shared-1');
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  expect(report.shared).toMatchObject({
    path: 'refs/agentvisor-shared/remote-shared-1',
    access: { planner: 'rw', coder: 'rw', auditor: 'ro', watcher: 'ro' },
  });
  const ref = 'refs/agentvisor-shared/remote-shared-1';
  const files = git(origin, 'ls-tree', '-r', '--format=%(objectmode) %(path)', ref).trim().split('\n').sort();
  // the writes of tasks on both hosts, merged file by file; the ro agent's write is not there
  expect(files).toEqual([
    '100644 notes/code-a.md',
    '100644 notes/code-b.md',
    '100644 notes/planner.md',
    '100644 plan.md',
    '100644 same.txt',
    '120000 leak',
  ]);
  expect(git(origin, 'show', `${ref}:notes/code-b.md`)).toBe('code-b\n');
  // one file written on two hosts: the later push wins, whole
  expect(['code-a\n', 'code-b\n']).toContain(git(origin, 'show', `${ref}:same.txt`));
  // a symlink travels as a link: its target's content was never read
  expect(git(origin, 'show', `${ref}:leak`)).toBe('/etc/shadow');
  // the auditor on host-b saw host-a's plan and both coders' notes; it could not write
  const audit = readFileSync(logOf('host-b', 'remote-shared-1', 'audit'), 'utf8');
  expect(audit).toMatch(/read: the plan, from \S+ \/ code-a\.md code-b\.md planner\.md/);
  expect(audit).toContain('link: /etc/shadow');
  expect(audit).toContain('could not write');
  // a read-only copy follows the ref while its agent runs: the watcher, started with code-a, saw its note arrive
  expect(readFileSync(logOf('host-b', 'remote-shared-1', 'watch'), 'utf8')).toContain('saw: code-a');
  // the tasks' copies are gone from the hosts with their workspaces
  for (const h of ['host-a', 'host-b'])
    expect(existsSync(path.join(hosts.hosts[h].dataDir, 'runs', 'remote-shared-1', 'shared-copies', 'plan'))).toBe(false);

  // a rollback removes the shared workspace from the remote
  const failed = await finish('remote-shared-fails-1');
  expect(failed.status).toBe('failed');
  expect(failed.shared).toMatchObject({ removed: true });
  expect(originRefs()).not.toContain('refs/agentvisor-shared/remote-shared-fails-1');
  for (const id of ['remote-shared-1', 'remote-shared-fails-1']) expect(await containersOfRun(id)).toEqual([]);
});
