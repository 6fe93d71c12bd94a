// An agent's workspace: a git repository of the agent's own, mounted at /workspace, which the agent
// may change in any way (its files, its commits, its `.git`: config, hooks, attributes, pointers).
// So everything in it is an adversary's data, and the host treats it that way:
//
// - The host writes it once, into a folder it has just emptied, before any container mounts it: a
//   fresh `git init` and a fetch of the one commit the task starts from (no remote, no link to the
//   user's repository), with no system or global git config and no hooks. A retry starts again
//   from an empty folder; nothing of a former attempt is read. Where the worker can, the workspace
//   is an overlay instead (workspace-overlay.ts): its lower layer is such a repository, made once
//   per start commit and run (the run's base) and never written again, its upper layer the task's
//   own, new and empty; the host's only writes in it (the branch's name, the author) come before
//   the agent starts.
// - Afterwards the host never runs git in it, nor reads anything from it. What the agent made comes
//   out through a collector: a container as confined as the agent (its user, no network, no
//   capabilities) that runs git in the workspace, so whatever the agent's `.git` makes git do
//   happens in that box, and leaves a git bundle in a folder of its own.
// - The bundle is plain data: the host copies it (a regular file, never through a link) into a
//   private folder, reads its header itself, indexes its pack into the user's repository with every
//   object checked (`git index-pack --strict`), and moves the task's branch only if the commit
//   builds on the task's start (or, for a conflict's resolution, has exactly the two parents it
//   must have).
import { ApplicationFailure } from '@temporalio/common';
import { spawn } from 'node:child_process';
import { constants, createReadStream, createWriteStream } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chown, copyFile, mkdir, mkdtemp, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { BASE_IMAGE } from '../images/constants';
import { LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName, type ContainerRuntime } from '../runtimes/runtime';
import { runContainer } from './container-run';
import { mountLimitedDir, releaseLimitedDir } from './disk-limit';
import { gitIn, isAncestor } from './git';
import { chownTree } from './sandbox-user';
import { layerOf, mountOverlayWorkspace, releaseOverlayWorkspace } from './workspace-overlay';
import { collectDir, taskLogPath } from '../paths/run-folder';
import { runCommand } from './spawner';

type Owner = { uid: number; gid: number } | undefined;

/** An agent's identity in the commits made for it. */
export const agentEmail = (name: string) => `${name.replace(/[^A-Za-z0-9._-]/g, '-')}@agents.agentvisor`;

/**
 * git in a workspace the host has just made and no agent has touched yet: no system or global
 * config (the user's drivers and hooks are not wanted there), no hooks, no prompts.
 */
async function freshGit(dir: string, args: string[]): Promise<string> {
  const r = await runCommand(
    'env',
    ['GIT_CONFIG_NOSYSTEM=1', 'GIT_CONFIG_GLOBAL=/dev/null', 'GIT_TERMINAL_PROMPT=0', 'git', '-c', 'core.hooksPath=/dev/null', ...args],
    dir,
  );
  if (r.code !== 0) throw new Error(`git ${args.join(' ')} failed (exit ${r.code}): ${(r.stderr || r.stdout).trim() || 'no message'}`);
  return r.stdout;
}

/**
 * Makes `dir` the agent's repository at `commit`, on a branch named `branch`, its files owned by
 * the agent's user. `history`: the whole history (a resolver merges; git needs the merge base);
 * otherwise the one commit (cheap on large repositories; `git log` shows where the task starts).
 * `merge`: a commit whose merge is left in progress (a conflict's resolver); returns the conflicted files.
 */
