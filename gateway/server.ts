// The gateway server: three jobs, a file each, wired here to their ports.
//
//   /<provider>/<path>     model routes (model-routes.ts): the task's token in, the real credential
//                          out; metered, budgeted, recorded or replayed
//   CONNECT host:port,     the egress allowlist (egress-proxy.ts): a forward proxy for HTTPS
//   GET http://host/...    (CONNECT) and plain HTTP (absolute-URI requests), authenticated with
//                          Proxy-Authorization
//   /_agentvisor/...       the control side (control-api.ts): health, and usage, elsewhere,
//                          admissions and tasks (with the control token; tasks: added-tasks.ts)
//
// Without `control` in the config, all three are on the one `listen` port. With it, the control
// side has a listener of its own (agentvisor binds it to the address the worker reaches, which
// agents cannot) and the `listen` port, the agents' one, serves no control route at all.
//
// Libraries: model calls go upstream through undici (nodejs/undici, the HTTP/1.1 client that Node's
// own fetch is built on; its pool costs far less CPU per call than node:http's client), and
// model-routes.ts streams each answer on itself: hop-by-hop headers (hop-by-hop.ts), piping,
// aborts both ways. Plain-HTTP egress goes through http-proxy-3 (sagemathinc/http-proxy-3: the
// maintained TypeScript rewrite of node-http-proxy, bundles cleanly, supports Node 20 in its 1.x
// line) with its own pair of keep-alive agents.
import * as http from 'node:http';
import * as https from 'node:https';
import type * as net from 'node:net';
import { createProxyServer } from 'http-proxy-3';
import type { GatewayConfig } from './config';
import { controlHost, createControlApi } from './control-api';
import { createEgressProxy } from './egress-proxy';
import { KEEP_ALIVE_MS, sendError } from './http';
import { clientConnectionHeaders } from './hop-by-hop';
import { Admissions } from './admissions';
import { Ledger } from './ledger';
import { createModelRoutes } from './model-routes';
import { TaskTable } from './tokens';
import { createTaskAdder } from './added-tasks';

export interface GatewayOptions {
  /** One line per request; default: stdout. Lines never hold a token or a credential. */
  log?: (line: string) => void;
}

export interface Gateway {
  server: http.Server;
  /** the control side's own server, when the config gives it a listener */
  controlServer?: http.Server;
  ledger: Ledger;
  /** Starts listening (and the control listener); resolves to the bound address (port 0 picks a free port). */
  listen(): Promise<net.AddressInfo>;
  /** where the control listener is bound, once listening */
  controlAddress(): net.AddressInfo | undefined;
  close(): Promise<void>;
}

