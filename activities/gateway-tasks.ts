// Tasks added during the run (`agentvisor add`, agents' proposals) reach their models: the run's
// gateway (or this host's) was made from the tasks of the run's start, so before an agent with the
// gateway starts, the worker makes sure the gateway knows its task, and hands it the task's entry
// if not (gateway/added-tasks.ts): its token's hash, its credentials resolved here as
// startGateway resolves them, its allowed hosts and budget. The values go from this worker to the
// gateway's control side alone (which agents cannot reach), never into Temporal or a log.
import { ApplicationFailure } from '@temporalio/common';
import type { AgentSpec } from '../graph/types';
import { sha256 } from '../gateway/tokens';
import { resolveCredential } from './gateway';
import { controlCall } from './gateway-control';

/**
 * Idempotent: a task the gateway knows (one of the run's start, or added before: a retried
 * attempt, a worker restarted) is left as it is, and its credentials are not even read.
 */
export async function ensureGatewayKnowsTask(opts: {
  controlUrl: string;
  controlToken: string;
  taskId: string;
  taskToken: string;
  agent: Pick<AgentSpec, 'credentials' | 'allowHosts' | 'budget'>;
}): Promise<'known' | 'added'> {
  const usage = await controlCall(opts, '/_agentvisor/usage');
  if (!usage.ok) throw new Error(`the gateway's control side answered ${usage.status} to the look for task ${opts.taskId}`);
  const { mode, tasks } = (await usage.json()) as { mode: string; tasks: Record<string, unknown> };
  if (tasks[opts.taskId]) return 'known';

  const credentials: Record<string, string | null> = {};
  for (const [provider, ref] of Object.entries(opts.agent.credentials)) {
    // replay calls no provider: nothing is read; a Kubernetes Secret is read by the gateway's pod
    // when it starts, never by the worker (the gateway refuses the entry, saying why)
    if (mode === 'replay' || ref.startsWith('secret:')) credentials[provider] = null;
    else {
      try {
        credentials[provider] = resolveCredential(ref);
      } catch (err) {
        throw ApplicationFailure.nonRetryable(`task ${opts.taskId}: ${(err as Error).message}`, 'BadTaskInput');
      }
    }
  }
  const entry = {
    tokenSha256: sha256(opts.taskToken),
    taskId: opts.taskId,
    credentials,
    allowHosts: opts.agent.allowHosts ?? [],
    ...(opts.agent.budget ? { budget: opts.agent.budget } : {}),
  };
  const r = await controlCall(opts, '/_agentvisor/tasks', { json: entry });
  if (r.ok) return 'added';
  const text = (await r.text()).slice(0, 500);
  const why = (() => {
    try {
      return (JSON.parse(text) as { error?: { message?: string } }).error?.message ?? text;
    } catch {
      return text;
    }
  })();
  // a refusal is the entry's (it will be refused again); anything else may pass
  if (r.status >= 400 && r.status < 500)
    throw ApplicationFailure.nonRetryable(`the run's gateway cannot take task ${opts.taskId}: ${why}`, 'GatewayRefusedTask');
  throw new Error(`the gateway's control side answered ${r.status} to task ${opts.taskId}'s entry: ${why}`);
}