export async function createWorkspace(opts: {
  repo: string;
  dir: string;
  commit: string;
  branch: string;
  author: string;
  owner?: Owner;
  history?: boolean;
  merge?: { commit: string; message: string };
  /** the agent's disk limit: the folder is a filesystem of that size (disk-limit.ts); 0/absent: none */
  diskBytes?: number;
  /**
   * Copy-on-write (workspace-overlay.ts): the folder of the run's bases, one per start commit, made
   * here when missing. Only with an owner, without history or merge (a resolver's workspace is a copy).
   */
  bases?: string;
}): Promise<{ conflicted: string[] }> {
  await removeWorkspaceDir(opts.dir);
  if (opts.bases && opts.owner && !opts.history && !opts.merge) {
    const base = await workspaceBase({ repo: opts.repo, bases: opts.bases, commit: opts.commit, owner: opts.owner });
    const { branch, author, commit } = opts;
    await mountOverlayWorkspace({
      dir: opts.dir,
      base,
      owner: opts.owner,
      diskBytes: opts.diskBytes,
      seed: (upper) => taskNames({ upper, base, branch, commit, author }),
    });
    return { conflicted: [] };
  }
  // the worker's own until it is filled (git trusts no folder of another user); then the agent's
  if (opts.diskBytes) await mountLimitedDir(opts.dir, opts.diskBytes);
  else await mkdir(opts.dir, { recursive: true });
  await freshGit(opts.dir, ['init', '--quiet', `--initial-branch=${opts.branch}`]);
  const wanted = [opts.commit, ...(opts.merge ? [opts.merge.commit] : [])];
  await fetchCommits(opts.dir, opts.repo, wanted, { history: opts.history });
  await freshGit(opts.dir, ['config', 'user.name', opts.author]);
  await freshGit(opts.dir, ['config', 'user.email', agentEmail(opts.author)]);
  await freshGit(opts.dir, ['reset', '--hard', '--quiet', opts.commit]);
  let conflicted: string[] = [];
  if (opts.merge) {
    // a conflict exits non-zero and leaves the merge in progress, as the resolver must find it
    await freshGit(opts.dir, ['merge', '--no-ff', '--no-commit', '-m', opts.merge.message, opts.merge.commit]).catch(() => undefined);
    const unmerged = await freshGit(opts.dir, ['diff', '--name-only', '--diff-filter=U']);
    conflicted = [...new Set(unmerged.split('\n').filter(Boolean))];
  }
  if (opts.owner) {
    await chownTree(opts.dir, opts.owner.uid, opts.owner.gid);
    await refreshIndex(opts.dir, opts.owner);
  }
  return { conflicted };
}

/**
 * Fetches `commits` from the user's repository into the fresh repository `dir`. The user's
 * repository serves them (its upload-pack, its config): a path, not a remote. Without `history`,
 * only the commits themselves (cheap on large repositories).
 */
async function fetchCommits(dir: string, repo: string, commits: string[], opts: { history?: boolean }): Promise<void> {
  await freshGit(dir, [
    '-c',
    'uploadpack.allowAnySHA1InWant=true',
    'fetch',
    '--quiet',
    '--no-tags',
    '--no-write-fetch-head',
    ...(opts.history ? [] : ['--depth', '1']),
    path.resolve(repo),
    ...commits,
  ]);
}

/**
 * After a chown of a fresh checkout: the chown changed every file's ctime, so the index no longer
 * matches the files' stat data and git in the collector would read and hash every file again (a
 * whole checkout per task on a large repository). Refreshed here, by the host, before any agent
 * has the folder, the index matches and the collector only stats. A refresh that fails (an
 * unmerged index: a resolver's) costs only that speed.
 */
async function refreshIndex(dir: string, owner: { uid: number; gid: number }): Promise<void> {
  // the folder is the agents' user's by now, and git refuses another user's repository: this one
  // is trusted (no agent has had it yet), so it is safe for this one command, run in it
  await freshGit(dir, ['-c', 'safe.directory=*', 'update-index', '-q', '--refresh']).catch(() => undefined);
  await chown(path.join(dir, '.git', 'index'), owner.uid, owner.gid);
}

/**
 * The task's own names in its upper layer, before the overlay is mounted (the host runs no git in
 * the workspace, not even before the agent): its branch at the start commit, checked out (HEAD),
 * and its author in a copy of the base's config. Written beside the base's files, whose `.git` has
 * a detached HEAD and no branch.
 */
