// Seeing and taking a run's work through the real CLI, on a real engine, Temporal server and git
// repository: diff (a run, a task that started from another's work), checkout (a branch, a
// worktree), merge (a conflict that changes nothing, a merge commit, a fast-forward of a checked-out
// branch), rm (dry run, refusals, then branches, folder and history gone), run id prefixes, a gated
// run in ls and status --exit-status, and colours by NO_COLOR, FORCE_COLOR, --color and a terminal.
import { WorkflowNotFoundError } from '@temporalio/client';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadConfig } from '../../client/config';
import { getRunReport, startRun } from '../../client/api';
import { runArtifactsDir } from '../../paths/data-folder';
import type { RunReport } from '../../contract/run-types';
import { cli } from '../support/cli';
import { makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { testClient, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');
const ESC = '\x1b[';

/** The CLI with more environment (and less: a variable set to undefined is removed). */
function cliEnv(env: Record<string, string | undefined>, ...args: string[]) {
  const saved = { ...process.env };
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return cli(...args);
  } finally {
    process.env = saved;
  }
}

const commit = (repo: string, message: string) => sh(repo, '-c', 'user.name=u', '-c', 'user.email=u@x', 'commit', '-qam', message);
const tip = (repo: string, ref: string) => sh(repo, 'rev-parse', ref).trim();

const repo = makeRepo({ 'README.md': '# results\n', 'src/value.txt': 'one\ntwo\nthree\n' });
const RUN = 'res-cli-one';
let report: RunReport;

beforeAll(async () => {
  const file = writeGraph(`
name: res-cli
repo: ${repo}
agents:
  a: { harness: command, command: "echo alpha > a.txt" }
  b: { harness: command, command: "echo beta > b.txt && git add b.txt && git -c user.name=b -c user.email=b@x commit -qm 'b work' && echo more >> b.txt" }
  c: { harness: command, command: "sed -i s/two/TWO/ src/value.txt" }
tasks:
  - { id: one, agent: a }
  - { id: two, agent: b, after: [one] }
  - { id: three, agent: c }
`);
  const run = await cli('run', file, '--json', '--id', RUN);
  expect(run.code).toBe(0);
  report = JSON.parse(run.stdout);
  expect(report.status).toBe('completed');
  const client = await testClient();
  report = await getRunReport(client, RUN, loadConfig());
  await client.connection.close();
});

describe('diff', () => {
  test("the run's merged work against its base commit, as git shows it", async () => {
    const r = await cli('diff', RUN);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(sh(repo, 'diff', report.baseCommit!, `agentvisor/${RUN}`));
    expect(r.stdout).toContain('+alpha');
    expect(r.stdout).toContain('+TWO');
  });

  test('a task that started from another task: only its own work', async () => {
    const stat = await cli('diff', RUN, 'two', '--stat');
    expect(stat.code).toBe(0);
    expect(stat.stdout).toContain('b.txt | 2 ++');
    expect(stat.stdout).not.toContain('a.txt');
    // the child workflow id the Temporal UI shows names the same task
    expect((await cli('diff', `${RUN}/two`)).stdout).toBe((await cli('diff', RUN, 'two')).stdout);
    const json = JSON.parse((await cli('diff', RUN, 'one', '--json')).stdout);
    expect(json).toMatchObject({ runId: RUN, task: 'one', from: report.baseCommit, to: report.tasks.find((t) => t.id === 'one')!.commit });
    expect(json.diff).toContain('+alpha');
  });

  test('an unknown task: exit 2 naming the run’s tasks', async () => {
    const r = await cli('diff', RUN, 'tow');
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe(`error: run ${RUN} has no task "tow" (did you mean two?); its tasks: one, two, three\n`);
    expect((await cli('logs', RUN, 'tow')).code).toBe(2);
    expect((await cli('status', `${RUN}/tow`)).code).toBe(2);
  });

  test('colours: --color and FORCE_COLOR colour it, NO_COLOR and --color never do not, a terminal does unless NO_COLOR', async () => {
    expect((await cliEnv({ NO_COLOR: undefined, FORCE_COLOR: undefined }, 'diff', RUN)).stdout).not.toContain(ESC);
    expect((await cliEnv({ NO_COLOR: undefined, FORCE_COLOR: '1' }, 'diff', RUN)).stdout).toContain(ESC);
    expect((await cliEnv({ NO_COLOR: '1', FORCE_COLOR: '1' }, 'diff', RUN)).stdout).not.toContain(ESC);
    expect((await cliEnv({ NO_COLOR: '1' }, '--color', 'always', 'diff', RUN)).stdout).toContain(ESC);
    expect((await cliEnv({ FORCE_COLOR: '1' }, '--color', 'never', 'diff', RUN)).stdout).not.toContain(ESC);
    expect((await cli('--color', 'sometimes', 'diff', RUN)).code).toBe(2);
    // a pseudo-terminal (util-linux script): coloured, unless NO_COLOR is set
    const inTerminal = (noColor: boolean) =>
      execFileSync('script', ['-qec', `${process.execPath} ${BIN} diff ${RUN}`, '/dev/null'], {
        encoding: 'utf8',
        env: { ...process.env, FORCE_COLOR: undefined, NO_COLOR: noColor ? '1' : undefined, TERM: 'xterm' },
      });
    expect(inTerminal(false)).toContain(ESC);
    expect(inTerminal(true)).not.toContain(ESC);
    expect(inTerminal(true)).toContain('+alpha');
  });
});

describe('checkout', () => {
  test("a task's work in a new worktree; the repository's checkout is left as it was", async () => {
    const dir = path.join(mkdtempSync(path.join(os.tmpdir(), 'agentvisor-res-')), 'wt');
    const head = tip(repo, 'HEAD');
    const r = await cli('checkout', RUN, 'two', '--worktree', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`branch ${RUN}-two`);
    expect(tip(repo, `${RUN}-two`)).toBe(report.tasks.find((t) => t.id === 'two')!.commit);
    expect(readFileSync(path.join(dir, 'b.txt'), 'utf8')).toBe('beta\nmore\n');
    expect(tip(repo, 'HEAD')).toBe(head);
    expect(sh(repo, 'status', '--porcelain')).toBe('');

    // the branch exists now: refused, nothing changed
    const before = repoState(repo);
    const again = await cli('checkout', RUN, 'two', '--worktree', `${dir}2`);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain(`branch ${RUN}-two already exists`);
    expect(repoState(repo)).toEqual(before);
    expect(existsSync(`${dir}2`)).toBe(false);
  });

  test("the run's work as a branch checked out in the repository", async () => {
    const r = await cli('checkout', RUN, '-b', 'review-it', '--json');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ runId: RUN, branch: 'review-it', commit: report.merge.commit, repo });
    expect(sh(repo, 'symbolic-ref', '--short', 'HEAD').trim()).toBe('review-it');
    expect(readFileSync(path.join(repo, 'a.txt'), 'utf8')).toBe('alpha\n');
    sh(repo, 'switch', '-q', 'main');
  });
});

