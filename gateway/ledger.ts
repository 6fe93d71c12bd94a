// Usage counters per task and per run, and the budget checks made before each model call.
//
// A call is refused once a budget has been crossed (used > limit). Calls already in flight when
// that happens complete and are counted, so the total can end above the limit by what those calls
// used: the gateway cannot know a call's cost before its response. A host's gateway of a run on
// several hosts asks the run before each call near the run's budget (admissions.ts).
import type { Budget } from './config';
import type { Price } from './prices';
import { findPrice, priceUsage, totalTokens, type Usage } from './usage';

export interface Counters {
  inputTokens: number;
  outputTokens: number;
  cachedTokens: number;
  cacheWriteTokens: number;
  totalTokens: number;
  usd: number;
  requests: number;
  /** Model calls refused for a spent budget. */
  refused: number;
  /** Responses whose model had no price (counted at $0). */
  unpricedRequests: number;
  /** Error responses (status ≥ 400, upstream or replayed) by status: what the agent was told. */
  errors: Record<string, number>;
}

export interface CounterReport extends Counters {
  budget?: Budget;
  budgetExceeded: boolean;
}

export interface UsageReport {
  tasks: Record<string, CounterReport>;
  /** this gateway's own counters; budgetExceeded counts `elsewhere` too */
  run: CounterReport;
  /** what the run's gateways on other hosts have spent, as the worker last said */
  elsewhere: Spend;
}

/** Spend counted against the run's budget. */
export interface Spend {
  usd: number;
  totalTokens: number;
}

const zero = (): Counters => ({
  inputTokens: 0,
  outputTokens: 0,
  cachedTokens: 0,
  cacheWriteTokens: 0,
  totalTokens: 0,
  usd: 0,
  requests: 0,
  refused: 0,
  unpricedRequests: 0,
  errors: {},
});

/** Why a budget is spent, or undefined if it is not. */
export function budgetExceeded(c: Counters, b: Budget | undefined): string | undefined {
  if (!b) return undefined;
  if (b.tokens !== undefined && c.totalTokens > b.tokens) return `tokens ${c.totalTokens} > limit ${b.tokens}`;
  if (b.usd !== undefined && c.usd > b.usd) return `usd ${c.usd.toFixed(4)} > limit ${b.usd}`;
  return undefined;
}

export interface Charge {
  usd: number;
  priced: boolean;
}

export class Ledger {
  private readonly tasks = new Map<string, Counters>();
  private readonly run = zero();
  private elsewhere: Spend = { usd: 0, totalTokens: 0 };
  /** model name → its price entry: the lookup scans the whole table, and each call needs it */
  private readonly priceOf = new Map<string | undefined, Price | undefined>();

  constructor(
    private readonly prices: Record<string, Price>,
    private readonly taskBudgets: Map<string, Budget | undefined>,
    private readonly runBudget?: Budget,
  ) {
    for (const id of taskBudgets.keys()) this.tasks.set(id, zero());
  }

  /** A task added to the run: its budget and zero counters; a task known already keeps both. */
  addTask(taskId: string, budget: Budget | undefined): void {
    if (this.taskBudgets.has(taskId)) return;
    this.taskBudgets.set(taskId, budget);
    this.counters(taskId);
  }

  private counters(taskId: string): Counters {
    let c = this.tasks.get(taskId);
    if (!c) this.tasks.set(taskId, (c = zero()));
    return c;
  }

  /**
   * A run on several hosts has a gateway on each: the worker tells each one what the others have
   * spent (as the run's workflow recorded it), and the run's budget counts it. It only grows.
   */
  setElsewhere(spend: Spend): void {
    this.elsewhere = { usd: Math.max(this.elsewhere.usd, spend.usd), totalTokens: Math.max(this.elsewhere.totalTokens, spend.totalTokens) };
  }

  /** The run's counters with what was spent elsewhere: what its budget is held to. */
  private runTotal(): Counters {
    return { ...this.run, usd: this.run.usd + this.elsewhere.usd, totalTokens: this.run.totalTokens + this.elsewhere.totalTokens };
  }

  /** How much of the run's budget the run's total (with what was spent elsewhere) has used: the larger share of tokens and usd. */
  runShare(): number {
    const b = this.runBudget;
    if (!b) return 0;
    const t = this.runTotal();
    return Math.max(b.tokens ? t.totalTokens / b.tokens : 0, b.usd ? t.usd / b.usd : 0);
  }

  /** The refusal message if this task may not make another model call, else undefined. */
  check(taskId: string): string | undefined {
    const t = budgetExceeded(this.counters(taskId), this.taskBudgets.get(taskId));
    if (t) return `agentvisor: budget exceeded for task ${taskId} (${t})`;
    const r = budgetExceeded(this.runTotal(), this.runBudget);
    if (r) return `agentvisor: budget exceeded for the run (${r}); task ${taskId} may make no more model calls`;
    return undefined;
  }

  refuse(taskId: string): void {
    this.counters(taskId).refused++;
    this.run.refused++;
  }

  /** Counts one model response (usage may be absent, e.g. an error response). */
  record(taskId: string, usage: Usage | undefined, model: string | undefined, status = 200): Charge {
    let price = this.priceOf.get(model);
    if (price === undefined && !this.priceOf.has(model)) {
      if (this.priceOf.size >= 1000) this.priceOf.clear(); // model names come from agents: bounded
      this.priceOf.set(model, (price = findPrice(this.prices, model)));
    }
    const u = usage ?? { inputTokens: 0, outputTokens: 0, cachedTokens: 0, cacheWriteTokens: 0 };
    const usd = price ? priceUsage(u, price) : 0;
    const priced = !!price || totalTokens(u) === 0;
    for (const c of [this.counters(taskId), this.run]) {
      c.requests++;
      c.inputTokens += u.inputTokens;
      c.outputTokens += u.outputTokens;
      c.cachedTokens += u.cachedTokens;
      c.cacheWriteTokens += u.cacheWriteTokens;
      c.totalTokens += totalTokens(u);
      c.usd += usd;
      if (!priced) c.unpricedRequests++;
      if (status >= 400) c.errors[status] = (c.errors[status] ?? 0) + 1;
    }
    return { usd, priced };
  }

  report(): UsageReport {
    const tasks: Record<string, CounterReport> = {};
    for (const [id, c] of this.tasks) {
      const b = this.taskBudgets.get(id);
      tasks[id] = { ...c, ...(b ? { budget: b } : {}), budgetExceeded: !!budgetExceeded(c, b) };
    }
    return {
      tasks,
      run: {
        ...this.run,
        ...(this.runBudget ? { budget: this.runBudget } : {}),
        budgetExceeded: !!budgetExceeded(this.runTotal(), this.runBudget),
      },
      elsewhere: { ...this.elsewhere },
    };
  }
}
