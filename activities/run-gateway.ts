// The run's gateway as activities: started once for the run, stopped when no agent needs it any
// more. activities/gateway.ts does the work.
import { ApplicationFailure } from '@temporalio/common';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import type { GraphSpec } from '../graph/types';
import type { ActivityContext } from './context';
import { startGateway, stopGateway, type GatewayHandle } from './gateway';
import { withHeartbeat } from './heartbeat';

export function gatewayActivities({ runtime, scope, user, owner, tokens }: ActivityContext) {
  return {
    /** The run's gateway (network, container); returns where the worker reaches its control side. */
    async startGateway(input: { runId: string; artifactsDir: string; graph: GraphSpec }): Promise<GatewayHandle> {
      return withHeartbeat('start gateway', () => startGateway({ runtime, scope, owner, user, bundle: gatewayBundle(), tokens, ...input }));
    },

    async stopGateway(input: { runId: string }): Promise<void> {
      await stopGateway(runtime, input.runId, scope);
    },
  };
}

/** The one-file gateway built by `npm run build`, from the compiled tree or from the sources. */
export function gatewayBundle(): string {
  for (const candidate of [
    path.join(__dirname, '..', 'gateway', 'gateway.bundle.js'),
    path.join(__dirname, '..', 'dist', 'gateway', 'gateway.bundle.js'),
  ]) {
    if (existsSync(candidate)) return candidate;
  }
  throw ApplicationFailure.nonRetryable('dist/gateway/gateway.bundle.js is missing: run `npm run build`', 'BadTaskInput');
}
