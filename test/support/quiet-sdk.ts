// Tests fail workflows on purpose; keep the SDK's own logs (TypeScript and core) to errors so the
// output stays readable. AGENTVISOR_TEST_LOG_LEVEL=INFO brings them back.
import { DefaultLogger, Runtime, makeTelemetryFilterString } from '@temporalio/worker';

const level = (process.env.AGENTVISOR_TEST_LOG_LEVEL as 'ERROR' | undefined) ?? 'ERROR';
try {
  Runtime.install({
    logger: new DefaultLogger(level),
    telemetryOptions: { logging: { filter: makeTelemetryFilterString({ core: level }), forward: {} } },
  });
} catch {
  // installed already in this process
}
