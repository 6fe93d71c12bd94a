// Conflict resolution at the merge on real Temporal, Docker and git: a `command` resolver agent
// that resolves the conflicted merge (the run completes with the resolved file, evaluated), one that
// leaves conflict markers (the run fails cleanly and is rolled back), and a task retried on top of
// the integration branch.
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { recordHistories } from '../support/record-history';
import { runToEnd, withRealWorker } from '../support/temporal';

const graph = (name: string, repo: string, agents: string, merge: string, evaluate = '') => `
name: ${name}
repo: ${repo}
agents:
  left:  { harness: command, command: "printf 'one\\\\nLEFT\\\\nthree\\\\n' > src/value.txt" }
  right: { harness: command, command: "printf 'one\\\\nRIGHT\\\\nthree\\\\n' > src/value.txt" }
${agents}
tasks:
  - { id: left-edit, agent: left, prompt: "Say LEFT" }
  - { id: right-edit, agent: right, prompt: "Say RIGHT" }
merge:
${merge}
${evaluate}`;

describe('conflict resolution', () => {
  test('a resolver that resolves: the run completes with the resolved file; one that leaves markers fails cleanly; a retry builds on the other work', async () => {
    const repos = [makeRepo(), makeRepo(), makeRepo()];
    const before = repos.map(repoState);
    const resolves = writeGraph(
      graph(
        'resolved',
        repos[0],
        `  fixer:
    harness: command
    command: |
      grep -q '^<<<<<<<' src/value.txt || { echo "no conflicted merge here"; exit 3; }
      echo "$AGENTVISOR_PROMPT" | head -n 1
      printf 'one\\nLEFT and RIGHT\\nthree\\n' > src/value.txt`,
        '  onConflict: resolve\n  resolver: fixer',
        'evaluate: { command: "grep -qx \'LEFT and RIGHT\' src/value.txt" }',
      ),
    );
    const leavesMarkers = writeGraph(
      graph(
        'unresolved',
        repos[1],
        '  shrug: { harness: command, command: "echo looked at it" }',
        '  onConflict: resolve\n  resolver: shrug',
      ),
    );
    const retries = writeGraph(
      graph('retried', repos[2], '', '  onConflict: retry').replace(
        `right: { harness: command, command: "printf 'one\\\\nRIGHT\\\\nthree\\\\n' > src/value.txt" }`,
        `right: { harness: command, command: "sed -i '2s/$/-RIGHT/' src/value.txt" }`,
      ),
    );
    const [ok, bad, again] = await withRealWorker(() =>
      Promise.all([
        runToEnd(resolves, { runId: 'e2e-resolved' }),
        runToEnd(leavesMarkers, { runId: 'e2e-unresolved' }),
        runToEnd(retries, { runId: 'e2e-retried' }),
      ]),
    );

    // resolved by the agent, committed as the merge, evaluated
    expect({ status: ok.status, error: ok.error }).toEqual({ status: 'completed', error: undefined });
    expect(ok.merge.conflicts).toEqual([
      {
        taskId: 'right-edit',
        conflictsWith: ['left-edit'],
        files: ['src/value.txt'],
        resolution: {
          strategy: 'resolve',
          by: 'fixer',
          status: 'resolved',
          commit: expect.stringMatching(/^[0-9a-f]{40}$/),
          logPath: expect.stringMatching(/_resolve-right-edit\.log$/),
        },
      },
    ]);
    expect(sh(repos[0], 'show', `${ok.integrationBranch}:src/value.txt`)).toBe('one\nLEFT and RIGHT\nthree\n');
    const resolution = ok.merge.conflicts[0].resolution!.commit!;
    expect(sh(repos[0], 'log', '-1', '--format=%an|%P|%s', resolution).trim()).toMatch(
      /^fixer\|[0-9a-f]{40} [0-9a-f]{40}\|agentvisor: merge right-edit \(conflict resolved by fixer\)$/,
    );
    expect(sh(repos[0], 'merge-base', '--is-ancestor', resolution, ok.integrationBranch)).toBe('');
    expect(ok.evaluation).toMatchObject({ passed: true });
    expect(require('node:fs').readFileSync(ok.merge.conflicts[0].resolution!.logPath!, 'utf8')).toContain(
      'Resolve a merge conflict. The work of task right-edit',
    );
    recordHistories('conflict-resolved', ['e2e-resolved']);

    // markers left: the run fails with the reason and everything is rolled back
    expect(bad.status).toBe('failed');
    expect(bad.error).toBe(
      'merge conflict: task right-edit conflicts with left-edit in src/value.txt; the conflict was handed to a resolver: the resolver shrug left it unresolved: conflict markers are left in src/value.txt',
    );
    expect(bad.merge).toMatchObject({
      status: 'conflict',
      conflicts: [{ taskId: 'right-edit', resolution: { strategy: 'resolve', status: 'failed' } }],
    });
    recordHistories('conflict-unresolved', ['e2e-unresolved']);

    // retried on top of the integration branch: its agent saw LEFT
    expect({ status: again.status, error: again.error }).toEqual({ status: 'completed', error: undefined });
    expect(again.merge.conflicts).toEqual([
      {
        taskId: 'right-edit',
        conflictsWith: ['left-edit'],
        files: ['src/value.txt'],
        resolution: { strategy: 'retry', status: 'resolved' },
      },
    ]);
    expect(again.tasks[1].note).toBe('conflicted with left-edit in src/value.txt; retried on top of the integration branch');
    expect(sh(repos[2], 'show', `${again.integrationBranch}:src/value.txt`)).toBe('one\nLEFT-RIGHT\nthree\n');
    recordHistories('conflict-retried', ['e2e-retried']);

    // nothing left behind: no container, no resolver worktree; the failed run's refs are as before
    for (const id of ['e2e-resolved', 'e2e-unresolved', 'e2e-retried']) expect(await containersOfRun(id)).toEqual([]);
    expect(repoState(repos[0]).worktrees).toBe(before[0].worktrees);
    expect(repoState(repos[1])).toEqual(before[1]);
    expect(repoState(repos[2]).worktrees).toBe(before[2].worktrees);
  });
});
