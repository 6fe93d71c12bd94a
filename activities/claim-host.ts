// claimHost: the step by which work placed on a queue several hosts serve learns its host
// (workflows/hosts.ts).
import * as os from 'node:os';
import { hostQueue } from '../contract/queues';

export function claimHostActivities(deps: { host?: string }) {
  return {
    /**
     * The first step of work placed on a queue several hosts serve (labels, or any host): whichever
     * host's worker takes it answers with its own queue, and the rest of the work goes there.
     */
    async claimHost(): Promise<{ host: string; queue?: string }> {
      return deps.host ? { host: deps.host, queue: hostQueue(deps.host) } : { host: os.hostname() };
    },
  };
}
