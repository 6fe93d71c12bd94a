// Docker backend (dockerode): the local socket by default, or a remote engine via DOCKER_HOST.
import Docker from 'dockerode';
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
    if (existing.some((n) => n.Name === name)) return;
    try {
      await this.docker.createNetwork({ Name: name, Internal: opts.internal, Labels: opts.labels, CheckDuplicate: true });
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
    }
  }

  async removeNetwork(name: string): Promise<void> {
    try {
      await this.docker.getNetwork(name).remove();
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
    }
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
