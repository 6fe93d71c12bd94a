// The gateways of a run with a remote: one per host that runs its model-backed agents, each
// started by that host's worker on its own engine, with credentials resolved there. A task,
// once its host is claimed, tells the run (a signal) before it asks its host for the gateway, so
// the run's compensations stop every gateway any host started, on that host's own queue.
//
// The run's budget across them: each host's worker reports its gateway's spend to the run (an
// Update, when it changed) and hands the other hosts' spend to its gateway, which refuses new
// calls once the total has crossed the budget (activities/host-gateway.ts). Calls admitted before
// a gateway learnt of the crossing complete: they are the calls in flight when it was reached.
import { ApplicationFailure, getExternalWorkflowHandle, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import type { Budget } from '../graph/types';
import type { GatewayGraph } from '../graph/gateway-needs';
import type { TaskInput } from '../contract/run-types';
import { CLEANUP_ACTIVITY, HOST_GATEWAY_STOP_WAIT_MS, STEP_ACTIVITY, settled } from './activity-options';
import { hostGatewayStartedSignal, recordHostSpendUpdate, runSpendQuery, type RunSpend, type Spend } from './messages';
import type { Saga } from './saga';

/** In the run: which hosts started a gateway, and what each has spent. */
export class HostGateways {
  private readonly queues = new Map<string, string>();
  private readonly spend = new Map<string, Spend>();

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
    setHandler(recordHostSpendUpdate, ({ host, usd, totalTokens }) => {
      const before = this.spend.get(host);
      // reports may overtake each other: a host's spend only grows
      this.spend.set(host, { usd: Math.max(usd, before?.usd ?? 0), totalTokens: Math.max(totalTokens, before?.totalTokens ?? 0) });
      return this.total();
    });
    setHandler(runSpendQuery, () => this.total());
  }

  /** The run's budget is crossed across its hosts: no task starts any more. */
  get budgetSpent(): boolean {
    return this.total().budgetSpent;
  }

  total(): RunSpend {
    const byHost = Object.fromEntries(this.spend);
    const usd = [...this.spend.values()].reduce((n, s) => n + s.usd, 0);
    const totalTokens = [...this.spend.values()].reduce((n, s) => n + s.totalTokens, 0);
    return { usd, totalTokens, byHost, budgetSpent: crossed({ usd, totalTokens }, this.graph.budget) };
  }

  /** Once no agent needs them: every host's gateway (a host gone for longer than the wait keeps its own). */
  async stopAll(): Promise<void> {
    for (const queue of this.queues.values()) {
      await stopOn(queue, this.runId).catch(() => undefined);
    }
  }
}

/** As the gateway's ledger judges it: a budget is spent once used goes past it. */
function crossed(s: Spend, b: Budget | undefined): boolean {
  if (!b) return false;
  return (b.tokens !== undefined && s.totalTokens > b.tokens) || (b.usd !== undefined && s.usd > b.usd);
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
