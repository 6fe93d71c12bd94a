// Docker backend (dockerode): the local socket by default, or a remote engine via DOCKER_HOST.
import Docker from 'dockerode';
import { createHash, randomInt } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { ContainerInfo, ContainerRuntime, ContainerSpec, ExitInfo } from './runtime';
import {
  AGENT_SUBNET_PREFIX,
  DEFAULT_NETWORK_RANGE,
  NETWORK_RANGE_ENV,
  chooseSubnet,
  formatCidr,
  parseCidr,
  parseNetworkRange,
  subnetsIn,
  SubnetClaims,
  type Cidr,
} from './subnets';

export interface DockerRuntimeOptions {
  /** where agents' networks take their subnets (default: AGENTVISOR_NETWORK_RANGE, else 10.213.0.0/16) */
  networkRange?: string;
  /**
   * The block of the range this runtime's search for a free one begins at (default: one at random,
   * so that workers sharing an engine seldom race for the same blocks; tests make them race).
   */
  firstSubnet?: number;
}

/** overlap refusals one network creation takes before it gives up (another worker racing for each block) */
const MAX_SUBNET_ATTEMPTS = 64;

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker';
  readonly networkRange: Cidr;
  readonly firstSubnet: number;
  /** subnets of networks this runtime is making, or made while a listing was under way */
  readonly claims = new SubnetClaims();

  constructor(
    readonly docker: Docker = new Docker(),
    opts: DockerRuntimeOptions = {},
  ) {
    const text = opts.networkRange ?? (process.env[NETWORK_RANGE_ENV] || DEFAULT_NETWORK_RANGE);
    const { range, problem } = parseNetworkRange(text);
    if (!range)
      throw new Error(`the agents' network range ${problem} (${opts.networkRange !== undefined ? '--network-range' : NETWORK_RANGE_ENV})`);
    this.networkRange = range;
    this.firstSubnet = opts.firstSubnet ?? randomInt(subnetsIn(range));
  }

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
    if (spec.secretEnv && Object.keys(spec.secretEnv).length)
      throw new Error(`container ${spec.name}: a Docker engine has no Secrets to read variables from (a Kubernetes worker's have)`);
    let info = await this.inspect(spec.name);
    if (info.state === 'missing') {
      try {
        await this.docker.createContainer(createOptions(spec));
        info = { name: spec.name, state: 'created', labels: spec.labels }; // no need to ask
      } catch (err) {
        if (statusOf(err) !== 409) throw err; // 409: a concurrent attempt created it; use that one
        info = await this.inspect(spec.name);
      }
    }
    if (info.state === 'created') {
      try {
        await this.docker.getContainer(spec.name).start();
      } catch (err) {
        if (statusOf(err) !== 304) throw err; // 304: already started
      }
      info = await this.inspect(spec.name);
    }
    return info;
  }

  async inspect(name: string): Promise<ContainerInfo> {
    try {
      const c = await this.docker.getContainer(name).inspect();
      const status = c.State.Status;
      return {
        name,
        state:
          status === 'created' ? 'created' : status === 'running' || status === 'restarting' || status === 'paused' ? 'running' : 'exited',
        exitCode: status === 'exited' || status === 'dead' ? c.State.ExitCode : undefined,
        oomKilled: c.State.OOMKilled,
        startedAt: c.State.StartedAt && !c.State.StartedAt.startsWith('0001') ? new Date(c.State.StartedAt) : undefined,
        labels: c.Config.Labels ?? {},
      };
    } catch (err) {
      if (statusOf(err) === 404) return { name, state: 'missing', labels: {} };
      throw err;
    }
  }

  async wait(name: string): Promise<ExitInfo> {
    const result = (await this.docker.getContainer(name).wait()) as { StatusCode: number };
    const info = await this.inspect(name);
    return { exitCode: result.StatusCode, oomKilled: info.oomKilled ?? false };
  }

  async logs(name: string, sink: Writable, opts: { follow: boolean }): Promise<void> {
    const container = this.docker.getContainer(name);
    if (!opts.follow) {
      const buf = (await container.logs({ stdout: true, stderr: true, follow: false })) as unknown as Buffer;
      sink.write(demux(buf));
      return;
    }
    const stream = (await container.logs({ stdout: true, stderr: true, follow: true })) as NodeJS.ReadableStream;
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.demuxStream(stream, sink, sink);
      stream.on('end', resolve);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
  }

  async stop(name: string, graceSeconds = 10): Promise<void> {
    try {
      await this.docker.getContainer(name).stop({ t: graceSeconds });
    } catch (err) {
      if (![304, 404].includes(statusOf(err) ?? 0)) throw err;
    }
  }

  async remove(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
    } catch (err) {
      // 409: removal already in progress
      if (![404, 409].includes(statusOf(err) ?? 0)) throw err;
    }
  }

  /**
   * An internal network (an agent's) gets a /29 of the worker's range (subnets.ts), the first from
   * this runtime's starting block on that no network on the engine has, so agents' networks never draw on the engine's default address
   * pools. Several creations at once in this worker keep apart (SubnetClaims); another worker on
   * the same engine may pick the same block between our listing and our creation: Docker refuses
   * the second ("Pool overlaps"), and that one moves on to the next block.
   */
  async createNetwork(name: string, opts: { internal: boolean; labels: Record<string, string> }): Promise<void> {
    if (opts.internal) await this.createAgentNetwork(name, opts.labels);
    else {
      const existing = await this.docker.listNetworks({ filters: { name: [name] } });
      if (!existing.some((n) => n.Name === name)) {
        try {
          await this.docker.createNetwork({ Name: name, Internal: false, Labels: opts.labels, CheckDuplicate: true });
        } catch (err) {
          if (statusOf(err) !== 409) throw err;
        }
      }
    }
    // every time: an attempt that made the network may have died before this
    if (opts.internal) await hardenBridge(bridgeName(name));
  }

  private async createAgentNetwork(name: string, labels: Record<string, string>): Promise<void> {
    const refused: Cidr[] = [];
    let start = this.firstSubnet;
    for (let attempt = 1; ; attempt++) {
      const { answer: networks, claim } = await this.claims.choose(
        () => this.docker.listNetworks(),
        (networks, unseen) => {
          if (networks.some((n) => n.Name === name)) return undefined;
          const onEngine = networks.flatMap((n) =>
            (n.IPAM?.Config ?? []).map((c) => parseCidr(c.Subnet ?? '')).filter((c): c is Cidr => !!c),
          );
          return chooseSubnet(this.networkRange, [...onEngine, ...unseen, ...refused], AGENT_SUBNET_PREFIX, start);
        },
      );
      if (networks.some((n) => n.Name === name)) return;
      if (!claim) {
        throw new Error(
          `no free /${AGENT_SUBNET_PREFIX} left in ${formatCidr(this.networkRange)} for network ${name} ` +
            `(each agent with a gateway has a network of its own; the range holds ${subnetsIn(this.networkRange)}): ` +
            `remove leftover networks (agentvisor gc) or give the worker a larger range (--network-range or ${NETWORK_RANGE_ENV})`,
        );
      }
      try {
        await this.docker.createNetwork({
          Name: name,
          Internal: true,
          Labels: labels,
          CheckDuplicate: true,
          IPAM: { Driver: 'default', Config: [{ Subnet: formatCidr(claim.subnet) }] },
          // An internal network still gives its containers a default route to the bridge's address on
          // the host, and the host answers there (and on all its other addresses): without that
          // address, a member's packets reach the other members and go nowhere else. The bridge is
          // named avn… so that a host rule can match all of them (README "Network").
          Options: { [INHIBIT_IPV4]: 'true', [BRIDGE_NAME]: bridgeName(name) },
        });
        claim.made();
        return;
      } catch (err) {
        claim.dropped();
        if (statusOf(err) === 409) return; // a concurrent attempt made it
        // another worker took the block (or made a network our listing did not show): the next one
        if (!/pool overlaps/i.test(String((err as Error).message)) || attempt >= MAX_SUBNET_ATTEMPTS) throw err;
        refused.push(claim.subnet);
        // another worker searches from here too: go on from a block at random, away from it
        start = randomInt(subnetsIn(this.networkRange));
      }
    }
  }

  async removeNetwork(name: string): Promise<void> {
    const network = this.docker.getNetwork(name);
    try {
      // still attached (the gateway): detached first, else Docker refuses to remove the network
      const info = (await network.inspect()) as { Containers?: Record<string, unknown> };
      for (const id of Object.keys(info.Containers ?? {})) {
        await network.disconnect({ Container: id, Force: true }).catch((err) => {
          if (![404, 500].includes(statusOf(err) ?? 0)) throw err;
        });
      }
      await network.remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
  }

  async listNetworks(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]> {
    const found = await this.docker.listNetworks({ filters: { label: Object.entries(labels).map(([k, v]) => (v ? `${k}=${v}` : k)) } });
    return found.map((n) => ({ name: n.Name, labels: n.Labels ?? {} }));
  }

  async connect(network: string, container: string, alias?: string): Promise<void> {
    try {
      await this.docker.getNetwork(network).connect({ Container: container, EndpointConfig: alias ? { Aliases: [alias] } : {} });
    } catch (err) {
      // 403: already attached
      if (statusOf(err) !== 403 && !String((err as Error).message).includes('already exists')) throw err;
    }
  }

  async addressOf(name: string, network: string): Promise<string> {
    const c = await this.docker.getContainer(name).inspect();
    const ip = c.NetworkSettings.Networks[network]?.IPAddress;
    if (!ip) throw new Error(`container ${name} has no address on network ${network}`);
    return ip;
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const found = await this.docker.listContainers({
      all: true,
      // a label with an empty value matches any value of that label
      filters: { label: Object.entries(labels).map(([k, v]) => (v ? `${k}=${v}` : k)) },
    });
    return Promise.all(found.map((c) => this.inspect(c.Names[0].replace(/^\//, ''))));
  }
}

/** libnetwork's bridge option: no IPv4 address on the host side of the bridge */
export const INHIBIT_IPV4 = 'com.docker.network.bridge.inhibit_ipv4';
const BRIDGE_NAME = 'com.docker.network.bridge.name';

/** The host-side bridge of an internal network: `avn` and 12 hex digits (interface names: ≤ 15). */
export const bridgeName = (network: string) => `avn${createHash('sha256').update(network).digest('hex').slice(0, 12)}`;

let warnedHarden = false;

/**
 * A bridge with no address still takes one kind of packet into the host's own stack: the limited
 * broadcast (255.255.255.255), which a host service listening on all addresses receives (measured
 * on Docker 20.10). A strict reverse-path filter on the bridge drops every packet arriving there for
 * the host (none has a route back through an address-less bridge); what the bridge forwards between
 * its members (agent and gateway) is not routed, so not filtered. The setting lives and dies with
 * the interface: nothing to undo. It needs the worker to run as root next to the engine; otherwise
 * a warning, once, and the README's host rule does the same.
 */
async function hardenBridge(bridge: string): Promise<void> {
  try {
    await writeFile(`/proc/sys/net/ipv4/conf/${bridge}/rp_filter`, '1');
  } catch (err) {
    if (warnedHarden) return;
    warnedHarden = true;
    process.emitWarning(
      `agentvisor: cannot set rp_filter on the bridge ${bridge} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): ` +
        `agents can still send limited broadcasts (255.255.255.255) to the host's services on all addresses. ` +
        `Run the worker as root on the Docker host, or add the host rule "iptables -I INPUT -i avn+ -j DROP" (README, Network)`,
    );
  }
}

/** The hardening every agent and evaluation container gets; see DESIGN "Isolation over constraints". */
export function createOptions(spec: ContainerSpec): Docker.ContainerCreateOptions {
  return {
    name: spec.name,
    Image: spec.image,
    Cmd: spec.command,
    Env: Object.entries(spec.env).map(([k, v]) => `${k}=${v}`),
    WorkingDir: spec.workdir,
    User: spec.user,
    Labels: spec.labels,
    AttachStdin: false,
    OpenStdin: false,
    Tty: false,
    HostConfig: {
      Binds: spec.mounts.map((m) => `${m.source}:${m.target}:${m.readOnly ? 'ro' : 'rw'}`),
      ReadonlyRootfs: true,
      CapDrop: ['ALL'],
      SecurityOpt: ['no-new-privileges'],
      Tmpfs: Object.fromEntries(spec.tmpfs.map((dir) => [dir, tmpfsOptions(spec.user)])),
      NetworkMode: spec.network,
      ExtraHosts: spec.hosts ? Object.entries(spec.hosts).map(([host, ip]) => `${host}:${ip}`) : undefined,
      Dns: spec.dns,
      Memory: spec.memoryBytes,
      MemorySwap: spec.memoryBytes, // no swap beyond the memory limit
      NanoCpus: spec.cpus ? Math.round(spec.cpus * 1e9) : undefined,
      PidsLimit: spec.pids,
      Init: true, // reap zombies and forward signals, so stop is prompt
      // the engine's copy of the output, on the host's disk, is bounded (the worker keeps its own log)
      LogConfig: { Type: 'json-file', Config: { 'max-size': '32m', 'max-file': '2' } },
    },
  };
}

/**
 * Owned by the container's user (else HOME is root's and unwritable); exec so tools can run there.
 * Their pages are charged to the container's memory cgroup, so with the memory limit they are bounded
 * twice: 512m each, and together with the processes' memory by the memory limit (a write past it
 * gets the writer killed, as out of memory).
 */
function tmpfsOptions(user: string): string {
  const [uid, gid = uid] = user.split(':');
  return `rw,exec,nosuid,nodev,size=512m,mode=0755,uid=${uid},gid=${gid}`;
}

function statusOf(err: unknown): number | undefined {
  return (err as { statusCode?: number }).statusCode;
}

/** Splits Docker's multiplexed log frames (8-byte headers) into plain bytes. */
function demux(buf: Buffer): Buffer {
  if (!Buffer.isBuffer(buf)) return Buffer.from(String(buf));
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts);
}
