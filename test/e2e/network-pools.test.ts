// Agents' networks do not draw on Docker's default address pools (a /16 or /20 each, about 30
// networks on a whole engine): each takes a /29 of the worker's range (runtimes/subnets.ts). On the
// real engine: forty agents' networks at once, made by two runtimes (two workers on one engine)
// made to race for the same blocks, each as isolated as before; then a real run with the gateway while
// those forty are there, its agents on /29s of the range the worker's environment names, each
// reaching its gateway (the gateway's log is the evidence); then the forty go. Whatever happens,
// afterAll removes every network the file made (by its labels), and beforeAll those a killed
// earlier run of it left.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import Docker from 'dockerode';
import { taskNetworkName } from '../../activities/gateway';
import { follow } from '../support/follow';
import { DockerRuntime, INHIBIT_IPV4, bridgeName } from '../../runtimes/docker';
import { LABEL_RUN, LABEL_SCOPE, LABEL_TASK, containerName } from '../../runtimes/runtime';
import { overlaps, parseCidr, type Cidr } from '../../runtimes/subnets';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';

const docker = new Docker();
const scope = 'network-pools-test';
const manyRun = `pools-many-${process.pid}`;
const runId = `pools-run-${process.pid}`;
const MARKER = `p${process.pid}x${Date.now().toString(36)}`;
const COUNT = 40;
/** the range the run's worker is given through its environment (the 40 above come from the default) */
const RUN_RANGE = '10.213.1.0/24';

interface NetworkFacts {
  name: string;
  subnets: string[];
  internal: boolean;
  options: Record<string, string>;
  labels: Record<string, string>;
}
const facts = (n: Docker.NetworkInspectInfo): NetworkFacts => ({
  name: n.Name,
  subnets: (n.IPAM?.Config ?? []).map((c) => c.Subnet ?? ''),
  internal: n.Internal,
  options: n.Options ?? {},
  labels: n.Labels ?? {},
});
const withLabel = async (label: string) =>
  ((await docker.listNetworks({ filters: { label: [label] } })) as Docker.NetworkInspectInfo[]).map(facts);
