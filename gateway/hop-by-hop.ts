// Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection, so a proxy never passes them
// on, in either direction. Besides the fixed list, every header that `Connection` names is one.
// A forwarded `Keep-Alive: timeout=…` in particular would promise the client the upstream's idle
// timeout, not ours.
import type * as http from 'node:http';

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
