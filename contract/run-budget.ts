// The run's budget across hosts, judged the same way by the run's workflow and by its hosts'
// workers (and, in its own words, by each gateway's ledger). Pure: workflows use it too.

/** Spend counted against the run's budget: cost and tokens only, never anything else of a call. */
export interface Spend {
  usd: number;
  totalTokens: number;
}

/**
 * From this share of the run's budget on, each host's gateway admits no model call on its own: the
 * run grants each (workflows/host-gateways.ts), and every change of a host's spend reaches the run.
 */
export const NEAR_BUDGET = 0.8;

/** How much of the budget is used: the larger share of tokens and usd (0 without a budget). */
export function budgetShare(s: Spend, b: { usd?: number; tokens?: number } | undefined): number {
  if (!b) return 0;
  return Math.max(b.tokens ? s.totalTokens / b.tokens : 0, b.usd ? s.usd / b.usd : 0);
}

/** As the gateway's ledger judges it: a budget is spent once used goes past it. */
export function budgetCrossed(s: Spend, b: { usd?: number; tokens?: number } | undefined): boolean {
  if (!b) return false;
  return (b.tokens !== undefined && s.totalTokens > b.tokens) || (b.usd !== undefined && s.usd > b.usd);
}

/** What the run recorded of the other hosts, for one host's gateway: its total less what it has of this one. */
export function elsewhereOf(run: Spend & { byHost: Record<string, Spend> }, host: string): Spend {
  const mine = run.byHost[host] ?? { usd: 0, totalTokens: 0 };
  return { usd: Math.max(0, run.usd - mine.usd), totalTokens: Math.max(0, run.totalTokens - mine.totalTokens) };
}
