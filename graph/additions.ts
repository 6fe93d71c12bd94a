// Checks of tasks added to a running run (`agentvisor add`, or proposed by an agent): the same rules
// as a graph file's tasks, against the tasks the run already has. Pure: the workflow runs it in the
// update's validator, so a refused addition changes nothing.
import { SAFE_ID, findCycle } from './dag';
import type { TaskSpec } from './types';

/** Statuses a dependency cannot be started from, as the refusal says them. */
const ENDED_BADLY: Record<string, string> = {
  failed: 'failed',
  cancelled: 'was cancelled',
  skipped: 'was skipped',
  budget_exceeded: 'ran out of budget',
};

export interface RunTaskState {
  id: string;
  after?: string[];
  status: string;
}

/** The reasons an addition cannot be made (none: it can). */
export function checkAddedTasks(opts: {
  existing: RunTaskState[];
  agents: string[];
  added: Pick<TaskSpec, 'id' | 'agent' | 'after'>[];
  /** ids taken by something else (the merge's approval gate) */
  reserved?: string[];
}): string[] {
  const problems: string[] = [];
  const { existing, agents, added } = opts;
  if (added.length === 0) return ['no tasks to add'];
  const before = new Map(existing.map((t) => [t.id, t]));
  const seen = new Set<string>();
  for (const task of added) {
    if (!SAFE_ID.test(task.id))
      problems.push(
        `task id "${task.id}" is not a safe branch/file name (use letters, digits, - and _; at most 63; start with a letter or digit)`,
      );
    else if (before.has(task.id)) problems.push(`task "${task.id}" is already in the run`);
    else if (seen.has(task.id)) problems.push(`duplicate task id "${task.id}"`);
    else if (opts.reserved?.includes(task.id)) problems.push(`task id "${task.id}" is taken by the merge's approval gate`);
    seen.add(task.id);
    if (!agents.includes(task.agent)) problems.push(`unknown agent "${task.agent}" of task "${task.id}" (agents: ${agents.join(', ')})`);
  }
  for (const task of added) {
    for (const dep of task.after) {
      const old = before.get(dep);
      if (dep === task.id) problems.push(`task "${task.id}" depends on itself`);
      else if (!old && !seen.has(dep)) problems.push(`unknown dependency "${dep}" of task "${task.id}"`);
      else if (old && ENDED_BADLY[old.status]) problems.push(`task "${task.id}" depends on "${dep}", which ${ENDED_BADLY[old.status]}`);
    }
  }
  const cycle = findCycle([...existing.map((t) => ({ id: t.id, after: t.after ?? [] })), ...added]);
  if (cycle) problems.push(`dependency cycle: ${cycle.join(' -> ')}`);
  return problems;
}
