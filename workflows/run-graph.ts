// One run of a task graph. Tasks start as soon as their dependencies succeed; then their branches
// are merged into the integration branch in graph order and the evaluation runs on the result.
// On failure or cancel the saga rolls everything back, unless the user asked to keep it.
import {
  allHandlersFinished,
  ApplicationFailure,
  CancellationScope,
  condition,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  startChild,
} from '@temporalio/workflow';
import type { RunActivities } from '../activities';
import { CLEANUP_ACTIVITY, STEP_ACTIVITY, asCancellation, containerActivity, proxyWith, settled } from './activity-options';
import { failureDetails, rootMessage } from './failure';
import { runTask } from './run-task';
import { evaluateOnHost, mergeOnHost } from './hosts';
import { addTasksUpdate, approveUpdate, rejectUpdate, statusQuery } from './messages';
import {
  APPROVALS_PATCH,
  COST_SEARCH_ATTRIBUTE_PATCH,
  GATEWAY_PATCH,
  GRAPH_GROWTH_PATCH,
  HOSTS_PATCH,
  REMOTE_GATEWAY_PATCH,
  SEARCH_ATTRIBUTES_PATCH,
  SHARED_WORKSPACE_PATCH,
} from './patches';
import { gatewayGraph, needsGateway } from '../graph/gateway-needs';
import { HostGateways } from './host-gateways';
import type { TaskSpec } from '../graph/types';
import {
  SHARED_MOUNT,
  dropFolder,
  integrationBranch,
  isLive,
  taskBranch,
  type RunInput,
  type RunReport,
  type TaskInput,
  type TaskReport,
  type TaskResult,
} from '../contract/run-types';
import { Saga } from './saga';
import { Gates } from './approvals';
import { Growth } from './growth';
import { mergeResolvingConflicts } from './conflicts';
import { MERGE_GATE } from '../graph/coordination-checks';
import { COST, STATUS } from '../contract/search-attributes';
import { runTotals } from '../contract/usage';
import { detailsMarkdown } from './details';
import { markdownLines } from '../contract/text-safety';

const steps = proxyWith<RunActivities>(() => settled(STEP_ACTIVITY));
const cleanup = proxyActivities<RunActivities>(CLEANUP_ACTIVITY);

