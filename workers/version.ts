// Which workflow code a worker runs, as Temporal's Worker Deployments see it. Every run is pinned
// to the version of the CLI that started it (client/api.ts), and workers poll as that version, so
// a run is only ever processed by workers whose workflow code replays its history: a worker of an
// older checkout, or of another user's, never takes it. Patches (workflows/) stay for the changes
// made to runs already in flight within one version.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { WorkerDeploymentOptions } from '@temporalio/worker';

export const DEPLOYMENT_NAME = 'agentvisor';

/**
 * The folders whose code makes up the workflow bundle: the workflows, the contract they share with
 * the rest and the graph model (scripts/check-imports.js keeps workflows to these).
 */
export const WORKFLOW_SOURCES = ['workflows', 'contract', 'graph'];

/**
 * The build id: `AGENTVISOR_BUILD_ID` when set (a deployment's own naming); else what the build
 * wrote next to the compiled code (dist/build-id.txt); else, running from the sources, their hash.
 */
export function buildId(): string {
  if (process.env.AGENTVISOR_BUILD_ID) return process.env.AGENTVISOR_BUILD_ID;
  const written = path.join(__dirname, '..', 'build-id.txt');
  if (existsSync(written)) return readFileSync(written, 'utf8').trim();
  return sourceBuildId(path.join(__dirname, '..'));
}

export function workerVersion(): { deploymentName: string; buildId: string } {
  return { deploymentName: DEPLOYMENT_NAME, buildId: buildId() };
}

/** The package's version and a hash of the workflow sources (.ts files, by name and content). */
export function sourceBuildId(root: string): string {
  const hash = createHash('sha256');
  for (const dir of WORKFLOW_SOURCES) {
    for (const file of readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .sort()) {
      hash
        .update(`${dir}/${file}\0`)
        .update(readFileSync(path.join(root, dir, file)))
        .update('\0');
    }
  }
  const { version } = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return `${version}-${hash.digest('hex').slice(0, 12)}`;
}

/** What every worker of this code polls as; runs started without a pin take this version too. */
export function deploymentOptions(): WorkerDeploymentOptions {
  return { useWorkerVersioning: true, version: workerVersion(), defaultVersioningBehavior: 'PINNED' };
}
