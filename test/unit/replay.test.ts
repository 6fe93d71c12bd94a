// Recorded histories of real runs (test/fixtures/histories) replay against the current workflow
// code: a change that would break running workflows fails here. Changes go behind patched().
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { HISTORIES_DIR } from '../support/record-history';

const fixtures = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

test('there are recorded histories of completed, failed, conflicting, cancelled and resumed runs', () => {
  expect(fixtures).toEqual(
    expect.arrayContaining([
      'completed.json',
      'completed-v2.json',
      'gateway-budget.json',
      'task-failed.json',
      'merge-conflict.json',
      'cancelled.json',
      'resumed.json',
      'shared-workspace.json',
      'approvals.json',
      'graph-add.json',
      'graph-proposals.json',
      'conflict-resolved.json',
      'conflict-unresolved.json',
      'conflict-retried.json',
    ]),
  );
});

test.each(fixtures)('%s replays', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, file);
});

// Workers that trace run the same workflows with the OpenTelemetry workflow interceptors bundled in:
// every recorded history (traced or not) must replay with them as well.
test('every history replays with the OpenTelemetry workflow interceptors', async () => {
  const { makeWorkflowExporter } = await import('@temporalio/interceptors-opentelemetry');
  const { InMemorySpanExporter, SimpleSpanProcessor } = await import('@opentelemetry/sdk-trace-base');
  const { Resource } = await import('@opentelemetry/resources');
  const { WORKFLOW_INTERCEPTORS_MODULE } = await import('../../telemetry/tracing');
  const histories = fixtures.map((file) => ({
    workflowId: file,
    history: historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8'))),
  }));
  const results = Worker.runReplayHistories(
    {
      workflowsPath: require.resolve('../../workflows'),
      interceptors: { workflowModules: [require.resolve(WORKFLOW_INTERCEPTORS_MODULE)] },
      sinks: { exporter: makeWorkflowExporter(new SimpleSpanProcessor(new InMemorySpanExporter()), new Resource({})) },
    },
    histories,
  );
  const failures: string[] = [];
  let replayed = 0;
  for await (const r of results) {
    replayed++;
    if (r.error) failures.push(`${r.workflowId}: ${r.error.message}`);
  }
  expect(failures).toEqual([]);
  expect(replayed).toBe(fixtures.length);
});
