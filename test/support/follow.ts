// A container's output as it comes, for tests that read what a gateway or an agent logged.
import { PassThrough } from 'node:stream';
import { DockerRuntime } from '../../runtimes/docker';

/** A container's log from its start until it is removed (the run's gateway goes at the run's end). */
export function follow(name: string): { text: () => string; stop: () => void } {
  const runtime = new DockerRuntime();
  let text = '';
  let stopped = false;
  const sink = new PassThrough();
  sink.on('data', (d) => (text += d));
  void (async () => {
    while (!stopped && (await runtime.inspect(name)).state === 'missing') await new Promise((r) => setTimeout(r, 100));
    if (!stopped) await runtime.logs(name, sink, { follow: true }).catch(() => undefined);
  })();
  return { text: () => text, stop: () => (stopped = true) };
}
