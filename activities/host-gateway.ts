// A run with a remote has a gateway on each host that runs its model-backed agents: this host's
// worker starts it on its own engine (the first of the run's tasks it claims does), with the
// credentials resolved here from its own environment, files or (Kubernetes) Secrets: the values
// never leave this host. The run's budget is held across the hosts through the run's workflow,
// the one place they all reach: syncRunSpend reports this gateway's spend and tells the gateway
// what the others spent.
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { GatewayGraph } from '../graph/gateway-needs';
import { runArtifactsDir } from '../paths/data-folder';
import { recordHostSpendUpdate, runSpendQuery, type RunSpend } from '../workflows/messages';
import type { ActivityContext } from './context';
import { startGateway, stopGateway, type GatewayHandle } from './gateway';
import { withHeartbeat } from './heartbeat';
import { gatewayBundle } from './run-gateway';

const CONTROL_HEADER = 'x-agentvisor-control-token';

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

    /** Compensation and clean-up: this host's gateway of the run and its agents' networks. */
    async stopHostGateway(input: { runId: string }): Promise<void> {
      await stopGateway(runtime, input.runId, scope, hostOf());
    },
  };
}

/** What this worker last told the run its gateway had spent, per run: unchanged spend needs no Update. */
const reported = new Map<string, string>();

/**
 * From inside an activity of the run (the agent's, while it runs and before it starts): this
 * host's gateway's spend goes to the run's workflow (an Update, only when it changed: the history
 * stays small), the run's total comes back, and the gateway learns what the other hosts spent, so
 * it refuses new calls once the run's total has crossed the budget. Undefined when the gateway or
 * the run cannot be reached (the next look tries again).
 */
export async function syncRunSpend(gateway: GatewayHandle, controlToken: string, runId: string): Promise<RunSpend | undefined> {
  try {
    const headers = { [CONTROL_HEADER]: controlToken };
    const r = await fetch(`${gateway.controlUrl}/_agentvisor/usage`, { headers, signal: AbortSignal.timeout(5000) });
    if (!r.ok) return undefined;
    const own = ((await r.json()) as { run: { usd: number; totalTokens: number } }).run;
    const spend = { host: gateway.host!, usd: own.usd, totalTokens: own.totalTokens };
    const handle = Context.current().client.workflow.getHandle(runId);
    const key = `${runId}@${gateway.host}`;
    const said = JSON.stringify(spend);
    const run =
      reported.get(key) === said ? await handle.query(runSpendQuery) : await handle.executeUpdate(recordHostSpendUpdate, { args: [spend] });
    reported.set(key, said);
    const elsewhere = { usd: Math.max(0, run.usd - own.usd), totalTokens: Math.max(0, run.totalTokens - own.totalTokens) };
    await fetch(`${gateway.controlUrl}/_agentvisor/elsewhere`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(elsewhere),
      signal: AbortSignal.timeout(5000),
    });
    return run;
  } catch {
    return undefined;
  }
}
