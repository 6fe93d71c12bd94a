// The workflows' scheduling with stubbed activities, on the real dev server: parallelism, order,
// failure (fail-fast and not), cancel, the live status query, and replay of the recorded history.
import { Context } from '@temporalio/activity';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import type { RunActivities } from '../../activities';
import type { GraphSpec, TaskSpec } from '../../graph/types';
import { runGraph, statusQuery } from '../../workflows';
import type { RunInput, RunReport, TaskInput } from '../../contract/run-types';
import { testClient, withStubWorker } from '../support/temporal';

type Behaviour = { ms: number; exitCode?: number; throws?: string };

/** Stub activities: agents "run" for a while (their command says how), and every call is recorded. */
function stubActivities(behaviour: Record<string, Behaviour>) {
  const calls: { name: string; arg: unknown; at: number }[] = [];
  const spans: Record<string, { start: number; end?: number; cancelled?: boolean }> = {};
  const record = (name: string, arg: unknown) => calls.push({ name, arg, at: Date.now() });
  const activities: Partial<RunActivities> = {
    async prepareRun(arg) {
      record('prepareRun', arg);
      return { baseCommit: 'base-commit' };
    },
    async provisionWorkspace(arg) {
      record('provisionWorkspace', { taskId: arg.taskId, dependencyBranches: arg.dependencyBranches });
      return { path: `/wt/${arg.taskId}`, branch: arg.branch, startCommit: `start-${arg.taskId}` };
    },
    async runAgent(arg: TaskInput & { worktree: string }) {
      const b = behaviour[arg.taskId] ?? { ms: 10 };
      spans[arg.taskId] = { start: Date.now() };
      // as the real one, it heartbeats: how a cancellation reaches it
      const ctx = Context.current();
      const beat = setInterval(() => ctx.heartbeat(), 500);
      try {
        await Promise.race([new Promise((r) => setTimeout(r, b.ms)), ctx.cancelled]);
      } catch (err) {
        spans[arg.taskId].cancelled = true;
        throw err;
      } finally {
        clearInterval(beat);
        spans[arg.taskId].end = Date.now();
      }
      if (b.throws) throw ApplicationFailure.nonRetryable(b.throws);
      return { exitCode: b.exitCode ?? 0, oomKilled: false, timedOut: false, durationMs: b.ms, logPath: `/logs/${arg.taskId}.log` };
    },
    async collectOutput(arg) {
      record('collectOutput', arg.taskId);
      return { commit: `commit-${arg.taskId}`, filesChanged: 1, insertions: 1, deletions: 0, files: [`${arg.taskId}.txt`] };
    },
    async removeWorkspace(arg) {
      record('removeWorkspace', arg.taskId);
    },
    async removeContainers(arg) {
      record('removeContainers', arg);
      return 0;
    },
    async deleteBranches(arg) {
      record('deleteBranches', arg.branches);
      return arg.branches;
    },
    async mergeTasks(arg) {
      record(
        'mergeTasks',
        arg.tasks.map((t) => t.taskId),
      );
      return { status: 'merged', conflicts: [], commit: 'merged' };
    },
    async evaluate(arg) {
      record('evaluate', arg.runId);
      return { passed: true, exitCode: 0, logPath: '/logs/evaluation.log' };
    },
    async removeEvaluation(arg) {
      record('removeEvaluation', arg.runId);
    },
    async writeReport(report) {
      record('writeReport', report.status);
      return '/report.json';
    },
  };
  return { activities, calls, spans };
}

function graph(tasks: Partial<TaskSpec>[], failFast = true): GraphSpec {
  return {
    name: 'stubbed',
    repo: '/repo',
    baseBranch: 'main',
    failFast,
    agents: {
      a: { name: 'a', harness: 'command', command: 'true', credentials: {}, readOnly: false, env: {}, limits: {}, allowHosts: [] },
    },
    tasks: tasks.map((t) => ({
      id: t.id!,
      agent: 'a',
      prompt: '',
      after: t.after ?? [],
      timeoutMs: 60_000,
      retry: { maximumAttempts: 1, initialIntervalMs: 100 },
    })),
    evaluate: { command: 'true', timeoutMs: 60_000, limits: {} },
  };
}

async function run(
  g: GraphSpec,
  behaviour: Record<string, Behaviour>,
  during?: (runId: string, stub: ReturnType<typeof stubActivities>) => Promise<void>,
) {
  const taskQueue = `sched-${randomUUID()}`;
  const stub = stubActivities(behaviour);
  const client = await testClient();
  const runId = `sched-${randomUUID().slice(0, 8)}`;
  const input: RunInput = { runId, graph: g, artifactsDir: '/artifacts', keepOnFailure: false };
  const outcome = await withStubWorker(taskQueue, stub.activities, async () => {
    const handle = await client.workflow.start(runGraph, { taskQueue, workflowId: runId, args: [input] });
    if (during) await during(runId, stub);
    try {
      return { report: await handle.result(), error: undefined };
    } catch (err) {
      return { report: undefined, error: err as Error };
    }
  });
  const history = await client.workflow.getHandle(runId).fetchHistory();
  await client.connection.close();
  return { ...outcome, ...stub, runId, history, client };
}

