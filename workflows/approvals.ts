// Approval gates: a task (before it starts) or the merge waits for a person's answer, given as a
// Temporal update (`agentvisor approve` / `reject`). Validators refuse an answer to a gate that is
// not waiting, so a wrong answer is an error to its sender and leaves no trace in the history.
// Waiting is a timer in the workflow: no container runs meanwhile. Nobody answering in time lets
// the graph's onTimeout decide.
import { ApplicationFailure, condition, isCancellation } from '@temporalio/workflow';
import type { ApprovalSpec } from '../graph/types';
import type { Decision } from './messages';
import type { ApprovalReport, RunReport } from '../contract/run-types';

/** Why a gate closed the run (or the task): ApplicationFailure type. */
export const REJECTED = 'ApprovalRejected';

export class Gates {
  constructor(
    private readonly report: RunReport,
    /** called whenever a gate opens or closes: the run's status and UI follow */
    private readonly changed: () => void,
  ) {}

  /** The approve update's validator: throwing refuses the answer. */
  checkApproval(d: Decision): void {
    this.waitingGate(d);
  }

  /** The reject update's validator: throwing refuses the answer. */
  checkRejection(d: Decision): void {
    this.waitingGate(d);
    if (!d.reason?.trim()) throw ApplicationFailure.nonRetryable('a rejection needs a reason (--reason)', 'BadDecision');
  }

  get waiting(): ApprovalReport[] {
    return (this.report.approvals ?? []).filter((a) => a.status === 'waiting');
  }

  /** Waits for the gate's answer; a rejection, or a timeout that rejects, throws. */
  async pass(gate: string, spec: ApprovalSpec): Promise<void> {
    const entry: ApprovalReport = {
      gate,
      status: 'waiting',
      requestedAt: Date.now(),
      timeoutMs: spec.timeoutMs,
      onTimeout: spec.onTimeout,
    };
    (this.report.approvals ??= []).push(entry);
    this.changed();
    let answered: boolean;
    try {
      answered = await condition(() => entry.status !== 'waiting', spec.timeoutMs);
    } catch (err) {
      if (isCancellation(err)) {
        entry.status = 'cancelled';
        entry.decidedAt = Date.now();
        this.changed();
      }
      throw err;
    }
    if (!answered) {
      entry.status = spec.onTimeout === 'approve' ? 'approved' : 'rejected';
      entry.timedOut = true;
      entry.decidedAt = Date.now();
      entry.reason = `nobody answered within ${duration(spec.timeoutMs)}`;
      this.changed();
    }
    if (entry.status === 'rejected') {
      const what = gate === 'merge' ? 'the merge' : `task ${gate}`;
      throw ApplicationFailure.create({
        type: REJECTED,
        nonRetryable: true,
        message: `approval of ${what} ${entry.timedOut ? 'timed out' : 'rejected'}: ${entry.reason}`,
      });
    }
  }

  private waitingGate(d: Decision): ApprovalReport {
    const open = this.waiting;
    const names = open.map((a) => a.gate).join(', ');
    if (d.gate) {
      const found = open.find((a) => a.gate === d.gate);
      if (!found) {
        throw ApplicationFailure.nonRetryable(
          `no approval is waiting for "${d.gate}"${open.length ? ` (waiting: ${names})` : ''}`,
          'BadDecision',
        );
      }
      return found;
    }
    if (open.length === 0) throw ApplicationFailure.nonRetryable('no approval is waiting in this run', 'BadDecision');
    if (open.length > 1) throw ApplicationFailure.nonRetryable(`several approvals are waiting (${names}); name one`, 'BadDecision');
    return open[0];
  }

  /** The approve and reject updates: the answer closes the waiting gate. */
  decide(d: Decision, status: 'approved' | 'rejected'): ApprovalReport {
    const entry = this.waitingGate(d);
    entry.status = status;
    entry.decidedAt = Date.now();
    entry.reason = d.reason?.trim() || undefined;
    this.changed();
    return entry;
  }
}

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return `${ms / 1000}s`;
}
