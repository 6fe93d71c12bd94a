// The container runtime a worker (or `agentvisor gc`) uses, from its flags: Docker (default) or
// Kubernetes (--runtime kubernetes --namespace N [--kubeconfig F]). Bad flags: exit 2, nothing done.
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { BadInputError, type Problem } from '../graph/problems';
import { IN_CLUSTER_NAMESPACE } from './kubernetes/objects';
import type { ContainerRuntime } from './runtime';
import { NETWORK_RANGE_ENV, parseNetworkRange } from './subnets';

export interface RuntimeFlags {
  runtime?: string;
  namespace?: string;
  kubeconfig?: string;
  imagePullPolicy?: string;
  /** docker: the range agents' networks take their subnets from (default AGENTVISOR_NETWORK_RANGE, else 10.213.0.0/16) */
  networkRange?: string;
}

const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export async function runtimeFromFlags(flags: RuntimeFlags): Promise<ContainerRuntime> {
  const kind = flags.runtime ?? 'docker';
  const problems: Problem[] = [];
  if (kind === 'docker') {
    for (const [flag, value] of [
      ['--namespace', flags.namespace],
      ['--kubeconfig', flags.kubeconfig],
      ['--image-pull-policy', flags.imagePullPolicy],
    ] as const) {
      if (value !== undefined) problems.push({ message: `${flag} is for --runtime kubernetes` });
    }
    const range = flags.networkRange ?? (process.env[NETWORK_RANGE_ENV] || undefined);
    const problem = range !== undefined ? parseNetworkRange(range).problem : undefined;
    if (problem) problems.push({ message: `${flags.networkRange !== undefined ? '--network-range' : NETWORK_RANGE_ENV} ${problem}` });
    if (problems.length) throw new BadInputError(problems);
    const { DockerRuntime } = await import('./docker');
    return new DockerRuntime(undefined, { networkRange: flags.networkRange });
  }
  if (flags.networkRange !== undefined) problems.push({ message: '--network-range is for --runtime docker' });
  if (kind !== 'kubernetes') throw new BadInputError([{ message: `--runtime "${kind}" is not a runtime (docker or kubernetes)` }]);
  const namespace = flags.namespace ?? (existsSync(IN_CLUSTER_NAMESPACE) ? readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim() : undefined);
  if (!namespace) problems.push({ message: '--runtime kubernetes needs --namespace NAME (the namespace its Jobs run in)' });
  else if (!NAMESPACE.test(namespace)) problems.push({ message: `--namespace "${namespace}" is not a Kubernetes namespace name` });
  const kubeconfig = flags.kubeconfig ? path.resolve(flags.kubeconfig) : undefined;
  if (kubeconfig && !existsSync(kubeconfig)) problems.push({ message: `--kubeconfig ${flags.kubeconfig}: no such file` });
  const pull = flags.imagePullPolicy as (typeof PULL_POLICIES)[number] | undefined;
  if (pull !== undefined && !PULL_POLICIES.includes(pull))
    problems.push({ message: `--image-pull-policy "${pull}" is not one of ${PULL_POLICIES.join(', ')}` });
  if (problems.length) throw new BadInputError(problems);
  // loaded only here: Docker workers never load the Kubernetes client
  const { KubernetesRuntime } = await import('./kubernetes');
  return new KubernetesRuntime({ namespace: namespace!, kubeconfig, imagePullPolicy: pull });
}
