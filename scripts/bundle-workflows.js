#!/usr/bin/env node
// Bundles the workflow code once at build time, so a worker starts in well under a second instead
// of running webpack (1.5-2 s) every time. Two bundles: the plain one, and one with the
// OpenTelemetry workflow interceptors for workers that trace (an OTLP endpoint is configured).
const fs = require('node:fs');
const path = require('node:path');
const { bundleWorkflowCode } = require('@temporalio/worker');

const logger = { log() {}, trace() {}, debug() {}, info() {}, warn: console.warn, error: console.error };
const dist = path.join(__dirname, '..', 'dist');

(async () => {
  // the workers' and CLI's version (workers/version.ts): a hash of the sources this bundle is made of
  const { sourceBuildId } = require('../dist/workers/version');
  fs.writeFileSync(path.join(dist, 'build-id.txt'), sourceBuildId(path.join(__dirname, '..')) + '\n');
  const workflowsPath = require.resolve('../dist/workflows');
  const { WORKFLOW_INTERCEPTORS_MODULE } = require('../dist/telemetry/tracing');
  const plain = await bundleWorkflowCode({ workflowsPath, logger });
  fs.writeFileSync(path.join(dist, 'workflow-bundle.js'), plain.code);
  const traced = await bundleWorkflowCode({
    workflowsPath,
    logger,
    workflowInterceptorModules: [require.resolve(WORKFLOW_INTERCEPTORS_MODULE)],
  });
  fs.writeFileSync(path.join(dist, 'workflow-bundle-otel.js'), traced.code);
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
