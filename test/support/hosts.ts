// Hosts on one machine for the multi-host tests: each host's worker is its own `agentvisor worker
// --host NAME` process with its own data folder and, where the test can make them (root, `ip`), its
// own network namespace. There, the worker reaches the Temporal server and the git remote only over
// the namespace's veth link: the remote is served by `git daemon` (git://) and the server through a
// TCP relay, both on the root side of the first host's link. Without namespaces, the hosts share the
// machine's network and the remote is the bare repository's path.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { queuesOf } from '../../workers/host';
import { freePort } from './ports';
import { spawnWorker, type WorkerProcess } from './processes';
import { until } from './wait';

export interface HostSpec {
  name: string;
  labels?: string[];
  capacity?: number;
  /** the host's own environment for its worker (e.g. the credentials it holds) */
  env?: Record<string, string>;
}

export interface Host extends HostSpec {
  dataDir: string;
  worker?: WorkerProcess;
  start: () => Promise<void>;
  /** SIGTERM, as a host shut down */
  stop: () => Promise<void>;
  /** SIGKILL, as a host crashing */
  kill9: () => Promise<void>;
}

export interface Hosts {
  hosts: Record<string, Host>;
  /** what the graph names as remote */
  remote: string;
  /** how the hosts are connected, for the test's log */
  network: string;
  close: () => Promise<void>;
}

const ip = (...args: string[]) => execFileSync('ip', args, { stdio: 'pipe' });

/**
 * A namespace per host, each with a veth link to the root namespace; undefined when not allowed.
 * With `engineReach`, each host's link may also reach containers on the engine's bridges (where a
 * run's gateway has its control side): a real host's worker runs beside its own engine and
 * reaches its bridges; here all hosts share one engine in the root namespace, whose FORWARD
 * policy would drop it. One rule of this process's own (its links' names), removed with them.
 */
function makeNamespaces(
  names: string[],
  engineReach = false,
): { ns: Record<string, string>; serviceIp: string; remove: () => void } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const tag = (process.pid % 10000).toString();
  const subnet = 100 + (process.pid % 100);
  const ns: Record<string, string> = {};
  const made: string[] = [];
  const reachRule = ['DOCKER-USER', '-i', `avh${tag}+`, '-j', 'ACCEPT'];
  let ruleAdded = false;
  const remove = () => {
    if (ruleAdded) {
      try {
        execFileSync('iptables', ['-D', ...reachRule], { stdio: 'pipe' });
      } catch {
        // already gone
      }
    }
    for (const n of made) {
      try {
        ip('netns', 'del', n); // takes its end of the veth pair, and so the pair, with it
      } catch {
        // already gone
      }
    }
  };
  try {
    names.forEach((name, i) => {
      const n = `av-${tag}-${name}`;
      const [outside, inside] = [`avh${tag}${i}`, `avn${tag}${i}`];
      ip('netns', 'add', n);
      made.push(n);
      ip('link', 'add', outside, 'type', 'veth', 'peer', 'name', inside);
      ip('link', 'set', inside, 'netns', n);
      ip('addr', 'add', `10.231.${subnet + i}.1/30`, 'dev', outside);
      ip('link', 'set', outside, 'up');
      ip('netns', 'exec', n, 'ip', 'addr', 'add', `10.231.${subnet + i}.2/30`, 'dev', inside);
      ip('netns', 'exec', n, 'ip', 'link', 'set', inside, 'up');
      ip('netns', 'exec', n, 'ip', 'link', 'set', 'lo', 'up');
      // everything not on the link goes to the root namespace, which owns the service address
      ip('netns', 'exec', n, 'ip', 'route', 'add', 'default', 'via', `10.231.${subnet + i}.1`);
      ns[name] = n;
    });
    if (engineReach) {
      execFileSync('iptables', ['-I', ...reachRule], { stdio: 'pipe' });
      ruleAdded = true;
    }
    return { ns, serviceIp: `10.231.${subnet}.1`, remove };
  } catch {
    remove();
    return undefined;
  }
}

/** Forwards connections to `listenIp:port` to the Temporal server on the loopback. */
export function relay(listenIp: string, port: number, target: string): Promise<net.Server> {
  const [host, targetPort] = [target.slice(0, target.lastIndexOf(':')), Number(target.slice(target.lastIndexOf(':') + 1))];
  const server = net.createServer((inbound) => {
    const outbound = net.connect(targetPort, host);
    inbound.pipe(outbound).pipe(inbound);
    const close = () => {
      inbound.destroy();
      outbound.destroy();
    };
    inbound.on('error', close);
    outbound.on('error', close);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listenIp, () => resolve(server));
  });
}

