// The egress allowlist: a forward proxy for HTTPS (CONNECT host:port) and plain HTTP (absolute-URI
// requests), authenticated with the task's token in Proxy-Authorization. A host not on the task's
// allowHosts is refused: default deny.
// CONNECT is not something http-proxy-3 does: that part is a plain TCP splice (net.connect + pipe)
// after the allowlist check, which is all a CONNECT tunnel is.
import type * as http from 'node:http';
import * as net from 'node:net';
import type { ProxyServer } from 'http-proxy-3';
import type { TaskConfig } from './config';
import { stripHopByHop } from './hop-by-hop';
import type { UpstreamAgents } from './http';

/** `host[:port]` or `[v6][:port]` → parts; undefined if it is not one. */
export function parseAuthority(authority: string, defaultPort: number): { host: string; port: number } | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s/@]+)(?::(\d{1,5}))?$/.exec(authority);
  if (!m) return undefined;
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].toLowerCase().replace(/\.$/, ''), port };
}

/** Whether a task's allowlist lets it reach host:port. Entries: `host`, `*.suffix`, either with `:port`. */
export function hostAllowed(patterns: string[], host: string, port: number): boolean {
  const h = host.toLowerCase().replace(/\.$/, '');
  for (const p of patterns) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(p);
    if (!m) continue;
    const [, name, portPart] = m;
    if (portPart !== undefined && Number(portPart) !== port) continue;
    if (name.startsWith('*.')) {
      const suffix = name.slice(1); // ".example.com": subdomains only, not the apex
      if (h.endsWith(suffix) && h.length > suffix.length) return true;
    } else if (h === name) return true;
  }
  return false;
}

/** The token of a proxy request: `Proxy-Authorization: Basic base64(token:)` (or `:token`), or Bearer. */
function proxyToken(req: http.IncomingMessage): string | undefined {
  const h = req.headers['proxy-authorization'];
  if (typeof h !== 'string') return undefined;
  const basic = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(h);
  if (basic) {
    const text = Buffer.from(basic[1], 'base64').toString('utf8');
    const colon = text.indexOf(':');
    const decode = (x: string) => {
      try {
        return decodeURIComponent(x);
      } catch {
        return x;
      }
    };
    const user = decode(colon < 0 ? text : text.slice(0, colon));
    const pass = colon < 0 ? '' : decode(text.slice(colon + 1));
    return user || pass || undefined;
  }
  const bearer = /^Bearer\s+(\S+)\s*$/i.exec(h);
  return bearer ? bearer[1] : undefined;
}

export interface EgressProxy {
  /** The server's 'connect' event: a CONNECT tunnel. */
  onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void;
  /** An absolute-URI request to another host, forwarded as plain HTTP. */
  forwardHttp(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void;
}

export function createEgressProxy(deps: {
  proxy: ProxyServer;
  agents: UpstreamAgents;
  taskOf: (token: string | undefined) => TaskConfig | undefined;
  say: (line: string) => void;
}): EgressProxy {
  const { proxy, agents, taskOf, say } = deps;

  function egressRefusal(
    req: http.IncomingMessage,
    host: string,
    port: number,
  ): { status: number; message: string; task?: TaskConfig } | { task: TaskConfig } {
    const token = proxyToken(req);
    const task = taskOf(token);
    if (!task) {
      return {
        status: 407,
        message: `agentvisor gateway: proxy authentication required: ${token ? 'unknown task token' : 'no task token given'} (HTTPS_PROXY=http://<task token>@<gateway>:<port>)`,
      };
    }
    if (!hostAllowed(task.allowHosts, host, port)) {
      return { status: 403, task, message: `agentvisor gateway: host ${host} is not on the allowlist of task ${task.taskId}` };
    }
    return { task };
  }

  function onConnect(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => undefined);
    const reply = (status: number, reason: string, message: string, extra = '') => {
      const body = message + '\n';
      socket.end(
        `HTTP/1.1 ${status} ${reason}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
          `x-agentvisor-error: ${message.replace(/[\r\n]/g, ' ')}\r\nconnection: close\r\n${extra}\r\n${body}`,
      );
    };
    const target = parseAuthority(req.url ?? '', 443);
    if (!target) {
      say(`agentvisor gateway: task=- CONNECT status=400 bad target`);
      return reply(400, 'Bad Request', 'agentvisor gateway: CONNECT needs host:port');
    }
    const verdict = egressRefusal(req, target.host, target.port);
    if ('status' in verdict) {
      say(`agentvisor gateway: task=${verdict.task?.taskId ?? '-'} CONNECT ${target.host}:${target.port} status=${verdict.status} refused`);
      return reply(
        verdict.status,
        verdict.status === 407 ? 'Proxy Authentication Required' : 'Forbidden',
        verdict.message,
        verdict.status === 407 ? 'proxy-authenticate: Basic realm="agentvisor"\r\n' : '',
      );
    }
    const started = Date.now();
    const upstream = net.connect(target.port, target.host.replace(/^\[|\]$/g, ''));
    let open = false;
    upstream.once('connect', () => {
      open = true;
      say(`agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} status=200 tunnel open`);
      socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) upstream.write(head);
      upstream.pipe(socket);
      socket.pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (!open) {
        say(`agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} status=502 ${err.code ?? err.message}`);
        reply(502, 'Bad Gateway', `agentvisor gateway: cannot reach ${target.host}:${target.port} (${err.code ?? err.message})`);
      } else socket.destroy();
    });
    upstream.on('close', () => {
      if (open) socket.end();
    });
    socket.on('close', () => {
      upstream.destroy();
      if (open)
        say(
          `agentvisor gateway: task=${verdict.task.taskId} CONNECT ${target.host}:${target.port} tunnel closed ms=${Date.now() - started}`,
        );
    });
  }

  function forwardHttp(req: http.IncomingMessage, res: http.ServerResponse, url: URL): void {
    const port = url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
    const host = url.hostname.toLowerCase();
    const method = req.method ?? 'GET';
    const verdict = egressRefusal(req, host, port);
    if ('status' in verdict) {
      say(`agentvisor gateway: task=${verdict.task?.taskId ?? '-'} ${method} http://${host}:${port} status=${verdict.status} refused`);
      const body = verdict.message + '\n';
      res.writeHead(verdict.status, {
        'content-type': 'text/plain; charset=utf-8',
        'content-length': Buffer.byteLength(body),
        'x-agentvisor-error': verdict.message,
        ...(verdict.status === 407 ? { 'proxy-authenticate': 'Basic realm="agentvisor"' } : {}),
      });
      res.end(body);
      return;
    }
    stripHopByHop(req.headers);
    delete req.headers['proxy-authorization'];
    const started = Date.now();
    res.on('finish', () =>
      say(
        `agentvisor gateway: task=${verdict.task.taskId} ${method} ${url.protocol}//${host}:${port}${url.pathname} status=${res.statusCode} proxied ms=${Date.now() - started}`,
      ),
    );
    proxy.web(
      req,
      res,
      { target: url, ignorePath: true, changeOrigin: true, agent: url.protocol === 'https:' ? agents.https : agents.http },
      (err) => {
        const e = err as NodeJS.ErrnoException;
        if (res.headersSent) return void res.destroy();
        const body = `agentvisor gateway: cannot reach ${host}:${port} (${e.code ?? e.message})\n`;
        res.writeHead(502, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      },
    );
  }

  return { onConnect, forwardHttp };
}
