// OpenTelemetry tracing through the Temporal SDK's interceptors, on only when an OTLP endpoint is
// configured (--otel-endpoint, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT).
// The CLI's client starts the trace (StartWorkflow), the workflow interceptors (in the workflow
// bundle built with them, dist/workflow-bundle-otel.js) add workflow, child and activity-start
// spans, and the activity interceptors the activity executions; all exported over OTLP/HTTP (JSON).
//
// The OpenTelemetry packages load only when tracing starts: loaded with the CLI, tracing on or off,
// they added about a third to the module load of every `agentvisor run` (BENCHMARKS.md).
import type { Resource } from '@opentelemetry/resources';
import type { SpanProcessor } from '@opentelemetry/sdk-trace-base';

/** The workflow interceptor module the OpenTelemetry bundle is built with. */
export const WORKFLOW_INTERCEPTORS_MODULE = '@temporalio/interceptors-opentelemetry/lib/workflow-interceptors';

/** Where traces go: the flag, else the standard OTel variables; undefined: tracing is off. */
export function tracesUrl(flag?: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const underV1 = (base: string) => {
    const b = base.replace(/\/+$/, '');
    // the OTLP spec's base endpoint: each signal goes under /v1/<signal>
    return b.endsWith('/v1/traces') ? b : `${b}/v1/traces`;
  };
  if (flag) return underV1(flag);
  if (env.OTEL_TRACES_EXPORTER === 'none') return undefined;
  if (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) return env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT;
  return env.OTEL_EXPORTER_OTLP_ENDPOINT ? underV1(env.OTEL_EXPORTER_OTLP_ENDPOINT) : undefined;
}

export interface Tracing {
  url: string;
  resource: Resource;
  spanProcessor: SpanProcessor;
  /** sends what is buffered and stops; call before the process exits */
  shutdown: () => Promise<void>;
}

let installed: Tracing | undefined;

/** Installs the global tracer provider (once per process) exporting to `url`. */
export function startTracing(serviceName: string, url: string): Tracing {
  if (installed) return installed;
  const otel = require('@opentelemetry/api') as typeof import('@opentelemetry/api');
  const { AsyncLocalStorageContextManager } =
    require('@opentelemetry/context-async-hooks') as typeof import('@opentelemetry/context-async-hooks');
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');
  const { Resource } = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { BasicTracerProvider, BatchSpanProcessor } =
    require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const resource = new Resource({ 'service.name': serviceName });
  // short batches: a run's spans should show up while it goes, not minutes later
  const spanProcessor = new BatchSpanProcessor(new OTLPTraceExporter({ url }), { scheduledDelayMillis: 1000 });
  const provider = new BasicTracerProvider({ resource, spanProcessors: [spanProcessor] });
  // the interceptors find the active span through the context manager and the W3C propagator
  provider.register({ contextManager: new AsyncLocalStorageContextManager().enable() });
  installed = {
    url,
    resource,
    spanProcessor,
    shutdown: async () => {
      await provider.forceFlush().catch(() => undefined);
      await provider.shutdown().catch(() => undefined);
      installed = undefined;
      otel.trace.disable();
      otel.context.disable();
      otel.propagation.disable();
    },
  };
  return installed;
}

export const currentTracing = (): Tracing | undefined => installed;
