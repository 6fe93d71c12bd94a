// The experiment file, its arms as graphs, and the arithmetic of its results, without a server.
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadExperimentFile } from '../../experiment/load';
import { countJunit, testsOfEvaluation } from '../../experiment/junit';
import { wilson } from '../../experiment/stats';
import { resultsCsv } from '../../experiment/results';
import { pairedComparisons } from '../../experiment/report-html';
import { bestOutcome } from '../../workflows/experiment-metrics';
import { JUNIT_BEGIN, JUNIT_END, type CellResult, type ExperimentReport } from '../../contract/experiment-types';
import type { RunReport } from '../../contract/run-types';

function write(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-exp-unit-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), text);
  return dir;
}

const AGENTS = `agents:
  single: { harness: command, command: "true" }
  writer: { harness: command, command: "true" }
  tester: { harness: command, command: "true" }
  auditor: { harness: command, command: "true" }
`;

describe('the experiment file', () => {
  test('arms expand into ordinary graphs: single, serial chained, parallel merged, best-of-n as N runs, a graph file with placeholders', () => {
    const dir = write({
      'e.yaml': `name: e
subjects:
  - { name: s, repo: ./r, task: "fix it: now", evaluate: { command: "npm test" } }
${AGENTS}arms: [single, serial, parallel, { arm: best-of-n, n: 3 }, { name: mine, graph: ./g.yaml }]
repeat: 2
merge: { onConflict: retry }
`,
      'g.yaml': `name: ignored
repo: {{repo}}
baseBranch: {{baseBranch}}
agents: { a: { harness: command, command: "true" } }
tasks: [{ id: one, agent: a, prompt: {{task}} }]
`,
    });
    const { experiment, problems } = loadExperimentFile(path.join(dir, 'e.yaml'), 'x1');
    expect(problems).toEqual([]);
    const cells = experiment!.cells;
    expect(cells.map((c) => c.cellId)).toEqual(
      ['single', 'serial', 'parallel', 'best-of-3', 'mine'].flatMap((a) => [1, 2].map((r) => `s.${a}.r${r}`)),
    );
    const graph = (id: string) => cells.find((c) => c.cellId === id)!.runs[0].graph;
    expect(graph('s.single.r1').tasks.map((t) => [t.id, t.agent])).toEqual([['solve', 'single']]);
    expect(graph('s.serial.r1').tasks.map((t) => [t.id, t.after])).toEqual([
      ['write', []],
      ['test', ['write']],
      ['audit', ['test']],
    ]);
    expect(graph('s.serial.r1').merge).toBeUndefined();
    expect(graph('s.parallel.r1').tasks.every((t) => t.after.length === 0)).toBe(true);
    expect(graph('s.parallel.r1').merge).toMatchObject({ onConflict: 'retry' });
    expect(cells.find((c) => c.cellId === 's.best-of-3.r2')!.runs.map((r) => r.runId)).toEqual([
      'x1-s-best-of-3-r2-c1',
      'x1-s-best-of-3-r2-c2',
      'x1-s-best-of-3-r2-c3',
    ]);
    const mine = graph('s.mine.r1');
    expect(mine.repo).toBe(path.join(dir, 'r'));
    expect(mine.tasks[0].prompt).toBe('fix it: now');
    // every cell is evaluated by its subject's command, wrapped to bring a JUnit file back
    for (const c of cells) expect(c.runs[0].graph.evaluate!.command).toContain('npm test');
  });

  test('problems are placed by line and column', () => {
    const dir = write({
      'e.yaml': `name: e
subjects:
  - { name: s, repo: ./r, task: t }
${AGENTS}arms: [single, tournament]
`,
    });
    const { problems } = loadExperimentFile(path.join(dir, 'e.yaml'), 'x1');
    expect(problems).toEqual([
      expect.objectContaining({ path: 'subjects.0', line: 3, column: 5, message: expect.stringContaining('has no evaluation') }),
      expect.objectContaining({ path: 'arms.1', line: 9, column: 16, message: expect.stringContaining('unknown arm "tournament"') }),
    ]);
  });
});

