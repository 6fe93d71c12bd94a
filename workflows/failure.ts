import { ApplicationFailure } from '@temporalio/workflow';

/** The most specific message in a failure chain ("Activity task failed" says nothing). */
export function rootMessage(err: unknown): string {
  let current = err as { message?: string; cause?: unknown } | undefined;
  let message = current?.message ?? String(err);
  while (current?.cause) {
    current = current.cause as typeof current;
    if (current?.message) message = current.message;
  }
  return message;
}

/** The first `details` payload of an ApplicationFailure anywhere in the chain. */
export function failureDetails<T>(err: unknown): T | undefined {
  let current = err as { cause?: unknown } | undefined;
  while (current) {
    if (current instanceof ApplicationFailure && current.details?.length) return current.details[0] as T;
    current = current.cause as typeof current;
  }
  return undefined;
}
