// End to end on the real parts: the Temporal dev server, dockerd, git, the base image.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { taskLogPath } from '../../paths/run-folder';
import * as path from 'node:path';
import { findTemporalCli } from '../../client/dev-server';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';
import { recordHistories } from '../support/record-history';

const agents = (repo: string, body: string) => `
name: e2e
repo: ${repo}
${body}`;

describe('a task graph on real Temporal, Docker and git', () => {
  test('two tasks in parallel, one after another: merged, evaluated, nothing left behind', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(
      agents(
        repo,
        `
agents:
  alpha: { harness: command, command: "echo alpha > alpha.txt && echo alpha did it" }
  beta:  { harness: command, command: "echo beta > beta.txt" }
  gamma: { harness: command, command: "test -f alpha.txt && cat alpha.txt > gamma.txt" }
tasks:
  - { id: a, agent: alpha, prompt: write alpha }
  - { id: b, agent: beta, prompt: write beta }
  - { id: c, agent: gamma, prompt: build on alpha, after: [a] }
evaluate:
  command: "test \\"$(cat alpha.txt beta.txt gamma.txt)\\" = \\"$(printf 'alpha\\nbeta\\nalpha')\\" && echo evaluation ok"
`,
      ),
    );
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-ok' }));

    expect(report.status).toBe('completed');
    expect(report.tasks.map((t) => [t.id, t.status, t.filesChanged])).toEqual([
      ['a', 'succeeded', 1],
      ['b', 'succeeded', 1],
      ['c', 'succeeded', 1], // its own change; a's work came in before the agent ran
    ]);
    // a and b overlapped in time; c started after a finished
    const [a, b, c] = report.tasks;
    expect(a.startedAt!).toBeLessThan(b.finishedAt!);
    expect(b.startedAt!).toBeLessThan(a.finishedAt!);
    expect(c.startedAt!).toBeGreaterThanOrEqual(a.finishedAt!);

    const files = sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).split('\n');
    expect(files).toEqual(expect.arrayContaining(['alpha.txt', 'beta.txt', 'gamma.txt', 'README.md']));
    expect(sh(repo, 'show', `${report.integrationBranch}:gamma.txt`)).toBe('alpha\n');
    expect(sh(repo, 'log', '--format=%an', report.tasks[1].commit!, '-1').trim()).toBe('beta');
    expect(report.merge.status).toBe('merged');
    expect(report.evaluation).toMatchObject({ passed: true, exitCode: 0 });
    expect(readFileSync(report.evaluation!.logPath, 'utf8')).toContain('evaluation ok');
    expect(readFileSync(report.tasks[0].logPath!, 'utf8')).toContain('alpha did it');

    const describe = execFileSync(
      findTemporalCli()!,
      ['workflow', 'describe', '-w', 'e2e-ok', '--address', process.env.TEMPORAL_ADDRESS!, '-o', 'json'],
      { encoding: 'utf8' },
    );
    expect(JSON.parse(describe).workflowExecutionInfo.status).toBe('WORKFLOW_EXECUTION_STATUS_COMPLETED');

    recordHistories('completed', ['e2e-ok', 'e2e-ok/a', 'e2e-ok/c']);
    expect(await containersOfRun('e2e-ok')).toEqual([]);
    expect(repoState(repo).worktrees).toBe(before.worktrees);
    expect(sh(repo, 'status', '--porcelain')).toBe('');
  });

  test('a failed evaluation fails the run and rolls the repository back exactly', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(
      agents(
        repo,
        `
agents:
  w: { harness: command, command: "echo x > x.txt" }
tasks:
  - { id: one, agent: w }
  - { id: two, agent: w, after: [one] }
evaluate: { command: "echo tests are failing; exit 3" }
`,
      ),
    );
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-eval-fails' }));
    expect(report.status).toBe('failed');
    expect(report.error).toMatch(/evaluation failed \(exit code 3\)/);
    expect(report.evaluation).toMatchObject({ passed: false, exitCode: 3 });
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun('e2e-eval-fails')).toEqual([]);
  });

  test('two tasks changing the same lines: the conflict names both tasks and the file', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(
      agents(
        repo,
        `
agents:
  left:  { harness: command, command: "printf 'one\\nLEFT\\nthree\\n' > src/value.txt" }
  right: { harness: command, command: "printf 'one\\nRIGHT\\nthree\\n' > src/value.txt" }
tasks:
  - { id: left-edit, agent: left }
  - { id: right-edit, agent: right }
`,
      ),
    );
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-conflict' }));
    expect(report.status).toBe('failed');
    expect(report.merge.status).toBe('conflict');
    recordHistories('merge-conflict', ['e2e-conflict']);
    expect(report.merge.conflicts).toEqual([{ taskId: 'right-edit', conflictsWith: ['left-edit'], files: ['src/value.txt'] }]);
    expect(report.error).toContain('right-edit');
    expect(report.error).toContain('left-edit');
    expect(report.error).toContain('src/value.txt');
    expect(repoState(repo)).toEqual(before);
    expect(sh(repo, 'status', '--porcelain')).toBe('');
  });

  test('isolation: a read-only agent cannot write; an agent sees nothing of the host beyond /workspace', async () => {
    const repo = makeRepo();
    const secretDir = path.dirname(process.env.AGENTVISOR_HOME!);
    const file = writeGraph(
      agents(
        repo,
        `
agents:
  auditor:
    harness: command
    readOnly: true
    command: |
      if echo x > /workspace/README.md; then echo "WROTE"; exit 1; fi
      if touch /workspace/new-file; then echo "CREATED"; exit 1; fi
      echo read-only-ok
  prober:
    harness: command
    command: |
      set -ex
      test "$(id -u)" != 0
      test ! -e ${repo}/.git
      test ! -e ${process.env.AGENTVISOR_HOME}
      test ! -e /var/run/docker.sock
      if touch /etc/probe 2>/dev/null; then echo "root fs writable"; exit 1; fi
      grep -q 'CapEff:.0000000000000000' /proc/self/status
      # the host paths mounted in: the worktree at /workspace and the task's prompt
      # (docker-init is the engine's tiny init, mounted read-only for signal handling)
      mounts=$(awk '$2 !~ "^/(proc|sys|dev|tmp|home/agent|etc/(hosts|hostname|resolv.conf)|(usr/)?sbin/docker-init)" && $2 != "/" {print $2}' /proc/mounts | sort -u)
      echo "mounts: $mounts"
      # besides the worktree, only the task's prompt: a folder of its own, read-only, the one file
      test "$mounts" = "$(printf '/agentvisor/task\\n/workspace')"
      test "$(ls -A /agentvisor/task)" = prompt
      if touch /agentvisor/task/probe 2>/dev/null; then echo "prompt folder writable"; exit 1; fi
      if wget -q -T 2 http://example.com 2>/dev/null || node -e "require('http').get('http://1.1.1.1',()=>process.exit(0)).on('error',()=>process.exit(1))"; then echo "network reachable"; exit 1; fi
      echo isolation-ok
tasks:
  - { id: audit, agent: auditor }
  - { id: probe, agent: prober }
`,
      ),
    );
    void secretDir;
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-isolation' }));
    const logs = report.tasks.map((t) => (t.logPath && existsSync(t.logPath) ? readFileSync(t.logPath, 'utf8') : ''));
    expect(logs[0]).toContain('read-only-ok');
    expect(logs[1]).toContain('isolation-ok');
    expect(report.status).toBe('completed');
    expect(report.tasks[0].filesChanged).toBe(0);
  });

  test('a failed task fails the run, cancels the running ones and rolls back', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(
      agents(
        repo,
        `
agents:
  slow: { harness: command, command: "echo started; sleep 60; echo slow > slow.txt; echo finished" }
  bad:  { harness: command, command: "sleep 2; echo broken >&2; exit 7" }
  next: { harness: command, command: "echo never > never.txt" }
tasks:
  - { id: slow-task, agent: slow }
  - { id: bad-task, agent: bad }
  - { id: after-bad, agent: next, after: [bad-task] }
`,
      ),
    );
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-task-fails' }));
    expect(report.status).toBe('failed');
    const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
    expect(byId['bad-task']).toMatchObject({ status: 'failed', exitCode: 7, error: 'agent exited with code 7' });
    expect(byId['slow-task'].status).toBe('cancelled');
    // the 60 s agent was stopped, not awaited: its output ends before its sleep does
    const slowLog = readFileSync(taskLogPath(report.artifactsDir, 'slow-task'), 'utf8');
    expect(slowLog).toContain('started');
    expect(slowLog).not.toContain('finished');
    expect(byId['after-bad'].status).toBe('skipped');
    recordHistories('task-failed', ['e2e-task-fails', 'e2e-task-fails/bad-task', 'e2e-task-fails/slow-task']);
    expect(readFileSync(byId['bad-task'].logPath!, 'utf8')).toContain('broken');
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun('e2e-task-fails')).toEqual([]);
  });
});
