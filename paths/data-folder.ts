// The data folder (AGENTVISOR_HOME, default ~/.agentvisor): what a client and a worker keep on their
// machine. Its place is decided here only; everything in it is named here or in run-folder.ts.
import * as os from 'node:os';
import * as path from 'node:path';

/** AGENTVISOR_HOME, else ~/.agentvisor (a worker's --data-dir overrides it for that worker). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.AGENTVISOR_HOME || path.join(os.homedir(), '.agentvisor');
}

/** The folders of the runs, one per run id (run-folder.ts names what is inside). */
export const runsDir = (dataDir: string) => path.join(dataDir, 'runs');
export const runArtifactsDir = (dataDir: string, runId: string) => path.join(runsDir(dataDir), runId);

/** A worker's key for the gateway tokens of its runs (activities/gateway.ts); it never leaves the machine. */
export const gatewayKeyPath = (dataDir: string) => path.join(dataDir, 'gateway.key');

/** A host's clones of the git remotes of its runs (activities/remote-git.ts). */
export const clonesDir = (dataDir: string) => path.join(dataDir, 'clones');

/** The agent CLIs, npm-installed here before they are copied into the agents image (images/build.ts). */
export const agentsCacheDir = (dataDir: string) => path.join(dataDir, 'cache', 'agents');

/** The log of a worker the CLI started in the background. */
export const workerLogPath = (dataDir: string) => path.join(dataDir, 'worker.log');

/** The experiments' folders, one per experiment id (experiment-folder.ts names what is inside). */
export const experimentDir = (dataDir: string, experimentId: string) => path.join(dataDir, 'experiments', experimentId);
