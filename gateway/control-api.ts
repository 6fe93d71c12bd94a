// The control side, /_agentvisor/...: health (open) and usage (with the control token), for the
// worker. On a listener of its own when the config has `control` (server.ts), which agents cannot
// reach.
import type * as http from 'node:http';
import * as os from 'node:os';
import type { GatewayConfig } from './config';
import { sendError } from './http';
import type { Ledger } from './ledger';
import { safeEqual } from './tokens';

const CONTROL_HEADER = 'x-agentvisor-control-token';

/** The control listener's host: given, or the IPv4 address an interface has now; else loopback. */
export function controlHost(control: { host?: string; interface?: string }, interfaces = os.networkInterfaces()): string {
  if (control.host) return control.host;
  if (!control.interface) return '127.0.0.1';
  const found = (interfaces[control.interface] ?? []).find((a) => a.family === 'IPv4' && !a.internal);
  if (!found) throw new Error(`interface ${control.interface} has no IPv4 address (interfaces: ${Object.keys(interfaces).join(', ')})`);
  return found.address;
}

export interface ControlApi {
  serve(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void;
}

export function createControlApi(deps: { cfg: GatewayConfig; ledger: Ledger; say: (line: string) => void }): ControlApi {
  const { cfg, ledger, say } = deps;

  function control(req: http.IncomingMessage, res: http.ServerResponse, pathname: string): void {
    // a refused control call is worth a line: it is someone without the token, or an agent probing
    res.on('finish', () => {
      if (res.statusCode >= 400)
        say(`agentvisor gateway: control ${req.method} ${pathname} status=${res.statusCode} from=${req.socket.remoteAddress ?? '-'}`);
    });
    const json = (status: number, v: unknown) => {
      const body = JSON.stringify(v, null, 2) + '\n';
      res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (pathname === '/_agentvisor/health') return json(200, { ok: true, mode: cfg.mode });
    if (pathname === '/_agentvisor/usage' || pathname === '/_agentvisor/elsewhere') {
      if (!cfg.controlToken)
        return sendError(
          res,
          'control',
          403,
          'permission_error',
          'agentvisor gateway: the control API is off (no controlToken in the config)',
        );
      const given = req.headers[CONTROL_HEADER] ?? (req.headers.authorization ?? '').replace(/^Bearer\s+/i, '');
      if (typeof given !== 'string' || !given || !safeEqual(given, cfg.controlToken)) {
        return sendError(
          res,
          'control',
          401,
          'authentication_error',
          `agentvisor gateway: the usage API needs the control token in the ${CONTROL_HEADER} header`,
        );
      }
      if (pathname === '/_agentvisor/elsewhere') return elsewhere(req, res, json);
      if (req.method !== 'GET') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: GET only');
      return json(200, { mode: cfg.mode, ...ledger.report() });
    }
    sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no such control route ${pathname}`);
  }

  /** POST { usd, totalTokens }: what the run's gateways on other hosts have spent (a run with a remote). */
  function elsewhere(req: http.IncomingMessage, res: http.ServerResponse, json: (status: number, v: unknown) => void): void {
    if (req.method !== 'POST') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: POST only');
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d.length + body.length > 4096 ? '' : d));
    req.on('end', () => {
      let spend: { usd?: unknown; totalTokens?: unknown };
      try {
        spend = JSON.parse(body) as typeof spend;
      } catch {
        return sendError(res, 'control', 400, 'invalid_request_error', 'agentvisor gateway: expected JSON { usd, totalTokens }');
      }
      const ok = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
      if (!ok(spend.usd) || !ok(spend.totalTokens))
        return sendError(res, 'control', 400, 'invalid_request_error', 'agentvisor gateway: usd and totalTokens must be numbers ≥ 0');
      ledger.setElsewhere({ usd: spend.usd, totalTokens: spend.totalTokens });
      json(200, ledger.report().run);
    });
  }

  return { serve: control };
}
