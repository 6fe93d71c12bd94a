// OpenTelemetry tracing for real: a worker process and the CLI, both given --otel-endpoint, export
// their spans over OTLP/HTTP to a receiver in this test; the run's start (CLI), its workflow, the
// task child and the activities (worker) arrive as one trace.
import { execFile } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import { makeRepo, writeGraph } from '../support/repo';
import { spawnWorker } from '../support/processes';

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  service: string;
}

/** A minimal OTLP/HTTP trace receiver: JSON bodies on /v1/traces. */
async function otlpReceiver(): Promise<{ url: string; spans: Span[]; close: () => Promise<void> }> {
  const spans: Span[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      if (req.url === '/v1/traces' && /json/.test(req.headers['content-type'] ?? '')) {
        for (const rs of JSON.parse(body).resourceSpans ?? []) {
          const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === 'service.name')?.value?.stringValue;
          for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ ...s, service });
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

const BIN = path.join(__dirname, '..', '..', 'bin', 'agentvisor.js');

test('spans of the CLI, the workflows and the activities arrive at the OTLP endpoint as one trace', async () => {
  const receiver = await otlpReceiver();
  const worker = await spawnWorker(process.env, ['--otel-endpoint', receiver.url]);
  try {
    const repo = makeRepo();
    const file = writeGraph(`
name: traced
repo: ${repo}
agents: { w: { harness: command, command: "echo t > t.txt" } }
tasks: [ { id: t1, agent: w } ]
`);
    const out = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, '--otel-endpoint', receiver.url, 'run', file, '--id', 'traced-1'],
        { env: process.env },
        (err, stdout, stderr) => resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      ),
    );
    expect(out).toMatchObject({ code: 0 });
  } finally {
    await worker.stop(); // flushes the worker's spans
    await receiver.close();
  }
  const names = receiver.spans.map((s) => s.name);
  expect(names).toEqual(
    expect.arrayContaining([
      'StartWorkflow:runGraph', // the CLI
      'RunWorkflow:runGraph',
      'StartChildWorkflow:runTask',
      'RunWorkflow:runTask',
      'StartActivity:runAgent',
      'RunActivity:runAgent',
      'RunActivity:collectOutput',
    ]),
  );
  const start = receiver.spans.find((s) => s.name === 'StartWorkflow:runGraph')!;
  expect(start.service).toBe('agentvisor');
  expect(receiver.spans.find((s) => s.name === 'RunActivity:runAgent')!.service).toBe('agentvisor-worker');
  // one trace, from the CLI's start down to the agent's activity
  const ofRun = receiver.spans.filter((s) => /runGraph|runTask|runAgent/.test(s.name));
  expect(new Set(ofRun.map((s) => s.traceId))).toEqual(new Set([start.traceId]));
  const byId = new Map(receiver.spans.map((s) => [s.spanId, s]));
  const ancestors = (s: Span): string[] =>
    s.parentSpanId && byId.has(s.parentSpanId) ? [byId.get(s.parentSpanId)!.name, ...ancestors(byId.get(s.parentSpanId)!)] : [];
  expect(ancestors(receiver.spans.find((s) => s.name === 'RunActivity:runAgent')!)).toEqual(
    expect.arrayContaining([
      'StartActivity:runAgent',
      'RunWorkflow:runTask',
      'StartChildWorkflow:runTask',
      'RunWorkflow:runGraph',
      'StartWorkflow:runGraph',
    ]),
  );
});
