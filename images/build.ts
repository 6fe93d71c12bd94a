/**
 * Building and fetching the container images agents run in.
 *
 * The base image (`agentvisor/base:latest`) can be built two ways:
 *  - `registry`: `docker build` of images/base/Dockerfile (FROM node:20-bookworm-slim),
 *    through dockerode's build API with the legacy builder (no BuildKit/buildx needed);
 *  - `offline`: images/base/build-offline.sh (debootstrap + the host's node + `docker import`),
 *    for engines with no registry access. Needs root on the host.
 * `auto` uses the registry path only if node:20-bookworm-slim is already present or can be
 * pulled quickly, and falls back to the offline path otherwise (or if the Dockerfile build fails).
 */
import Docker from 'dockerode';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

import { agentsCacheDir, defaultDataDir } from '../paths/data-folder';
import { AGENTS_IMAGE, BASE_IMAGE } from './constants';

/** The agentvisor base image, `agentvisor/base:latest` (defined in ./constants). */
export { AGENTS_IMAGE, BASE_IMAGE };
/** The image images/base/Dockerfile starts FROM. */
export const BASE_FROM_IMAGE = 'node:20-bookworm-slim';

export type BuildLog = (line: string) => void;
export type BuildMode = 'auto' | 'registry' | 'offline';
export type BuildResult = 'built-from-dockerfile' | 'built-offline';

const noop: BuildLog = () => undefined;
const DEFAULT_PULL_PROBE_TIMEOUT_MS = 120_000;

// ---------------------------------------------------------------------------------------------
// paths

let cachedRoot: string | undefined;

/**
 * The agentvisor package root: the nearest ancestor of `start` holding a package.json named
 * "agentvisor". Works from images/build.ts (ts-jest, ts-node) and from dist/images/build.js.
 */
export function findPackageRoot(start: string = __dirname): string {
  if (start === __dirname && cachedRoot) return cachedRoot;
  let dir = path.resolve(start);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        const name = (JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: unknown }).name;
        if (name === 'agentvisor') {
          if (start === __dirname) cachedRoot = dir;
          return dir;
        }
      } catch {
        // unreadable or invalid package.json: keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) {
      throw new Error(`cannot find the agentvisor package root (a package.json named "agentvisor") above ${start}`);
    }
    dir = parent;
  }
}

export function baseImageDir(): string {
  return path.join(findPackageRoot(), 'images', 'base');
}

// ---------------------------------------------------------------------------------------------
// small helpers

function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (typeof err === 'object' && err !== null && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}

function statusCode(err: unknown): number | undefined {
  if (typeof err === 'object' && err !== null && 'statusCode' in err) {
    const code = (err as { statusCode: unknown }).statusCode;
    return typeof code === 'number' ? code : undefined;
  }
  return undefined;
}

/**
 * Canonical form of an image reference for comparisons: drops the implicit docker.io/ and
 * library/ prefixes and adds the implicit :latest tag.
 */
export function normalizeImageName(name: string): string {
  let n = name.trim();
  if (n.startsWith('docker.io/')) n = n.slice('docker.io/'.length);
  if (n.startsWith('library/')) n = n.slice('library/'.length);
  const lastSegment = n.slice(n.lastIndexOf('/') + 1);
  if (!n.includes('@') && !lastSegment.includes(':')) n += ':latest';
  return n;
}

/** Accumulates text chunks and emits complete, non-empty lines (\n, \r\n or bare \r). */
class LineSplitter {
  private buf = '';
  private readonly tail: string[] = [];

  constructor(
    private readonly log: BuildLog,
    private readonly keep = 30,
  ) {}

  push(chunk: string): void {
    this.buf += chunk;
    const parts = this.buf.split(/\r\n|\n|\r/);
    this.buf = parts.pop() ?? '';
    for (const line of parts) this.emit(line);
  }

  flush(): void {
    if (this.buf) this.emit(this.buf);
    this.buf = '';
  }

  /** The last few lines emitted, for error messages. */
  lastLines(): string[] {
    return [...this.tail];
  }

  private emit(line: string): void {
    const trimmed = line.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '').replace(/\s+$/, '');
    if (!trimmed) return;
    this.tail.push(trimmed);
    if (this.tail.length > this.keep) this.tail.shift();
    this.log(trimmed);
  }
}

/** Runs a command, streaming stdout and stderr to `log` line by line. */
function runStreaming(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; log: BuildLog }): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = new LineSplitter(opts.log);
    const child = spawn(cmd, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.setEncoding('utf8');
    child.stderr.setEncoding('utf8');
    child.stdout.on('data', (d: string) => out.push(d));
    child.stderr.on('data', (d: string) => out.push(d));
    child.on('error', (err) => reject(new Error(`cannot run ${cmd}: ${err.message}`)));
    child.on('close', (code, signal) => {
      out.flush();
      if (code === 0) return resolve();
      const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
      const tail = out.lastLines().slice(-10).join('\n');
      reject(new Error(`${cmd} ${args.join(' ')} ${how}${tail ? `:\n${tail}` : ''}`));
    });
  });
}

