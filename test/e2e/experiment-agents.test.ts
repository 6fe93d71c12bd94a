// The example's experiment with the real Claude Code CLI in each agent's container, its model
// traffic replayed by each run's gateway from the example's hand-written cassettes
// (examples/experiment/claude/make-cassettes.js): every arm works with a real CLI, and the
// metered usage is the cassettes'.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import type { ExperimentReport } from '../../contract/experiment-types';
import { ensureAgentsImage } from '../../images/build';
import { cliWith } from '../support/cli';

// replay never resolves a credential, but the agents must still name one
const cli = (dir: string, ...args: string[]) =>
  cliWith({ cwd: dir, env: { ANTHROPIC_API_KEY: 'unused-in-replay' }, timeoutMs: 900_000 }, ...args);

const EXAMPLE = path.join(__dirname, '..', '..', 'examples', 'experiment');

beforeAll(async () => {
  await ensureAgentsImage(new Docker()); // the CLIs' image (built offline when missing)
}, 900_000);

test('Claude Code in every arm, its traffic replayed: the cells pass or conflict as the cassettes make them, usage metered', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-exp-claude-'));
  cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !/[/\\](repos|cassettes)$/.test(src) });
  execFileSync(path.join(dir, 'make-subjects.sh'), { stdio: 'ignore' });
  execFileSync(process.execPath, [path.join(dir, 'claude', 'make-cassettes.js')], { stdio: 'ignore' });
  // one repetition (the cassettes hold two), to keep the test short
  const file = path.join(dir, 'claude', 'one-rep.yaml');
  writeFileSync(file, readFileSync(path.join(dir, 'claude', 'experiment-claude.yaml'), 'utf8').replace(/^repeat: 2$/m, 'repeat: 1'));

  const r = await cli(path.join(dir, 'claude'), 'experiment', file, '--json', '--id', 'cc', '--replay', 'cassettes');
  expect(r.stderr).not.toMatch(/^error/m);
  expect(r.code).toBe(0);
  const report = JSON.parse(r.stdout) as ExperimentReport;
  expect(report.traffic).toBe('replay');
  const outcome = Object.fromEntries(
    report.cells.map((c) => [c.cellId, c.evaluationPassed ? 'passed' : c.mergeConflicts ? 'conflict' : 'failed']),
  );
  expect(outcome).toEqual({
    'new-function.single.r1': 'passed',
    'new-function.serial.r1': 'passed',
    // writer and auditor each wrote src/slug.js on their own branch
    'new-function.parallel.r1': 'conflict',
    'new-function.best-of-2.r1': 'passed',
    'bug-fix.single.r1': 'passed',
    'bug-fix.serial.r1': 'passed',
    'bug-fix.parallel.r1': 'passed',
    'bug-fix.best-of-2.r1': 'passed',
    'refactor.single.r1': 'passed',
    'refactor.serial.r1': 'passed',
    'refactor.parallel.r1': 'conflict',
    'refactor.best-of-2.r1': 'passed',
  });
  const cell = (id: string) => report.cells.find((c) => c.cellId === id)!;
  // new-function's single agent: Read and Write of 2 files, then the answer: 5 turns of the cassette
  // (1000 input, 2000 cached, 200 output a tool call, 10 the answer), priced as claude-sonnet-4-5
  expect(cell('new-function.single.r1')).toMatchObject({
    inputTokens: 5000,
    cachedTokens: 10000,
    outputTokens: 810,
    testsPassed: 3,
    testsSource: 'junit',
  });
  expect(cell('new-function.single.r1').costUsd).toBeCloseTo(0.03015, 6);
  // best-of-2 counts both candidates' traffic
  expect(cell('new-function.best-of-2.r1')).toMatchObject({ inputTokens: 10000, outputTokens: 1620 });
  expect(cell('refactor.parallel.r1').conflictFiles).toEqual(['src/util.js']);
}, 900_000);
