// Every patch id of the workflows, in one place. A patch keeps a run recorded before a change
// replaying as it ran: its id is in the run's history, so the string never changes.
//
// The life of each (the patching-api sample): `patched(ID)` now; then `deprecatePatch(ID)` with
// only the new code, once no run started by a build from before the patch can still be open
// (runs are pinned to their build, workers/version.ts) and the recorded histories from before it
// (test/fixtures/histories) are recorded again; then removed, once no open run has the marker.
// Each id below says what it guards and the commit that made the change: runs started by a build
// from before that commit replay without it.

/** The run's gateway, started before its tasks when an agent needs it. (77704da, 2026-11-23) */
export const GATEWAY_PATCH = 'gateway-v1';

/** The run's shared workspace, made before its tasks. (fcd997a, 2026-11-23) */
export const SHARED_WORKSPACE_PATCH = 'shared-workspace-v1';

/** Approval gates of tasks and of the merge. (84721a2, 2026-11-24) */
export const APPROVALS_PATCH = 'approvals-v1';

/** Agents' proposals of follow-up tasks, read once a task succeeds. (a1132c5, 2026-11-24) */
export const GRAPH_GROWTH_PATCH = 'graph-growth-v1';

/** Proposals held to the agents the graph lets them use, keeping their agent's gate. (336841e, 2026-12-04) */
export const PROPOSAL_AGENTS_PATCH = 'proposal-agents-v1';

/** merge.onConflict retry and resolve (34ad2f0, 2026-11-24); before it, a conflict failed the run. */
export const CONFLICT_RESOLUTION_PATCH = 'conflict-resolution-v1';

/** Work of runs with a git remote placed on hosts (tasks, merge, evaluation). (c35d875, 2026-11-24) */
export const HOSTS_PATCH = 'hosts-v1';

/**
 * The final status search attribute. (df1647c, 2026-11-23) Already superseded by
 * COST_SEARCH_ATTRIBUTE_PATCH for new runs: deprecated and removed together with it.
 */
export const SEARCH_ATTRIBUTES_PATCH = 'search-attributes-v1';

/** The run's total cost with its final status. (3a60b27, 2026-11-24) */
export const COST_SEARCH_ATTRIBUTE_PATCH = 'cost-search-attribute-v1';

/**
 * A cancelled step (and agent container, and evaluation) ends for the workflow once it has ended,
 * not at once: the compensations that follow never run beside it. (2026-12-04: a chaos run's
 * commit landed after the rollback had deleted its task's branch, which stayed behind.)
 */
export const CANCEL_WAITS_FOR_STEPS_PATCH = 'cancel-waits-for-steps-v1';

/**
 * Runs with a remote whose agents need a gateway: one on each host that claims their work,
 * started by that host's worker and stopped on it; the run's budget held across them (remote
 * gateways, 2026-12-04). Before it, such a run started one gateway on the default queue's worker.
 */
export const REMOTE_GATEWAY_PATCH = 'remote-gateway-v1';

/**
 * The run's budget held exactly across hosts: near it, the run admits each host's model calls
 * (admitHostCalls), and before its record of the hosts' spend first reaches the near share, every
 * host's gateway is told (exact host budget, 2026-12-04). Before it, each gateway admitted its
 * calls on its own until its worker's next look told it what the others had spent.
 */
export const EXACT_HOST_BUDGET_PATCH = 'exact-host-budget-v1';

/**
 * Tasks added to a run with host gateways (`agentvisor add`, proposals) whose agent needs a
 * gateway are refused: each host's gateway knows only the tasks of the run's start (exact host
 * budget, 2026-12-04). Before it, such a task was added and its model calls refused (401).
 */
export const HOST_GATEWAY_ADDITIONS_PATCH = 'host-gateway-additions-v1';

/**
 * Tasks added to a run whose agent needs a gateway are taken by the run's gateways (the worker
 * hands each gateway an added task's entry before its agent starts: activities/gateway-tasks.ts),
 * so a run with host gateways no longer refuses them; refused instead, in any run, is an added
 * task whose credential is a Kubernetes Secret, which a gateway reads only when it starts (added
 * tasks reach their models, 2026-12-04). Before it, HOST_GATEWAY_ADDITIONS_PATCH's refusal.
 */
export const ADDED_TASK_GATEWAY_PATCH = 'added-task-gateway-v1';
