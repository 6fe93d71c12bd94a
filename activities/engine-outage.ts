// The container engine going away for a while (dockerd restarted, an API server failing over): an
// activity waits for it to answer again, heartbeating, instead of failing attempt after attempt in
// the seconds it is gone and spending the task's retries on the engine's outage.
import type { ContainerRuntime } from '../runtimes/runtime';

/** How long an activity waits for the engine before it gives up (the attempt then fails). */
const OUTAGE_LIMIT_MS = 5 * 60_000;

/** The engine could not be reached at all (as opposed to an answer that says no). */
export function engineUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string };
  return (
    ['ECONNREFUSED', 'ENOENT', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH'].includes(e?.code ?? '') ||
    /socket hang up|connect ENOENT|ECONNREFUSED/.test(e?.message ?? '')
  );
}

/** Resolves once the engine answers (a look at a container that does not exist); beats meanwhile. */
export async function untilEngineAnswers(runtime: ContainerRuntime, beat?: () => void): Promise<void> {
  const deadline = Date.now() + OUTAGE_LIMIT_MS;
  for (;;) {
    try {
      await runtime.inspect('agentvisor-engine-probe');
      return;
    } catch (err) {
      if (!engineUnreachable(err)) throw err;
      if (Date.now() > deadline) throw new Error(`the container engine has not answered for ${OUTAGE_LIMIT_MS / 60_000} minutes`);
      beat?.();
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

/** `work`, and again once the engine answers when it could not be reached; other errors pass. */
export async function throughOutages<T>(runtime: ContainerRuntime, work: () => Promise<T>, beat?: () => void): Promise<T> {
  for (;;) {
    try {
      return await work();
    } catch (err) {
      if (!engineUnreachable(err)) throw err;
      await untilEngineAnswers(runtime, beat);
    }
  }
}

/**
 * The runtime as activities use it: every call waits out an outage of the engine and is made again
 * (each is idempotent); `wait` then looks at the container again, since it may have died with the
 * engine (its exit code is the answer), still run (waited for again) or be gone (the attempt fails,
 * and the next one starts it afresh). Following logs is left as it is: a stream cut by an outage
 * only loses lines of a container that died with the engine.
 */
export function outageTolerant(runtime: ContainerRuntime): ContainerRuntime {
  const through = <T>(work: () => Promise<T>) => throughOutages(runtime, work);
  return {
    kind: runtime.kind,
    start: (spec) => through(() => runtime.start(spec)),
    inspect: (name) => through(() => runtime.inspect(name)),
    wait: async (name) => {
      for (;;) {
        try {
          return await runtime.wait(name);
        } catch (err) {
          if (!engineUnreachable(err)) throw err;
          await untilEngineAnswers(runtime);
          const info = await runtime.inspect(name);
          if (info.state === 'exited') return { exitCode: info.exitCode ?? 137, oomKilled: info.oomKilled ?? false };
          if (info.state === 'missing') throw new Error(`container ${name} is gone after the engine came back`);
        }
      }
    },
    logs: (name, sink, opts) => runtime.logs(name, sink, opts),
    stop: (name, grace) => through(() => runtime.stop(name, grace)),
    remove: (name) => through(() => runtime.remove(name)),
    createNetwork: (name, opts) => through(() => runtime.createNetwork(name, opts)),
    removeNetwork: (name) => through(() => runtime.removeNetwork(name)),
    connect: (network, container, alias) => through(() => runtime.connect(network, container, alias)),
    addressOf: (name, network) => through(() => runtime.addressOf(name, network)),
    list: (labels) => through(() => runtime.list(labels)),
    ...(runtime.listNetworks ? { listNetworks: (labels: Record<string, string>) => through(() => runtime.listNetworks!(labels)) } : {}),
  };
}
