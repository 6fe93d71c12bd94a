// The resource limits every agent and evaluation container gets: the graph's own (`limits:` of an
// agent or of `evaluate`) where it sets them, else the worker's defaults. A worker sets its defaults
// with flags (`agentvisor worker --memory 8g --cpus 4 --pids 1024 --disk 20g`) or environment
// variables (AGENTVISOR_LIMIT_MEMORY, _CPUS, _PIDS, _DISK; also read by the worker `agentvisor run`
// starts in its own process); the flags win. Why these defaults: README, "Resource limits".
import * as os from 'node:os';
import { BadInputError, type Problem } from '../graph/problems';
import type { Limits } from '../graph/types';
import { parseSize } from '../graph/units';

export interface ResolvedLimits {
  memoryBytes: number;
  cpus: number;
  pids: number;
  /** 0: no disk limit (a worker without root or loop devices, AGENTVISOR_LIMIT_DISK=off) */
  diskBytes: number;
}

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;

/**
 * Built-in defaults, for a coding agent: a CLI (~0.5 GiB) running builds and tests of a mid-sized
 * project (tsc, cargo, a JVM: 1-3 GiB) fits in 4 GiB; 2 CPUs keep one agent from taking a small
 * host; 512 processes are ample for a build's workers and a test runner, and stop a fork bomb long
 * before the host's table fills; 10 GiB of workspace holds a large checkout with its dependencies
 * and build output.
 */
export const DEFAULT_LIMITS: ResolvedLimits = { memoryBytes: 4 * GiB, cpus: 2, pids: 512, diskBytes: 10 * GiB };

/** Below these the container cannot start (Docker refuses memory under 6 MB; ext4 needs room). */
export const MIN_MEMORY_BYTES = 16 * MiB;
export const MIN_DISK_BYTES = 16 * MiB;

export const LIMIT_ENV = {
  memory: 'AGENTVISOR_LIMIT_MEMORY',
  cpus: 'AGENTVISOR_LIMIT_CPUS',
  pids: 'AGENTVISOR_LIMIT_PIDS',
  disk: 'AGENTVISOR_LIMIT_DISK',
} as const;

export interface LimitFlags {
  memory?: string;
  cpus?: string;
  pids?: string;
  disk?: string;
}

/**
 * The worker's defaults from its flags, then the environment, then the built-in ones. Bad values
 * throw BadInputError (the CLI exits 2), each saying where it came from.
 */
export function workerLimits(flags: LimitFlags = {}, env: NodeJS.ProcessEnv = process.env): ResolvedLimits {
  const problems: Problem[] = [];
  const pick = (key: keyof LimitFlags) => {
    if (flags[key] !== undefined) return { value: flags[key]!.trim(), from: `--${key}` };
    const v = env[LIMIT_ENV[key]];
    return v !== undefined && v !== '' ? { value: v.trim(), from: LIMIT_ENV[key] } : undefined;
  };
  const size = (key: 'memory' | 'disk', min: number, fallback: number) => {
    const got = pick(key);
    if (!got) return fallback;
    if (key === 'disk' && got.value === 'off') return 0;
    const bytes = /^\d/.test(got.value) ? parseSize(got.value) : undefined;
    if (bytes === undefined || bytes < min) {
      problems.push({
        message: `${got.from} "${got.value}" is not a ${key} limit: expected a size of at least ${min / MiB}m, such as 512m or 4g${key === 'disk' ? ', or off' : ''}`,
      });
      return fallback;
    }
    return bytes;
  };
  const memoryBytes = size('memory', MIN_MEMORY_BYTES, DEFAULT_LIMITS.memoryBytes);
  const diskBytes = size('disk', MIN_DISK_BYTES, DEFAULT_LIMITS.diskBytes);
  // on a host with fewer cores the engine refuses the container (--cpus above the host's): as many as it has
  let cpus = Math.min(DEFAULT_LIMITS.cpus, hostCpus());
  const c = pick('cpus');
  if (c) {
    cpus = Number(c.value);
    if (!/^\d+(\.\d+)?$/.test(c.value) || !(cpus >= 0.01)) {
      problems.push({ message: `${c.from} "${c.value}" is not a CPU limit: expected a number of cores such as 0.5 or 2` });
      cpus = DEFAULT_LIMITS.cpus;
    }
  }
  let pids = DEFAULT_LIMITS.pids;
  const p = pick('pids');
  if (p) {
    pids = Number(p.value);
    if (!/^\d+$/.test(p.value) || pids < 8) {
      problems.push({ message: `${p.from} "${p.value}" is not a process limit: expected a whole number of at least 8, such as 512` });
      pids = DEFAULT_LIMITS.pids;
    }
  }
  if (problems.length) throw new BadInputError(problems);
  return { memoryBytes, cpus, pids, diskBytes };
}

function hostCpus(): number {
  return typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
}

/** A container's limits: the graph's where it gives them, the worker's defaults for the rest. */
export function effectiveLimits(own: Limits | undefined, defaults: ResolvedLimits): ResolvedLimits {
  return {
    memoryBytes: own?.memoryBytes ?? defaults.memoryBytes,
    cpus: own?.cpus ?? defaults.cpus,
    pids: own?.pids ?? defaults.pids,
    // a worker with the disk limit off has no way to enforce the graph's either
    diskBytes: defaults.diskBytes === 0 ? 0 : (own?.diskBytes ?? defaults.diskBytes),
  };
}

/** 4294967296 → "4g", for messages and the worker's start line. */
export function formatSize(bytes: number): string {
  if (bytes % GiB === 0) return `${bytes / GiB}g`;
  if (bytes % MiB === 0) return `${bytes / MiB}m`;
  return `${bytes}`;
}

export function describeLimits(l: ResolvedLimits): string {
  return `memory ${formatSize(l.memoryBytes)}, cpus ${l.cpus}, pids ${l.pids}, disk ${l.diskBytes ? formatSize(l.diskBytes) : 'off'}`;
}
