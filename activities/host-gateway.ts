// A run with a remote has a gateway on each host that runs its model-backed agents: this host's
// worker starts it on its own engine (the first of the run's tasks it claims does), with the
// credentials resolved here from its own environment, files or (Kubernetes) Secrets: the values
// never leave this host. The run's budget is held across the hosts through the run's workflow,
// the one place they all reach: syncRunSpend reports this gateway's spend and tells the gateway
// what the others spent; near the budget the run admits each call (budget-relay.ts).
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GatewayGraph } from '../graph/gateway-needs';
import { runArtifactsDir } from '../paths/data-folder';
import { NEAR_BUDGET, budgetShare, elsewhereOf, type Spend } from '../contract/run-budget';
import { recordHostSpendUpdate, runSpendQuery, type RunSpend } from '../workflows/messages';
import { relayRunning } from './budget-relay';
import type { ActivityContext } from './context';
import { runningGatewayControlUrl, startGateway, stopGateway, type GatewayHandle } from './gateway';
import { controlCall } from './gateway-control';
import { withHeartbeat } from './heartbeat';
import { gatewayBundle } from './run-gateway';

export function hostGatewayActivities(ctx: ActivityContext, deps: { dataDir: string; host?: string }) {
  const { runtime, scope, user, owner, tokens } = ctx;
  // tasks of a run claimed here at once: one start at a time, so the second finds the first's gateway
  const starting = new Map<string, Promise<GatewayHandle>>();
  const hostOf = () => {
    if (!deps.host)
      throw ApplicationFailure.nonRetryable('a host gateway is started by a host worker (agentvisor worker --host NAME)', 'BadTaskInput');
    return deps.host;
  };

  return {
    /** This host's gateway of the run (idempotent: a running one with the same configuration is kept). */
    async startHostGateway(input: { runId: string; graph: GatewayGraph }): Promise<GatewayHandle> {
      const host = hostOf();
      const before = starting.get(input.runId) ?? Promise.resolve(undefined);
      const start = before
        .catch(() => undefined)
        .then(() =>
          startGateway({
            runtime,
            scope,
            owner,
            user,
            tokens,
            host,
            bundle: gatewayBundle(),
            runId: input.runId,
            graph: input.graph,
            artifactsDir: runArtifactsDir(deps.dataDir, input.runId),
          }),
        );
      starting.set(input.runId, start);
      try {
        return await withHeartbeat('start gateway', () => start);
      } finally {
        if (starting.get(input.runId) === start) starting.delete(input.runId);
      }
    },

    /**
     * From the run, before its record takes a total at or past the near share of its budget: this
     * host's gateway learns it, and from then on asks the run before each call. Returns what the
     * gateway has spent so far, which the run records with it; undefined without a gateway here.
     */
    async tellHostGateway(input: { runId: string; run: RunSpend }): Promise<Spend | undefined> {
      const host = hostOf();
      const controlUrl = await runningGatewayControlUrl(runtime, input.runId, host);
      return controlUrl ? await tellElsewhere(controlUrl, tokens.control(input.runId), input.run, host) : undefined;
    },

    /** Compensation and clean-up: this host's gateway of the run and its agents' networks. */
    async stopHostGateway(input: { runId: string }): Promise<void> {
      await stopGateway(runtime, input.runId, scope, hostOf());
    },
  };
}

/** What this worker last told the run its gateway had spent, and when, per run and host. */
const reported = new Map<string, { usd: number; totalTokens: number; at: number }>();

/** Far from the budget, a host's spend reaches the run at most this often: the run's history stays small. */
export const SPEND_REPORT_INTERVAL_MS = 10_000;

/**
 * From inside an activity of the run (the agent's, while it runs and before it starts), for a run
 * with a budget: this host's gateway's spend goes to the run's workflow by an Update (when it
 * changed: at most every SPEND_REPORT_INTERVAL_MS, at every look near the budget, unless this
 * host's relay reports it: budget-relay.ts), or else a query learns the run's total, which adds
 * nothing to its history. The gateway then learns what the other hosts spent, so it refuses new
 * calls once the run's total has crossed the budget and asks the run for each near it.
 * Undefined without a budget, or when the gateway or the run cannot be reached (the next look
 * tries again).
 */
export async function syncRunSpend(gateway: GatewayHandle, controlToken: string, runId: string): Promise<RunSpend | undefined> {
  try {
    const r = await controlCall({ controlUrl: gateway.controlUrl, controlToken }, '/_agentvisor/usage', { timeoutMs: 5000 });
    if (!r.ok) return undefined;
    const { run: own, elsewhere: before } = (await r.json()) as {
      run: { usd: number; totalTokens: number; budget?: { usd?: number; tokens?: number } };
      elsewhere?: { usd: number; totalTokens: number };
    };
    const budget = own.budget;
    if (!budget || !gateway.host) return undefined;
    const host = gateway.host;
    const key = `${runId}@${host}`;
    const last = reported.get(key);
    const changed = !last || last.usd !== own.usd || last.totalTokens !== own.totalTokens;
    const share = budgetShare({ usd: own.usd + (before?.usd ?? 0), totalTokens: own.totalTokens + (before?.totalTokens ?? 0) }, budget);
    // near the budget, this host's relay brings every change of its spend to the run already
    const relayed = share >= NEAR_BUDGET && relayRunning(runId, host);
    const due = changed && !relayed && (!last || Date.now() - last.at >= SPEND_REPORT_INTERVAL_MS || share >= NEAR_BUDGET);
    const handle = Context.current().client.workflow.getHandle(runId);
    const run = due
      ? await handle.executeUpdate(recordHostSpendUpdate, { args: [{ host, usd: own.usd, totalTokens: own.totalTokens }] })
      : await handle.query(runSpendQuery);
    if (due) reported.set(key, { usd: own.usd, totalTokens: own.totalTokens, at: Date.now() });
    await tellElsewhere(gateway.controlUrl, controlToken, run, host);
    return run;
  } catch {
    return undefined;
  }
}

/** This host's gateway learns what the run's other hosts have spent; it answers with its own spend. */
async function tellElsewhere(controlUrl: string, controlToken: string, run: RunSpend, host: string): Promise<Spend> {
  const r = await controlCall({ controlUrl, controlToken }, '/_agentvisor/elsewhere', { json: elsewhereOf(run, host), timeoutMs: 5000 });
  if (!r.ok) throw new Error(`the gateway's control side answered ${r.status}`);
  const own = (await r.json()) as Spend;
  return { usd: own.usd, totalTokens: own.totalTokens };
}
