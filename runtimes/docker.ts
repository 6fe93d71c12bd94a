// Docker backend (dockerode): the local socket by default, or a remote engine via DOCKER_HOST.
import Docker from 'dockerode';
import { createHash } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import type { ContainerInfo, ContainerRuntime, ContainerSpec, ExitInfo } from './runtime';

export class DockerRuntime implements ContainerRuntime {
  readonly kind = 'docker';
  constructor(readonly docker: Docker = new Docker()) {}

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
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
        state: status === 'created' ? 'created' : status === 'running' || status === 'restarting' || status === 'paused' ? 'running' : 'exited',
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

  async createNetwork(name: string, opts: { internal: boolean; labels: Record<string, string> }): Promise<void> {
    const existing = await this.docker.listNetworks({ filters: { name: [name] } });
    if (!existing.some((n) => n.Name === name)) {
      try {
        await this.docker.createNetwork({
          Name: name,
          Internal: opts.internal,
          Labels: opts.labels,
          CheckDuplicate: true,
          // An internal network still gives its containers a default route to the bridge's address on
          // the host, and the host answers there (and on all its other addresses): without that
          // address, a member's packets reach the other members and go nowhere else. The bridge is
          // named avn… so that a host rule can match all of them (README "Network").
          ...(opts.internal ? { Options: { [INHIBIT_IPV4]: 'true', [BRIDGE_NAME]: bridgeName(name) } } : {}),
        });
      } catch (err) {
        if (/non-overlapping IPv4 address pool/i.test(String((err as Error).message))) {
          throw new Error(
            `${(err as Error).message}: Docker has no address range left for network ${name} (each agent with a gateway has a network of its own); ` +
              `remove leftover networks (agentvisor gc) or give Docker more, smaller ranges ("default-address-pools" in daemon.json, e.g. {"base": "10.200.0.0/16", "size": 28})`,
          );
        }
        if (statusOf(err) !== 409) throw err;
      }
    }
    // every time: an attempt that made the network may have died before this
    if (opts.internal) await hardenBridge(bridgeName(name));
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
