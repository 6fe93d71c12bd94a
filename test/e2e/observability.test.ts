// What the Temporal UI shows of a run: summaries instead of bare ids, the live details table,
// search attributes to filter by; and `ls` filtering on them.
import { loadConfig } from '../../client/config';
import { listRuns, startRun, waitForRun } from '../../client/api';
import { GRAPH, HARNESSES, STATUS } from '../../contract/search-attributes';
import { makeRepo, writeGraph } from '../support/repo';
import { withRealWorker } from '../support/temporal';
import { recordHistories } from '../support/record-history';

/** The first cells of a details table row (each but a row's last padded: contract/text-safety.ts markdownRow). */
const leadingCells = (...cells: string[]) => `| ${cells.map((c) => `${c}\u00a0\u00a0`).join(' | ')} |`;

test('summaries, live details and search attributes of a run', async () => {
  const repo = makeRepo();
  const file = writeGraph(`
name: observed-graph
repo: ${repo}
agents:
  scribe: { harness: command, command: "sleep 3; echo x > x.txt" }
tasks:
  - { id: write-x, agent: scribe, prompt: "Write x" }
`);
  const cfg = loadConfig();
  await withRealWorker(async () => {
    const started = await startRun(file, { config: cfg, worker: 'none', runId: 'observed-1' });
    const handle = started.client.workflow.getHandle('observed-1');
    try {
      let details = '';
      for (let i = 0; i < 100 && !details.includes(leadingCells('write-x', 'scribe', 'running')); i++) {
        details = ((await handle.query('__temporal_workflow_metadata')) as { currentDetails?: string }).currentDetails ?? '';
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(details).toContain('**observed-graph** · running');
      expect(details).toContain(leadingCells('write-x', 'scribe', 'running'));

      const report = await waitForRun(started.client, 'observed-1', cfg);
      expect(report.status).toBe('completed');
      const d = await handle.describe();
      expect(await d.staticSummary()).toBe(`observed-graph: 1 task on ${require('node:path').basename(repo)}`);
      expect(await d.staticDetails()).toContain(leadingCells('write-x', 'scribe (command)'));
      expect(d.typedSearchAttributes.get(GRAPH)).toBe('observed-graph');
      expect(d.typedSearchAttributes.get(STATUS)).toBe('completed');
      expect(d.typedSearchAttributes.get(HARNESSES)).toEqual(['command']);
      const child = await started.client.workflow.getHandle('observed-1/write-x').describe();
      expect(await child.staticSummary()).toBe('observed-graph · write-x · scribe (command)');
      expect(await child.staticDetails()).toContain('Write x');
      recordHistories('completed-v2', ['observed-1']);

      // visibility is eventually consistent: wait for the index
      let found: string[] = [];
      for (let i = 0; i < 50 && !found.includes('observed-1'); i++) {
        found = (await listRuns(started.client, { graph: 'observed-graph' })).map((r) => r.runId);
        await new Promise((r) => setTimeout(r, 200));
      }
      expect(found).toEqual(['observed-1']);
      expect((await listRuns(started.client, { graph: 'observed-graph', status: 'failed' })).map((r) => r.runId)).toEqual([]);
      expect((await listRuns(started.client, { status: 'completed' })).map((r) => r.runId)).toContain('observed-1');
    } finally {
      await started.client.connection.close();
    }
  });
});

test('the worker serves Prometheus metrics: the SDK’s and agentvisor’s own', async () => {
  const { spawnWorker } = await import('../support/processes');
  const { freePort } = await import('../support/ports');
  const { runToEnd } = await import('../support/temporal');
  const port = await freePort();
  const worker = await spawnWorker(process.env, ['--metrics-port', String(port)]);
  try {
    const repo = makeRepo();
    const file = writeGraph(`
name: metered
repo: ${repo}
agents: { w: { harness: command, command: "echo y > y.txt" } }
tasks: [ { id: y, agent: w } ]
evaluate: { command: "test -f y.txt" }
`);
    const report = await runToEnd(file, { runId: 'metrics-1' });
    expect(report.status).toBe('completed');
    let text = '';
    for (let i = 0; i < 50 && !text.includes('agentvisor_evaluations'); i++) {
      text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(text).toMatch(/agentvisor_agent_runs\{[^}]*outcome="succeeded"[^}]*\} 1/);
    expect(text).toMatch(/agentvisor_evaluations\{[^}]*result="passed"[^}]*\} 1/);
    expect(text).toMatch(/agentvisor_container_start_latency_bucket/);
    expect(text).toMatch(/temporal_activity_execution_latency/); // the SDK runtime's own
  } finally {
    await worker.stop();
  }
});