export async function runGraph(input: RunInput): Promise<RunReport> {
  const { runId, graph, artifactsDir } = input;
  const report = newReport(input, Date.now());
  setHandler(statusQuery, () => report);
  publish(report);
  const saga = new Saga();
  // approvals: the run waits in awaiting_approval while a gate is open (the CLI, report and UI show it)
  const gates = new Gates(report, () => {
    if (isLive(report.status)) report.status = gates.waiting.length ? 'awaiting_approval' : 'running';
    publish(report);
    if (input.searchAttributes) upsertSearchAttributes([{ key: STATUS, value: report.status }]);
  });
  setHandler(approveUpdate, (d) => gates.decide(d, 'approved'), { validator: (d) => gates.checkApproval(d) });
  setHandler(rejectUpdate, (d) => gates.decide(d, 'rejected'), { validator: (d) => gates.checkRejection(d) });
  // the graph may grow while it runs: agentvisor add, and agents' proposals
  const growth = new Growth(graph, report, () => publish(report));
  setHandler(addTasksUpdate, (tasks) => growth.addFromUser(tasks), { validator: (tasks) => growth.refusal(tasks) });

  try {
    saga.add('remove the run’s containers', () => cleanup.removeContainers({ runId }));
    saga.add('delete integration branch', () =>
      cleanup.deleteBranches({ repo: graph.repo, branches: [report.integrationBranch], remote: graph.remote }),
    );
    const { baseCommit } = await steps.prepareRun({
      runId,
      repo: graph.repo,
      baseBranch: graph.baseBranch,
      artifactsDir,
      baseCommit: input.resume?.baseCommit,
      remote: graph.remote,
    });
    report.baseCommit = baseCommit;

    let gateway: TaskInput['gateway'];
    let hostGateways: HostGateways | undefined;
    // runs started before the gateway existed replay without it; a run with a remote has one per host
    if (graph.remote && needsGateway(graph) && patched(REMOTE_GATEWAY_PATCH)) {
      hostGateways = new HostGateways(runId, gatewayGraph(graph), saga);
    } else if (patched(GATEWAY_PATCH) && needsGateway(graph)) {
      saga.add('stop the gateway', () => cleanup.stopGateway({ runId }));
      gateway = await steps.startGateway({ runId, artifactsDir, graph });
    }

    // runs started before the shared workspace existed (and graphs without one) have none
    if (graph.shared && patched(SHARED_WORKSPACE_PATCH)) {
      if (!graph.shared.keep) {
        saga.add('remove the shared workspace', async () => {
          // a run with a remote: the shared workspace's ref on the remote (activities/remote-shared.ts)
          await cleanup.removeSharedWorkspace({ artifactsDir, runId, remote: graph.remote });
          if (report.shared) report.shared.removed = true;
        });
      }
      const { path } = await steps.createSharedWorkspace({ runId, artifactsDir, proposals: !!graph.proposals, remote: graph.remote });
      report.shared = { path, mount: SHARED_MOUNT, access: sharedAccess(graph) };
      publish(report);
    }

    const taskInputs = new Map<string, TaskInput>();
    const results = await runTasks(input, report, baseCommit, saga, gateway, gates, growth, taskInputs, hostGateways);
    // a task retried after a conflict, or a resolver agent, may still need the gateway: it then stops after the merge
    const agentsAtMerge = (graph.merge?.onConflict ?? 'fail') !== 'fail';
    if (gateway && !agentsAtMerge) await cleanup.stopGateway({ runId }); // no agent needs it any more
    if (!agentsAtMerge) await hostGateways?.stopAll();
    if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('the run was cancelled');
    const failed = report.tasks.filter((t) => t.status !== 'succeeded');
    if (failed.length > 0) {
      throw ApplicationFailure.nonRetryable(
        `task${failed.length > 1 ? 's' : ''} failed: ${failed.map((t) => `${t.id} (${t.error})`).join('; ')}`,
      );
    }

    // every task's work is in; nothing runs while the merge waits for its approval
    if (graph.merge?.approval && patched(APPROVALS_PATCH)) await gates.pass(MERGE_GATE, graph.merge.approval);

    // a run with a remote merges on a host of its placement
    const mergeTasks =
      graph.remote && patched(HOSTS_PATCH) ? (a: Parameters<typeof steps.mergeTasks>[0]) => mergeOnHost(graph, a) : steps.mergeTasks;
    const mergeAll = () =>
      mergeTasks({
        runId,
        repo: graph.repo,
        artifactsDir,
        tasks: graph.tasks.map((t) => ({ taskId: t.id, branch: results.get(t.id)!.branch, files: results.get(t.id)!.files })),
      });
    // a conflict goes to the graph's onConflict: fail (as before it existed), retry the task, or a resolver agent
    const merge = await mergeResolvingConflicts({
      input,
      report,
      saga,
      results,
      taskInputs,
      gateway,
      mergeAll,
      publish: () => publish(report),
      sharedFor: (task) => sharedFor(input, report, task),
    });
    report.merge = merge;
    if (gateway && agentsAtMerge) await cleanup.stopGateway({ runId });
    if (agentsAtMerge) await hostGateways?.stopAll();
    if (merge.status === 'conflict') {
      const c = merge.conflicts[merge.conflicts.length - 1];
      const others = c.conflictsWith.length ? ` with ${c.conflictsWith.join(', ')}` : '';
      const why = c.resolution?.reason
        ? `; ${c.resolution.strategy === 'retry' ? 'the task' : 'the conflict'} was ${c.resolution.strategy === 'retry' ? 'retried' : 'handed to a resolver'}: ${c.resolution.reason}`
        : '';
      throw ApplicationFailure.nonRetryable(`merge conflict: task ${c.taskId} conflicts${others} in ${c.files.join(', ')}${why}`);
    }

    if (graph.evaluate) {
      const { evaluate } = proxyActivities<RunActivities>(settled(containerActivity(graph.evaluate.timeoutMs)));
      // a run with a remote evaluates on a host of its placement (which also removes it there)
      const onHost = graph.remote && patched(HOSTS_PATCH);
      if (!onHost) saga.add('remove the evaluation', () => cleanup.removeEvaluation({ runId, repo: graph.repo, artifactsDir }));
      report.evaluation = onHost
        ? await evaluateOnHost(graph, { runId, repo: graph.repo, artifactsDir, evaluate: graph.evaluate }, saga)
        : await evaluate({ runId, repo: graph.repo, artifactsDir, evaluate: graph.evaluate });
      if (!onHost) await cleanup.removeEvaluation({ runId, repo: graph.repo, artifactsDir });
      if (!report.evaluation.passed) {
        const why = report.evaluation.timedOut ? 'timed out' : (report.evaluation.reason ?? `exit code ${report.evaluation.exitCode}`);
        throw ApplicationFailure.nonRetryable(`evaluation failed (${why}); see ${report.evaluation.logPath}`);
      }
    }

    report.status = 'completed';
    report.finishedAt = Date.now();
    finish(input, report);
    await steps.writeReport(report);
    await handlersFinished();
    return report;
  } catch (caught) {
    const err = asCancellation(caught, 'the run was cancelled');
    const cancelled = isCancellation(err);
    report.status = cancelled ? 'cancelled' : 'failed';
    if (report.merge.status === 'pending') report.merge.status = 'skipped';
    report.error = cancelled ? 'the run was cancelled' : rootMessage(err);
    await CancellationScope.nonCancellable(async () => {
      if (!input.keepOnFailure) {
        const failures = await saga.compensate();
        if (failures.length) report.error += `; rollback incomplete: ${failures.join('; ')}`;
      }
      report.finishedAt = Date.now();
      finish(input, report);
      await steps.writeReport(report);
    });
    await handlersFinished();
    if (cancelled) throw err;
    // The report rides in the failure so `run --json` and `status` can show it without a worker.
    throw ApplicationFailure.create({ type: 'RunFailed', message: report.error, nonRetryable: true, details: [report] });
  }
}

