// A gate in front of the Docker engine's API, for the kill tests: the worker talks to the engine
// through it (DOCKER_HOST), and the gate holds the removal of a chosen container, so that the worker
// can be killed while it is inside the activity removing it. Everything else passes untouched.
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';

const ENGINE_SOCKET = '/var/run/docker.sock';

export interface DockerGate {
  /** for the worker's environment */
  dockerHost: string;
  /**
   * Holds the next removal of the container `name` that finds it there (a removal of a container not
   * yet created, as some activities do before creating one, passes). Resolves once one is held; the
   * held request is never forwarded, and ends with the worker's connection.
   */
  holdRemoval: (name: string) => Promise<void>;
  close: () => Promise<void>;
}

/** `DELETE /v1.xx/containers/NAME?...` → NAME */
function removedContainer(req: http.IncomingMessage): string | undefined {
  if (req.method !== 'DELETE') return undefined;
  const m = /^(?:\/v[\d.]+)?\/containers\/([^/?]+)(?:\?|$)/.exec(req.url ?? '');
  return m ? decodeURIComponent(m[1]) : undefined;
}

function containerExists(name: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    http
      .request({ socketPath: ENGINE_SOCKET, method: 'GET', path: `/containers/${encodeURIComponent(name)}/json` }, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      })
      .on('error', reject)
      .end();
  });
}

export async function dockerGate(dir: string): Promise<DockerGate> {
  const socket = path.join(dir, 'docker.sock');
  const armed = new Map<string, () => void>();
  const held = new Set<http.ServerResponse>();

  const forward = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const upstream = http.request({ socketPath: ENGINE_SOCKET, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    // a client gone (a killed worker) ends what it asked for, as a closed engine socket would
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  };

  const server = http.createServer(async (req, res) => {
    const name = removedContainer(req);
    const release = name !== undefined ? armed.get(name) : undefined;
    if (name !== undefined && release && (await containerExists(name))) {
      armed.delete(name);
      held.add(res);
      res.on('close', () => held.delete(res));
      release();
      return;
    }
    forward(req, res);
  });
  // (the engine's hijacked streams: attach and exec; agentvisor uses neither today)
  server.on('upgrade', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    const upstream = net.connect(ENGINE_SOCKET, () => {
      const lines = [`${req.method} ${req.url} HTTP/${req.httpVersion}`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      upstream.write(lines.join('\r\n') + '\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(socket, resolve));

  return {
    dockerHost: `unix://${socket}`,
    holdRemoval: (name) => new Promise<void>((resolve) => armed.set(name, resolve)),
    close: async () => {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
