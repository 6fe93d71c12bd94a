// What the recovery tests check of a run that should have completed despite what was done to it.
import { expect } from '@jest/globals';
import type { RunReport } from '../../contract/run-types';
import { sh } from './repo';

/** Completed, its evaluation passed, and the integration branch's tree is exactly `files`. */
export function expectCompletedWithTree(repo: string, report: RunReport, files: string[]): void {
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  expect(report.evaluation).toMatchObject({ passed: true });
  expect(sh(repo, 'ls-tree', '-r', '--name-only', report.integrationBranch).trim().split('\n')).toEqual(files);
}
