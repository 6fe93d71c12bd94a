// Activities for agents that coordinate: the run's shared workspace (a folder in the run's
// artifacts, mounted at /shared in the agents the graph lets in) and the drop folders where agents
// leave proposals of follow-up tasks (one per task, mounted over /shared/proposals).
import { constants, type Stats } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { Mount } from '../runtimes/runtime';
import { parseTasksText } from '../graph/tasks-file';
import type { TaskSpec } from '../graph/types';
import { PROPOSALS_MOUNT, SHARED_MOUNT, type TaskInput } from '../contract/run-types';
import { sharedDir } from '../paths/run-folder';
import { withHeartbeat } from './heartbeat';
import { mountLimitedDir, releaseLimitedDir } from './disk-limit';

/** What one agent may leave in its drop folder: a few small task files. */
const MAX_PROPOSAL_FILES = 20;
const MAX_PROPOSAL_BYTES = 64 * 1024;

type Owner = { uid: number; gid: number } | undefined;

/**
 * The mounts and environment a task's container gets for the shared workspace (none without
 * access); makes the task's drop folder, owned by the agents' user, when it has one.
 */
export async function sharedMounts(
  input: Pick<TaskInput, 'shared'>,
  owner?: Owner,
): Promise<{ mounts: Mount[]; env: Record<string, string> }> {
  const shared = input.shared;
  if (!shared) return { mounts: [], env: {} };
  const mounts: Mount[] = [{ source: shared.dir, target: SHARED_MOUNT, readOnly: shared.readOnly }];
  const env: Record<string, string> = { AGENTVISOR_SHARED: SHARED_MOUNT };
  if (shared.dropDir) {
    await mkdir(shared.dropDir, { recursive: true });
    if (owner) await lchown(shared.dropDir, owner.uid, owner.gid);
    mounts.push({ source: shared.dropDir, target: PROPOSALS_MOUNT, readOnly: false });
    env.AGENTVISOR_PROPOSALS = PROPOSALS_MOUNT;
  }
  return { mounts, env };
}

/** One file found in a drop folder: the tasks it proposes, or why it cannot be read. */
export interface FoundProposal {
  file: string;
  tasks?: TaskSpec[];
  problems?: string[];
}

/** diskBytes: the shared workspace's size (the worker's default disk limit; 0: unbounded) */
export function coordinationActivities({ owner, diskBytes = 0 }: { owner?: Owner; diskBytes?: number }) {
  return {
    /** Creates the run's shared workspace (idempotent), owned by the agents' user. */
    async createSharedWorkspace(input: { runId: string; artifactsDir: string; proposals?: boolean }): Promise<{ path: string }> {
      const dir = sharedDir(input.artifactsDir);
      await withHeartbeat('create shared workspace', async () => {
        // DISK LIMIT (activities/disk-limit.ts): the shared workspace is a filesystem of that size
        if (diskBytes) await mountLimitedDir(dir, diskBytes, owner);
        // with proposals, /shared/proposals is where each agent's own drop folder is mounted
        for (const d of input.proposals ? [dir, path.join(dir, 'proposals')] : [dir]) {
          await mkdir(d, { recursive: true });
          if (owner) await lchown(d, owner.uid, owner.gid);
        }
      });
      return { path: dir };
    },

    /** Compensation: the shared workspace and everything agents left in it. */
    async removeSharedWorkspace(input: { artifactsDir: string }): Promise<void> {
      await releaseLimitedDir(sharedDir(input.artifactsDir)); // DISK LIMIT: unmount, delete its image
      await rm(sharedDir(input.artifactsDir), { recursive: true, force: true });
    },

    /**
     * The task files an agent left in its drop folder, parsed. Only regular files with one link
     * are read: a symlink could point anywhere on the worker's machine, and a hard link is a name
     * for a file that lives somewhere else too. The file is opened without following a link and
     * checked again once open. The files stay as the record.
     */
    async collectProposals(input: { taskId: string; dropDir: string }): Promise<FoundProposal[]> {
      const names = (await readdir(input.dropDir).catch(() => [] as string[])).sort();
      const found: FoundProposal[] = [];
      for (const file of names) {
        if (found.length === MAX_PROPOSAL_FILES) {
          found.push({ file, problems: [`more than ${MAX_PROPOSAL_FILES} files in the drop folder; the rest are not read`] });
          break;
        }
        const full = path.join(input.dropDir, file);
        const stat = await lstat(full);
        const problem = proposalFileProblem(file, stat);
        if (problem) found.push({ file, problems: [problem] });
        else {
          // O_NONBLOCK: were it swapped for a FIFO meanwhile, opening it must not wait for a writer
          const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
          const text = await (async () => {
            const again = proposalFileProblem(file, await handle.stat());
            if (again) throw new Error(`${file} changed while it was read: ${again}`);
            return handle.readFile('utf8');
          })().finally(() => handle.close());
          const { tasks, problems } = parseTasksText(text, { defaultAfter: [input.taskId] });
          found.push(
            tasks
              ? { file, tasks }
              : { file, problems: problems.map((p) => `${p.line ? `line ${p.line}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`) },
          );
        }
      }
      return found;
    },
  };
}

/** Why a file in a drop folder is not read as a proposal (undefined: it is). */
function proposalFileProblem(file: string, stat: Stats): string | undefined {
  if (!stat.isFile()) return 'not a regular file';
  if (stat.nlink > 1) return 'a hard link (only a file the agent wrote there itself is read)';
  if (!/\.(ya?ml|json)$/.test(file)) return 'not a .yaml, .yml or .json file';
  if (stat.size > MAX_PROPOSAL_BYTES) return `larger than ${MAX_PROPOSAL_BYTES / 1024} KiB`;
  return undefined;
}