async function taskNames(opts: { upper: string; base: string; branch: string; commit: string; author: string }): Promise<void> {
  const gitDir = path.join(opts.upper, '.git');
  const ref = `refs/heads/${opts.branch}`;
  await mkdir(path.dirname(path.join(gitDir, ref)), { recursive: true });
  await writeFile(path.join(gitDir, ref), `${opts.commit}\n`);
  await writeFile(path.join(gitDir, 'HEAD'), `ref: ${ref}\n`);
  const config = path.join(gitDir, 'config');
  await copyFile(path.join(opts.base, '.git', 'config'), config);
  await freshGit('/', ['config', '--file', config, 'user.name', opts.author]);
  await freshGit('/', ['config', '--file', config, 'user.email', agentEmail(opts.author)]);
}

/**
 * The run's base for `commit` (workspace-overlay.ts): a repository at that commit, its files the
 * agents' user's, made once and never written again. Made under another name and renamed once whole, so two tasks (or two workers) that want
 * it at once each find it whole or make it; a base is complete once it has its name.
 */
export async function workspaceBase(opts: {
  repo: string;
  bases: string;
  commit: string;
  owner: { uid: number; gid: number };
}): Promise<string> {
  const base = path.join(opts.bases, opts.commit);
  // the tasks of this worker that want it at once wait for the one making it (ten makings at once
  // cost ten checkouts); another worker may make its own, and the first whole one wins
  let making = basesBeingMade.get(base);
  if (!making) {
    making = makeWorkspaceBase({ ...opts, base }).finally(() => basesBeingMade.delete(base));
    basesBeingMade.set(base, making);
  }
  return making;
}
const basesBeingMade = new Map<string, Promise<string>>();