interface DockerProgressEvent {
  stream?: string;
  status?: string;
  id?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  error?: string;
  errorDetail?: { message?: string };
}

/**
 * Follows a build or pull progress stream to its end, logging build output line by line and
 * pull status changes (not the per-chunk download progress). Rejects on an error event.
 */
function followDockerStream(docker: Docker, stream: NodeJS.ReadableStream, log: BuildLog): Promise<void> {
  return new Promise((resolve, reject) => {
    const out = new LineSplitter(log);
    let streamError: string | undefined;
    docker.modem.followProgress(
      stream,
      (err) => {
        out.flush();
        if (err) reject(err);
        else if (streamError) reject(new Error(streamError));
        else resolve();
      },
      (event: DockerProgressEvent) => {
        if (event.stream) out.push(event.stream);
        if (event.error) {
          streamError = event.errorDetail?.message || event.error;
          out.push(`ERROR: ${streamError}\n`);
        }
        if (event.status && !(event.progressDetail && event.progressDetail.current)) {
          out.push(`${event.id ? `${event.id}: ` : ''}${event.status}\n`);
        }
      },
    );
  });
}

/** Rejects after `ms`, calling `onTimeout` first; the returned cancel() disarms it. */
function timeout(ms: number, what: string, onTimeout: () => void): { promise: Promise<never>; cancel: () => void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`${what} timed out after ${Math.round(ms / 1000)}s`));
    }, ms);
  });
  promise.catch(() => undefined); // never an unhandled rejection if nobody races it any more
  return { promise, cancel: () => clearTimeout(timer) };
}

/**
 * Environment for docker CLI calls (build-offline.sh runs `docker import`), pointed at the same
 * engine the given dockerode client talks to when that can be expressed as DOCKER_HOST.
 */
function dockerCliEnv(docker: Docker): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  const modem = docker.modem as { socketPath?: unknown; host?: unknown; port?: unknown; protocol?: unknown };
  if (typeof modem.socketPath === 'string' && modem.socketPath) {
    env.DOCKER_HOST = `unix://${modem.socketPath}`;
  } else if (typeof modem.host === 'string' && modem.host && (modem.protocol === 'http' || modem.protocol === undefined)) {
    env.DOCKER_HOST = `tcp://${modem.host}:${typeof modem.port === 'number' || typeof modem.port === 'string' ? modem.port : 2375}`;
  }
  // https/ssh: keep the caller's DOCKER_HOST / DOCKER_TLS_VERIFY / DOCKER_CERT_PATH as they are.
  return env;
}

// ---------------------------------------------------------------------------------------------
// public API

/** True if the engine has an image by that name (or id) locally. */
export async function imageExists(docker: Docker, name: string): Promise<boolean> {
  try {
    await docker.getImage(name).inspect();
    return true;
  } catch (err) {
    if (statusCode(err) === 404) return false;
    throw err;
  }
}

/** Pulls an image, streaming status lines to `log`; rejects if the pull fails or times out. */
export async function pullImage(docker: Docker, name: string, opts: { log?: BuildLog; timeoutMs?: number } = {}): Promise<void> {
  const log = opts.log ?? noop;
  const abort = new AbortController();
  const pull = (async () => {
    const stream = await docker.pull(name, { abortSignal: abort.signal });
    await followDockerStream(docker, stream, log);
  })();
  if (opts.timeoutMs === undefined) return pull;
  const t = timeout(opts.timeoutMs, `docker pull ${name}`, () => abort.abort());
  pull.catch(() => undefined);
  try {
    await Promise.race([pull, t.promise]);
  } finally {
    t.cancel();
  }
}

/** Whether images/base/Dockerfile can be built: its FROM image is present or pullable now. */
async function registryUsable(docker: Docker, log: BuildLog, timeoutMs: number): Promise<boolean> {
  if (await imageExists(docker, BASE_FROM_IMAGE)) return true;
  log(`checking registry access: docker pull ${BASE_FROM_IMAGE}`);
  try {
    await pullImage(docker, BASE_FROM_IMAGE, { log, timeoutMs });
  } catch (err) {
    log(`registry not usable (${errorMessage(err)})`);
    return false;
  }
  return imageExists(docker, BASE_FROM_IMAGE);
}

