// The relay between a host's gateway and the run, near the run's budget (gateway/admissions.ts,
// workflows/host-gateways.ts): one per run and host in this worker, however many of the run's
// agents run here; their activities share it, and it stops when the last of them ends.
//
// It long-polls the gateway's pending calls (GET /_agentvisor/admissions). Far from the budget the
// gateway admits its calls itself and the relay does nothing else. Near it, for the calls waiting
// (all at once) or for spend the run has not heard of, it asks the run by an Update with this
// gateway's spend so far, and posts the answer back, with what the other hosts have spent as the
// run recorded it. A run that cannot be reached leaves the calls waiting: the gateway refuses
// them after its own bounded wait.
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { elsewhereOf, type Spend } from '../contract/run-budget';
import { admitHostCallsUpdate } from '../workflows/messages';
import { controlCall } from './gateway-control';
/** A look waits at most 25 s for news at the gateway (control-api.ts): a little more, and it is given up. */
const LOOK_TIMEOUT_MS = 35_000;
/** After a failed look or ask: the next try. */
const RETRY_MS = 500;

interface Relay {
  users: number;
  stop: () => void;
}

const relays = new Map<string, Relay>();

/** This worker relays the run's admissions on this host (so its spend reaches the run already). */
export const relayRunning = (runId: string, host: string): boolean => relays.has(`${runId}@${host}`);

interface Target {
  runId: string;
  host: string;
  controlUrl: string;
  controlToken: string;
}

/** From inside an agent's activity: the run's relay on this host, started if none runs; the returned function leaves it. */
export function joinBudgetRelay(target: Target): () => void {
  const key = `${target.runId}@${target.host}`;
  let relay = relays.get(key);
  if (!relay) {
    const stopper = new AbortController();
    void relayLoop(Context.current().client, target, stopper.signal);
    relay = { users: 0, stop: () => stopper.abort() };
    relays.set(key, relay);
  }
  const joined = relay;
  joined.users++;
  let left = false;
  // the last to leave stops it: an ask under way ends by itself, with no call left to answer
  return () => {
    if (left) return;
    left = true;
    if (--joined.users > 0) return;
    if (relays.get(key) === joined) relays.delete(key);
    joined.stop();
  };
}

interface Look {
  changes: number;
  asking: boolean;
  pending: { id: number; taskId: string }[];
  spend: Spend;
}

async function relayLoop(client: Client, t: Target, stopped: AbortSignal): Promise<void> {
  const run = client.workflow.getHandle(t.runId);
  let seen = -1; // the first look answers at once
  let reported: Spend | undefined;
  while (!stopped.aborted) {
    try {
      const r = await controlCall(t, `/_agentvisor/admissions?seen=${seen}`, { timeoutMs: LOOK_TIMEOUT_MS, signal: stopped });
      if (r.status === 404) return; // a gateway that admits its calls itself (no budget)
      if (!r.ok) throw new Error(`the gateway's admissions answered ${r.status}`);
      const look = (await r.json()) as Look;
      seen = look.changes;
      if (!look.asking) continue;
      const news = !reported || reported.usd !== look.spend.usd || reported.totalTokens !== look.spend.totalTokens;
      if (look.pending.length === 0 && !news) continue;
      const answer = await run.executeUpdate(admitHostCallsUpdate, {
        args: [{ host: t.host, ...look.spend, calls: look.pending.length }],
      });
      reported = look.spend;
      const ids = look.pending.map((p) => p.id);
      const posted = await controlCall(t, '/_agentvisor/admissions', {
        json: { granted: answer.granted ? ids : [], refused: answer.granted ? [] : ids, elsewhere: elsewhereOf(answer.run, t.host) },
        timeoutMs: 5000,
        signal: stopped,
      });
      if (!posted.ok) throw new Error(`the gateway's admissions answered ${posted.status}`);
    } catch {
      // calls may still be waiting: the next look answers at once
      seen = -1;
      if (!stopped.aborted) await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
}
