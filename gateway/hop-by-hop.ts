// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy never passes them
// on, in either direction. Besides the fixed list, every header that `Connection` names is one.
// A forwarded `Keep-Alive: timeout=…` in particular would promise the client the upstream's idle
// timeout, not ours.
import type * as http from 'node:http';
import { KEEP_ALIVE_MS } from './http';

export const HOP_BY_HOP_HEADERS = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];

/** Removes the hop-by-hop headers from a parsed header object (lower-case names, as Node gives them). */
export function stripHopByHop(headers: http.IncomingHttpHeaders): void {
  const named = headers.connection;
  for (const value of Array.isArray(named) ? named : named ? [named] : []) {
    for (const name of value.split(',')) {
      const n = name.trim().toLowerCase();
      if (n) delete headers[n];
    }
  }
  for (const h of HOP_BY_HOP_HEADERS) delete headers[h];
}

/**
 * Makes an upstream answer's headers fit the client's connection: the upstream's hop-by-hop
 * headers removed, then Connection as Node decided from the client's request and, on a kept
 * connection, the idle timeout the gateway keeps (KEEP_ALIVE_MS).
 */
export function clientConnectionHeaders(headers: http.IncomingHttpHeaders, res: http.ServerResponse): void {
  stripHopByHop(headers);
  if (!res.shouldKeepAlive) headers.connection = 'close';
  else {
    headers.connection = 'keep-alive';
    headers['keep-alive'] = `timeout=${Math.floor(KEEP_ALIVE_MS / 1000)}`;
  }
}
