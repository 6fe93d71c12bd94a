// The experiment's results as files: one CSV row per cell (pandas, R, a spreadsheet), the same as
// JSON, and the HTML report (report-html.ts).
import { mkdirSync, writeFileSync } from 'node:fs';
import type { CellResult, ExperimentReport } from '../contract/experiment-types';
import { experimentFiles } from '../paths/experiment-folder';
import { experimentHtml } from './report-html';

export const CSV_COLUMNS: (keyof CellResult)[] = [
  'cellId',
  'subject',
  'arm',
  'armKind',
  'repetition',
  'status',
  'evaluationPassed',
  'testsPassed',
  'testsFailed',
  'testsTotal',
  'testsSource',
  'wallMs',
  'agentMs',
  'inputTokens',
  'outputTokens',
  'cachedTokens',
  'costUsd',
  'mergeConflicts',
  'conflictFiles',
  'filesChanged',
  'linesAdded',
  'linesDeleted',
  'retries',
  'failureReason',
  'keptRunId',
  'runIds',
  'reusedFrom',
];

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : Array.isArray(v) ? v.join(';') : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** RFC 4180: a header, then one row per cell; lists joined with ";". */
export function resultsCsv(report: ExperimentReport): string {
  const rows = [CSV_COLUMNS.join(','), ...report.cells.map((c) => CSV_COLUMNS.map((k) => csvField(c[k])).join(','))];
  return rows.join('\r\n') + '\r\n';
}

export function resultsJson(report: ExperimentReport): string {
  return JSON.stringify(report, null, 2) + '\n';
}

/** Writes the three files into a folder (the worker at the experiment's end; `agentvisor report` any time). */
export function writeExperimentResults(report: ExperimentReport, dir: string): ReturnType<typeof experimentFiles> {
  const files = experimentFiles(dir);
  mkdirSync(dir, { recursive: true });
  writeFileSync(files.csv, resultsCsv(report));
  writeFileSync(files.json, resultsJson(report));
  writeFileSync(files.html, experimentHtml(report));
  return files;
}