async function buildFromDockerfile(docker: Docker, image: string, log: BuildLog): Promise<void> {
  const context = baseImageDir();
  log(`building ${image} from ${path.join(context, 'Dockerfile')}`);
  const stream = await docker.buildImage({ context, src: ['Dockerfile'] }, { t: image, rm: true, forcerm: true, version: '1' });
  await followDockerStream(docker, stream, log);
  if (!(await imageExists(docker, image))) {
    throw new Error(`docker build reported success but ${image} is not in the engine`);
  }
}

async function buildOffline(docker: Docker, image: string, log: BuildLog): Promise<void> {
  const script = path.join(baseImageDir(), 'build-offline.sh');
  if (process.platform !== 'linux') {
    throw new Error(`the offline base image build (${script}) needs a Linux host; use mode 'registry'`);
  }
  log(`building ${image} offline with ${script}`);
  await runStreaming('bash', [script, image], { env: dockerCliEnv(docker), log });
  if (!(await imageExists(docker, image))) {
    throw new Error(`${script} reported success but ${image} is not in the engine`);
  }
}

/**
 * Builds the agentvisor base image (default `agentvisor/base:latest`). Rebuilds even if the image
 * exists; use ensureImages() to build only when missing.
 */
export async function buildBaseImage(opts: {
  docker: Docker;
  image?: string;
  mode?: BuildMode;
  log?: BuildLog;
  /** auto mode: how long the `docker pull node:20-bookworm-slim` probe may take. */
  pullProbeTimeoutMs?: number;
}): Promise<BuildResult> {
  const { docker } = opts;
  const image = opts.image ?? BASE_IMAGE;
  const mode = opts.mode ?? 'auto';
  const log = opts.log ?? noop;

  switch (mode) {
    case 'registry':
      await buildFromDockerfile(docker, image, log);
      return 'built-from-dockerfile';
    case 'offline':
      await buildOffline(docker, image, log);
      return 'built-offline';
    case 'auto': {
      if (await registryUsable(docker, log, opts.pullProbeTimeoutMs ?? DEFAULT_PULL_PROBE_TIMEOUT_MS)) {
        try {
          await buildFromDockerfile(docker, image, log);
          return 'built-from-dockerfile';
        } catch (err) {
          log(`Dockerfile build failed (${errorMessage(err)}); falling back to the offline build`);
        }
      } else {
        log('no registry access; using the offline build');
      }
      await buildOffline(docker, image, log);
      return 'built-offline';
    }
    default: {
      const never: never = mode;
      throw new Error(`unknown base image build mode: ${String(never)}`);
    }
  }
}

/** In-flight work per engine client and image, so concurrent callers share one build or pull. */
const inflight = new WeakMap<Docker, Map<string, Promise<void>>>();

/**
 * Makes sure every image in `images` is present in the engine: the base image is built if
 * missing, any other missing image is pulled. Throws an Error naming the image when it cannot be
 * obtained.
 */
export async function ensureImages(opts: { docker: Docker; images: string[]; log?: BuildLog }): Promise<void> {
  const { docker } = opts;
  const log = opts.log ?? noop;
  const base = normalizeImageName(BASE_IMAGE);
  const wanted = [...new Set(opts.images.map((name) => name.trim()).filter(Boolean))];

  let perEngine = inflight.get(docker);
  if (!perEngine) {
    perEngine = new Map();
    inflight.set(docker, perEngine);
  }

  for (const name of wanted) {
    const key = normalizeImageName(name);
    let work = perEngine.get(key);
    if (!work) {
      work = (async () => {
        if (await imageExists(docker, name)) return;
        if (key === base) {
          log(`image ${name} is missing; building it`);
          try {
            await buildBaseImage({ docker, image: name, log });
          } catch (err) {
            throw new Error(`could not build image ${name}: ${errorMessage(err)}`);
          }
          return;
        }
        log(`image ${name} is missing; pulling it`);
        try {
          await pullImage(docker, name, { log });
        } catch (err) {
          throw new Error(`image ${name} is not present in the Docker engine and could not be pulled: ${errorMessage(err)}`);
        }
        if (!(await imageExists(docker, name))) {
          throw new Error(`image ${name} is not present in the Docker engine after pulling it`);
        }
      })();
      const entry = work;
      perEngine.set(key, entry);
      entry.then(
        () => perEngine?.get(key) === entry && perEngine.delete(key),
        () => perEngine?.get(key) === entry && perEngine.delete(key),
      );
    }
    await work;
  }
}

// ---------------------------------------------------------------------------------------------
// the agents image: the base image plus the four agent CLIs

export function agentsImageDir(): string {
  return path.join(findPackageRoot(), 'images', 'agents');
}

