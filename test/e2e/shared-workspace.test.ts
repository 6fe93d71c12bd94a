// The run's shared workspace on real Temporal, Docker and git: agents hand notes to each other
// through /shared, a read-only agent cannot write there, agents not let in do not see it, and a
// rollback removes it unless the graph keeps it.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { cli } from '../support/cli';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { recordHistories } from '../support/record-history';
import { runToEnd, withRealWorker } from '../support/temporal';

const log = (p?: string) => (p && existsSync(p) ? readFileSync(p, 'utf8') : '');

/** Waits (inside the container) for a file another agent writes; fails after 60 s. */
const awaitFile = (f: string) => `for i in $(seq 1 600); do test -f ${f} && break; sleep 0.1; done; test -f ${f}`;

describe('a shared workspace', () => {
  test('agents in parallel meet there; a later task reads an earlier note; read-only and outsiders are kept out', async () => {
    const repo = makeRepo();
    const file = writeGraph(`
name: shared
repo: ${repo}
agents:
  writer:
    harness: command
    shared: rw
    command: |
      set -e
      touch /shared/writer-started
      ${awaitFile('/shared/reader-started')}
      echo "the API lives in src/api.js ($AGENTVISOR_TASK)" > /shared/note.md
      echo written > written.txt
  reader:
    harness: command
    shared: rw
    command: |
      set -e
      if [ "$AGENTVISOR_TASK" = read-early ]; then
        touch /shared/reader-started
        ${awaitFile('/shared/writer-started')}
        echo early > early.txt
      else
        cp /shared/note.md got-note.txt
      fi
  auditor:
    harness: command
    shared: ro
    command: |
      test -f /shared/note.md || { echo "no note"; exit 3; }
      if echo x > /shared/audit.txt; then echo WROTE; exit 1; fi
      if rm /shared/note.md; then echo REMOVED; exit 1; fi
      echo "shared is read-only for the auditor"
  outsider:
    harness: command
    command: |
      if [ -e /shared ]; then echo "sees /shared"; exit 1; fi
      test -z "$AGENTVISOR_SHARED" && echo "no shared workspace here"
tasks:
  - { id: write, agent: writer }
  - { id: read-early, agent: reader }
  - { id: read-note, agent: reader, after: [write, read-early] }
  - { id: audit, agent: auditor, after: [write] }
  - { id: outside, agent: outsider }
`);
    const report = await withRealWorker(() => runToEnd(file, { runId: 'e2e-shared' }));
    const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
    expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
    expect(log(byId.audit.logPath)).toContain('shared is read-only for the auditor');
    expect(log(byId.outside.logPath)).toContain('no shared workspace here');

    // the reader's second task read what the writer's task left there
    expect(sh(repo, 'show', `${report.integrationBranch}:got-note.txt`)).toBe('the API lives in src/api.js (write)\n');
    // kept with the run's artifacts, shown in the report
    expect(report.shared).toEqual({
      path: path.join(report.artifactsDir, 'shared'),
      mount: '/shared',
      access: { writer: 'rw', reader: 'rw', auditor: 'ro' },
    });
    expect(readdirSync(report.shared!.path).sort()).toEqual(['note.md', 'reader-started', 'writer-started']);
    // the notes are not part of anyone's commit
    expect(sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).split('\n').filter(Boolean).sort()).toEqual([
      'README.md',
      'early.txt',
      'got-note.txt',
      'src/value.txt',
      'written.txt',
    ]);
    recordHistories('shared-workspace', ['e2e-shared']);

    const status = await cli('status', 'e2e-shared');
    expect(status.stdout).toContain(`shared workspace: ${report.shared!.path} (at /shared: writer rw, reader rw, auditor ro)`);
    const json = JSON.parse((await cli('status', 'e2e-shared', '--json')).stdout);
    expect(json.shared).toEqual(report.shared);
  });

  test('a rollback removes the shared workspace, unless the graph keeps it', async () => {
    const graph = (name: string, repo: string, keep: string) => `
name: ${name}
repo: ${repo}
${keep}
agents:
  writer: { harness: command, shared: rw, command: "echo plan > /shared/plan.md" }
  failing: { harness: command, shared: ro, command: "cat /shared/plan.md; exit 4" }
tasks:
  - { id: plan, agent: writer }
  - { id: act, agent: failing, after: [plan] }
`;
    const repoA = makeRepo();
    const repoB = makeRepo();
    const before = [repoState(repoA), repoState(repoB)];
    const [removed, kept] = await withRealWorker(() =>
      Promise.all([
        runToEnd(writeGraph(graph('shared-rm', repoA, '')), { runId: 'e2e-shared-rm' }),
        runToEnd(writeGraph(graph('shared-keep', repoB, 'shared: { keep: true }')), { runId: 'e2e-shared-keep' }),
      ]),
    );
    for (const r of [removed, kept]) {
      expect(r.status).toBe('failed');
      expect(r.tasks.map((t) => t.status)).toEqual(['succeeded', 'failed']);
      expect(log(r.tasks[1].logPath)).toContain('plan');
    }
    expect(removed.shared!.removed).toBe(true);
    expect(existsSync(removed.shared!.path)).toBe(false);
    expect(kept.shared!.removed).toBeUndefined();
    expect(readFileSync(path.join(kept.shared!.path, 'plan.md'), 'utf8')).toBe('plan\n');
    // everything else is rolled back as usual
    expect([repoState(repoA), repoState(repoB)]).toEqual(before);
    expect(await containersOfRun('e2e-shared-rm')).toEqual([]);
    expect(await containersOfRun('e2e-shared-keep')).toEqual([]);
  });
});
