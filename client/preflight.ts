// Checks that need the host: the repository, the base branch, a dirty tree, credentials and images.
// They run before anything is created, so bad input leaves no branch, worktree or container behind.
import { existsSync, accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import * as path from 'node:path';
import { loadCassette } from '../gateway/cassette';
import type Docker from 'dockerode';
import { simpleGit } from 'simple-git';
import { HARNESSES } from '../harnesses';
import { AGENTS_IMAGE, BASE_IMAGE } from '../images/constants';
import type { Problem } from '../graph/problems';
import type { GraphSpec } from '../graph/types';
import { integrationBranch } from '../contract/run-types';

export async function checkRepository(graph: GraphSpec, runId?: string): Promise<Problem[]> {
  if (!existsSync(graph.repo) || !statSync(graph.repo).isDirectory()) {
    return [{ path: 'repo', message: `repository not found: ${graph.repo}` }];
  }
  const git = simpleGit({ baseDir: graph.repo, config: ['safe.directory=*'] });
  // two git processes at once, a third only when the base branch is checked out: each costs the
  // CLI a fork (BENCHMARKS.md), and these checks are on every run's start
  const branches = [`refs/heads/${graph.baseBranch}`, ...(runId ? [`refs/heads/${integrationBranch(runId)}`] : [])];
  const [top, refs] = await Promise.all([
    git.raw(['rev-parse', '--show-toplevel']).catch(() => undefined),
    git.raw(['for-each-ref', '--format=%(HEAD) %(objecttype) %(refname)', ...branches]).catch(() => ''),
  ]);
  if (!top?.trim()) return [{ path: 'repo', message: `not a git repository (or it has no work tree): ${graph.repo}` }];
  // `<* if checked out> <type> <ref>`; for-each-ref also lists refs below a name, so match exactly
  const found = new Map(
    refs
      .split('\n')
      .filter(Boolean)
      .map((l) => [l.slice(2).split(' ')[1], { head: l[0] === '*', type: l.slice(2).split(' ')[0] }]),
  );

  const problems: Problem[] = [];
  const base = found.get(branches[0]);
  if (base?.type !== 'commit') {
    problems.push({ path: 'baseBranch', message: `base branch "${graph.baseBranch}" does not exist in ${graph.repo}` });
  }
  // Agents start from the base branch's last commit; uncommitted edits on it would silently be left out.
  if (base?.head) {
    // trimEnd only: each porcelain line starts with a two-column status (" M file") that trim() would cut
    const dirty = (await git.raw(['status', '--porcelain', '--untracked-files=no'])).trimEnd();
    if (dirty) {
      const files = dirty
        .split('\n')
        .map((l) => l.slice(3))
        .slice(0, 5)
        .join(', ');
      problems.push({
        path: 'repo',
        message: `working tree of ${graph.repo} has uncommitted changes on the base branch "${graph.baseBranch}" (${files}); commit or stash them: agents start from the last commit`,
      });
    }
  }
  if (runId) {
    const exists = found.has(branches[1]);
    if (exists) problems.push({ message: `run id "${runId}" was used before: branch ${integrationBranch(runId)} exists` });
  }
  return problems;
}

/** Credentials are checked for presence only; their values are read by the gateway, never here. */
export function checkAgents(graph: GraphSpec, env: NodeJS.ProcessEnv = process.env): Problem[] {
  const problems: Problem[] = [];
  for (const agent of Object.values(graph.agents)) {
    if (!HARNESSES[agent.harness]) {
      problems.push({
        path: `agents.${agent.name}.harness`,
        message: `harness "${agent.harness}" of agent "${agent.name}" is not available in this version (available: ${Object.keys(HARNESSES).join(', ')})`,
      });
    }
    const needs = HARNESSES[agent.harness]?.provider?.(agent);
    const replaying = graph.gateway?.mode === 'replay';
    if (needs && !agent.credentials[needs] && !replaying) {
      problems.push({
        path: `agents.${agent.name}`,
        message: `missing credential: agent "${agent.name}" (${agent.harness}) calls ${needs}; add credentials: { ${needs}: env:VARIABLE } (the gateway holds it, the agent never sees it)`,
      });
    }
    for (const [provider, ref] of Object.entries(agent.credentials)) {
      const where = `agents.${agent.name}.credentials.${provider}`;
      // with a remote, each host's worker resolves the reference where it runs: this machine need not hold it
      if (graph.remote) continue;
      // a Kubernetes Secret (secret:NAME/KEY): the worker's gateway pod reads it; this machine cannot
      if (ref.startsWith('secret:')) continue;
      if (ref.startsWith('env:')) {
        const name = ref.slice(4);
        if (!env[name]) problems.push({ path: where, message: `missing credential: environment variable ${name} is not set` });
      } else {
        const file = ref.slice(5);
        try {
          accessSync(file, constants.R_OK);
        } catch {
          problems.push({ path: where, message: `missing credential: file ${file} is not readable` });
        }
      }
    }
    problems.push(...checkHomeFiles(graph, agent, env));
  }
  return problems;
}

/**
 * An agent's `home` files: none where its harness writes its own (settings, instructions), and none
 * holding the value of a credential of the graph (those stay with the gateway).
 */
function checkHomeFiles(graph: GraphSpec, agent: GraphSpec['agents'][string], env: NodeJS.ProcessEnv): Problem[] {
  const files = agent.home ?? [];
  const harness = HARNESSES[agent.harness];
  if (!files.length || !harness || !graph.tasks.length) return [];
  const problems: Problem[] = [];
  const invocation = harness.build({
    graphName: graph.name,
    agent,
    task: { ...graph.tasks[0], agent: agent.name },
    gateway: { url: 'http://gateway', token: 'token' },
  });
  const own = new Set((invocation.files ?? []).map((f) => f.path));
  const secrets = new Map<string, string>();
  for (const a of Object.values(graph.agents)) {
    for (const ref of Object.values(a.credentials)) {
      let value: string | undefined;
      try {
        value = ref.startsWith('env:') ? env[ref.slice(4)] : readFileSync(ref.slice(5), 'utf8').trim();
      } catch {
        value = undefined; // reported above as a missing credential
      }
      if (value && value.length >= 8) secrets.set(value, ref);
    }
  }
  for (const f of files) {
    const where = `agents.${agent.name}.home`;
    if (own.has(f.path)) {
      problems.push({
        path: where,
        message: `home file ${f.path} of agent "${agent.name}" is one the ${agent.harness} harness writes itself; choose another path`,
      });
    }
    for (const [value, ref] of secrets) {
      if (f.content.includes(value)) {
        problems.push({
          path: where,
          message: `home file ${f.path} of agent "${agent.name}" holds the value of credential ${ref}: credentials go in credentials: (the gateway holds them), never in HOME`,
        });
      }
    }
  }
  return problems;
}

/** Replay needs a cassette folder whose cassettes parse; checked before anything starts. */
export function checkGateway(graph: GraphSpec): Problem[] {
  const gw = graph.gateway;
  if (!gw || gw.mode === 'live') return [];
  if (!gw.cassettesDir) return [{ path: 'gateway.cassettes', message: `gateway mode ${gw.mode} needs a cassettes folder` }];
  if (gw.mode === 'record') return [];
  if (!existsSync(gw.cassettesDir)) return [{ path: 'gateway.cassettes', message: `cassette folder not found: ${gw.cassettesDir}` }];
  const problems: Problem[] = [];
  for (const file of readdirSync(gw.cassettesDir).filter((f) => /\.(ya?ml|json)$/.test(f))) {
    try {
      loadCassette(path.join(gw.cassettesDir, file));
    } catch (err) {
      problems.push({ path: 'gateway.cassettes', message: `malformed cassette ${file}: ${(err as Error).message}` });
    }
  }
  return problems;
}

export function imagesOf(graph: GraphSpec): string[] {
  const images = new Set<string>();
  for (const agent of Object.values(graph.agents)) {
    const harness = HARNESSES[agent.harness];
    images.add(agent.image ?? harness?.defaultImage ?? BASE_IMAGE);
  }
  if (graph.evaluate) images.add(graph.evaluate.image ?? BASE_IMAGE);
  return [...images];
}

/** Images must be on the engine, or pullable from a registry, before the run starts. */
export async function checkImages(docker: Docker, images: string[]): Promise<Problem[]> {
  try {
    await docker.ping();
  } catch (err) {
    return [{ message: `cannot reach the Docker engine (${(err as Error).message}); start dockerd or set DOCKER_HOST` }];
  }
  const problems: Problem[] = [];
  for (const image of images) {
    const present = await docker
      .getImage(image)
      .inspect()
      .then(
        () => true,
        () => false,
      );
    if (present) continue;
    if (image === AGENTS_IMAGE || image === BASE_IMAGE) {
      // agentvisor's own images are built here, never pulled (this may take a minute or two)
      const { buildBaseImage, ensureAgentsImage } = await import('../images/build');
      const log = (line: string) => process.stderr.write(`[images] ${line}\n`);
      try {
        if (image === BASE_IMAGE) await buildBaseImage({ docker, log });
        else await ensureAgentsImage(docker, log);
        continue;
      } catch (err) {
        problems.push({ message: `image ${image} is missing and could not be built: ${(err as Error).message}` });
        continue;
      }
    }
    const pulled = await pull(docker, image);
    if (!pulled) {
      const hint = image === BASE_IMAGE ? '; build it with `agentvisor images build`' : '';
      problems.push({ message: `image ${image} is not on the Docker engine and could not be pulled${hint}` });
    }
  }
  return problems;
}

async function pull(docker: Docker, image: string): Promise<boolean> {
  try {
    const stream = await docker.pull(image);
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())));
    return true;
  } catch {
    return false;
  }
}