/** Starts each task as soon as its dependencies succeed; returns the results of the tasks that did. */
async function runTasks(
  input: RunInput,
  report: RunReport,
  baseCommit: string,
  saga: Saga,
  gateway: TaskInput['gateway'],
  gates: Gates,
  growth: Growth,
  taskInputs: Map<string, TaskInput>,
  hostGateways?: HostGateways,
) {
  let runBudgetSpent = false;
  const { runId, graph } = input;
  const results = new Map<string, TaskResult>();
  const done = new Map<string, Promise<TaskResult>>();
  const scope = new CancellationScope();

  await scope.run(async () => {
    const schedule = (task: TaskSpec) => {
      const entry = report.tasks.find((t) => t.id === task.id)!;
      const promise = (async () => {
        const deps = await Promise.all(task.after.map((dep) => done.get(dep)!));
        const taskInput: TaskInput = {
          runId,
          graphName: graph.name,
          repo: graph.repo,
          artifactsDir: input.artifactsDir,
          taskId: task.id,
          baseCommit,
          dependencyBranches: deps.map((d) => d.branch),
          dependencyCommits: deps.map((d) => d.commit),
          keepOnFailure: input.keepOnFailure,
          remote: graph.remote,
          gateway,
          ...(hostGateways ? { hostGateway: hostGateways.graph } : {}),
          agent: graph.agents[task.agent],
          task,
          shared: sharedFor(input, report, task),
        };
        taskInputs.set(task.id, taskInput);
        if (runBudgetSpent || hostGateways?.budgetSpent)
          throw ApplicationFailure.nonRetryable("not started: the run's budget is spent", 'RunBudgetSpent');
        if (input.resume) {
          const reused = await reuseRecordedWork(input, taskInput, entry);
          if (reused) {
            saga.add(`delete branch of ${task.id}`, () =>
              cleanup.deleteBranches({ repo: graph.repo, branches: [reused.branch], remote: graph.remote }),
            );
            return reused;
          }
        }
        if (task.approval && patched(APPROVALS_PATCH)) {
          // the gate opens once its dependencies are done, so the approver can look at their work
          entry.status = 'awaiting_approval';
          await gates.pass(task.id, task.approval);
          entry.status = 'pending';
        }
        const agent = graph.agents[task.agent];
        const handle = await startChild(runTask, {
          workflowId: `${runId}/${task.id}`,
          args: [taskInput],
          staticSummary: `${graph.name} · ${task.id} · ${agent.name} (${agent.harness})`,
          // a proposed task's prompt is an agent's text: shown as text
          staticDetails: task.prompt ? `**Prompt**\n\n${markdownLines(task.prompt)}` : undefined,
        });
        entry.status = 'running';
        entry.startedAt = Date.now();
        publish(report);
        const result = await handle.result();
        // From here the branch belongs to the run: a later failure must delete it.
        saga.add(`delete branch of ${task.id}`, () =>
          cleanup.deleteBranches({ repo: graph.repo, branches: [result.branch], remote: graph.remote }),
        );
        // what the agent proposed in its drop folder joins the run (within the graph's limits)
        if (taskInput.shared?.dropDir && patched(GRAPH_GROWTH_PATCH)) await growth.takeProposals(task, taskInput.shared.dropDir);
        return result;
      })();
      done.set(task.id, promise);
      promise.then(
        (result) => {
          results.set(task.id, result);
          Object.assign(entry, { ...result, status: 'succeeded', finishedAt: Date.now() });
          publish(report);
        },
        (err) => {
          entry.finishedAt = Date.now();
          if (entry.status === 'pending') {
            entry.status = isCancellation(err) ? 'cancelled' : 'skipped';
            entry.error = isCancellation(err)
              ? 'cancelled'
              : err instanceof ApplicationFailure && err.type === 'RunBudgetSpent'
                ? err.message
                : 'a task it depends on did not succeed';
            entry.finishedAt = undefined;
          } else if (isCancellation(err)) {
            entry.status = 'cancelled';
            entry.error = 'cancelled';
          } else {
            const details = failureDetails<Partial<TaskReport> & { budget?: 'task' | 'run' }>(err) ?? {};
            const { budget, ...fields } = details;
            Object.assign(entry, fields);
            entry.status = budget ? 'budget_exceeded' : 'failed';
            if (budget === 'run') runBudgetSpent = true;
            entry.error = rootMessage(err);
            if (graph.failFast) scope.cancel();
          }
          publish(report);
        },
      );
    };
    for (const task of graph.tasks) schedule(task);
    // tasks added from now on (update handlers, proposals) start in this scope: fail-fast cancels them too
    growth.open((task) => void scope.run(async () => schedule(task)));
    // the graph may have grown meanwhile: wait until every task there is has settled
    for (let waited = 0; waited < done.size;) {
      waited = done.size;
      await Promise.allSettled(done.values());
    }
    growth.close();
  });
  return results;
}

