// Tokens and cost of a run, summed and formatted the same way in the Temporal UI's details, the
// live table, `ls`, the report and the cost search attribute. Pure: workflows use it too.
import type { RunReport, Usage } from './run-types';

/** 1234567 → 1.2M, 12345 → 12.3k */
export function formatTokens(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)}k`;
  return String(n);
}

export function formatUsd(usd: number): string {
  return `$${usd < 1 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

export const tokensOf = (u?: Usage) => (u ? formatTokens(u.inputTokens + u.outputTokens) : '');
export const costOf = (u?: Usage) => (u?.costUsd !== undefined ? formatUsd(u.costUsd) : '');

export interface RunTotals {
  inputTokens: number;
  outputTokens: number;
  tokens: number;
  costUsd: number;
  /** some task reported a cost (agents without a gateway may report tokens only) */
  priced: boolean;
}

/** The run's tokens and cost so far, over the tasks that reported usage; undefined when none did. */
export function runTotals(report: RunReport): RunTotals | undefined {
  const used = report.tasks.map((t) => t.usage).filter((u): u is Usage => !!u);
  if (!used.length) return undefined;
  const inputTokens = used.reduce((n, u) => n + u.inputTokens, 0);
  const outputTokens = used.reduce((n, u) => n + u.outputTokens, 0);
  return {
    inputTokens,
    outputTokens,
    tokens: inputTokens + outputTokens,
    costUsd: used.reduce((n, u) => n + (u.costUsd ?? 0), 0),
    priced: used.some((u) => u.costUsd !== undefined),
  };
}

/** "total: 13.3k tokens, $1.54", or '' when no task reported usage. */
export function totalsText(report: RunReport): string {
  const t = runTotals(report);
  return t ? `total: ${formatTokens(t.tokens)} tokens${t.priced ? `, ${formatUsd(t.costUsd)}` : ''}` : '';
}
