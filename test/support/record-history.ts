// With AGENTVISOR_RECORD_HISTORIES=1, tests save the histories of their runs (the run and each task
// child) as replay fixtures in test/fixtures/histories. Re-record after an intended workflow change
// that is behind patched(); the replay test then keeps old histories running.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { findTemporalCli } from '../../client/dev-server';

export const HISTORIES_DIR = path.join(__dirname, '..', 'fixtures', 'histories');

export function recordHistories(name: string, workflowIds: string[]): void {
  if (!process.env.AGENTVISOR_RECORD_HISTORIES) return;
  for (const id of workflowIds) {
    const json = execFileSync(
      findTemporalCli()!,
      ['workflow', 'show', '-w', id, '--address', process.env.TEMPORAL_ADDRESS!, '-o', 'json'],
      {
        encoding: 'utf8',
        maxBuffer: 64 * 1024 * 1024,
      },
    );
    const suffix = id.includes('/') ? `.${id.split('/').pop()}` : '';
    writeFileSync(path.join(HISTORIES_DIR, `${name}${suffix}.json`), json);
  }
}
