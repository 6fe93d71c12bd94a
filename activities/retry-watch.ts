// Bounds the retries of a CLI that retries failed model calls on its own and cannot be told how
// often (OpenCode): its `retrying` lines are counted as they stream by, shown as progress, and past
// maxRetries(agent) the agent is stopped and the task fails as transient (the workflow's retry
// policy decides what comes next) instead of waiting through the CLI's backoff.
import { failure, maxRetries, type AgentResult, type Harness } from '../harnesses/harness';
import type { AgentSpec } from '../graph/types';

export interface RetryWatch {
  /** the harness's progress line, or the retry it reports */
  progress(line: string): string | undefined;
  /** why to stop the agent now, once it has used up its retries; then always the same reason */
  exhausted(): string | undefined;
  /** the task's result when the agent was stopped for that reason */
  result(usage: AgentResult['usage']): AgentResult | undefined;
}

export function retryWatch(harness: Harness, agent: AgentSpec): RetryWatch {
  const limit = maxRetries(agent);
  let failures = 0;
  let last = '';
  let gaveUp: string | undefined;
  return {
    progress(line) {
      const what = harness.retrying?.(line);
      // a harness without a parser (command) shows the agent's own line, as before retryWatch
      if (what === undefined) return harness.progress ? harness.progress(line) : line;
      failures++;
      last = what;
      return `model call failed (attempt ${failures} of ${limit + 1}): ${what}`;
    },
    exhausted() {
      if (!gaveUp && failures > limit) {
        gaveUp = `${harness.name}: gave up after the model call failed ${failures} times (${limit} retries, AGENTVISOR_MAX_RETRIES): ${last}`;
      }
      return gaveUp;
    },
    result(usage) {
      if (!gaveUp) return undefined;
      return { ...failure(gaveUp, usage), transient: true };
    },
  };
}

/** " (the provider answered HTTP 429 ×6)": the error statuses the gateway saw for the task. */
export function upstreamErrorsNote(errors: Record<string, number> | undefined): string {
  const parts = Object.entries(errors ?? {}).map(([status, n]) => `HTTP ${status}${n > 1 ? ` ×${n}` : ''}`);
  return parts.length ? ` (the provider answered ${parts.join(', ')})` : '';
}