/** Which agents see the shared workspace, and how. */
function sharedAccess(graph: RunInput['graph']): Record<string, 'rw' | 'ro'> {
  const access: Record<string, 'rw' | 'ro'> = {};
  for (const agent of Object.values(graph.agents)) if (agent.shared) access[agent.name] = agent.shared;
  return access;
}

/**
 * The shared workspace as one task's container gets it; undefined for agents it does not let in.
 * With proposals, an agent that can write gets a drop folder of its own for them.
 */
function sharedFor(input: RunInput, report: RunReport, task: TaskSpec): TaskInput['shared'] {
  const agent = input.graph.agents[task.agent];
  if (!report.shared || !agent.shared) return undefined;
  const drops = input.graph.proposals && agent.shared === 'rw';
  return { dir: report.shared.path, readOnly: agent.shared === 'ro', dropDir: drops ? dropFolder(input.artifactsDir, task.id) : undefined };
}

/** Update handlers still at work finish before the run does (the safe-message-handlers pattern). */
async function handlersFinished(): Promise<void> {
  if (!allHandlersFinished()) await CancellationScope.nonCancellable(() => condition(allHandlersFinished));
}

/** The run's live view in the Temporal UI: a markdown table of its tasks. */
function publish(report: RunReport): void {
  setCurrentDetails(detailsMarkdown(report));
}

/** The final status, in the UI's details and (when registered) the status search attribute. */
function finish(input: RunInput, report: RunReport): void {
  publish(report);
  // the run's total cost joins its final status; runs recorded before set the status only
  if (patched(COST_SEARCH_ATTRIBUTE_PATCH)) {
    if (input.searchAttributes)
      upsertSearchAttributes([
        { key: STATUS, value: report.status },
        { key: COST, value: runTotals(report)?.costUsd ?? 0 },
      ]);
  } else if (patched(SEARCH_ATTRIBUTES_PATCH) && input.searchAttributes) {
    upsertSearchAttributes([{ key: STATUS, value: report.status }]);
  }
}

/** A resumed run takes a task's work from the earlier run's ledger when it still fits. */
async function reuseRecordedWork(input: RunInput, taskInput: TaskInput, entry: TaskReport): Promise<TaskResult | undefined> {
  const { fromRunId, fromArtifactsDir } = input.resume!;
  const decision = await steps.findReusableWork({ ...taskInput, fromRunId, fromArtifactsDir });
  if ('redo' in decision) {
    entry.note = `redone: ${decision.redo}`;
    return undefined;
  }
  const branch = taskBranch(input.runId, taskInput.taskId);
  await steps.adoptRecordedWork({
    repo: input.graph.repo,
    runId: input.runId,
    artifactsDir: input.artifactsDir,
    branch,
    entry: decision.reuse,
    // a run with a remote: the work is adopted there (activities/remote-resume.ts)
    remote: input.graph.remote,
  });
  const e = decision.reuse;
  return {
    id: taskInput.taskId,
    status: 'succeeded',
    reusedFrom: e.runId,
    branch,
    commit: e.commit,
    filesChanged: e.filesChanged,
    insertions: e.insertions,
    deletions: e.deletions,
    files: e.files,
    logPath: '',
    exitCode: 0,
  };
}

function newReport(input: RunInput, now: number): RunReport {
  return {
    runId: input.runId,
    graphName: input.graph.name,
    repo: input.graph.repo,
    status: 'running',
    integrationBranch: integrationBranch(input.runId),
    startedAt: now,
    tasks: input.graph.tasks.map((t) => ({
      id: t.id,
      agent: t.agent,
      after: t.after,
      status: 'pending',
      branch: taskBranch(input.runId, t.id),
      filesChanged: 0,
      insertions: 0,
      deletions: 0,
      files: [],
    })),
    merge: { status: 'pending', conflicts: [] },
    evaluation: null,
    artifactsDir: input.artifactsDir,
    remote: input.graph.remote,
  };
}
