// Hostile agents against git, on real Temporal, Docker and git. Each agent is a few lines of shell
// in its container that try to make a host process run code, follow a pointer or move a branch
// that is not theirs. Every check is evidence on the host (files that would exist, refs, trees),
// never what an agent prints. A trap command writes into a host folder that does not exist inside
// any container: if it ever runs on the host, the file appears.
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { removeWorkspaceDir } from '../../activities/workspace';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';

/** run ids of this test process's own (a kept run's containers stay until removed) */
const runId = (name: string) => `attack-git-${name}-${process.pid}`;

const trap = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-trap-'));
/** a shell command that leaves evidence on the host, and only there */
const spring = (name: string) => `touch ${trap}/${name}`;

/** The user's branch, its checkout and its files: what no agent may change. */
function userState(repo: string) {
  return {
    main: sh(repo, 'rev-parse', 'main').trim(),
    status: sh(repo, 'status', '--porcelain', '--ignored'),
    files: readdirSync(repo).sort(),
  };
}

const agent = (name: string, script: string) =>
  `  ${name}:\n    harness: command\n    command: |\n${script
    .trim()
    .split('\n')
    .map((l) => `      ${l}`)
    .join('\n')}\n`;

describe('a hostile agent against git', () => {
  const secret = path.join(trap, 'host-secret.txt');
  writeFileSync(secret, 'the host secret\n');

  test('poisoned config, hooks, attribute drivers, nested repositories and links run nothing on the host; the agent keeps a git of its own', async () => {
    const repo = makeRepo();
    const before = userState(repo);
    const file = writeGraph(`
name: poisoned-but-collected
repo: ${repo}
agents:
${agent(
  'fsmonitor',
  `
git config core.fsmonitor "${spring('fsmonitor')}"
echo a > a.txt`,
)}
${agent(
  'hooks',
  `
mkdir -p hooks
printf '#!/bin/sh\\n${spring('hook')}\\n' > hooks/template
for h in pre-commit post-commit reference-transaction post-checkout post-merge post-index-change pre-auto-gc post-rewrite; do cp hooks/template hooks/$h; cp hooks/template .git/hooks/$h; done
chmod +x hooks/* .git/hooks/*
git config core.hooksPath /workspace/hooks
echo b > b.txt`,
)}
${agent(
  'drivers',
  `
printf '* filter=evil diff=evil merge=evil\\n' > .gitattributes
git config filter.evil.clean "${spring('filter-clean')}; cat"
git config filter.evil.smudge "${spring('filter-smudge')}; cat"
git config diff.evil.textconv "${spring('textconv')}; cat"
git config merge.evil.driver "${spring('merge-driver')}"
git config core.pager "${spring('pager')}"
echo c > c.txt`,
)}
${agent(
  'owngit',
  `
git status --short >/dev/null
git log --oneline | grep -q initial
echo one > one.txt
git add one.txt
git commit -q -m "agent: one"
git branch feature
git diff HEAD~1 --stat | grep -q one.txt
echo two > two.txt`,
)}
${agent(
  'nested',
  `
mkdir -p sub && cd sub && git init -q && git config core.fsmonitor "${spring('nested')}" && echo x > f && git add f && git -c user.name=a -c user.email=b commit -qm nested && cd ..
mkdir -p sub2 && printf 'gitdir: ${repo}/.git\\n' > sub2/.git && echo y > sub2/y`,
)}
${agent(
  'links',
  `
ln -s ${secret} leak
ln -s / root
ln -s ${repo}/.git dotgit`,
)}
${agent(
  'fixer',
  `
git config core.fsmonitor "${spring('resolver')}"
printf 'one\\nLEFT and RIGHT\\nthree\\n' > src/value.txt`,
)}
  left: { harness: command, command: "printf 'one\\\\nLEFT\\\\nthree\\\\n' > src/value.txt" }
  right: { harness: command, command: "printf 'one\\\\nRIGHT\\\\nthree\\\\n' > src/value.txt" }
tasks:
  - { id: fsmonitor, agent: fsmonitor, prompt: "x" }
  - { id: hooks, agent: hooks, prompt: "x" }
  - { id: drivers, agent: drivers, prompt: "x" }
  - { id: owngit, agent: owngit, prompt: "x" }
  - { id: nested, agent: nested, prompt: "x" }
  - { id: links, agent: links, prompt: "x" }
  - { id: left, agent: left, prompt: "x" }
  - { id: right, agent: right, prompt: "x" }
merge:
  onConflict: resolve
  resolver: fixer
evaluate:
  command: |
    git config core.fsmonitor "${spring('evaluation')}"; printf 'gitdir: ${repo}/.git\\n' > .git.tmp; git status >/dev/null; true
`);
    const report = await withRealWorker(() => runToEnd(file, { runId: runId('collected') }));

    // first the evidence on the host: no trap sprang, the user's branch and checkout are as they were
    expect(readdirSync(trap)).toEqual(['host-secret.txt']);
    expect(userState(repo)).toEqual(before);
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });

    const tree = (ref: string) => sh(repo, 'ls-tree', '-r', '--format=%(objectmode) %(path)', ref).trim().split('\n');
    const merged = tree(report.integrationBranch);
    for (const f of ['a.txt', 'b.txt', 'c.txt', 'one.txt', 'two.txt', 'sub2/y', '.gitattributes']) expect(merged).toContain(`100644 ${f}`);
    expect(merged).toContain('100755 hooks/template');
    // links are stored as links: their target is text, the host file is not read or changed
    expect(merged).toEqual(expect.arrayContaining(['120000 leak', '120000 root', '120000 dotgit']));
    expect(sh(repo, 'show', `${report.integrationBranch}:leak`)).toBe(secret);
    expect(readFileSync(secret, 'utf8')).toBe('the host secret\n');
    // a nested repository is a gitlink (no .git path is ever stored); a nested .git file is not stored
    expect(merged).toContain('160000 sub');
    expect(merged.some((l) => /(^|\/)\.git(\/|$)/.test(l.split(' ')[1]))).toBe(false);
    // the agent's own git: its commit is kept, what it left uncommitted comes after it
    const owngit = report.tasks.find((t) => t.id === 'owngit')!;
    expect(sh(repo, 'log', '--format=%an|%s', '-3', owngit.commit!).trim().split('\n')).toEqual([
      'owngit|agentvisor: owngit (owngit)',
      'owngit|agent: one',
      'test|initial',
    ]);
    // the resolver's poisoned config ran in its box; its resolution is the merge
    expect(sh(repo, 'show', `${report.integrationBranch}:src/value.txt`)).toBe('one\nLEFT and RIGHT\nthree\n');
    expect(await containersOfRun(runId('collected'))).toEqual([]);
  });

  test("a replaced repository, pointers to the user's repository or another task's, forged objects and a poisoned retry move nothing", async () => {
    const repo = makeRepo();
    const before = userState(repo);
    const id = runId('refused');
    const victimWorkspace = path.join(process.env.AGENTVISOR_HOME!, 'runs', id, 'worktrees', 'victim');
    const file = writeGraph(`
name: refused
repo: ${repo}
failFast: false
agents:
${agent(
  'replace',
  `
rm -rf .git && git init -q && git config core.fsmonitor "${spring('replaced')}"
echo z > z && git add z && git -c user.name=a -c user.email=b commit -qm evil`,
)}
${agent(
  'pointuser',
  `
rm -rf .git && printf 'gitdir: ${repo}/.git\\n' > .git
echo pwn > pwn.txt`,
)}
${agent(
  'pointother',
  `
sleep 2
rm -rf .git && printf 'gitdir: ${victimWorkspace}/.git\\n' > .git
echo pwn > pwn.txt`,
)}
${agent(
  'forge',
  `
blob=$(echo '[core] fsmonitor = "${spring('forged')}"' | git hash-object -w --stdin)
inner=$(printf '100644 blob %s\\tconfig\\n' "$blob" | git mktree)
outer=$(printf '040000 tree %s\\t.git\\n' "$inner" | git mktree)
commit=$(git commit-tree "$outer" -p HEAD -m forged)
git reset -q --soft "$commit"`,
)}
${agent(
  'retry',
  `
git config core.fsmonitor "${spring('retry')}"
git config core.hooksPath /workspace
printf '#!/bin/sh\\n${spring('retry-hook')}\\n' > post-checkout; chmod +x post-checkout
echo r > r.txt
exit 137`,
)}
  victim: { harness: command, command: "sleep 4; echo mine > victim.txt" }
tasks:
  - { id: replace, agent: replace, prompt: "x" }
  - { id: pointuser, agent: pointuser, prompt: "x" }
  - { id: pointother, agent: pointother, prompt: "x" }
  - { id: forge, agent: forge, prompt: "x" }
  - { id: retry, agent: retry, prompt: "x", retry: { attempts: 2, backoff: 1s } }
  - { id: victim, agent: victim, prompt: "x" }
`);
    // kept on failure: the branches of the tasks that did not fail stay, as evidence
    const report = await withRealWorker(() => runToEnd(file, { runId: id, keepOnFailure: true })).finally(() => removeContainersOf(id));
    afterWreckage.push(() => removeWorkspaces(id));

    expect(readdirSync(trap)).toEqual(['host-secret.txt']);
    expect(userState(repo)).toEqual(before);
    expect(report.status).toBe('failed');
    const task = (id: string) => report.tasks.find((t) => t.id === id)!;
    expect(task('replace')).toMatchObject({
      status: 'failed',
      error: expect.stringContaining("the task's start commit is no longer in the workspace's repository"),
    });
    expect(task('pointuser')).toMatchObject({ status: 'failed', error: expect.stringContaining('no longer a git repository') });
    expect(task('pointother')).toMatchObject({ status: 'failed', error: expect.stringContaining('no longer a git repository') });
    // git's object checks refuse a tree that holds a .git entry
    expect(task('forge')).toMatchObject({ status: 'failed', error: expect.stringContaining("the agent's work was refused") });
    expect(task('retry')).toMatchObject({ status: 'failed', error: expect.stringContaining('killed') });
    expect(task('victim')).toMatchObject({ status: 'succeeded' });

    expect(existsSync(path.join(repo, 'pwn.txt'))).toBe(false);
    // the victim's branch holds its own work alone
    expect(sh(repo, 'ls-tree', '-r', '--name-only', task('victim').commit!).trim().split('\n').sort()).toEqual([
      'README.md',
      'src/value.txt',
      'victim.txt',
    ]);
    expect(sh(repo, 'log', '--format=%s', '-1', task('victim').commit!).trim()).toBe('agentvisor: victim (victim)');
    // no ref of the user's repository holds a forged .git entry or an attacker's file
    const refs = sh(repo, 'for-each-ref', '--format=%(refname)').trim().split('\n');
    for (const ref of refs) {
      const paths = sh(repo, 'ls-tree', '-r', '--name-only', ref);
      expect(paths).not.toMatch(/(^|\/)\.git(\/|$)/m);
      expect(paths).not.toMatch(/^(z|pwn\.txt)$/m);
    }
    expect(refs.filter((r) => r.startsWith('refs/agentvisor/'))).toEqual([]);
  });
});

/** The kept run's workspaces (disk-limited ones are mounts) go once the test has looked at them. */
const afterWreckage: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const f of afterWreckage) await f();
});

async function removeWorkspaces(id: string) {
  const worktrees = path.join(process.env.AGENTVISOR_HOME!, 'runs', id, 'worktrees');
  // (each folder's image file, beside it, goes with it)
  for (const name of existsSync(worktrees) ? readdirSync(worktrees) : [])
    if (!name.startsWith('.')) await removeWorkspaceDir(path.join(worktrees, name));
}

async function removeContainersOf(id: string) {
  const docker = new Docker();
  for (const name of await containersOfRun(id)) await docker.getContainer(name.replace(/^\//, '')).remove({ force: true });
}
