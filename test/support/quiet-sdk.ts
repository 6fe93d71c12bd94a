// Tests fail workflows on purpose; keep the SDK's own logs to errors so the output stays readable.
import { DefaultLogger, Runtime } from '@temporalio/worker';

try {
  Runtime.install({ logger: new DefaultLogger((process.env.AGENTVISOR_TEST_LOG_LEVEL as 'ERROR') ?? 'ERROR') });
} catch {
  // installed already in this process
}
