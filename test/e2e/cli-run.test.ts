// The CLI as a user runs it: a separate process, its own in-process worker, JSON out, exit codes.
import { containersOfRun, makeRepo, repoState, writeGraph } from '../support/repo';
import { cli } from '../support/cli';

describe('agentvisor CLI', () => {
  test('run --json, status --json, logs and ls on a successful run', async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: cli-ok
repo: ${repo}
agents:
  w: { harness: command, command: "echo hello from $AGENTVISOR_TASK; echo hi > hi.txt" }
tasks:
  - { id: greet, agent: w, prompt: say hi }
evaluate: { command: "test -f hi.txt" }
`);
    const run = await cli('run', file, '--json', '--id', 'cli-ok-1');
    expect(run.stderr).not.toContain('error');
    expect(run.code).toBe(0);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({
      runId: 'cli-ok-1',
      status: 'completed',
      integrationBranch: 'agentvisor/cli-ok-1',
      merge: { status: 'merged', conflicts: [] },
      evaluation: { passed: true, exitCode: 0 },
    });
    expect(out.tasks).toHaveLength(1);
    expect(out.tasks[0]).toMatchObject({
      id: 'greet',
      agent: 'w',
      status: 'succeeded',
      branch: 'agentvisor-tasks/cli-ok-1/greet',
      filesChanged: 1,
    });
    expect(out.tasks[0].commit).toMatch(/^[0-9a-f]{40}$/);
    expect(out.evaluation.logPath).toMatch(/evaluation\.log$/);

    const status = await cli('status', 'cli-ok-1', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toEqual(out);

    const logs = await cli('logs', 'cli-ok-1', 'greet');
    expect(logs.stdout).toContain('hello from greet');

    const out_dir = require('node:fs').mkdtempSync(require('node:path').join(require('node:os').tmpdir(), 'agentvisor-cli-report-'));
    const report = await cli('report', 'cli-ok-1', '--out', out_dir);
    expect(report.code).toBe(0);
    expect(require('node:fs').readFileSync(require('node:path').join(out_dir, 'report.html'), 'utf8')).toContain(
      'data-task="greet" data-status="succeeded"',
    );

    const ls = await cli('ls', '--json');
    expect(JSON.parse(ls.stdout).map((r: { runId: string }) => r.runId)).toContain('cli-ok-1');
  });

  test('a failing run: exit 1, JSON says failed, repository rolled back', async () => {
    const repo = makeRepo();
    const before = repoState(repo);
    const file = writeGraph(`
name: cli-fail
repo: ${repo}
agents:
  w: { harness: command, command: "echo nope >&2; exit 4" }
tasks:
  - { id: broken, agent: w }
`);
    const run = await cli('run', file, '--json', '--id', 'cli-fail-1');
    expect(run.code).toBe(1);
    const out = JSON.parse(run.stdout);
    expect(out).toMatchObject({ runId: 'cli-fail-1', status: 'failed', merge: { status: 'skipped' }, evaluation: null });
    expect(out.tasks[0]).toMatchObject({ id: 'broken', status: 'failed', exitCode: 4, error: 'agent exited with code 4' });
    expect(repoState(repo)).toEqual(before);
    expect(await containersOfRun('cli-fail-1')).toEqual([]);
    const status = await cli('status', 'cli-fail-1', '--json');
    expect(JSON.parse(status.stdout).status).toBe('failed');
  });

  test('status of an unknown run: exit 2 naming it', async () => {
    const status = await cli('status', 'no-such-run');
    expect(status.code).toBe(2);
    expect(status.stderr).toContain('no run with id "no-such-run"');
  });
});