describe('merge', () => {
  test('a conflict with the branch: exit 1 naming the file, and nothing changed', async () => {
    sh(repo, 'switch', '-q', '-c', 'conflicting', 'main');
    writeFileSync(path.join(repo, 'src/value.txt'), 'one\ndeux\nthree\n');
    commit(repo, 'two is deux');
    const before = repoState(repo);
    const r = await cli('merge', RUN, '--into', 'conflicting');
    expect(r).toMatchObject({ code: 1, stdout: '' });
    expect(r.stderr).toContain(`run ${RUN} conflicts with conflicting in src/value.txt: nothing was changed`);
    expect(repoState(repo)).toEqual(before);
    expect(sh(repo, 'status', '--porcelain')).toBe('');
    sh(repo, 'switch', '-q', 'main');
  });

  test("a branch not checked out: a merge commit of it and the run's work; the checkout is untouched", async () => {
    sh(repo, 'branch', 'feature', 'main');
    const head = tip(repo, 'HEAD');
    const status = sh(repo, 'status', '--porcelain');
    // the feature branch moves on meanwhile, in a file the run did not touch
    sh(repo, 'switch', '-q', 'feature');
    writeFileSync(path.join(repo, 'README.md'), '# results, with a feature\n');
    commit(repo, 'feature');
    sh(repo, 'switch', '-q', 'main');
    const featureBefore = tip(repo, 'feature');
    const r = await cli('merge', RUN, '--into', 'feature', '--json');
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out).toMatchObject({ runId: RUN, branch: 'feature', how: 'merge', before: featureBefore });
    expect(sh(repo, 'rev-parse', `${out.after}^1`, `${out.after}^2`).trim().split('\n')).toEqual([featureBefore, report.merge.commit]);
    expect(sh(repo, 'show', `${out.after}:a.txt`)).toBe('alpha\n');
    expect(tip(repo, 'HEAD')).toBe(head);
    expect(sh(repo, 'status', '--porcelain')).toBe(status);
    // once more: it has the work already
    expect((await cli('merge', RUN, '--into', 'feature')).stdout).toContain('already has the work');
  });

  test('the checked-out branch: fast-forwarded, its files follow', async () => {
    sh(repo, 'switch', '-q', '-c', 'release', 'main');
    const r = await cli('merge', RUN, '--into', 'release');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('(fast-forward), checkout in');
    expect(tip(repo, 'release')).toBe(report.merge.commit);
    expect(readFileSync(path.join(repo, 'src/value.txt'), 'utf8')).toBe('one\nTWO\nthree\n');
    expect(sh(repo, 'status', '--porcelain')).toBe('');
    sh(repo, 'switch', '-q', 'main');
  });

  test("refused: agentvisor's own branches, a branch that does not exist", async () => {
    const before = repoState(repo);
    expect((await cli('merge', RUN, '--into', `agentvisor/${RUN}`)).code).toBe(2);
    const none = await cli('merge', RUN, '--into', 'no-such-branch');
    expect(none.code).toBe(2);
    expect(none.stderr).toBe(`error: no branch no-such-branch in ${repo}\n`);
    expect(repoState(repo)).toEqual(before);
  });
});

