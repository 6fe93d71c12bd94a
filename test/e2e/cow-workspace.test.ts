// Copy-on-write workspaces (activities/workspace-overlay.ts) on real Temporal, Docker, git and
// overlayfs: two agents on one start commit work at the same time in overlays of one checkout.
// While both are mid-work (each has written, deleted and edited its .git, then waits for the test's
// go), the test looks on the host: neither sees the other's writes, the shared checkout is exactly
// the start commit, and the writes are in each task's own upper layer. After the run: each branch
// holds its agent's work alone (its own commit, its uncommitted deletion, its ignored file left
// out), and no mount, layer or checkout is left.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeRepo, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

const runId = `cow-${process.pid}`;

/** Each agent: its writes, a deletion, its own commit, an exclude in its .git; then waits for the go. */
const agent = (name: string) => `  ${name}:
    harness: command
    command: |
      echo "${name} was here" > ${name}.txt
      git add ${name}.txt && git commit -q -m "${name}: its own commit"
      echo "${name}" >> src/${name === 'a' ? 'one' : 'three'}.txt
      rm src/${name === 'a' ? 'two' : 'four'}.txt
      echo ignored.txt >> .git/info/exclude
      echo "not collected" > ignored.txt
      ls -a > seen-${name}.txt
      touch ready
      until [ -e go ]; do sleep 0.1; done
      rm ready go
`;

const mounts = () => readFileSync('/proc/mounts', 'utf8');

test('two agents on one start commit: neither sees the other, the base stays the start commit, the work is collected', async () => {
  const repo = makeRepo({ 'src/one.txt': 'one\n', 'src/two.txt': 'two\n', 'src/three.txt': 'three\n', 'src/four.txt': 'four\n' });
  const start = sh(repo, 'rev-parse', 'main').trim();
  const file = writeGraph(`
name: cow
repo: ${repo}
agents:
${agent('a')}
${agent('b')}
tasks:
  - { id: ta, agent: a }
  - { id: tb, agent: b }
`);
  const worktrees = path.join(process.env.AGENTVISOR_HOME!, 'runs', runId, 'worktrees');
  const ws = (task: string) => path.join(worktrees, task);
  const base = path.join(worktrees, '.bases', start);

  const report = await withRealWorker(async () => {
    const running = runToEnd(file, { runId });
    const ended = running.then(() => true);
    await until(
      'both agents mid-work',
      async () => (await Promise.race([ended, false])) || ['ta', 'tb'].every((t) => existsSync(path.join(ws(t), 'ready'))),
    );
    // (a run that ended already shows why)
    if (await Promise.race([ended, false])) expect((await running).error).toBe('');
    // both are overlays of the one base
    const mounted = mounts();
    expect(mounted).toContain(`${ws('ta')} overlay`);
    expect(mounted).toContain(`${ws('tb')} overlay`);
    expect(mounted).toContain(`lowerdir=${base},`);
    // neither sees the other's writes, nor its deletion
    expect(existsSync(path.join(ws('ta'), 'b.txt'))).toBe(false);
    expect(existsSync(path.join(ws('tb'), 'a.txt'))).toBe(false);
    expect(readFileSync(path.join(ws('ta'), 'src', 'one.txt'), 'utf8')).toBe('one\na\n');
    expect(readFileSync(path.join(ws('ta'), 'src', 'three.txt'), 'utf8')).toBe('three\n');
    expect(readFileSync(path.join(ws('tb'), 'src', 'one.txt'), 'utf8')).toBe('one\n');
    expect(existsSync(path.join(ws('ta'), 'src', 'four.txt'))).toBe(true);
    expect(existsSync(path.join(ws('tb'), 'src', 'two.txt'))).toBe(true);
    expect(readFileSync(path.join(ws('tb'), 'seen-b.txt'), 'utf8')).not.toMatch(/^a\.txt$/m);
    // the base's index matches its files' stat data (refreshed after their chown; before status,
    // which would refresh it): the collectors only stat the files, never hash them again
    expect(sh(base, 'diff-files', '--name-only')).toBe('');
    // the base is the start commit, untouched: its files, its HEAD, no exclude
    expect(sh(base, 'status', '--porcelain', '--ignored')).toBe('');
    expect(sh(base, 'rev-parse', 'HEAD').trim()).toBe(start);
    expect(readdirSync(path.join(base, 'src')).sort()).toEqual(['four.txt', 'one.txt', 'three.txt', 'two.txt']);
    expect(readFileSync(path.join(base, 'src', 'one.txt'), 'utf8')).toBe('one\n');
    expect(readFileSync(path.join(base, '.git', 'info', 'exclude'), 'utf8')).not.toContain('ignored.txt');
    // the writes are in each task's own upper layer
    expect(existsSync(path.join(worktrees, '.ta.layer', 'upper', 'a.txt'))).toBe(true);
    expect(existsSync(path.join(worktrees, '.tb.layer', 'upper', 'a.txt'))).toBe(false);
    for (const t of ['ta', 'tb']) writeFileSync(path.join(ws(t), 'go'), '');
    return running;
  });

  expect(report.error ?? '').toBe('');
  expect(report.status).toBe('completed');
  const files = (task: string) => sh(repo, 'ls-tree', '-r', '--name-only', `agentvisor-tasks/${runId}/${task}`).trim().split('\n').sort();
  // each branch: its agent's work alone; the deletion collected; the ignored file (its .git's exclude) left out
  expect(files('ta')).toEqual(['a.txt', 'seen-a.txt', 'src/four.txt', 'src/one.txt', 'src/three.txt']);
  expect(files('tb')).toEqual(['b.txt', 'seen-b.txt', 'src/one.txt', 'src/three.txt', 'src/two.txt']);
  expect(sh(repo, 'show', `agentvisor-tasks/${runId}/ta:src/one.txt`)).toBe('one\na\n');
  // the agent's own commit is in its branch's history
  expect(sh(repo, 'log', '--format=%s', `${start}..agentvisor-tasks/${runId}/ta`)).toContain('a: its own commit');
  // nothing is left: no overlay or layer mounted, no layer folder, no base
  expect(mounts()).not.toContain(worktrees);
  expect(existsSync(worktrees) ? readdirSync(worktrees) : []).toEqual([]);
});