export async function gitDaemon(baseDir: string, listenIp: string): Promise<{ port: number; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    'git',
    [
      'daemon',
      '--reuseaddr',
      '--export-all',
      '--enable=receive-pack',
      `--base-path=${baseDir}`,
      `--listen=${listenIp}`,
      `--port=${port}`,
      baseDir,
    ],
    {
      stdio: 'ignore',
    },
  );
  await until(
    'git daemon',
    () =>
      new Promise((resolve) =>
        net
          .connect(port, listenIp)
          .once('connect', function (this: net.Socket) {
            this.destroy();
            resolve(true);
          })
          .once('error', () => resolve(false)),
      ),
    10_000,
  );
  return { port, child };
}

/** Starts the hosts' workers; `origin` is the bare repository (in its own folder) they exchange work through. */
export async function startHosts(specs: HostSpec[], origin: string, opts: { engineReach?: boolean } = {}): Promise<Hosts> {
  const address = process.env.TEMPORAL_ADDRESS!;
  const namespaces = makeNamespaces(
    specs.map((s) => s.name),
    opts.engineReach,
  );
  let remote = origin;
  let workerAddress = address;
  const closers: (() => Promise<void> | void)[] = [];
  if (namespaces) {
    // the namespaces are real: from one, the server on the root namespace's loopback is out of reach
    const port = address.slice(address.lastIndexOf(':') + 1);
    const ns = Object.values(namespaces.ns)[0];
    const reach = spawnSync('ip', ['netns', 'exec', ns, 'bash', '-c', `exec 3<>/dev/tcp/127.0.0.1/${port}`], {
      stdio: 'ignore',
      timeout: 10_000,
    });
    if (reach.status === 0) throw new Error(`network namespace ${ns} reaches 127.0.0.1:${port}: it does not isolate`);
    const relayPort = await freePort();
    const server = await relay(namespaces.serviceIp, relayPort, address);
    closers.push(() => new Promise<void>((r) => server.close(() => r())));
    const daemon = await gitDaemon(path.dirname(origin), namespaces.serviceIp);
    closers.push(() => void daemon.child.kill());
    remote = `git://${namespaces.serviceIp}:${daemon.port}/${path.basename(origin)}`;
    workerAddress = `${namespaces.serviceIp}:${relayPort}`;
    closers.push(namespaces.remove);
  }

  const hosts: Record<string, Host> = {};
  for (const spec of specs) {
    const dataDir = mkdtempSync(path.join(os.tmpdir(), `agentvisor-host-${spec.name}-`));
    const args = ['--host', spec.name, '--data-dir', dataDir];
    if (spec.labels?.length) args.push('--labels', spec.labels.join(','));
    if (spec.capacity) args.push('--capacity', String(spec.capacity));
    const host: Host = {
      ...spec,
      dataDir,
      start: async () => {
        const env = { ...process.env, ...spec.env, TEMPORAL_ADDRESS: workerAddress, AGENTVISOR_HOME: dataDir };
        // the host's own network only: `ip netns exec` would also give the worker a mount namespace of
        // its own, whose mounts (the disk limit's, activities/disk-limit.ts) the Docker engine never sees
        const prefix = namespaces ? ['nsenter', `--net=/run/netns/${namespaces.ns[spec.name]}`, '--'] : undefined;
        const worker = await spawnWorker(env, args, prefix);
        // started once every queue of the host has its worker (one SDK worker per queue)
        const queues = 1 + queuesOf({ name: spec.name, labels: spec.labels ?? [], capacity: 1 }).length;
        await until(`the workers of host ${spec.name}`, () => (worker.output().match(/"state":"RUNNING"/g) ?? []).length >= queues, 30_000);
        host.worker = worker;
      },
      stop: async () => {
        await host.worker?.stop();
        host.worker = undefined;
      },
      kill9: async () => {
        await host.worker?.kill9();
        host.worker = undefined;
      },
    };
    hosts[spec.name] = host;
  }
  try {
    await Promise.all(Object.values(hosts).map((h) => h.start()));
  } catch (err) {
    // nothing of a failed start stays behind: workers, the relay, the daemon, namespaces and rules
    await Promise.all(Object.values(hosts).map((h) => h.stop().catch(() => undefined)));
    for (const close of closers.reverse()) await close();
    throw err;
  }
  return {
    hosts,
    remote,
    network: namespaces ? `a network namespace per host; remote ${remote}` : `the machine's own network; remote ${remote}`,
    close: async () => {
      await Promise.all(Object.values(hosts).map((h) => h.stop()));
      for (const close of closers.reverse()) await close();
    },
  };
}
