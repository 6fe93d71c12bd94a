// Resume: a run whose third task fails is fixed and resumed; only that task runs again, even after
// the old run's Temporal history is gone (the ledger is git plus the run's artifact folder).
import { execFile, execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { findTemporalCli } from '../../client/dev-server';
import { containersOfRun, makeRepo, repoState, sh, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';
import { recordHistories } from '../support/record-history';
import { recordStarts } from '../support/wait';

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');

const graph = (repo: string, third: string, secondPrompt = 'write second') => `
name: resumable
repo: ${repo}
agents:
  w: { harness: command, command: 'echo "$AGENTVISOR_TASK" > "$AGENTVISOR_TASK.txt"' }
  third: { harness: command, command: '${third}' }
tasks:
  - { id: first, agent: w }
  - { id: second, agent: w, prompt: "${secondPrompt}" }
  - { id: third, agent: third, after: [first, second] }
evaluate: { command: "test -f first.txt && test -f second.txt && test -f third.txt" }
`;

test('resume redoes only the failed task, after the old history is deleted and the graph was fixed', async () => {
  const repo = makeRepo();
  const before = repoState(repo);
  const file = writeGraph(graph(repo, 'echo broken; exit 1'));
  const failed = await withRealWorker(() => runToEnd(file, { runId: 'resume-old' }));
  expect(failed.status).toBe('failed');
  expect(failed.tasks.map((t) => t.status)).toEqual(['succeeded', 'succeeded', 'failed']);
  expect(repoState(repo)).toEqual(before); // rolled back; the work survives as commits + ledger

  const temporal = findTemporalCli()!;
  execFileSync(temporal, ['workflow', 'delete', '--yes', '-w', 'resume-old', '--address', process.env.TEMPORAL_ADDRESS!]);
  for (let i = 0; i < 100; i++) {
    try {
      execFileSync(temporal, ['workflow', 'describe', '-w', 'resume-old', '--address', process.env.TEMPORAL_ADDRESS!], { stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
    } catch {
      break; // gone
    }
  }

  // the fix, and a changed prompt for `second`: both must be redone, and the output says why
  writeFileSync(file, graph(repo, 'echo third > third.txt', 'write second, differently'));
  const starts = await recordStarts('resume-new');
  const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
    execFile(process.execPath, [BIN, 'resume', 'resume-old', '--id', 'resume-new'], { env: process.env }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code) : 0, stdout, stderr }),
    ),
  );
  expect(out.stderr).not.toMatch(/error/i);
  expect(out.code).toBe(0);
  expect(out.stdout).toContain('task first [w] succeeded (reused from run resume-old');
  expect(out.stdout).toContain('task second [w] redone: the task or its agent changed since run resume-old');
  expect(out.stdout).toContain('task third [third] redone: no finished work recorded in run resume-old');
  expect(out.stdout).toContain('run resume-new: completed');

  starts.stop();
  expect(starts.counts()).toEqual({ second: 1, third: 1, 'second:collector': 1, 'third:collector': 1, _evaluate: 1 }); // first did not run again
  const files = sh(repo, 'ls-tree', '--name-only', 'agentvisor/resume-new').split('\n');
  expect(files).toEqual(expect.arrayContaining(['first.txt', 'second.txt', 'third.txt']));
  expect(sh(repo, 'rev-parse', 'agentvisor-tasks/resume-new/first').trim()).toBe(failed.tasks[0].commit);
  expect(await containersOfRun('resume-new')).toEqual([]);
  recordHistories('resumed', ['resume-new', 'resume-new/third']);
});
