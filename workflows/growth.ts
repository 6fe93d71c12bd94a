// A graph that grows while it runs. `agentvisor add RUN FILE` is a Temporal update whose validator
// applies the graph file's rules (known agents, known dependencies, no cycles) to the run as it is:
// a refused addition is an error to its sender and leaves no trace in the history. Agents propose
// follow-up tasks by leaving task files in their drop folder (/shared/proposals); the run reads them
// when the agent's task has succeeded and accepts them within the graph's limits (which agents
// propose, which agents the proposed tasks may use, how many in all, how deep). A proposed task
// waits at the approval gate of its agent, whatever the proposal says. Every proposal is recorded
// with what became of it.
import { ApplicationFailure, patched } from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import { checkAddedTasks } from '../graph/additions';
import { agentNeedsGateway, needsGateway } from '../graph/gateway-needs';
import { MERGE_GATE } from '../graph/coordination-checks';
import { topologicalOrder } from '../graph/dag';
import type { ApprovalSpec, GraphSpec, TaskSpec } from '../graph/types';
import { STEP_ACTIVITY, proxyWith, settled } from './activity-options';
import type { AddResult } from './messages';
import { ADDED_TASK_GATEWAY_PATCH, HOST_GATEWAY_ADDITIONS_PATCH, PROPOSAL_AGENTS_PATCH } from './patches';
import { taskBranch, type ProposalReport, type RunReport } from '../contract/run-types';

const { collectProposals } = proxyWith<RunActivities>(() => settled(STEP_ACTIVITY));

export class Growth {
  /** where each task stands in the chain of proposals: 0 for the graph's and added tasks */
  private readonly depth = new Map<string, number>();
  private accepted = 0;
  /** set while tasks are running; undefined before they start and once they are all done */
  private schedule?: (task: TaskSpec) => void;
  private closed = false;
  /** agent → the approval gate its tasks wait at in the graph file (proposed tasks of it wait there too) */
  private readonly gates = new Map<string, ApprovalSpec>();

  constructor(
    private readonly graph: GraphSpec,
    private readonly report: RunReport,
    private readonly changed: () => void,
  ) {
    for (const t of graph.tasks) {
      this.depth.set(t.id, 0);
      if (t.approval) this.gates.set(t.agent, stricter(this.gates.get(t.agent), t.approval));
    }
  }

  /**
   * A run with a remote whose agents need a gateway has one per host, made from the tasks it had at
   * its start (workflows/host-gateways.ts). Before ADDED_TASK_GATEWAY_PATCH, a task added later had
   * no token there.
   */
  private get hostGateways(): boolean {
    return !!this.graph.remote && needsGateway(this.graph);
  }

  /** The addTasks update (`agentvisor add`). */
  addFromUser(tasks: TaskSpec[]): AddResult {
    return this.add(tasks, 'agentvisor add', 0);
  }

  /** From now on added tasks start as soon as their dependencies allow. */
  open(schedule: (task: TaskSpec) => void): void {
    this.schedule = schedule;
  }

  /** Every task is done: the run goes on to the merge and takes no more tasks. */
  close(): void {
    this.schedule = undefined;
    this.closed = true;
  }

  /** Reads what a succeeded task's agent proposed and adds what fits the limits. */
  async takeProposals(task: TaskSpec, dropDir: string): Promise<void> {
    const limits = this.graph.proposals;
    let found;
    try {
      found = await collectProposals({ taskId: task.id, dropDir });
    } catch (err) {
      this.record({
        by: task.id,
        file: '',
        tasks: [],
        status: 'refused',
        reason: `could not read the drop folder: ${(err as Error).message}`,
      });
      return;
    }
    const depth = (this.depth.get(task.id) ?? 0) + 1;
    for (const p of found) {
      const tasks = p.tasks ?? [];
      const entry: ProposalReport = { by: task.id, file: p.file, tasks: tasks.map((t) => t.id), status: 'refused' };
      // runs from before this check replay without it (they had no marker)
      const privilege =
        !p.problems && limits?.from.includes(task.agent) && patched(PROPOSAL_AGENTS_PATCH) ? this.privilegeProblem(task, tasks) : undefined;
      if (p.problems) entry.reason = `malformed: ${p.problems.join('; ')}`;
      else if (!limits) entry.reason = 'this graph takes no proposals (it has no proposals: section)';
      else if (!limits.from.includes(task.agent))
        entry.reason = `agent ${task.agent} may not propose tasks (proposals.from: ${limits.from.join(', ')})`;
      else if (privilege) entry.reason = privilege;
      else if (depth > limits.maxDepth)
        entry.reason = `too deep: ${task.id} is itself ${depth - 1} proposal(s) down (proposals.maxDepth: ${limits.maxDepth})`;
      else if (this.accepted + tasks.length > limits.maxTasks) {
        entry.reason = `over the run's limit of ${limits.maxTasks} proposed tasks (${this.accepted} accepted before)`;
      } else {
        const problems = [...this.problems(tasks), ...this.patchedGatewayProblems(tasks)];
        if (problems.length) entry.reason = problems.join('; ');
        else {
          // each proposed task waits at its agent's gate, as that agent's tasks in the graph do
          if (patched(PROPOSAL_AGENTS_PATCH)) for (const t of tasks) t.approval = this.gates.get(t.agent);
          this.add(tasks, `proposal of ${task.id}`, depth);
          this.accepted += tasks.length;
          entry.status = 'accepted';
        }
      }
      this.record(entry);
    }
  }

