// agentvisor's own counters, on the SDK's metric meter: exported with the SDK runtime's metrics
// (Prometheus on `agentvisor worker --metrics-port`). Outside an activity they are no-ops.
import { Context } from '@temporalio/activity';
import type { Usage } from '../contract/run-types';

function meter() {
  try {
    return Context.current().metricMeter;
  } catch {
    return undefined;
  }
}

/** One agent container finished: outcome is succeeded, failed, timed_out, oom_killed, killed or budget_exceeded. */
export function countAgentOutcome(harness: string, outcome: string): void {
  meter()?.createCounter('agentvisor_agent_runs', '1', 'agent containers that finished, by outcome').add(1, { harness, outcome });
}

/** Time from asking the engine for a container to its start, for fresh starts only. */
export function recordContainerStart(ms: number, role: string): void {
  meter()
    ?.createHistogram('agentvisor_container_start_latency', 'int', 'ms', 'container create-to-running latency')
    .record(Math.round(ms), { role });
}

export function countEvaluation(passed: boolean): void {
  meter()
    ?.createCounter('agentvisor_evaluations', '1', 'evaluations run, by result')
    .add(1, { result: passed ? 'passed' : 'failed' });
}

/** An agent's attempt ends in a transient failure (killed from outside, a provider refusal) and is retried. */
export function countAgentRetry(harness: string, reason: 'killed' | 'transient'): void {
  meter()?.createCounter('agentvisor_agent_retries', '1', 'agent attempts retried after a transient failure').add(1, { harness, reason });
}

/**
 * Tokens (a counter per kind) and cost (a float histogram per task attempt: its _sum is the spend)
 * of one agent attempt, as the gateway metered it or the agent's CLI reported it.
 */
export function recordUsage(harness: string, usage: Usage | undefined): void {
  const m = meter();
  if (!m || !usage) return;
  const tokens = m.createCounter('agentvisor_tokens', '1', 'model tokens used by agents, by kind');
  for (const [kind, n] of [
    ['input', usage.inputTokens],
    ['output', usage.outputTokens],
    ['cached', usage.cachedTokens],
  ] as const) {
    if (n > 0) tokens.add(Math.round(n), { harness, kind });
  }
  if (usage.costUsd !== undefined)
    m.createHistogram('agentvisor_task_cost', 'float', 'USD', 'cost of each agent attempt').record(usage.costUsd, { harness });
}
