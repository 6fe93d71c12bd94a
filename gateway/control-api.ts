// The control side, /_agentvisor/...: health (open); usage, elsewhere, admissions and tasks (with
// the control token), for the worker. On a listener of its own when the config has `control` (server.ts), which agents cannot
// reach.
import type * as http from 'node:http';
import * as os from 'node:os';
import type { GatewayConfig } from './config';
import { sendError } from './http';
import type { Admissions } from './admissions';
import type { Ledger } from './ledger';
import type { TaskAdderAnswer } from './added-tasks';
import { safeEqual } from './tokens';

/** The header of the run's control token (the worker's calls: activities/gateway-control.ts). */
export const CONTROL_HEADER = 'x-agentvisor-control-token';

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

/** The longest a look at the pending admissions waits for news: under the relay's own request timeout. */
export const ADMISSIONS_LOOK_MAX_MS = 25_000;

export function createControlApi(deps: {
  cfg: GatewayConfig;
  ledger: Ledger;
  admissions?: Admissions;
  /** a task added to the run: its entry (added-tasks.ts) */
  addTask: (entry: unknown) => TaskAdderAnswer;
  say: (line: string) => void;
}): ControlApi {
  const { cfg, ledger, admissions, addTask, say } = deps;

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
    if (
      pathname === '/_agentvisor/usage' ||
      pathname === '/_agentvisor/elsewhere' ||
      pathname === '/_agentvisor/admissions' ||
      pathname === '/_agentvisor/tasks'
    ) {
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
      if (pathname === '/_agentvisor/admissions') return admissionsRoute(req, res, json);
      if (pathname === '/_agentvisor/tasks') return tasksRoute(req, res, json);
      if (req.method !== 'GET') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: GET only');
      return json(200, { mode: cfg.mode, ...ledger.report() });
    }
    sendError(res, 'control', 404, 'not_found', `agentvisor gateway: no such control route ${pathname}`);
  }

  /** A small JSON object body, handed to `then`; anything else is answered 400. */
  function readJson(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    expected: string,
    then: (v: Record<string, unknown>) => void,
  ): void {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d.length + body.length > 65_536 ? '' : d));
    req.on('end', () => {
      let v: unknown;
      try {
        v = JSON.parse(body);
      } catch {
        v = undefined;
      }
      if (typeof v !== 'object' || v === null || Array.isArray(v))
        return sendError(res, 'control', 400, 'invalid_request_error', `agentvisor gateway: expected JSON ${expected}`);
      then(v as Record<string, unknown>);
    });
  }

  /** POST { tokenSha256, taskId, credentials, allowHosts, budget }: a task added to the run (added-tasks.ts). */
  function tasksRoute(req: http.IncomingMessage, res: http.ServerResponse, json: (status: number, v: unknown) => void): void {
    if (req.method !== 'POST') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: POST only');
    readJson(req, res, '{ tokenSha256, taskId, credentials, allowHosts, budget }', (entry) => {
      const answer = addTask(entry);
      if (answer.status === 200) {
        say(`agentvisor gateway: task=${answer.body.taskId} ${answer.body.added ? 'added to the run' : 'known already'}`);
        return json(200, answer.body);
      }
      sendError(res, 'control', answer.status, 'invalid_request_error', answer.body.error ?? 'agentvisor gateway: refused');
    });
  }

  /** POST { usd, totalTokens }: what the run's gateways on other hosts have spent (a run with a remote). */
  function elsewhere(req: http.IncomingMessage, res: http.ServerResponse, json: (status: number, v: unknown) => void): void {
    if (req.method !== 'POST') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: POST only');
    readJson(req, res, '{ usd, totalTokens }', (spend) => {
      if (!isSpend(spend))
        return sendError(res, 'control', 400, 'invalid_request_error', 'agentvisor gateway: usd and totalTokens must be numbers ≥ 0');
      ledger.setElsewhere({ usd: spend.usd, totalTokens: spend.totalTokens });
      json(200, ledger.report().run);
    });
  }

  /**
   * The run's admission of calls near its budget (admissions.ts), for the worker's relay.
   * GET ?seen=N[&waitMs=M]: the pending calls and this gateway's own spend, once anything changed
   * since look N (long-polled). POST { granted: [id], refused: [id], elsewhere: { usd, totalTokens } }:
   * the run's answer, with what the other hosts have spent as the run recorded it (told first, so
   * a refused call's answer says the run's total).
   */
  function admissionsRoute(req: http.IncomingMessage, res: http.ServerResponse, json: (status: number, v: unknown) => void): void {
    if (!admissions || !cfg.runAdmission)
      return sendError(
        res,
        'control',
        404,
        'not_found',
        'agentvisor gateway: this gateway admits its calls itself (no runAdmission in the config)',
      );
    if (req.method === 'GET') {
      const query = new URLSearchParams((req.url ?? '').split('?')[1] ?? '');
      const seen = Number(query.get('seen') ?? 0);
      const waitMs = Math.min(Number(query.get('waitMs') ?? ADMISSIONS_LOOK_MAX_MS), ADMISSIONS_LOOK_MAX_MS);
      if (!Number.isInteger(seen) || !Number.isFinite(waitMs) || waitMs < 0)
        return sendError(res, 'control', 400, 'invalid_request_error', 'agentvisor gateway: seen and waitMs must be whole numbers ≥ 0');
      void admissions.look(seen, waitMs).then((look) => {
        if (res.destroyed) return;
        const share = ledger.runShare();
        const own = ledger.report().run;
        json(200, { ...look, asking: share >= cfg.runAdmission!.from, spend: { usd: own.usd, totalTokens: own.totalTokens } });
      });
      return;
    }
    if (req.method !== 'POST') return sendError(res, 'control', 405, 'method_not_allowed', 'agentvisor gateway: GET or POST only');
    readJson(req, res, '{ granted, refused, elsewhere }', (a) => {
      const ids = (v: unknown): v is number[] => Array.isArray(v) && v.every((n) => Number.isInteger(n));
      if (!ids(a.granted) || !ids(a.refused) || !isSpend(a.elsewhere))
        return sendError(
          res,
          'control',
          400,
          'invalid_request_error',
          'agentvisor gateway: granted and refused must be lists of call ids, elsewhere { usd, totalTokens } numbers ≥ 0',
        );
      ledger.setElsewhere({ usd: a.elsewhere.usd, totalTokens: a.elsewhere.totalTokens });
      admissions.answer(a.granted, a.refused);
      json(200, { granted: a.granted.length, refused: a.refused.length });
    });
  }

  return { serve: control };
}

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isSpend = (v: unknown): v is { usd: number; totalTokens: number } =>
  typeof v === 'object' && v !== null && isCount((v as { usd?: unknown }).usd) && isCount((v as { totalTokens?: unknown }).totalTokens);
