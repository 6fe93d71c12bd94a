// The one interface every container backend implements. Plain data in, plain data out, so a
// backend (Docker here; Kubernetes later) is one file and activities do not care which one runs.
import type { Writable } from 'node:stream';

export interface Mount {
  source: string;
  target: string;
  readOnly: boolean;
}

export interface ContainerSpec {
  /** deterministic (from run id + task id), so a retried activity finds its container */
  name: string;
  image: string;
  /** argv; for shell commands ['sh', '-c', script] */
  command: string[];
  env: Record<string, string>;
  /**
   * Variables read from Secrets that already exist where the container runs (Kubernetes: a
   * secretKeyRef, so the pod spec holds no value). A runtime without such Secrets refuses it.
   */
  secretEnv?: Record<string, { secret: string; key: string }>;
  workdir: string;
  mounts: Mount[];
  /** uid:gid; never root */
  user: string;
  labels: Record<string, string>;
  memoryBytes?: number;
  cpus?: number;
  pids?: number;
  /**
   * What the container may write to disk, in bytes. Docker: enforced on the host (each writable
   * folder mounted is a filesystem of that size, activities/disk-limit.ts), so unused here; Kubernetes:
   * the size limit of each writable volume and the pod's ephemeral-storage limit.
   */
  diskBytes?: number;
  /** 'none' (default) or the name of a network to join */
  network: string;
  /** writable in-memory directories on the read-only root, e.g. HOME and /tmp */
  tmpfs: string[];
  /**
   * A hard limit the platform enforces by itself, in seconds from the start (Kubernetes: the Job's
   * activeDeadlineSeconds), so a container ends even when no worker is left to stop it. Docker has
   * none: there the activity's own timer stops the container.
   */
  deadlineSeconds?: number;
  /** TCP ports the container serves to others on its networks (Kubernetes: its Service's ports) */
  ports?: number[];
  /** Names set in the container's hosts file (name → IP), so it needs no DNS for them (Docker: ExtraHosts; Kubernetes: hostAliases) */
  hosts?: Record<string, string>;
  /**
   * The only DNS servers names go to (Docker: Dns, where its embedded DNS forwards the names it
   * does not know, instead of to the host's resolvers; Kubernetes: dnsPolicy None, dnsConfig).
   */
  dns?: string[];
}

export type ContainerState = 'created' | 'running' | 'exited' | 'missing';

export interface ContainerInfo {
  name: string;
  state: ContainerState;
  exitCode?: number;
  oomKilled?: boolean;
  startedAt?: Date;
  labels: Record<string, string>;
}

export interface ExitInfo {
  exitCode: number;
  oomKilled: boolean;
  /** the platform ended it at its deadline (ContainerSpec.deadlineSeconds) */
  timedOut?: boolean;
}

/**
 * The container cannot run and will not by waiting: its image is not there or cannot be pulled,
 * its configuration is refused. Retrying the same container does not help; the task fails.
 */
export class ContainerCannotRun extends Error {
  override readonly name = 'ContainerCannotRun';
}

export interface ContainerRuntime {
  readonly kind: string;
  /** Creates and starts the container; if one of that name exists, starts it if needed and returns. */
  start(spec: ContainerSpec): Promise<ContainerInfo>;
  inspect(name: string): Promise<ContainerInfo>;
  /** Resolves when the container exits. */
  wait(name: string): Promise<ExitInfo>;
  /** Copies stdout and stderr (from the start) into `sink`; with follow, until the container exits. */
  logs(name: string, sink: Writable, opts: { follow: boolean }): Promise<void>;
  /** Stops a running container (SIGTERM, then SIGKILL after the grace period). Missing is fine. */
  stop(name: string, graceSeconds?: number): Promise<void>;
  /** Removes the container (forcibly). Missing is fine. */
  remove(name: string): Promise<void>;
  /**
   * A private network (one per agent of a run). `internal`: its members reach each other and
   * nothing else: no route out, and not the host either (Docker: the bridge gets no address on the
   * host side). The gateway, attached to it and to a network with a route out, is the agents' only
   * way out. Idempotent.
   */
  createNetwork(name: string, opts: { internal: boolean; labels: Record<string, string> }): Promise<void>;
  /** Removes the network, detaching what is still attached to it (missing is fine). */
  removeNetwork(name: string): Promise<void>;
  /** Attaches a container to a further network, reachable there under `alias`. Idempotent. */
  connect(network: string, container: string, alias?: string): Promise<void>;
  /** The container's IP address on a network (to reach a service from the worker's host). */
  addressOf(name: string, network: string): Promise<string>;
  /** Containers carrying all these labels (an empty value: the label with any value). */
  list(labels: Record<string, string>): Promise<ContainerInfo[]>;
  /**
   * Networks carrying all these labels, with their labels (for `agentvisor gc`). Optional: a
   * runtime whose networks are not left behind by a crash need not sweep them.
   */
  listNetworks?(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]>;
}

export const LABEL_RUN = 'org.agentvisor.run';
export const LABEL_TASK = 'org.agentvisor.task';
export const LABEL_ROLE = 'org.agentvisor.role';
/**
 * Which Temporal cluster (namespace@address) the run belongs to: several servers may share one
 * Docker engine, and the sweeper must only judge containers whose runs it can look up.
 */
export const LABEL_SCOPE = 'org.agentvisor.scope';

export const scopeOf = (namespace: string, address: string) => `${namespace}@${address}`;

/** Docker names allow [a-zA-Z0-9_.-]; run ids may hold other characters, so map them. */
export function containerName(runId: string, part: string): string {
  return `agentvisor-${runId}-${part}`.replace(/[^a-zA-Z0-9_.-]/g, '_').slice(0, 250);
}
