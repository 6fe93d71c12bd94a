// A gateway container left running by an earlier run of the same id (a worker killed before its
// clean-up, another data folder's key) is not taken for this run's: it is replaced. One left by a
// run of another Temporal server is not touched: the run says whose it is.
import { BASE_IMAGE } from '../../images/constants';
import { DockerRuntime } from '../../runtimes/docker';
import { LABEL_RUN, LABEL_SCOPE, containerName, scopeOf } from '../../runtimes/runtime';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';

const runtime = new DockerRuntime();

/** A container under the run's gateway name that answers nothing, as a stale gateway would not. */
async function leaveGateway(runId: string, scope: string): Promise<string> {
  const name = containerName(runId, '_gateway');
  await runtime.start({
    name,
    image: BASE_IMAGE,
    command: ['sleep', '600'],
    env: {},
    workdir: '/',
    mounts: [],
    user: '1000:1000',
    labels: { [LABEL_RUN]: runId, [LABEL_SCOPE]: scope },
    network: 'none',
    tmpfs: [],
  });
  return name;
}

const graph = (name: string) =>
  writeGraph(`
name: ${name}
repo: ${makeRepo()}
agents:
  w: { harness: command, command: "echo a > a.txt", allowHosts: [nothing.invalid] }
tasks:
  - { id: a, agent: w }
`);

test('a gateway left by an earlier run of the same id, on this server, is replaced', async () => {
  const runId = `gateway-leftover-${Date.now().toString(36)}`;
  const scope = scopeOf('default', process.env.TEMPORAL_ADDRESS!);
  await leaveGateway(runId, scope);
  const report = await withRealWorker(() => runToEnd(graph('gateway-leftover'), { runId }));
  expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
  expect(await containersOfRun(runId)).toEqual([]);
});

test("a gateway of another server's run of the same id is left alone, and the run says why it cannot start", async () => {
  const runId = `gateway-foreign-${Date.now().toString(36)}`;
  const name = await leaveGateway(runId, 'default@another-server:7233');
  try {
    const report = await withRealWorker(() => runToEnd(graph('gateway-foreign'), { runId }));
    expect(report.status).toBe('failed');
    expect(report.error).toContain(
      `the container ${name} belongs to a run of the same id on another Temporal server (default@another-server:7233)`,
    );
    expect((await runtime.inspect(name)).state).toBe('running');
  } finally {
    await runtime.remove(name);
  }
});