export function createGateway(cfg: GatewayConfig, opts: GatewayOptions = {}): Gateway {
  const log = opts.log ?? ((line: string) => process.stdout.write(line + '\n'));
  const secrets = cfg.secrets;
  const say = (line: string) => {
    // Belt and braces: nothing we log should hold a secret, but if one slipped in, it goes no further.
    let l = line;
    for (const s of secrets) if (l.includes(s)) l = l.split(s).join('REDACTED');
    log(l);
  };
  const tasks = new TaskTable(cfg.tasks);
  const taskOf = (token: string | undefined) => tasks.find(token);

  const ledger = new Ledger(cfg.prices, new Map([...cfg.tasks.values()].map((t) => [t.taskId, t.budget])), cfg.runBudget);
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  const proxy = createProxyServer({ xfwd: false, proxyTimeout: 10 * 60_000 });
  // Every proxy.web call has its own error callback; this only keeps a stray event from throwing.
  proxy.on('error', (err) => say(`agentvisor gateway: proxy error: ${(err as Error).message}`));
  // Plain-HTTP egress answers: the upstream's hop-by-hop headers stay with the upstream (its
  // Keep-Alive timeout is not ours); Connection and Keep-Alive describe the client's connection.
  proxy.on('proxyRes', (proxyRes, _req, res) => clientConnectionHeaders(proxyRes.headers, res as http.ServerResponse));

  // only a host's gateway of a run on several hosts with a budget: no other gateway does any work for it
  const admissions = cfg.runAdmission ? new Admissions(cfg.runAdmission.waitMs) : undefined;
  const modelRoutes = createModelRoutes({ cfg, ledger, admissions, taskOf, say }); // loads the cassettes
  const egressProxy = createEgressProxy({ proxy, agents, taskOf, say });
  const addTask = createTaskAdder({ cfg, table: tasks, ledger, loadCassette: (taskId) => modelRoutes.addTask(taskId) });
  const controlApi = createControlApi({ cfg, ledger, admissions, addTask, say });

  // ---------- dispatch ----------
  const server = http.createServer((req, res) => {
    const raw = req.url ?? '/';
    const fail = (err: unknown) => {
      say(`agentvisor gateway: internal error on ${req.method} ${raw.split('?')[0]}: ${(err as Error).message}`);
      sendError(res, 'control', 500, 'internal_error', 'agentvisor gateway: internal error');
    };
    try {
      let pathAndQuery = raw;
      if (/^https?:\/\//i.test(raw)) {
        const url = new URL(raw);
        // An agent whose HTTP_PROXY also covers the gateway's own base URL sends its model calls as
        // absolute URIs to us: serve those here rather than as egress.
        const local = server.address();
        const selfPort = typeof local === 'object' && local ? local.port : -1;
        const first = url.pathname.split('/')[1] ?? '';
        if (Number(url.port || 80) === selfPort && (cfg.providers.has(first) || (!cfg.control && first === '_agentvisor')))
          pathAndQuery = url.pathname + url.search;
        else return egressProxy.forwardHttp(req, res, url);
      }
      const q = pathAndQuery.indexOf('?');
      const pathname = q < 0 ? pathAndQuery : pathAndQuery.slice(0, q);
      const query = new URLSearchParams(q < 0 ? '' : pathAndQuery.slice(q + 1));
      if (pathname.startsWith('/_agentvisor/')) {
        if (!cfg.control) return controlApi.serve(req, res, pathname);
        say(
          `agentvisor gateway: ${req.method} ${pathname} status=404 refused: no control route on this port from=${req.socket.remoteAddress ?? '-'}`,
        );
        return sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no route ${pathname}`);
      }
      const m = /^\/([^/]+)(\/.*)?$/.exec(pathname);
      const provider = m ? cfg.providers.get(m[1]) : undefined;
      if (!provider) {
        return sendError(
          res,
          'control',
          404,
          'not_found',
          `agentvisor gateway: no route ${pathname}; model routes are /<provider>/... for providers ${[...cfg.providers.keys()].join(', ')}`,
        );
      }
      modelRoutes.serve(req, res, provider, m![2] ?? '/', query).catch(fail);
    } catch (err) {
      fail(err);
    }
  });
  server.on('connect', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    try {
      egressProxy.onConnect(req, socket, head);
    } catch (err) {
      say(`agentvisor gateway: internal error on CONNECT: ${(err as Error).message}`);
      socket.destroy();
    }
  });
  server.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  // Long model calls: no request-wide timeout (the upstream socket has proxyTimeout).
  server.requestTimeout = 0;
  server.keepAliveTimeout = KEEP_ALIVE_MS;

  // the control side's own listener: control routes only
  const controlServer = cfg.control
    ? http.createServer((req, res) => {
        try {
          const pathname = new URL(req.url ?? '/', 'http://x').pathname;
          if (pathname.startsWith('/_agentvisor/')) return controlApi.serve(req, res, pathname);
          sendError(res, 'control', 404, 'not_found', `agentvisor gateway: the control port serves /_agentvisor/... only`);
        } catch {
          sendError(res, 'control', 400, 'invalid_request', 'agentvisor gateway: bad request');
        }
      })
    : undefined;
  controlServer?.on('clientError', (_err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
  });
  const listenOn = (srv: http.Server, port: number, host: string) =>
    new Promise<net.AddressInfo>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(port, host, () => {
        srv.off('error', reject);
        resolve(srv.address() as net.AddressInfo);
      });
    });

  return {
    server,
    controlServer,
    ledger,
    listen: async () => {
      const addr = await listenOn(server, cfg.listen.port, cfg.listen.host);
      if (controlServer && cfg.control) {
        try {
          await listenOn(controlServer, cfg.control.port, controlHost(cfg.control));
        } catch (err) {
          server.close();
          throw new Error(`control listener: ${(err as Error).message}`);
        }
      }
      return addr;
    },
    controlAddress: () => (controlServer?.address() as net.AddressInfo | null) ?? undefined,
    close: () =>
      new Promise((resolve) => {
        let open = controlServer?.listening ? 2 : 1;
        const done = () => --open === 0 && resolve();
        server.close(done);
        server.closeAllConnections();
        if (controlServer?.listening) {
          controlServer.close(done);
          controlServer.closeAllConnections();
        }
        agents.http.destroy();
        agents.https.destroy();
        proxy.close();
        void modelRoutes.close();
      }),
  };
}
