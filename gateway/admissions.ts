// Admission by the run, for a host's gateway of a run on several hosts near the run's budget.
//
// Far from the budget a gateway admits model calls on its own. Once its view of the run's total
// (its own spend and what the worker told it the other hosts spent) is at or past a share of the
// budget (config runAdmission.from), each new call waits here until the run grants or refuses it:
// the worker long-polls the pending calls (GET /_agentvisor/admissions), asks the run by an Update
// with this gateway's current spend, and posts the answer back (POST /_agentvisor/admissions). A
// call the run does not answer within waitMs is refused. The run is then the one arbiter of the
// budget: it grants only while its record of all hosts' spend has not crossed the budget, and a
// call is in flight from its grant until its spend is in the run's record.

/** What the run said of a call, or why it was not asked in time. */
export type Admission = 'granted' | 'refused' | 'timeout';

export interface PendingCall {
  id: number;
  taskId: string;
}

/** What the worker's relay sees at each look. */
export interface AdmissionsLook {
  /** grows at each new pending call and each call metered while asking: the next look's `seen` */
  changes: number;
  pending: PendingCall[];
}

export class Admissions {
  private nextId = 1;
  private changes = 0;
  private readonly pending = new Map<number, { taskId: string; settle: (a: Admission) => void }>();
  private readonly lookers = new Set<() => void>();

  constructor(private readonly waitMs: number) {}

  /** A call that needs the run's grant: resolves once the run answered, or after waitMs. */
  ask(taskId: string): Promise<Admission> {
    const id = this.nextId++;
    return new Promise<Admission>((resolve) => {
      const timer = setTimeout(() => settle('timeout'), this.waitMs);
      const settle = (a: Admission) => {
        clearTimeout(timer);
        this.pending.delete(id);
        resolve(a);
      };
      this.pending.set(id, { taskId, settle });
      this.changed();
    });
  }

  /** Something the run must hear of (a call metered while asking): wakes the relay's look. */
  changed(): void {
    this.changes++;
    for (const wake of this.lookers) wake();
    this.lookers.clear();
  }

  /** The pending calls, at once if anything changed since `seen`, else when something does (or after waitMs). */
  look(seen: number, waitMs: number): Promise<AdmissionsLook> {
    const now = (): AdmissionsLook => ({
      changes: this.changes,
      pending: [...this.pending].map(([id, p]) => ({ id, taskId: p.taskId })),
    });
    if (this.changes !== seen) return Promise.resolve(now());
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        resolve(now());
      };
      const timer = setTimeout(() => {
        this.lookers.delete(wake);
        resolve(now());
      }, waitMs);
      this.lookers.add(wake);
    });
  }

  /** The run's answer; ids no longer pending (timed out) are ignored. */
  answer(granted: number[], refused: number[]): void {
    for (const id of granted) this.pending.get(id)?.settle('granted');
    for (const id of refused) this.pending.get(id)?.settle('refused');
  }
}
