// Recorded histories of real runs (test/fixtures/histories) replay against the current workflow
// code: a change that would break running workflows fails here. Changes go behind patched().
import { historyFromJSON } from '@temporalio/common/lib/proto-utils';
import { Worker } from '@temporalio/worker';
import { readFileSync, readdirSync } from 'node:fs';
import * as path from 'node:path';
import { HISTORIES_DIR } from '../support/record-history';

const fixtures = readdirSync(HISTORIES_DIR).filter((f) => f.endsWith('.json'));

test('there are recorded histories of completed, failed, conflicting, cancelled and resumed runs', () => {
  expect(fixtures).toEqual(expect.arrayContaining(['completed.json', 'completed-v2.json', 'gateway-budget.json', 'task-failed.json', 'merge-conflict.json', 'cancelled.json', 'resumed.json', 'shared-workspace.json']));
});

test.each(fixtures)('%s replays', async (file) => {
  const history = historyFromJSON(JSON.parse(readFileSync(path.join(HISTORIES_DIR, file), 'utf8')));
  await Worker.runReplayHistory({ workflowsPath: require.resolve('../../workflows') }, history, file);
});