const reportOf = (err: unknown) => ((err as WorkflowFailedError).cause as ApplicationFailure).details![0] as RunReport;

describe('runGraph scheduling (stubbed activities, real server)', () => {
  test('independent tasks run in parallel; a dependent starts after its dependency, from its branch', async () => {
    const { report, spans, calls, runId } = await run(graph([{ id: 'x' }, { id: 'y' }, { id: 'z', after: ['x'] }]), {
      x: { ms: 1500 },
      y: { ms: 1500 },
      z: { ms: 10 },
    });
    expect(report!.status).toBe('completed');
    expect(spans.x.start).toBeLessThan(spans.y.end!);
    expect(spans.y.start).toBeLessThan(spans.x.end!);
    expect(spans.z.start).toBeGreaterThanOrEqual(spans.x.end!);
    const provisionZ = calls.find((c) => c.name === 'provisionWorkspace' && (c.arg as { taskId: string }).taskId === 'z');
    expect(provisionZ!.arg).toEqual({ taskId: 'z', dependencyBranches: [`agentvisor-tasks/${runId}/x`] });
    expect(calls.find((c) => c.name === 'mergeTasks')!.arg).toEqual(['x', 'y', 'z']);
    const names = calls.map((c) => c.name);
    expect(names.indexOf('evaluate')).toBeGreaterThan(names.indexOf('mergeTasks'));
    expect(names).not.toContain('deleteBranches'); // nothing rolled back
  });

  test('a failed task fails the run, cancels the running task, skips its dependents, rolls back in reverse', async () => {
    const { error, spans, calls, runId } = await run(
      graph([{ id: 'slow' }, { id: 'bad' }, { id: 'after', after: ['bad'] }, { id: 'done' }]),
      {
        slow: { ms: 30_000 },
        bad: { ms: 300, exitCode: 5 },
        done: { ms: 10 },
      },
    );
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const report = reportOf(error);
    expect(Object.fromEntries(report.tasks.map((t) => [t.id, t.status]))).toEqual({
      slow: 'cancelled',
      bad: 'failed',
      after: 'skipped',
      done: 'succeeded',
    });
    expect(report.tasks.find((t) => t.id === 'bad')!.error).toBe('agent exited with code 5');
    expect(spans.slow.cancelled).toBe(true);
    expect(spans.after).toBeUndefined();
    // the run's own compensations, newest first: the succeeded task's branch, then the integration branch
    const deletes = calls.filter((c) => c.name === 'deleteBranches').map((c) => c.arg);
    expect(deletes.slice(-2)).toEqual([[`agentvisor-tasks/${runId}/done`], [`agentvisor/${runId}`]]);
    expect(deletes).toContainEqual([`agentvisor-tasks/${runId}/bad`]);
    expect(deletes).toContainEqual([`agentvisor-tasks/${runId}/slow`]);
    expect(calls.map((c) => c.name)).not.toContain('mergeTasks');
    expect(calls[calls.length - 1]).toMatchObject({ name: 'writeReport', arg: 'failed' });
  });

  test('without failFast the other tasks finish, and the run still fails', async () => {
    const { error, spans } = await run(graph([{ id: 'long' }, { id: 'bad' }], false), {
      long: { ms: 1500 },
      bad: { ms: 100, throws: 'docker exploded' },
    });
    const report = reportOf(error);
    expect(report.tasks.map((t) => t.status)).toEqual(['succeeded', 'failed']);
    expect(report.tasks[1].error).toBe('docker exploded');
    expect(spans.long.cancelled).toBeUndefined();
  });

  test('cancel: running agents are cancelled, the status query showed them running, compensations ran', async () => {
    let seen: RunReport | undefined;
    const { error, spans, calls } = await run(
      graph([{ id: 'p' }, { id: 'q' }]),
      { p: { ms: 60_000 }, q: { ms: 60_000 } },
      async (runId, { spans }) => {
        const client = await testClient();
        const handle = client.workflow.getHandle(runId);
        for (let i = 0; i < 100 && !(spans.p && spans.q); i++) await new Promise((r) => setTimeout(r, 100));
        seen = await handle.query(statusQuery);
        await handle.cancel();
        await client.connection.close();
      },
    );
    expect(seen!.tasks.map((t) => t.status)).toEqual(['running', 'running']);
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect(((error as WorkflowFailedError).cause as Error).name).toBe('CancelledFailure');
    expect(spans.p.cancelled && spans.q.cancelled).toBe(true);
    expect(
      calls
        .filter((c) => c.name === 'removeWorkspace')
        .map((c) => c.arg)
        .sort(),
    ).toEqual(['p', 'q']);
    expect(calls[calls.length - 1]).toMatchObject({ name: 'writeReport', arg: 'cancelled' });
  });

  test('the recorded history replays against the current workflow code', async () => {
    const { history, runId } = await run(graph([{ id: 'r1' }, { id: 'r2', after: ['r1'] }]), {});
    await expect(Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, runId)).resolves.toBeUndefined();
  });
});
