// Compensations of a saga: registered as steps succeed, run in reverse order when the run fails or
// is cancelled. The caller runs `compensate` inside CancellationScope.nonCancellable so a cancel
// cannot interrupt the rollback itself.
import { log } from '@temporalio/workflow';

export class Saga {
  private readonly steps: { name: string; undo: () => Promise<unknown> }[] = [];

  add(name: string, undo: () => Promise<unknown>): void {
    this.steps.push({ name, undo });
  }

  /** Runs every compensation, newest first; one failing does not stop the others. */
  async compensate(): Promise<string[]> {
    const failures: string[] = [];
    for (const step of [...this.steps].reverse()) {
      try {
        await step.undo();
      } catch (err) {
        log.warn('compensation failed', { step: step.name, error: String(err) });
        failures.push(`${step.name}: ${(err as Error).message}`);
      }
    }
    this.steps.length = 0;
    return failures;
  }
}