const cidr = (text: string) => parseCidr(text)!;
const disjoint = (subnets: Cidr[]) => subnets.every((a, i) => subnets.every((b, j) => i === j || !overlaps(a, b)));
/** (a /29 that overlaps a larger range lies inside it) */
const inside = (range: string) => (c: Cidr) => overlaps(c, cidr(range));
/** the bridge's IPv4 addresses on the host: none, by inhibit_ipv4 */
const bridgeAddresses = (bridge: string) => execFileSync('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge], { encoding: 'utf8' }).trim();

/** Every network and container this file may have made: its scope's, and its run's. */
async function sweep(): Promise<void> {
  const runtime = new DockerRuntime();
  for (const c of [...(await containersOfRun(runId)), ...(await containersOfRun(manyRun))]) await runtime.remove(c.replace(/^\//, ''));
  const left = [...(await withLabel(`${LABEL_SCOPE}=${scope}`)), ...(await withLabel(`${LABEL_RUN}=${runId}`))];
  await Promise.allSettled(left.map((n) => runtime.removeNetwork(n.name)));
}

beforeAll(sweep);
afterAll(async () => {
  delete process.env.AGENTVISOR_NETWORK_RANGE;
  await sweep();
}, 120_000);

describe('more agents’ networks than Docker’s default pools hold', () => {
  let many: NetworkFacts[] = [];

  test(`${COUNT} at once from two workers: each a /29 of the range, none overlapping, each isolated as before`, async () => {
    // both begin their search at the range's first block (by default each begins at one of its own,
    // at random): they race for the same blocks, and Docker refuses the loser's
    const workers = [new DockerRuntime(undefined, { firstSubnet: 0 }), new DockerRuntime(undefined, { firstSubnet: 0 })];
    let refusals = 0; // counted and printed, not required: a race need not happen
    for (const w of workers) {
      const create = w.docker.createNetwork.bind(w.docker);
      w.docker.createNetwork = ((o: Docker.NetworkCreateOptions) =>
        create(o).catch((err: Error) => {
          if (/pool overlaps/i.test(err.message)) refusals++;
          throw err;
        })) as typeof w.docker.createNetwork;
    }
    const started = Date.now();
    await Promise.all(
      Array.from({ length: COUNT }, (_, i) =>
        workers[i % 2].createNetwork(taskNetworkName(manyRun, `t${i}`), {
          internal: true,
          labels: { [LABEL_RUN]: manyRun, [LABEL_TASK]: `t${i}`, [LABEL_SCOPE]: scope },
        }),
      ),
    );
    const took = Date.now() - started;
    many = (await withLabel(`${LABEL_RUN}=${manyRun}`)).sort((a, b) => a.name.localeCompare(b.name));
    expect(many.length).toBe(COUNT);
    const subnets = many.map((n) => {
      expect(n.subnets.length).toBe(1);
      return cidr(n.subnets[0]);
    });
    expect(subnets.every((c) => c.prefix === 29 && inside('10.213.0.0/16')(c))).toBe(true);
    expect(disjoint(subnets)).toBe(true);
    for (const n of many) {
      const bridge = bridgeName(n.name);
      expect({
        name: n.name,
        internal: n.internal,
        inhibit: n.options[INHIBIT_IPV4],
        bridge: n.options['com.docker.network.bridge.name'],
      }).toEqual({ name: n.name, internal: true, inhibit: 'true', bridge });
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(true);
      expect(bridgeAddresses(bridge)).toBe('');
      expect(readFileSync(`/proc/sys/net/ipv4/conf/${bridge}/rp_filter`, 'utf8').trim()).toBe('1');
    }
    console.log(
      `${COUNT} agents' networks from two runtimes in ${took} ms, ${refusals} overlap refusals retried: ${many.map((n) => n.subnets[0]).join(' ')}`,
    );
  }, 120_000);

  test('a real run meanwhile: its agents get /29s of the worker’s range, and each reaches its gateway', async () => {
    expect(many.length).toBe(COUNT); // the forty are still there
    process.env.AGENTVISOR_NETWORK_RANGE = RUN_RANGE; // read when withRealWorker makes its runtime
    const tasks = ['a', 'b', 'c'];
    const agent = String.raw`
const http = require('http');
const me = require('os').networkInterfaces().eth0.find((x) => x.family === 'IPv4');
console.log('address ' + me.cidr);
http.get({ host: 'agentvisor-gateway', port: 8080, path: '/_agentvisor/pools-' + process.env.MARKER, timeout: 5000 }, (r) => {
  console.log('gateway answered ' + r.statusCode);
  r.resume();
}).on('error', (e) => console.log('gateway error ' + e.message));
setTimeout(() => {}, 3000); // long enough for the watcher below to see its network
`;
    const file = writeGraph(`
name: pools
repo: ${makeRepo()}
agents:
${tasks.map((t) => `  ${t}: { harness: command, command: 'node -e "$JS"', env: ${JSON.stringify({ JS: agent, MARKER: `${MARKER}-${t}` })}, allowHosts: [nothing.invalid] }`).join('\n')}
tasks:
${tasks.map((t) => `  - { id: ${t}, agent: ${t}, timeout: 2m }`).join('\n')}
`);
    // the engine's own record of the run's networks, while they exist
    const seen = new Map<string, NetworkFacts>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const n of await withLabel(`${LABEL_RUN}=${runId}`)) seen.set(n.name, n);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const gateway = follow(containerName(runId, '_gateway'));
    let report: Awaited<ReturnType<typeof runToEnd>>;
    try {
      report = await withRealWorker(() => runToEnd(file, { runId }));
    } finally {
      watching = false;
      await watcher;
      gateway.stop();
    }
    const logs = Object.fromEntries(report!.tasks.map((t) => [t.id, t.logPath ? readFileSync(t.logPath, 'utf8') : '']));
    expect({ status: report!.status, tasks: report!.tasks.map((t) => `${t.id} ${t.status}`), logs }).toMatchObject({
      status: 'completed',
      tasks: tasks.map((t) => `${t} succeeded`),
    });

    const networks = [...seen.values()].filter((n) => n.labels[LABEL_TASK] !== undefined);
    expect(networks.map((n) => n.labels[LABEL_TASK]).sort()).toEqual(tasks);
    const subnets = networks.map((n) => cidr(n.subnets[0]));
    expect(subnets.every((c) => c.prefix === 29 && inside(RUN_RANGE)(c))).toBe(true);
    expect(disjoint([...subnets, ...many.map((n) => cidr(n.subnets[0]))])).toBe(true);
    expect(networks.every((n) => n.internal && n.options[INHIBIT_IPV4] === 'true')).toBe(true);

    // the gateway's own log: each agent's request arrived, from an address on that agent's network
    const gatewayLog = gateway.text();
    for (const t of tasks) {
      const line = gatewayLog.split('\n').find((l) => l.includes(`/_agentvisor/pools-${MARKER}-${t} `));
      expect({ t, line, gatewayLog }).toMatchObject({ t, line: expect.stringMatching(/status=404 .* from=10\.213\.1\.\d+$/) });
      const from = cidr(`${/from=(\S+)$/.exec(line!)![1]}/32`);
      const own = networks.find((n) => n.labels[LABEL_TASK] === t)!;
      expect({ t, from: line, subnet: own.subnets[0], inside: overlaps(from, cidr(own.subnets[0])) }).toMatchObject({ inside: true });
      expect(logs[t]).toContain('gateway answered 404');
    }
    // nothing of the run is left: containers, networks
    expect(await containersOfRun(runId)).toEqual([]);
    expect(await withLabel(`${LABEL_RUN}=${runId}`)).toEqual([]);
  }, 240_000);

  test(`the ${COUNT} go, with their bridges`, async () => {
    const runtime = new DockerRuntime();
    await Promise.all(many.map((n) => runtime.removeNetwork(n.name)));
    expect(await withLabel(`${LABEL_RUN}=${manyRun}`)).toEqual([]);
    expect(many.filter((n) => existsSync(`/sys/class/net/${bridgeName(n.name)}`))).toEqual([]);
  }, 120_000);
});
