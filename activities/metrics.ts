// agentvisor's own counters, on the SDK's metric meter: exported with the SDK runtime's metrics
// (Prometheus on `agentvisor worker --metrics-port`). Outside an activity they are no-ops.
import { Context } from '@temporalio/activity';

function meter() {
  try {
    return Context.current().metricMeter;
  } catch {
    return undefined;
  }
}

/** One agent container finished: outcome is succeeded, failed, timed_out, oom_killed or killed. */
export function countAgentOutcome(harness: string, outcome: string): void {
  meter()?.createCounter('agentvisor_agent_runs', '1', 'agent containers that finished, by outcome').add(1, { harness, outcome });
}

/** Time from asking the engine for a container to its start, for fresh starts only. */
export function recordContainerStart(ms: number, role: string): void {
  meter()?.createHistogram('agentvisor_container_start_latency', 'int', 'ms', 'container create-to-running latency').record(Math.round(ms), { role });
}

export function countEvaluation(passed: boolean): void {
  meter()?.createCounter('agentvisor_evaluations', '1', 'evaluations run, by result').add(1, { result: passed ? 'passed' : 'failed' });
}
