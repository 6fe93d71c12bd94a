// The live view's plain output (stdout not a terminal, as in CI logs) and its table: tokens and cost
// per task and in total, the last activity of running tasks.
import { Writable } from 'node:stream';
import { ProgressView, renderTable } from '../../client/progress';
import type { RunReport, TaskReport } from '../../contract/run-types';

const task = (id: string, status: TaskReport['status'], extra: Partial<TaskReport> = {}): TaskReport => ({
  id,
  agent: `agent-${id}`,
  status,
  filesChanged: 0,
  insertions: 0,
  deletions: 0,
  files: [],
  ...extra,
});

const run = (status: RunReport['status'], tasks: TaskReport[]): RunReport => ({
  runId: 'r1',
  graphName: 'g',
  repo: '/repo',
  status,
  integrationBranch: 'agentvisor/r1',
  startedAt: 1_000,
  tasks,
  merge: { status: 'pending', conflicts: [] },
  evaluation: null,
  artifactsDir: '/tmp/r1',
});

function plainOut() {
  let text = '';
  const out = new Writable({
    write(chunk, _enc, done) {
      text += chunk;
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  (out as { isTTY?: boolean }).isTTY = false;
  return { out, text: () => text };
}

const coder = { inputTokens: 12_000, outputTokens: 345, cachedTokens: 0, costUsd: 0.0421 };
const writer = { inputTokens: 800, outputTokens: 200, cachedTokens: 0, costUsd: 1.5 };

test('plain lines: each change once, with tokens and cost, and the totals at the end', () => {
  const o = plainOut();
  const view = new ProgressView(o.out);
  view.update(run('running', [task('a', 'running'), task('b', 'pending')]));
  view.update(run('running', [task('a', 'running'), task('b', 'pending')])); // nothing changed: nothing printed
  view.update(
    run('running', [task('a', 'succeeded', { filesChanged: 2, commit: 'abcdef1234567890', usage: coder }), task('b', 'running')]),
  );
  view.update(
    run('failed', [
      task('a', 'succeeded', { filesChanged: 2, commit: 'abcdef1234567890', usage: coder }),
      task('b', 'budget_exceeded', { usage: writer }),
    ]),
  );
  expect(o.text()).toBe(
    [
      'task a [agent-a] running',
      'task b [agent-b] pending',
      'task a [agent-a] succeeded (2 files, abcdef1234, 12.3k tokens, $0.0421)',
      'task b [agent-b] running',
      'task b [agent-b] budget_exceeded (1.0k tokens, $1.50)',
      'total: 13.3k tokens, $1.54',
      '',
    ].join('\n'),
  );
});

test('the table: tokens, cost, last activity of running tasks, outcome of finished ones, totals', () => {
  const report = run('running', [
    task('a', 'succeeded', { filesChanged: 3, commit: '0123456789abcdef', usage: coder, startedAt: 1_000, finishedAt: 3_500 }),
    task('b', 'running', { startedAt: 2_000 }),
  ]);
  const text = renderTable(report, false, 6_000, new Map([['b', 'Editing src/app.ts']]));
  const rows = text.split('\n');
  expect(rows[1]).toMatch(/task\s*│\s*agent\s*│\s*status\s*│\s*elapsed\s*│\s*tokens\s*│\s*cost\s*│\s*last activity/);
  expect(text).toMatch(/│ a\s+│ agent-a\s+│ succeeded\s+│ 2\.5s\s+│ 12\.3k\s+│ \$0\.0421\s+│ 3 files, 0123456789\s+│/);
  expect(text).toMatch(/│ b\s+│ agent-b\s+│ running\s+│ 4\.0s\s+│\s+│\s+│ Editing src\/app\.ts\s+│/);
  expect(rows[rows.length - 1]).toBe('total: 12.3k tokens, $0.0421');
});

test("an agent's text reaches the terminal without escape sequences or control characters", () => {
  const error = 'exit 1\x1b[2J\x1b[H\x1b]0;owned\x07\rfake: \x1b[32mall tests passed\x1b[0m\nnext';
  const o = plainOut();
  new ProgressView(o.out).update(run('failed', [task('a', 'failed', { error, note: 'moved\x1b[1A' })]));
  expect(o.text()).toBe('task a [agent-a] moved\ntask a [agent-a] failed: exit 1 fake: all tests passed next\n');
  const table = renderTable(
    run('running', [task('a', 'failed', { error }), task('b', 'running')]),
    false,
    6_000,
    new Map([['b', 'line\x1b[31m red\x9b2J']]),
  );
  expect(table).not.toMatch(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  expect(table).toContain('exit 1 fake: all tests passed next');
  expect(table).toContain('line red');
});