async function makeWorkspaceBase(opts: {
  repo: string;
  base: string;
  commit: string;
  owner: { uid: number; gid: number };
}): Promise<string> {
  const { base } = opts;
  if (existsSync(base)) return base;
  const making = `${base}.making-${randomBytes(4).toString('hex')}`;
  try {
    await mkdir(making, { recursive: true });
    await freshGit(making, ['init', '--quiet']);
    await fetchCommits(making, opts.repo, [opts.commit], { history: false });
    // the checkout by the worker, then handed over: once per base, not per task. (git as the agents'
    // user cannot do it: the run's folder is not theirs to search, and git checks with access(2).)
    await freshGit(making, ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', opts.commit]);
    await chownTree(making, opts.owner.uid, opts.owner.gid);
    await refreshIndex(making, opts.owner);
    // another may have made it meanwhile: theirs is as good
    await rename(making, base).catch((err: unknown) => {
      if (!existsSync(base)) throw err;
    });
    return base;
  } finally {
    await rm(making, { recursive: true, force: true });
  }
}

/**
 * The run's bases, once no workspace of the run is left on them (its report is written; a run kept
 * on failure keeps its workspaces, and so its bases, until gc or rm). True when they went.
 */
export async function removeUnusedBases(worktrees: string, bases: string): Promise<boolean> {
  const names = existsSync(worktrees) ? await readdir(worktrees) : [];
  if (names.some((name) => existsSync(layerOf(path.join(worktrees, name))))) return false;
  await rm(bases, { recursive: true, force: true });
  return true;
}

/**
 * The workspace and all in it (an overlay unmounted and its layer removed; a disk-limited
 * filesystem unmounted first); a symlink inside is removed, never followed.
 */
export async function removeWorkspaceDir(dir: string): Promise<void> {
  await releaseOverlayWorkspace(dir);
  await releaseLimitedDir(dir);
}

/**
 * Runs in the collector container, in /workspace, as the agent's user: everything the agent left
 * (committed or not; ignored files stay out, as with git) as one commit on top of its own history,
 * or squashed onto the start commit when its history does not start there; then a bundle of that
 * commit alone (its start is a prerequisite the user's repository has). Problems are written to
 * /out/error as text; the exit code does not matter. (AV_WORKSPACE and AV_OUT: only for the
 * Kubernetes test cluster, whose simulated node runs it outside any container.)
 */
const COLLECTOR = `
out=\${AV_OUT:-/out}
cd "\${AV_WORKSPACE:-/workspace}" 2>/dev/null || { echo "the workspace is gone" > "$out/error"; exit 0; }
fail() { echo "$1" > "$out/error"; exit 0; }
# the agent's hooks and fsmonitor would only run here, in its box; off, so they cannot spoil the collection
g() { git -c core.hooksPath=/dev/null -c core.fsmonitor=false "$@"; }
export GIT_AUTHOR_NAME="$AV_AUTHOR" GIT_AUTHOR_EMAIL="$AV_EMAIL" GIT_COMMITTER_NAME=agentvisor GIT_COMMITTER_EMAIL=agentvisor@localhost
g rev-parse --git-dir >/dev/null 2>&1 || fail "the workspace is no longer a git repository"
g cat-file -e "$AV_START^{commit}" 2>/dev/null || fail "the task's start commit is no longer in the workspace's repository"
# the index the collection writes is a copy outside the workspace: the workspace's own (a list of the
# whole repository: ~8 MB at 100,000 files) would otherwise be rewritten, copied up whole into the
# task's layer of a copy-on-write workspace
own_index=$(g rev-parse --git-path index 2>/dev/null) || fail "the workspace's index cannot be found"
GIT_INDEX_FILE=$(mktemp) || fail "no room for the collector's index"
export GIT_INDEX_FILE
trap 'rm -f "$GIT_INDEX_FILE"' EXIT
if [ -f "$own_index" ]; then cat "$own_index" > "$GIT_INDEX_FILE" 2>/dev/null || fail "the workspace's index cannot be read"; else rm -f "$GIT_INDEX_FILE"; fi
g add --all >/dev/null 2>&1 || fail "git add failed in the workspace"
tree=$(g write-tree) || fail "git write-tree failed in the workspace"
if [ -n "$AV_MERGE_PARENT" ]; then
  tip=$(g commit-tree "$tree" -p "$AV_START" -p "$AV_MERGE_PARENT" -m "$AV_MESSAGE") || fail "git commit-tree failed"
else
  head=$(g rev-parse -q --verify 'HEAD^{commit}' 2>/dev/null)
  if [ -n "$head" ] && g merge-base --is-ancestor "$AV_START" "$head" 2>/dev/null; then
    if [ "$(g rev-parse "$head^{tree}")" = "$tree" ]; then tip=$head
    else tip=$(g commit-tree "$tree" -p "$head" -m "$AV_MESSAGE") || fail "git commit-tree failed"; fi
  else
    tip=$(g commit-tree "$tree" -p "$AV_START" -m "$AV_MESSAGE (squashed: the agent's history did not start from the task's start)") || fail "git commit-tree failed"
  fi
  # a second collection of the same workspace finds the same commit
  g reset --soft -q "$tip" >/dev/null 2>&1
fi
if [ "$tip" = "$AV_START" ]; then echo none > "$out/result"; exit 0; fi
g update-ref refs/agentvisor/collected "$tip" || fail "git update-ref failed"
g bundle create "$out/work.bundle" refs/agentvisor/collected "^$AV_START" \${AV_MERGE_PARENT:+"^$AV_MERGE_PARENT"} >/dev/null 2>&1 || fail "git bundle failed"
echo bundle > "$out/result"
`;

/**
 * The agent's work as a commit of the user's repository, on `branch` (or on no branch, for a
 * resolution: the caller moves the integration branch). Undefined: the agent changed nothing.
 */
export async function collectWork(opts: {
  runtime: ContainerRuntime;
  scope: string;
  user: string;
  owner?: Owner;
  runId: string;
  /** the task's (or resolver's) id: labels and names of the collector */
  id: string;
  taskId: string;
  repo: string;
  workspace: string;
  artifactsDir: string;
  startCommit: string;
  author: string;
  message: string;
  /** a resolution: the commit must be the merge of startCommit and this */
  mergeParent?: string;
  /**
   * The agent's disk limit, for the collector's output folder too: the agent's config can make git
   * run commands in the collector (filter drivers), and they may write there.
   */
  diskBytes?: number;
}): Promise<string | undefined> {
  const out = collectDir(opts.artifactsDir, opts.id);
  const name = containerName(opts.runId, `_collect-${opts.id}`);
  // a re-attached collector (a worker that died meanwhile) keeps its folder
  if ((await opts.runtime.inspect(name)).state === 'missing') {
    await releaseLimitedDir(out);
    if (opts.diskBytes) await mountLimitedDir(out, opts.diskBytes, opts.owner);
    else await mkdir(out, { recursive: true });
    if (opts.owner) await chownTree(out, opts.owner.uid, opts.owner.gid);
  }
  const outcome = await runContainer(
    opts.runtime,
    {
      name,
      image: BASE_IMAGE,
      command: ['sh', '-c', COLLECTOR],
      env: {
        HOME: '/tmp',
        AV_START: opts.startCommit,
        AV_MERGE_PARENT: opts.mergeParent ?? '',
        AV_AUTHOR: opts.author,
        AV_EMAIL: agentEmail(opts.author),
        AV_MESSAGE: opts.message,
      },
      workdir: '/workspace',
      mounts: [
        { source: opts.workspace, target: '/workspace', readOnly: false },
        { source: out, target: '/out', readOnly: false },
      ],
      user: opts.user,
      labels: { [LABEL_RUN]: opts.runId, [LABEL_TASK]: opts.taskId, [LABEL_ROLE]: 'collector', [LABEL_SCOPE]: opts.scope },
      memoryBytes: 1024 ** 3,
      cpus: 1,
      pids: 256,
      network: 'none',
      tmpfs: ['/tmp'],
    },
    // whatever the agent's .git makes git do, it gets this long
    { logPath: taskLogPath(opts.artifactsDir, `_collect-${opts.id}`), timeoutMs: 3 * 60_000 },
  );
  await opts.runtime.remove(name);
  // the folder goes whatever came of it (a disk-limited one is a mount)
  try {
    if (outcome.timedOut) throw ApplicationFailure.nonRetryable("collecting the agent's work took longer than 3 minutes", 'CollectFailed');
    const error = await readSmallFile(path.join(out, 'error'));
    if (error !== undefined)
      throw ApplicationFailure.nonRetryable(`the agent's work cannot be collected: ${printable(error)}`, 'CollectFailed');
    const result = (await readSmallFile(path.join(out, 'result')))?.trim();
    if (result === 'none') return undefined;
    if (result !== 'bundle')
      throw ApplicationFailure.nonRetryable(`the agent's work cannot be collected (collector exit ${outcome.exitCode})`, 'CollectFailed');
    return await importBundle({
      repo: opts.repo,
      bundle: path.join(out, 'work.bundle'),
      startCommit: opts.startCommit,
      mergeParent: opts.mergeParent,
    });
  } finally {
    await releaseLimitedDir(out);
  }
}

/**
 * Takes the collector's bundle into the user's repository and returns its commit once it is known
 * to build on the start. The bundle is read as data: its header by this process (one ref, its
 * commit), its pack by `git index-pack --strict`, which checks every object as fsck does (a tree
 * holding `.git`, a malformed object or a missing link fails it; git 2.39's fetch from a bundle
 * does not check them). No ref is written here: the caller moves the branch.
 */
async function importBundle(opts: { repo: string; bundle: string; startCommit: string; mergeParent?: string }): Promise<string> {
  const privateDir = await mkdtemp(path.join(os.tmpdir(), 'agentvisor-bundle-'));
  const copy = path.join(privateDir, 'work.bundle');
  try {
    await copyRegularFile(opts.bundle, copy);
    const { tip, packOffset } = await readBundleHeader(copy);
    await indexPack(opts.repo, copy, packOffset);
    if ((await gitIn(opts.repo, ['cat-file', '-t', tip]).catch(() => '')).trim() !== 'commit')
      refuse('the bundle does not hold its commit');
    if (opts.mergeParent) {
      const parents = (await gitIn(opts.repo, ['rev-list', '--parents', '-n', '1', tip])).trim().split(' ').slice(1);
      if (parents.length !== 2 || parents[0] !== opts.startCommit || parents[1] !== opts.mergeParent)
        refuse('the resolution is not the merge it must be (its parents differ)');
    } else if (!(await isAncestor(opts.repo, opts.startCommit, tip))) {
      refuse("it does not build on the task's start commit");
    }
    return tip;
  } finally {
    await rm(privateDir, { recursive: true, force: true });
  }
}

function refuse(why: string): never {
  throw ApplicationFailure.nonRetryable(`the agent's work was refused: ${why}`, 'CollectFailed');
}

/** A v2 bundle's header: prerequisites, then exactly the one ref the collector writes; then the pack. */
async function readBundleHeader(file: string): Promise<{ tip: string; packOffset: number }> {
  const handle = await open(file, constants.O_RDONLY);
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    const end = buf.subarray(0, bytesRead).indexOf('\n\n');
    if (end < 0) refuse('the bundle has no header');
    const [signature, ...lines] = buf.subarray(0, end).toString('latin1').split('\n');
    if (signature !== '# v2 git bundle') refuse('not a v2 git bundle');
    const refs = lines.filter((l) => !l.startsWith('-'));
    const m = refs.length === 1 ? /^([0-9a-f]{40}) refs\/agentvisor\/collected$/.exec(refs[0]) : null;
    if (!m) refuse('the bundle must name exactly its one commit');
    return { tip: m[1], packOffset: end + 2 };
  } finally {
    await handle.close();
  }
}

