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

/** token → its task, for the config's tokens; undefined for no token or an unknown one. */
export function taskFinder(tasks: Map<string, TaskConfig>): (token: string | undefined) => TaskConfig | undefined {
  const tasksByHash = new Map<string, TaskConfig>();
  for (const [token, t] of tasks) tasksByHash.set(sha256(token), t);
  return (token) => (token ? tasksByHash.get(sha256(token)) : undefined);
}