/** Node's arch → the suffix of the CLIs' platform packages. */
function platformSuffix(): string {
  if (process.arch === 'x64') return 'linux-x64';
  if (process.arch === 'arm64') return 'linux-arm64';
  throw new Error(`the agents image build supports x64 and arm64 hosts, not ${process.arch}`);
}

/**
 * npm-installs images/agents/package.json (the pinned CLIs) into `dir` unless the same pins are
 * installed there already, checks that the native platform packages are present, and drops the
 * duplicate opencode binary. Returns `dir`.
 */
export async function installAgentClis(dir: string, log: BuildLog = noop): Promise<string> {
  if (process.platform !== 'linux') throw new Error('the agents image is built on a Linux host (the CLIs ship native binaries)');
  const pkg = fs.readFileSync(path.join(agentsImageDir(), 'package.json'), 'utf8');
  const stamp = path.join(dir, '.installed-package.json');
  const plat = platformSuffix();
  const needed = [
    '@anthropic-ai/claude-code/bin/claude.exe',
    `@anthropic-ai/claude-code-${plat}`,
    '@google/gemini-cli/bundle/gemini.js',
    `@openai/codex-${plat}/vendor`,
    'opencode-ai/bin/opencode.exe',
  ];
  const complete = () => needed.every((p) => fs.existsSync(path.join(dir, 'node_modules', p)));
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === pkg && complete()) {
    log(`agent CLIs already installed in ${dir}`);
    return dir;
  }
  fs.mkdirSync(dir, { recursive: true });
  fs.rmSync(stamp, { force: true });
  fs.writeFileSync(path.join(dir, 'package.json'), pkg);
  const lock = path.join(agentsImageDir(), 'package-lock.json');
  if (fs.existsSync(lock)) fs.copyFileSync(lock, path.join(dir, 'package-lock.json'));
  log(`npm install of the agent CLIs into ${dir}`);
  // install scripts stay on: claude-code and opencode-ai copy their native binary into place in them
  await runStreaming('npm', ['install', '--no-audit', '--no-fund', '--omit=dev', '--include=optional'], { cwd: dir, log });
  if (!complete()) {
    const missing = needed.filter((p) => !fs.existsSync(path.join(dir, 'node_modules', p)));
    throw new Error(`npm install left out ${missing.join(', ')} (optional platform packages); rerun with a registry that has them`);
  }
  // opencode's postinstall copied the binary of opencode-<plat> into opencode-ai/bin; the
  // "baseline" builds (for CPUs without AVX2) are a second ~180 MB copy the image does not need
  // when the copied binary runs here.
  for (const name of fs.readdirSync(path.join(dir, 'node_modules'))) {
    if (name.startsWith(`opencode-${plat}-baseline`)) {
      fs.rmSync(path.join(dir, 'node_modules', name), { recursive: true, force: true });
    }
  }
  fs.writeFileSync(stamp, pkg);
  return dir;
}

/**
 * Builds `agentvisor/agents:latest` if the engine does not have it: the pinned CLIs are
 * npm-installed on the host into ${AGENTVISOR_HOME:-~/.agentvisor}/cache/agents (the only step
 * that needs a registry, and only the npm one), then images/agents/offline.Dockerfile (FROM the
 * base image, COPY node_modules) is built there with the legacy builder. (images/agents/Dockerfile
 * is the equivalent for users with a registry: FROM node, npm ci inside the build.) Builds the base image first if
 * it is missing.
 */
export async function ensureAgentsImage(
  docker: Docker,
  log: BuildLog = noop,
  opts: { image?: string; force?: boolean; cacheDir?: string } = {},
): Promise<'present' | 'built'> {
  const image = opts.image ?? AGENTS_IMAGE;
  if (!opts.force && (await imageExists(docker, image))) return 'present';
  await ensureImages({ docker, images: [BASE_IMAGE], log });
  const dir = opts.cacheDir ?? agentsCacheDir(defaultDataDir());
  await installAgentClis(dir, log);
  fs.copyFileSync(path.join(agentsImageDir(), 'offline.Dockerfile'), path.join(dir, 'Dockerfile'));
  fs.writeFileSync(path.join(dir, '.dockerignore'), '.installed-package.json\n');
  log(`building ${image} from ${path.join(agentsImageDir(), 'offline.Dockerfile')}`);
  // the docker CLI's legacy builder keeps node_modules' hard links (claude's binary is one, 240 MB)
  await runStreaming('docker', ['build', '-t', image, '.'], {
    cwd: dir,
    env: { ...dockerCliEnv(docker), DOCKER_BUILDKIT: '0' },
    log,
  });
  if (!(await imageExists(docker, image))) {
    throw new Error(`docker build reported success but ${image} is not in the engine`);
  }
  return 'built';
}
