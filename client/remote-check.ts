// The preflight of a run with a remote, on the machine that starts it: the remote answers, has the
// base branch, and has no branch of this run id yet. Read-only (git ls-remote), with the starting
// user's own git credentials; the hosts use theirs.
import { execFile } from 'node:child_process';
import type { Problem } from '../graph/problems';
import type { GraphSpec } from '../graph/types';
import { integrationBranch } from '../contract/run-types';

function lsRemote(remote: string, refs: string[]): Promise<{ out: string } | { error: string }> {
  return new Promise((resolve) => {
    execFile(
      'git',
      ['ls-remote', remote, ...refs],
      // never a password prompt: a remote that needs one is a problem to report, not to wait on
      {
        timeout: 30_000,
        env: { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_SSH_COMMAND: process.env.GIT_SSH_COMMAND ?? 'ssh -o BatchMode=yes' },
      },
      (err, stdout, stderr) => {
        if (!err) return resolve({ out: stdout });
        const reason =
          stderr
            .split('\n')
            .map((l) => l.trim())
            .find((l) => l.startsWith('fatal:') || l.startsWith('error:')) ??
          stderr.trim().split('\n')[0] ??
          err.message;
        resolve({ error: reason || err.message });
      },
    );
  });
}

export async function checkRemote(graph: GraphSpec, runId?: string): Promise<Problem[]> {
  const remote = graph.remote!;
  const refs = [`refs/heads/${graph.baseBranch}`, ...(runId ? [`refs/heads/${integrationBranch(runId)}`] : [])];
  const result = await lsRemote(remote, refs);
  if ('error' in result) return [{ path: 'remote', message: `cannot read the remote ${remote}: ${result.error}` }];
  const found = new Set(
    result.out
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split('\t')[1]),
  );
  const problems: Problem[] = [];
  if (!found.has(refs[0]))
    problems.push({ path: 'baseBranch', message: `base branch "${graph.baseBranch}" is not on the remote ${remote}` });
  if (runId && found.has(refs[1]))
    problems.push({ message: `run id "${runId}" was used before: branch ${integrationBranch(runId)} exists on the remote` });
  return problems;
}