  /**
   * Why a proposal asks for more than its proposer may give: an agent the graph does not let
   * proposals use (proposals.agents; by default only the proposing task's own agent), or an
   * approval gate of its own (gates are the graph's: a proposed task gets its agent's).
   */
  private privilegeProblem(by: TaskSpec, tasks: TaskSpec[]): string | undefined {
    const listed = this.graph.proposals?.agents;
    const allowed = listed ?? [by.agent];
    const rule = listed
      ? `proposals.agents: ${listed.join(', ')}`
      : `without proposals.agents, only the proposing task's own agent ${by.agent}`;
    const problems: string[] = [];
    for (const t of tasks) {
      if (!allowed.includes(t.agent)) problems.push(`task "${t.id}" uses agent ${t.agent}, which proposed tasks may not use (${rule})`);
      if (t.approval)
        problems.push(`task "${t.id}" sets its own approval gate; gates are the graph's (a proposed task waits at its agent's)`);
    }
    return problems.length ? problems.join('; ') : undefined;
  }

  private record(entry: ProposalReport): void {
    (this.report.proposals ??= []).push(entry);
    this.changed();
  }

  private problems(tasks: TaskSpec[]): string[] {
    if (this.closed) return ['the run has finished its tasks (it is merging or done); start a new run'];
    if (this.report.tasks.some((t) => t.status === 'failed' || t.status === 'budget_exceeded')) return ['a task of the run has failed'];
    return checkAddedTasks({
      existing: this.report.tasks,
      agents: Object.keys(this.graph.agents),
      added: tasks,
      reserved: this.graph.merge?.approval ? [MERGE_GATE] : [],
    });
  }

  /** The addTasks update's validator: throwing refuses the update. */
  refusal(tasks: TaskSpec[]): void {
    // a validator does not run on replay: it refuses without a patch (and may not set one)
    const problems = [...this.problems(tasks), ...this.gatewayProblems(tasks)];
    if (problems.length) throw ApplicationFailure.nonRetryable(problems.join('; '), 'BadAddition');
  }

  /** In the update's handler and for proposals: what the run recorded before the check replays without it. */
  private patchedRefusal(tasks: TaskSpec[]): void {
    const problems = [...this.problems(tasks), ...this.patchedGatewayProblems(tasks)];
    if (problems.length) throw ApplicationFailure.nonRetryable(problems.join('; '), 'BadAddition');
  }

  /**
   * The gateway's rule a run recorded: today's (ADDED_TASK_GATEWAY_PATCH), or, in a history from
   * before it, the refusal of model-backed additions to runs with host gateways (or none at all).
   * A patch is asked for only where the rules would differ from no rule.
   */
  private patchedGatewayProblems(tasks: TaskSpec[]): string[] {
    const before = this.hostGatewayProblems(tasks);
    const now = this.gatewayProblems(tasks);
    if (!before.length && !now.length) return [];
    if (patched(ADDED_TASK_GATEWAY_PATCH)) return now;
    return before.length && patched(HOST_GATEWAY_ADDITIONS_PATCH) ? before : [];
  }

  /**
   * Added tasks no gateway of the run can take: a credential that is a Kubernetes Secret (unless
   * replayed, which reads none). A gateway reads its Secrets when it starts (its pod's environment);
   * the worker, which hands a running gateway an added task's credentials, never reads one.
   */
  private gatewayProblems(tasks: TaskSpec[]): string[] {
    if (this.graph.gateway?.mode === 'replay') return [];
    return tasks.flatMap((t) => {
      const agent = this.graph.agents[t.agent];
      const secret = agent && Object.values(agent.credentials).find((ref) => ref.startsWith('secret:'));
      return secret
        ? [
            `task "${t.id}" uses agent ${t.agent}, whose credential ${secret} is a Kubernetes Secret: the run's gateway reads ` +
              `Secrets only when it starts, so it cannot take a task added later. Put the task in the graph file of a new run, ` +
              `or give its agent a credential the worker reads (env: or file:)`,
          ]
        : [];
    });
  }

  /** Before ADDED_TASK_GATEWAY_PATCH: added tasks whose agent needs a gateway, in a run whose gateways are its hosts'. */
  private hostGatewayProblems(tasks: TaskSpec[]): string[] {
    if (!this.hostGateways) return [];
    return tasks
      .filter((t) => this.graph.agents[t.agent] && agentNeedsGateway(this.graph.agents[t.agent]))
      .map(
        (t) =>
          `task "${t.id}" uses agent ${t.agent}, which needs the run's gateway: in a run with a remote, each host's gateway ` +
          `knows only the tasks the run started with, so it would refuse this task's calls. Put the task in the graph ` +
          `file of a new run, or give it an agent without credentials, allowHosts or a model (a command agent)`,
      );
  }

  private add(tasks: TaskSpec[], addedBy: string, depth: number): AddResult {
    this.patchedRefusal(tasks); // the state may have moved since the validator ran (for proposals: never ran)
    for (const task of topologicalOrder(tasks.map((t) => ({ ...t, after: t.after.filter((d) => tasks.some((o) => o.id === d)) })))) {
      const spec = tasks.find((t) => t.id === task.id)!;
      this.graph.tasks.push(spec);
      this.depth.set(spec.id, depth);
      this.report.tasks.push({
        id: spec.id,
        agent: spec.agent,
        after: spec.after,
        status: 'pending',
        branch: taskBranch(this.report.runId, spec.id),
        filesChanged: 0,
        insertions: 0,
        deletions: 0,
        files: [],
        addedBy,
      });
      this.schedule?.(spec);
    }
    this.changed();
    return { added: tasks.map((t) => t.id) };
  }
}

/** Of two gates of one agent, the one that holds more: rejecting on timeout, then the longer wait. */
function stricter(a: ApprovalSpec | undefined, b: ApprovalSpec): ApprovalSpec {
  if (!a) return b;
  if (a.onTimeout !== b.onTimeout) return a.onTimeout === 'reject' ? a : b;
  return a.timeoutMs >= b.timeoutMs ? a : b;
}