describe('measurements', () => {
  test('JUnit test counts, from the log the wrapper writes; else the exit code', () => {
    const xml = `<testsuites><testsuite><testcase name="a"/><testcase name="b"><failure message="x"/></testcase>
<testcase name="c"><skipped/></testcase><testcase name="d" time="1"></testcase></testsuite></testsuites>`;
    expect(countJunit(xml)).toEqual({ passed: 2, failed: 1, total: 4, source: 'junit' });
    const log = `some output\n${JUNIT_BEGIN}\n${Buffer.from(xml).toString('base64')}\n${JUNIT_END}\n`;
    expect(testsOfEvaluation(log, false)).toEqual({ passed: 2, failed: 1, total: 4, source: 'junit' });
    expect(testsOfEvaluation('no file', true)).toEqual({ passed: 1, failed: 0, total: 1, source: 'exit-code' });
    expect(testsOfEvaluation(undefined, undefined)).toMatchObject({ total: 0, source: 'none' });
  });

  test("Wilson's interval", () => {
    const { low, high } = wilson(2, 6);
    expect(low).toBeCloseTo(0.0968, 3);
    expect(high).toBeCloseTo(0.7004, 3);
    expect(wilson(6, 6).high).toBeCloseTo(1, 10);
    expect(wilson(0, 0)).toEqual({ low: 0, high: 1 });
  });

  test('best-of-n keeps the passing candidate, then the one with most tests, then the cheapest', () => {
    const run = (status: 'completed' | 'failed', cost: number) =>
      ({
        status,
        evaluation: { passed: status === 'completed' },
        tasks: [{ usage: { inputTokens: 1, outputTokens: 1, cachedTokens: 0, costUsd: cost } }],
      }) as unknown as RunReport;
    const tests = (passed: number) => ({ passed, failed: 0, total: passed, source: 'junit' as const });
    expect(
      bestOutcome([
        { runId: 'a', report: run('failed', 0), tests: tests(9) },
        { runId: 'b', report: run('completed', 5), tests: tests(1) },
      ]).runId,
    ).toBe('b');
    expect(
      bestOutcome([
        { runId: 'a', report: run('completed', 1), tests: tests(1) },
        { runId: 'b', report: run('completed', 5), tests: tests(2) },
      ]).runId,
    ).toBe('b');
    expect(
      bestOutcome([
        { runId: 'a', report: run('completed', 2), tests: tests(2) },
        { runId: 'b', report: run('completed', 1), tests: tests(2) },
      ]).runId,
    ).toBe('b');
    expect(
      bestOutcome([
        { runId: 'a', report: run('completed', 1), tests: tests(2) },
        { runId: 'b', report: run('completed', 1), tests: tests(2) },
      ]).runId,
    ).toBe('a');
  });

  test('the CSV quotes what needs it; paired comparisons match subject and repetition', () => {
    const cell = (arm: string, rep: number, passed: boolean, reason?: string) =>
      ({
        cellId: `s.${arm}.r${rep}`,
        subject: 's',
        arm,
        repetition: rep,
        evaluationPassed: passed,
        wallMs: 1000,
        costUsd: 0,
        conflictFiles: ['a.js', 'b.js'],
        runIds: ['x'],
        failureReason: reason,
      }) as unknown as CellResult;
    const cells = [cell('a', 1, true), cell('a', 2, false, 'said "no", twice'), cell('b', 1, false), cell('b', 2, false)];
    const csv = resultsCsv({ cells } as ExperimentReport).split('\r\n');
    expect(csv[2]).toContain(',"said ""no"", twice",');
    expect(csv[2]).toContain(',a.js;b.js,');
    expect(pairedComparisons(cells)).toEqual([
      expect.objectContaining({ a: 'a', b: 'b', pairs: 2, onlyA: 1, onlyB: 0, both: 0, neither: 1 }),
    ]);
  });
});