describe('run id prefixes, ls and rm', () => {
  const other = makeRepo();
  const OTHER = 'res-cli-two';

  beforeAll(async () => {
    const file = writeGraph(`
name: res-cli-other
repo: ${other}
agents:
  a: { harness: command, command: "echo x > x.txt" }
tasks:
  - { id: only, agent: a }
`);
    expect((await cli('run', file, '--json', '--id', OTHER)).code).toBe(0);
  });

  test('a unique prefix names the run; one that matches several is exit 2 naming them', async () => {
    const status = await cli('status', 'res-cli-t', '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout).runId).toBe(OTHER);
    const several = await cli('status', 'res-cli-');
    expect(several).toMatchObject({ code: 2, stdout: '' });
    expect(several.stderr).toBe(`error: run id prefix "res-cli-" matches several runs: ${RUN}, ${OTHER}\n`);
    expect((await cli('diff', 'res-cli-o', '--stat')).stdout).toContain('a.txt');
    const typo = await cli('status', 'res-cli-too');
    expect(typo).toMatchObject({ code: 2 });
    expect(typo.stderr).toBe(`error: no run with id "res-cli-too" (did you mean ${OTHER}?)\n`);
  });

  test('ls: an aligned table with a header, relative times and durations', async () => {
    // the list is the server's visibility store, which catches up with a run's end a moment later
    await until('the run listed', async () => (await cli('ls', '--graph', 'res-cli', '--json')).stdout.includes(RUN));
    const ls = await cli('ls', '--graph', 'res-cli');
    const [head, row, ...rest] = ls.stdout.trimEnd().split('\n');
    expect(rest).toEqual([]);
    expect(head.split(/\s+/)).toEqual(['RUN', 'STATUS', 'GRAPH', 'STARTED', 'DURATION', 'COST']);
    expect(row).toMatch(
      new RegExp(`^${RUN}\\s+completed\\s+res-cli\\s+\\d+ (seconds?|minutes?) ago\\s+\\d+ (seconds?|minutes?)\\s+\\$0\\.0000$`),
    );
    // the columns start where the header's do
    for (const [word, value] of [
      ['STATUS', 'completed'],
      ['GRAPH', 'res-cli'],
    ])
      expect(row.indexOf(` ${value}`) + 1).toBe(head.indexOf(word));
    // the status in its colour where colours are asked for, and plain text with NO_COLOR
    expect((await cliEnv({ FORCE_COLOR: '1', NO_COLOR: undefined }, 'ls', '--graph', 'res-cli')).stdout).toContain(`${ESC}32mcompleted`);
    const plain = (await cliEnv({ FORCE_COLOR: '1', NO_COLOR: '1' }, 'ls', '--graph', 'res-cli')).stdout;
    expect(plain).not.toContain(ESC);
    expect(plain).toContain(`${RUN}  completed  res-cli`);
    const bad = await cli('ls', '--limit', 'abc');
    expect(bad).toMatchObject({ code: 2, stdout: '' });
    expect(bad.stderr).toContain("option '--limit <n>' argument 'abc' is invalid");
  });

  test('logs of a task the run does not have: exit 2; of one it has: its output', async () => {
    const none = await cli('logs', OTHER, 'nosuchtask');
    expect(none).toMatchObject({ code: 2, stdout: '' });
    expect(none.stderr).toContain(`run ${OTHER} has no task "nosuchtask"`);
    expect((await cli('logs', `${OTHER}/only`)).code).toBe(0);
  });

  test('rm --dry-run lists and changes nothing; rm refuses a checked-out branch of the run; rm removes it all', async () => {
    const folder = runArtifactsDir(process.env.AGENTVISOR_HOME!, OTHER);
    const before = repoState(other);
    const dry = await cli('rm', 'res-cli-t', '--dry-run');
    expect(dry.code).toBe(0);
    expect(dry.stdout.split('\n').filter(Boolean)).toEqual([
      `would remove branch agentvisor-tasks/${OTHER}/only (${other})`,
      `would remove branch agentvisor/${OTHER} (${other})`,
      `would remove folder ${folder}`,
      `would remove history ${OTHER}`,
      `would remove history ${OTHER}/only`,
    ]);
    expect(repoState(other)).toEqual(before);
    expect(existsSync(folder)).toBe(true);

    sh(other, 'switch', '-q', `agentvisor/${OTHER}`);
    const checkedOut = repoState(other);
    const busy = await cli('rm', OTHER);
    expect(busy.code).toBe(2);
    expect(busy.stderr).toContain(`branch agentvisor/${OTHER} of run ${OTHER} is checked out in ${other}`);
    expect(repoState(other)).toEqual(checkedOut);
    expect(existsSync(folder)).toBe(true);
    sh(other, 'switch', '-q', 'main');

    // several runs at once: all are checked first, so one that is not found keeps the other from going
    const both = await cli('rm', OTHER, RUN.replace('one', 'gated-none'));
    expect(both.code).toBe(2);
    expect(existsSync(folder)).toBe(true);

    const rm = await cli('rm', OTHER, '--json');
    expect(rm.code).toBe(0);
    expect(JSON.parse(rm.stdout)).toMatchObject([{ runId: OTHER, dryRun: false, folder }]);
    expect(sh(other, 'for-each-ref', '--format=%(refname)', 'refs/heads/')).toBe('refs/heads/main\n');
    expect(existsSync(folder)).toBe(false);
    const client = await testClient();
    try {
      for (const id of [OTHER, `${OTHER}/only`]) {
        await expect(client.workflow.getHandle(id).describe()).rejects.toBeInstanceOf(WorkflowNotFoundError);
      }
    } finally {
      await client.connection.close();
    }
    const again = await cli('rm', OTHER);
    expect(again).toMatchObject({ code: 2, stderr: `error: no run with id "${OTHER}"\n` });
    // the other run, and the user's branches made from it, are untouched
    expect(tip(repo, `agentvisor/${RUN}`)).toBe(report.merge.commit);
  });
});

test('a run waiting at a gate: ls shows it awaiting_approval, status --exit-status is 3, rm refuses it, cancel by prefix', async () => {
  const gatedRepo = makeRepo();
  const file = writeGraph(`
name: res-gated
repo: ${gatedRepo}
agents:
  w: { harness: command, command: "echo w > w.txt" }
tasks:
  - { id: deploy, agent: w, approval: { timeout: 10m } }
`);
  const runId = 'res-gated-1';
  const client = await testClient();
  try {
    await withRealWorker(async () => {
      const started = await startRun(file, { config: loadConfig(), worker: 'none', runId });
      await started.client.connection.close();
      await until('the gate', async () => (await getRunReport(client, runId, loadConfig())).status === 'awaiting_approval', 90_000);
      await until('the list to catch up', async () => (await cli('ls', '--status', 'awaiting_approval', '--json')).stdout.includes(runId));
      const ls = await cli('ls', '--graph', 'res-gated');
      expect(ls.stdout.split('\n')[1]).toMatch(new RegExp(`^${runId}\\s+awaiting_approval\\s+res-gated\\s`));
      expect((await cli('ls', '--status', 'running', '--json')).stdout).not.toContain(runId);

      const status = await cli('status', runId, '--exit-status');
      expect(status.code).toBe(3);
      expect(status.stdout).toContain('awaiting approval: deploy');
      expect((await cli('status', runId)).code).toBe(0);
      expect((await cli('status', `${runId}/deploy`, '--json', '--exit-status')).code).toBe(3);

      const before = repoState(gatedRepo);
      const rm = await cli('rm', runId);
      expect(rm).toMatchObject({ code: 2, stderr: `error: run ${runId} is still running: cancel it first (agentvisor cancel ${runId})\n` });
      expect(repoState(gatedRepo)).toEqual(before);
      expect(existsSync(runArtifactsDir(process.env.AGENTVISOR_HOME!, runId))).toBe(true);

      expect((await cli('cancel', 'res-gated')).code).toBe(0);
      await client.workflow
        .getHandle(runId)
        .result()
        .catch(() => undefined);
    });
    const after = await cli('status', runId, '--exit-status');
    expect(after.code).toBe(1);
  } finally {
    await client.connection.close();
  }
});

test('status --exit-status of a completed run and of a task: 0; cancel of a completed run: exit 2', async () => {
  expect((await cli('status', RUN, '--exit-status')).code).toBe(0);
  expect(await cli('cancel', RUN)).toMatchObject({ code: 2, stdout: '', stderr: `error: run "${RUN}" is completed, not running\n` });
  const task = await cli('status', `${RUN}/two`, '--json', '--exit-status');
  expect(task.code).toBe(0);
  expect(JSON.parse(task.stdout)).toMatchObject({ id: 'two', status: 'succeeded' });
  const table = await cli('status', `${RUN}/two`);
  expect(table.code).toBe(0);
  expect(table.stdout).toContain('two');
  expect(table.stdout).not.toMatch(/\bthree\b/);
});
