// Real git repositories for tests, and snapshots of everything a run could leave behind.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { LABEL_RUN } from '../../runtimes/runtime';

export function sh(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'safe.directory=*', ...args], { cwd, encoding: 'utf8' });
}

/** A repository with one commit on main holding the given files. */
export function makeRepo(files: Record<string, string> = { 'README.md': '# test repo\n', 'src/value.txt': 'one\ntwo\nthree\n' }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-repo-'));
  sh(dir, 'init', '-q', '-b', 'main');
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), content);
  }
  sh(dir, 'add', '-A');
  sh(dir, '-c', 'user.name=test', '-c', 'user.email=test@localhost', 'commit', '-q', '-m', 'initial');
  return dir;
}

/** Every ref with its commit, and every worktree: what "exactly as before" compares. */
export function repoState(repo: string): { refs: string; worktrees: string } {
  return {
    refs: sh(repo, 'for-each-ref', '--format=%(refname) %(objectname)'),
    worktrees: sh(repo, 'worktree', 'list', '--porcelain'),
  };
}

export async function containersOfRun(runId?: string): Promise<string[]> {
  const docker = new Docker();
  const filters = { label: [runId ? `${LABEL_RUN}=${runId}` : LABEL_RUN] };
  const found = await docker.listContainers({ all: true, filters });
  return found.map((c) => c.Names[0]);
}

/** Writes a graph file next to nothing else; the repo path is absolute. */
export function writeGraph(yaml: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-graph-'));
  const file = path.join(dir, 'graph.yaml');
  writeFileSync(file, yaml);
  return file;
}
