// The worker's side of a gateway's control API (gateway/control-api.ts): usage, what the other
// hosts spent, the admissions near the run's budget, added tasks. Every call carries the run's
// control token and has a deadline, so a gateway that stopped answering never holds an activity.
import { CONTROL_HEADER } from '../gateway/control-api';

/** A control route of the gateway at `controlUrl`: GET, or POST of `json`. */
export function controlCall(
  target: { controlUrl: string; controlToken: string },
  route: string,
  opts: { json?: unknown; timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Response> {
  const deadline = AbortSignal.timeout(opts.timeoutMs ?? 10_000);
  return fetch(`${target.controlUrl}${route}`, {
    method: opts.json === undefined ? 'GET' : 'POST',
    headers: {
      [CONTROL_HEADER]: target.controlToken,
      ...(opts.json === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(opts.json === undefined ? {} : { body: JSON.stringify(opts.json) }),
    signal: opts.signal ? AbortSignal.any([opts.signal, deadline]) : deadline,
  });
}
