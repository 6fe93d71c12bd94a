// The gateways of a run with a remote: one per host that runs its model-backed agents, each
// started by that host's worker on its own engine, with credentials resolved there. A task,
// once its host is claimed, tells the run (a signal) before it asks its host for the gateway, so
// the run's compensations stop every gateway any host started, on that host's own queue.
//
// The run's budget across them, held exactly. Far from the budget, each gateway admits its calls
// itself, and each host's worker reports its gateway's spend to the run (an Update, at most every
// 10 s) and tells the gateway what the others spent (activities/host-gateway.ts). Before the run's
// record of the hosts' spend first takes a total at or past NEAR_BUDGET of the budget, every
// host's gateway is told that total (an activity on each host's queue) and answers with its own
// spend, which the record takes: from then on no gateway admits a call on its own. Each asks the
// run, through its worker's relay (admitHostCalls, activities/budget-relay.ts), with its spend
// so far, so every completed call's spend reaches the run before that host's next grant. The run
// grants while its record has not crossed the budget. So the run is the one arbiter: its budget
// is reached when its record first passes it, and a call is in flight from its admission (by its
// gateway far from the budget, by the run near it) until its spend is in the run's record. The
// total passes the budget only by calls in flight when it was reached.
//
// History: far from the budget nothing per call. Near it, each admission adds an Update (accepted
// and completed) and a workflow task: about 5 events, for all the calls a host had waiting at
// once; once per run, the notice to each host adds an activity (3 events a host) and a marker.
import { ApplicationFailure, getExternalWorkflowHandle, patched, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import type { GatewayGraph } from '../graph/gateway-needs';
import type { TaskInput } from '../contract/run-types';
import { NEAR_BUDGET, budgetCrossed, budgetShare } from '../contract/run-budget';
import { CLEANUP_ACTIVITY, HOST_BUDGET_NOTICE_ACTIVITY, HOST_GATEWAY_STOP_WAIT_MS, STEP_ACTIVITY, settled } from './activity-options';
import {
  admitHostCallsUpdate,
  hostGatewayStartedSignal,
  recordHostSpendUpdate,
  runSpendQuery,
  type RunSpend,
  type Spend,
} from './messages';
import { EXACT_HOST_BUDGET_PATCH } from './patches';
import type { Saga } from './saga';

type HostSpend = { host: string } & Spend;

/** In the run: which hosts started a gateway, and what each has spent. */
export class HostGateways {
  private readonly queues = new Map<string, string>();
  private readonly spend = new Map<string, Spend>();
  /** reports waiting for every host to be told the near share: not in the record yet */
  private readonly waiting = new Map<string, Spend>();
  /** every host's gateway told that the run's total reached the near share (once, before the record takes it) */
  private nearTold?: Promise<void>;
  private telling = false;

  constructor(
    private readonly runId: string,
    /** what each task's host starts its gateway from */
    readonly graph: GatewayGraph,
    private readonly saga: Saga,
  ) {
    setHandler(hostGatewayStartedSignal, ({ host, queue }) => {
      if (this.queues.has(host)) return;
      this.queues.set(host, queue);
      this.saga.add(`stop the gateway on ${host}`, () => stopOn(queue, this.runId));
    });
    if (graph.budget && patched(EXACT_HOST_BUDGET_PATCH)) {
      setHandler(recordHostSpendUpdate, async (report) => {
        await this.recordExactly(report);
        return this.total();
      });
      setHandler(admitHostCallsUpdate, async ({ calls: _calls, ...report }) => {
        await this.recordExactly(report);
        const run = this.total();
        return { granted: !run.budgetSpent, run };
      });
    } else {
      setHandler(recordHostSpendUpdate, (report) => {
        merge(this.spend, report);
        return this.total();
      });
    }
    // a gateway started while the hosts are being told learns the near total here (its first look)
    setHandler(runSpendQuery, () => this.total(this.waiting));
  }

  /** The run's budget is crossed across its hosts: no task starts any more. */
  get budgetSpent(): boolean {
    return this.total().budgetSpent;
  }

  /** The run's record of its hosts' spend (with `also`: reports not recorded yet). */
  total(also?: Map<string, Spend>): RunSpend {
    const all = new Map(this.spend);
    for (const [host, s] of also ?? []) merge(all, { host, ...s });
    const byHost = Object.fromEntries(all);
    const usd = [...all.values()].reduce((n, s) => n + s.usd, 0);
    const totalTokens = [...all.values()].reduce((n, s) => n + s.totalTokens, 0);
    return { usd, totalTokens, byHost, budgetSpent: budgetCrossed({ usd, totalTokens }, this.graph.budget) };
  }

  /** A host's report; the first that brings the total to the near share waits until every host's gateway knows. */
  private async recordExactly(report: HostSpend): Promise<void> {
    if (!this.nearTold) {
      const after = this.total(new Map([[report.host, report]]));
      if (budgetShare(after, this.graph.budget) >= NEAR_BUDGET) this.nearTold = this.tellEveryHost(after);
    }
    if (this.nearTold) {
      if (this.telling) merge(this.waiting, report);
      await this.nearTold;
    }
    merge(this.spend, report);
  }

  /**
   * Each host that started a gateway, on its own queue, which answers with its spend so far: the
   * record takes it too, so at the near share it holds every call completed on any host. A host
   * out of reach is not waited for (HOST_BUDGET_NOTICE_ACTIVITY).
   */
  private async tellEveryHost(run: RunSpend): Promise<void> {
    this.telling = true;
    await Promise.all(
      [...this.queues].map(async ([host, queue]) => {
        const { tellHostGateway } = proxyActivities<RunActivities>({ ...HOST_BUDGET_NOTICE_ACTIVITY, taskQueue: queue });
        const spent = await tellHostGateway({ runId: this.runId, run }).catch(() => undefined);
        if (spent) merge(this.spend, { host, ...spent });
      }),
    );
    this.waiting.clear();
    this.telling = false;
  }

  /** Once no agent needs them: every host's gateway (a host gone for longer than the wait keeps its own). */
  async stopAll(): Promise<void> {
    for (const queue of this.queues.values()) {
      await stopOn(queue, this.runId).catch(() => undefined);
    }
  }
}

/** Reports may overtake each other: a host's spend only grows. */
function merge(into: Map<string, Spend>, { host, usd, totalTokens }: HostSpend): void {
  const before = into.get(host);
  into.set(host, { usd: Math.max(usd, before?.usd ?? 0), totalTokens: Math.max(totalTokens, before?.totalTokens ?? 0) });
}

function stopOn(queue: string, runId: string): Promise<void> {
  const { stopHostGateway } = proxyActivities<RunActivities>({
    ...CLEANUP_ACTIVITY,
    taskQueue: queue,
    scheduleToStartTimeout: HOST_GATEWAY_STOP_WAIT_MS,
  });
  return stopHostGateway({ runId });
}

/**
 * In the task, once its host is claimed: that host's gateway of the run, started there (the run
 * is told first, so its compensations stop it); undefined when the run has no host gateways.
 */
export async function hostGatewayFor(
  input: TaskInput,
  claimed: { host: string; queue?: string },
  waitMs: number | undefined,
): Promise<TaskInput['gateway']> {
  if (!input.hostGateway) return undefined;
  if (!claimed.queue) throw ApplicationFailure.nonRetryable(`host ${claimed.host} answered its claim without its queue`);
  const parent = workflowInfo().parent;
  if (parent)
    await getExternalWorkflowHandle(parent.workflowId).signal(hostGatewayStartedSignal, { host: claimed.host, queue: claimed.queue });
  const { startHostGateway } = proxyActivities<RunActivities>({
    ...settled(STEP_ACTIVITY),
    taskQueue: claimed.queue,
    ...(waitMs ? { scheduleToStartTimeout: waitMs } : {}),
  });
  return startHostGateway({ runId: input.runId, graph: input.hostGateway });
}
