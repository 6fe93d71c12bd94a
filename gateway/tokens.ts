// Tokens are looked up and compared by their SHA-256, so a comparison takes the same time
// whatever the token given, and the tables keep no token as a key.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { TaskConfig } from './config';

export const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(sha256(a), 'hex');
  const y = Buffer.from(sha256(b), 'hex');
  return timingSafeEqual(x, y);
}

/** What adding a task to the table did. */
export type TaskAddition = 'added' | 'known' | { conflict: string };

/**
 * The gateway's tasks by their token's hash: the config's, and those the worker adds while the
 * run goes on (tasks added to the run). An entry, once in, never changes and never goes.
 */
export class TaskTable {
  private readonly byHash = new Map<string, TaskConfig>();
  private readonly hashOf = new Map<string, string>();

  constructor(tasks: Map<string, TaskConfig>) {
    for (const [token, t] of tasks) this.add(sha256(token), t);
  }

  /** token → its task; undefined for no token or an unknown one. */
  find(token: string | undefined): TaskConfig | undefined {
    return token ? this.byHash.get(sha256(token)) : undefined;
  }

  has(taskId: string): boolean {
    return this.hashOf.has(taskId);
  }

  /** Idempotent: the same task under the same token is known already; another one is a conflict. */
  add(tokenSha256: string, task: TaskConfig): TaskAddition {
    const known = this.byHash.get(tokenSha256);
    if (known) return known.taskId === task.taskId ? 'known' : { conflict: `the token is another task's (${known.taskId})` };
    if (this.hashOf.has(task.taskId)) return { conflict: `task ${task.taskId} is known under another token` };
    this.byHash.set(tokenSha256, task);
    this.hashOf.set(task.taskId, tokenSha256);
    return 'added';
  }
}
