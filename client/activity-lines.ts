// The "last activity" of running tasks, for the live table: what their activities last reported in
// a heartbeat (an agent's last output line as its harness reads it, or the step under way). The
// workflow does not see heartbeats, so the CLI reads them from each task child's pending activities.
import type { Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { RunReport } from '../contract/run-types';

/** At most this many children are described per refresh: a wide fan-out shows the first ones. */
const MAX_DESCRIBED = 16;

export async function lastActivityLines(client: Client, report: RunReport): Promise<Map<string, string>> {
  const running = report.tasks.filter((t) => t.status === 'running').slice(0, MAX_DESCRIBED);
  const lines = new Map<string, string>();
  await Promise.all(
    running.map(async (t) => {
      try {
        const d = await client.workflow.getHandle(`${report.runId}/${t.id}`).describe();
        for (const a of d.raw.pendingActivities ?? []) {
          const payload = a.heartbeatDetails?.payloads?.[0];
          if (!payload) continue;
          const beat = defaultPayloadConverter.fromPayload<{ lastLine?: string; step?: string }>(payload as never);
          const line = beat?.lastLine || beat?.step;
          if (line) lines.set(t.id, line);
        }
      } catch {
        // the child may have just finished or not started yet: no line this time
      }
    }),
  );
  return lines;
}
