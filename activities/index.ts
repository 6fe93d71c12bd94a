// The activities a worker registers, made once per worker (workers/worker.ts). Workflows import
// only the type `RunActivities`.
import { createActivities, type LocalActivities } from './local';
import { remoteActivities } from './remote';
import { claimHostActivities } from './claim-host';
import type { ActivityDeps } from './context';
import { withHeartbeat } from './heartbeat';

export { createActivities, type LocalActivities } from './local';
export type { ActivityDeps } from './context';

export interface WorkerDeps extends ActivityDeps {
  /** this worker's data folder: its clones, worktrees and logs for runs with a remote, its gateway key */
  dataDir: string;
}

/** Every activity a worker registers. */
export function workerActivities(deps: WorkerDeps) {
  const local = createActivities(deps);
  return heartbeating({ ...byRemote(local, remoteActivities(local, deps)), ...claimHostActivities(deps) }, CLEANUP_ACTIVITIES);
}

/** What workflows call: the local activities, able to work through a git remote, and claimHost. */
export type RunActivities = ReturnType<typeof workerActivities>;

/** Inputs that may name the run's remote (and, for removeWorkspace, the run). */
interface RemoteFields {
  remote?: string;
  runId?: string;
}
type WithRemote<T> = { [K in keyof T]: T[K] extends (input: infer I) => infer R ? (input: I & RemoteFields) => R : T[K] };
type RemoteOf<T> = { [K in keyof T]?: T[K] extends (input: never) => infer R ? (input: never) => R : never };

/**
 * The one place a run with a remote and one without part: an activity that has a remote
 * implementation runs it for inputs that name the remote, and the local one for the rest.
 */
function byRemote<L extends LocalActivities>(local: L, remote: RemoteOf<L>): WithRemote<L> {
  const chosen: Record<string, unknown> = { ...local };
  for (const [name, onRemote] of Object.entries(remote) as [string, (input: RemoteFields) => unknown][]) {
    const onLocal = local[name as keyof L] as (input: RemoteFields) => unknown;
    chosen[name] = (input: RemoteFields) => (input.remote ? onRemote(input) : onLocal(input));
  }
  return chosen as WithRemote<L>;
}

/**
 * The compensations and clean-ups (workflows' CLEANUP_ACTIVITY): they heartbeat throughout, so a
 * worker killed inside one costs the run the heartbeat timeout (10 s), not the start-to-close one.
 */
const CLEANUP_ACTIVITIES = [
  'removeContainers',
  'deleteBranches',
  'removeWorkspace',
  'removeEvaluation',
  'removeSharedWorkspace',
  'stopGateway',
  'stopHostGateway',
] as const;

function heartbeating<T extends Record<string, unknown>>(activities: T, names: readonly (keyof T & string)[]): T {
  const wrapped: Record<string, unknown> = { ...activities };
  for (const name of names) {
    const fn = activities[name] as (...args: unknown[]) => Promise<unknown>;
    wrapped[name] = (...args: unknown[]) => withHeartbeat(name, () => fn(...args));
  }
  return wrapped as T;
}
