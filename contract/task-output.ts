// The end of an agent's output, as the run records it: why a task failed (with its exit code or
// reason), or what a read-only agent found. The same lines are shown by the live table's summary,
// `status`, `--json`, the report and the Temporal UI; each place escapes them for where it shows
// them (text-safety.ts), since an agent wrote them. Pure: workflows use it too.
import type { TaskReport } from './run-types';

/** How many of the agent's last output lines a task's report keeps. */
export const OUTPUT_TAIL_LINES = 20;
/** Each kept line is cut to this many characters (the tail travels in the run's history). */
export const OUTPUT_TAIL_LINE_CHARS = 300;

/** The command that prints a task's whole log. */
export const logsCommand = (runId: string, taskId: string) => `agentvisor logs ${runId} ${taskId}`;

/** A task that ended without its work: its reason and output tail are worth showing. */
export const endedBadly = (t: Pick<TaskReport, 'status'>) => t.status === 'failed' || t.status === 'budget_exceeded';

/** What the tail of a task is, in a few words: why it failed, or a read-only agent's findings. */
export function tailHeading(t: Pick<TaskReport, 'id' | 'status' | 'error' | 'exitCode'>): string {
  if (endedBadly(t)) {
    const exit = t.exitCode !== undefined && !(t.error ?? '').includes(`code ${t.exitCode}`) ? ` (exit code ${t.exitCode})` : '';
    return `task ${t.id} ${t.status.replace('_', ' ')}: ${t.error ?? 'no reason recorded'}${exit}`;
  }
  return `task ${t.id} ${t.status}; its findings`;
}

/** The tasks whose output tail a summary shows: the failed ones, and read-only agents that found something. */
export function tasksWithTail(tasks: TaskReport[]): TaskReport[] {
  return tasks.filter((t) => endedBadly(t) || (t.status === 'succeeded' && (t.outputTail?.length ?? 0) > 0));
}
