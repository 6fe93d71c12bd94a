// Are these images on the Docker engine? One `GET /images/<name>/json` each over the engine's unix
// socket with node:http, so `agentvisor run` does not load dockerode (and ssh2, its protobufs...)
// when all is well: that load was about a fifth of the CLI's start-up (BENCHMARKS.md). Anything
// this cannot answer (another DOCKER_HOST, an engine that is down, a missing image) goes to the
// full check in preflight.ts, which words the error, builds or pulls.
import { request } from 'node:http';

/** The engine's unix socket, as dockerode finds it; undefined for a TCP/SSH DOCKER_HOST. */
export function dockerSocketPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const host = env.DOCKER_HOST;
  if (!host) return '/var/run/docker.sock';
  return host.startsWith('unix://') ? host.slice('unix://'.length) : undefined;
}

/** true: present; false: the engine says no such image; undefined: no answer (ask dockerode). */
export function imagePresent(socketPath: string, image: string, timeoutMs = 5000): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    const req = request({ socketPath, method: 'GET', path: `/images/${encodeURI(image)}/json`, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? true : res.statusCode === 404 ? false : undefined);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
    req.end();
  });
}

/** True only when the engine answered that every image is present. */
export async function allImagesPresent(images: string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const socket = dockerSocketPath(env);
  if (!socket) return false;
  const answers = await Promise.all(images.map((image) => imagePresent(socket, image)));
  return answers.every((a) => a === true);
}
