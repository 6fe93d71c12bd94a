// Tasks added to the run while its gateway runs (`agentvisor add`, agents' proposals): before such
// a task's agent starts, the worker hands the gateway the task's entry on the control side
// (POST /_agentvisor/tasks), and from then on its token is known like the config's. Adding is
// idempotent (a retried activity, a worker restarted) and never changes or drops a known task's
// entry or its counts; the model calls' hot path is the same lookup as before.
import { addedTaskSchema, type GatewayConfig, type TaskConfig } from './config';
import { CassetteError } from './cassette';
import type { Ledger } from './ledger';
import type { TaskTable } from './tokens';

export interface TaskAdderAnswer {
  status: number;
  body: { taskId?: string; added?: boolean; error?: string };
}

export function createTaskAdder(deps: {
  cfg: GatewayConfig;
  table: TaskTable;
  ledger: Ledger;
  /** loads the task's cassette (record and replay) */
  loadCassette: (taskId: string) => void;
}): (raw: unknown) => TaskAdderAnswer {
  const { cfg, table, ledger, loadCassette } = deps;
  return (raw) => {
    const r = addedTaskSchema.safeParse(raw);
    // the messages name fields, never a value: the entry holds credentials
    if (!r.success) return refused(400, r.error.issues.map((i) => `${i.path.map(String).join('.') || '(entry)'}: ${i.message}`).join('; '));
    const entry = r.data;
    const credentials = new Map<string, string>();
    const problems: string[] = [];
    for (const [provider, value] of Object.entries(entry.credentials)) {
      if (!cfg.providers.has(provider))
        problems.push(`credentials.${provider}: unknown provider (providers: ${[...cfg.providers.keys()].join(', ')})`);
      // replay calls no provider: no credential is needed
      else if (cfg.mode === 'replay') credentials.set(provider, '');
      else if (value === null)
        problems.push(
          `credentials.${provider}: the worker could not give this credential (a Kubernetes Secret, which a gateway reads only when it starts)`,
        );
      else if (!value.trim()) problems.push(`credentials.${provider}: empty`);
      else credentials.set(provider, value.trim());
    }
    const task: TaskConfig = {
      taskId: entry.taskId,
      credentials,
      // the references stay with the worker: messages name the provider only
      credentialRefs: Object.fromEntries(Object.keys(entry.credentials).map((p) => [p, 'given by the worker'])),
      allowHosts: entry.allowHosts,
      budget: entry.budget,
    };
    // a known task is answered before its credentials are judged: its entry stays as it is
    if (table.has(entry.taskId)) {
      const again = table.add(entry.tokenSha256, task);
      return typeof again === 'object' ? refused(409, again.conflict) : { status: 200, body: { taskId: entry.taskId, added: false } };
    }
    if (problems.length) return refused(422, problems.join('; '));
    try {
      loadCassette(entry.taskId);
    } catch (err) {
      if (err instanceof CassetteError) return refused(422, err.message);
      throw err;
    }
    const added = table.add(entry.tokenSha256, task);
    if (typeof added === 'object') return refused(409, added.conflict);
    for (const value of credentials.values()) if (value.length >= 4 && !cfg.secrets.includes(value)) cfg.secrets.push(value);
    ledger.addTask(entry.taskId, entry.budget);
    return { status: 200, body: { taskId: entry.taskId, added: added === 'added' } };
  };
}

const refused = (status: number, error: string): TaskAdderAnswer => ({ status, body: { error: `agentvisor gateway: ${error}` } });