/** `git index-pack --stdin --fix-thin --strict` of the pack in `file` from `offset`, into the repository. */
async function indexPack(repo: string, file: string, offset: number): Promise<void> {
  const child = spawn('git', ['-c', `safe.directory=${path.resolve(repo)}`, 'index-pack', '--stdin', '--fix-thin', '--strict'], {
    cwd: repo,
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString('utf8')).slice(-2000)));
  const exited = new Promise<number>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve(code ?? 1));
  });
  await pipeline(createReadStream(file, { start: offset }), child.stdin).catch(() => undefined);
  const code = await exited;
  if (code !== 0)
    refuse(
      printable(
        stderr
          .split('\n')
          .filter((l) => l.startsWith('error') || l.startsWith('fatal'))
          .join('; ') || `git index-pack exited ${code}`,
      ),
    );
}

/** Copies a file only when it is a regular file, opened without following a link or blocking on a FIFO. */
async function copyRegularFile(from: string, to: string): Promise<void> {
  const handle = await open(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => {
    throw ApplicationFailure.nonRetryable("the agent's work cannot be collected: the collector left no bundle", 'CollectFailed');
  });
  try {
    if (!(await handle.stat()).isFile())
      throw ApplicationFailure.nonRetryable("the agent's work cannot be collected: the bundle is not a regular file", 'CollectFailed');
    await pipeline(handle.createReadStream({ autoClose: false }), createWriteStream(to, { flags: 'wx', mode: 0o600 }));
  } finally {
    await handle.close();
  }
}

/** A small text file of the collector's (at most 1 KiB read), or undefined when absent or not a regular file. */
async function readSmallFile(file: string): Promise<string | undefined> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK).catch(() => undefined);
  if (!handle) return undefined;
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buf = Buffer.alloc(1024);
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** Text from a box, fit for a reason: printable characters only, one line, short. */
function printable(text: string): string {
  return text
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
    .slice(0, 300);
}
