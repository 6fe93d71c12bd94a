// Activities for agents that coordinate: the run's shared workspace (a folder in the run's
// artifacts, mounted at /shared in the agents the graph lets in).
import { lchown, mkdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { Mount } from '../runtimes/runtime';
import { SHARED_MOUNT, type TaskInput } from '../workflows/run-types';
import { withHeartbeat } from './heartbeat';

export const sharedDir = (artifactsDir: string) => path.join(artifactsDir, 'shared');

/** The mounts and environment a task's container gets for the shared workspace (none without access). */
export function sharedMounts(input: Pick<TaskInput, 'shared'>): { mounts: Mount[]; env: Record<string, string> } {
  if (!input.shared) return { mounts: [], env: {} };
  return {
    mounts: [{ source: input.shared.dir, target: SHARED_MOUNT, readOnly: input.shared.readOnly }],
    env: { AGENTVISOR_SHARED: SHARED_MOUNT },
  };
}

export function coordinationActivities({ owner }: { owner?: { uid: number; gid: number } }) {
  return {
    /** Creates the run's shared workspace (idempotent), owned by the agents' user. */
    async createSharedWorkspace(input: { runId: string; artifactsDir: string }): Promise<{ path: string }> {
      const dir = sharedDir(input.artifactsDir);
      await withHeartbeat('create shared workspace', async () => {
        await mkdir(dir, { recursive: true });
        if (owner) await lchown(dir, owner.uid, owner.gid);
      });
      return { path: dir };
    },

    /** Compensation: the shared workspace and everything agents left in it. */
    async removeSharedWorkspace(input: { artifactsDir: string }): Promise<void> {
      await rm(sharedDir(input.artifactsDir), { recursive: true, force: true });
    },
  };
}
