// What goes in and out of the experiment workflow (workflows/run-experiment.ts): plain data.
import type { RunInput } from './run-types';

/** Where an evaluation may write JUnit XML; the experiment's wrapper prints it into the evaluation log. */
export const JUNIT_ENV = 'AGENTVISOR_JUNIT';
export const JUNIT_PATH = '/tmp/agentvisor-junit.xml';
/** The markers around the base64 of that file in the evaluation log. */
export const JUNIT_BEGIN = '--- agentvisor junit (base64) begin ---';
export const JUNIT_END = '--- agentvisor junit end ---';

/** Which cell: what every stage of a cell (its plan, its input, its result) is named by. */
export interface CellKey {
  /** subject.arm.rN: unique in the experiment */
  cellId: string;
  subject: string;
  arm: string;
  /** single | serial | parallel | best-of-n | graph */
  armKind: string;
  repetition: number;
  /** a digest of the cell's graph: resume reuses a cell's result only for the same graph */
  graphDigest: string;
}

export interface CellInput extends CellKey {
  /** one run; best-of-n: one run per candidate, the best of which is kept */
  runs: RunInput[];
}

export interface ExperimentInput {
  experimentId: string;
  name: string;
  /** the file's note, shown at the top of the report */
  note?: string;
  /** the experiment file, for the results */
  file: string;
  /** where results.csv, results.json and report.html go, on the worker's machine */
  resultsDir: string;
  concurrency: number;
  /** the cell's wall-time budget; past it the cell's runs are cancelled (and rolled back) */
  wallTimeMs?: number;
  /** what the model traffic was: live, record, replay, or none (no agent calls a model) */
  traffic: 'live' | 'record' | 'replay' | 'none';
  cells: CellInput[];
  /** the namespace has agentvisor's search attributes: give each cell's run its own */
  searchAttributes?: boolean;
  /** a resumed experiment: the earlier experiment's results of cells that are not run again */
  reused?: CellResult[];
}

export interface TestCounts {
  passed: number;
  failed: number;
  total: number;
  /** junit: from the XML the evaluation wrote; exit-code: 1 test, the evaluation; none: no evaluation ran */
  source: 'junit' | 'exit-code' | 'none';
}

/** One cell's measurements: one row of results.csv. */
export interface CellResult extends CellKey {
  /** a resumed experiment: the experiment whose result of this cell was taken as it was */
  reusedFrom?: string;
  /** the runs of the cell (best-of-n: every candidate) */
  runIds: string[];
  /** the run whose work is kept (best-of-n: the best candidate) */
  keptRunId?: string;
  status: 'completed' | 'failed' | 'cancelled';
  evaluationPassed: boolean;
  testsPassed: number;
  testsFailed: number;
  testsTotal: number;
  testsSource: TestCounts['source'];
  /** from the cell's first start to its last end */
  wallMs: number;
  /** the agents' time, summed over tasks (and candidates) */
  agentMs: number;
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  costUsd: number;
  mergeConflicts: number;
  conflictFiles: string[];
  filesChanged: number;
  linesAdded: number;
  linesDeleted: number;
  /** tasks run again after a merge conflict (merge.onConflict: retry) */
  retries: number;
  failureReason?: string;
}

export interface ExperimentReport {
  experimentId: string;
  name: string;
  note?: string;
  file: string;
  status: 'running' | 'completed' | 'cancelled';
  traffic: ExperimentInput['traffic'];
  startedAt: number;
  finishedAt?: number;
  cellsTotal: number;
  cells: CellResult[];
  resultsDir: string;
}
