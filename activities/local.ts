// The activities of a run on this worker's machine, in the repository the graph names, made by a
// factory that takes their dependencies (the container runtime), as in the Temporal samples. One
// file per job; runs with a git remote wrap some of them (remote.ts).
import { defaultDataDir } from '../paths/data-folder';
import { taskWorktreePath } from '../paths/run-folder';
import { branchActivities } from './branches';
import { conflictActivities } from './conflicts';
import type { ActivityContext, ActivityDeps } from './context';
import { coordinationActivities } from './coordination';
import { outageTolerant } from './engine-outage';
import { evaluationActivities } from './evaluation';
import { experimentActivities } from './experiment';
import { gatewayTokens } from './gateway';
import { hostGatewayActivities } from './host-gateway';
import { DEFAULT_LIMITS } from './limits';
import { resumeActivities } from './resume';
import { agentActivities } from './run-agent';
import { gatewayActivities } from './run-gateway';
import { reportActivities } from './run-report';
import { sandboxUser } from './sandbox-user';
import { taskWorkspaceActivities } from './task-workspace';
import { collectWork } from './workspace';
import { workspaceMode } from './workspace-overlay';

export function createActivities({ runtime, scope = 'unscoped', limits = DEFAULT_LIMITS, dataDir = defaultDataDir(), host }: ActivityDeps) {
  const user = sandboxUser();
  const ctx: ActivityContext = {
    runtime: outageTolerant(runtime),
    scope,
    defaults: limits,
    user: `${user.uid}:${user.gid}`,
    owner: user.chownWorktrees ? { uid: user.uid, gid: user.gid } : undefined,
    tokens: gatewayTokens(dataDir),
    workspaces: workspaceMode(runtime.kind),
  };
  const { owner, defaults } = ctx;
  return {
    ...branchActivities(ctx),
    ...taskWorkspaceActivities(ctx),
    ...agentActivities(ctx),
    ...gatewayActivities(ctx),
    ...hostGatewayActivities(ctx, { dataDir, host }),
    ...resumeActivities(),
    ...evaluationActivities(ctx),
    ...reportActivities(),
    ...experimentActivities(),
    ...coordinationActivities({ owner, diskBytes: defaults.diskBytes }),
    ...conflictActivities({
      owner,
      worktreePath: taskWorktreePath,
      diskBytes: defaults.diskBytes,
      collect: (o) => collectWork({ runtime: ctx.runtime, scope, user: ctx.user, owner, ...o }),
    }),
  };
}

export type LocalActivities = ReturnType<typeof createActivities>;
