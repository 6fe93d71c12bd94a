// git in the user's own repository, for the commands that show or take a run's work (diff,
// checkout, merge, rm). Never in a folder an agent wrote (README "Isolation"): the commits come from
// the run's report, and every command names the user's repository as its working folder. As in
// activities/git.ts, git trusts that one folder (it may belong to another user than the CLI's),
// never `*`; unlike there, the user's own identity signs what the user asks for.
import { execFile } from 'node:child_process';
import * as path from 'node:path';

export class UserGitError extends Error {
  constructor(
    readonly args: string[],
    readonly exitCode: number,
    readonly stderr: string,
  ) {
    super(`git ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || 'no message'}`);
  }
}

export interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

/** git `args` in `repo` (the user's repository or one of its worktrees); never throws for a non-zero exit. */
export function gitInUserRepo(repo: string, args: string[], extraConfig: string[] = []): Promise<GitOutput> {
  const config = [`safe.directory=${path.resolve(repo)}`, ...extraConfig].flatMap((c) => ['-c', c]);
  return new Promise((resolve) => {
    execFile('git', [...config, ...args], { cwd: repo, maxBuffer: 1024 ** 3, encoding: 'utf8' }, (err, stdout, stderr) => {
      // err.code: git's exit code, or a string when git could not run at all (ENOENT: no git, no such folder)
      const exitCode = (err as { code?: unknown } | null)?.code;
      if (!err) resolve({ code: 0, stdout, stderr });
      else if (typeof exitCode === 'number') resolve({ code: exitCode, stdout, stderr });
      else resolve({ code: 128, stdout, stderr: stderr || err.message });
    });
  });
}

/** git `args` in `repo`; its stdout, or UserGitError. */
export async function userGit(repo: string, args: string[], extraConfig: string[] = []): Promise<string> {
  const r = await gitInUserRepo(repo, args, extraConfig);
  if (r.code !== 0) throw new UserGitError(args, r.code, r.stderr || r.stdout);
  return r.stdout;
}

/** The commit `ref` names, or undefined when the repository does not have it. */
export async function commitOf(repo: string, ref: string): Promise<string | undefined> {
  const r = await gitInUserRepo(repo, ['rev-parse', '--verify', '--quiet', '--end-of-options', `${ref}^{commit}`]);
  return r.code === 0 ? r.stdout.trim() : undefined;
}

/** The worktrees of the repository (its main checkout first) and the branch each has checked out. */
export async function worktrees(repo: string): Promise<{ path: string; branch?: string }[]> {
  const out = await userGit(repo, ['worktree', 'list', '--porcelain']);
  return out
    .split('\n\n')
    .filter((block) => block.startsWith('worktree '))
    .map((block) => {
      const lines = block.split('\n');
      const branch = lines.find((l) => l.startsWith('branch '))?.slice('branch refs/heads/'.length);
      return { path: lines[0].slice('worktree '.length), branch };
    });
}

/** The identity for a commit agentvisor makes on the user's behalf: the user's, else agentvisor's. */
export async function commitIdentity(repo: string): Promise<string[]> {
  const email = await gitInUserRepo(repo, ['config', '--get', 'user.email']);
  return email.code === 0 && email.stdout.trim() ? [] : ['user.name=agentvisor', 'user.email=agentvisor@localhost'];
}
