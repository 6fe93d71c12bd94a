// The Kubernetes test cluster (scripts/k8s-cluster.sh): a real API server, controller manager and
// scheduler, with two nodes: one simulated by kwok (type=kwok) and one real (type=real: kubelet,
// containerd, CNI, kube-proxy, kube-router). A test's namespace says which one its pods go to.
// Started here when it is not up (building it first takes many minutes; scripts/test.sh builds it
// in the background while the other tests run).
import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BASE_IMAGE } from '../../images/constants';
import { LABEL_ROLE, LABEL_RUN, LABEL_TASK, type ContainerSpec } from '../../runtimes/runtime';

export const K8S_SCRIPT = path.join(__dirname, '..', '..', 'scripts', 'k8s-cluster.sh');
export const K8S_DATA = process.env.AGENTVISOR_K8S_DATA || '/tmp/agentvisor-k8s';

export interface TestCluster {
  kubeconfig: string;
  /** the file kwok serves as every pod's log (CRI format) */
  podLog: string;
  /** the folder kwok runs every exec in: the stand-in for every pod's file system */
  execDir: string;
  core: k8s.CoreV1Api;
  batch: k8s.BatchV1Api;
  net: k8s.NetworkingV1Api;
  kc: k8s.KubeConfig;
  /** stops the cluster if this process started it */
  stop: () => void;
}

/** Why the Kubernetes tests cannot run here, or undefined when they can. */
export function clusterUnavailable(): string | undefined {
  return existsSync(K8S_SCRIPT) ? undefined : `${K8S_SCRIPT} is not there`;
}

export function startCluster(): TestCluster {
  const env = { ...process.env, AGENTVISOR_K8S_DATA: K8S_DATA };
  let up = false;
  try {
    execFileSync(K8S_SCRIPT, ['status'], { env, stdio: 'ignore' });
    up = true;
  } catch {
    execFileSync(K8S_SCRIPT, ['start'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const kubeconfig = path.join(K8S_DATA, 'kubeconfig');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kubeconfig,
    podLog: path.join(K8S_DATA, 'pod.log'),
    execDir: path.join(K8S_DATA, 'exec'),
    core: kc.makeApiClient(k8s.CoreV1Api),
    batch: kc.makeApiClient(k8s.BatchV1Api),
    net: kc.makeApiClient(k8s.NetworkingV1Api),
    kc,
    stop: () => {
      if (!up) execFileSync(K8S_SCRIPT, ['stop'], { env, stdio: 'ignore' });
    },
  };
}

/** The node a namespace's pods go to: kwok's simulated one or the real one. */
export type TestNode = 'kwok' | 'real';

/** The annotation that puts every pod of a namespace on that node (PodNodeSelector admission). */
export const onNode = (node: TestNode) => ({ 'scheduler.alpha.kubernetes.io/node-selector': `type=${node}` });

/** A namespace of its own for a test, where Pod Security "restricted" is enforced. */
export async function restrictedNamespace(cluster: TestCluster, prefix: string, node: TestNode = 'kwok'): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}`;
  const level = { enforce: 'restricted', 'enforce-version': 'latest', warn: 'restricted', audit: 'restricted' };
  await cluster.core.createNamespace({
    body: {
      metadata: {
        name,
        labels: Object.fromEntries(Object.entries(level).map(([k, v]) => [`pod-security.kubernetes.io/${k}`, v])),
        annotations: onNode(node),
      },
    },
  });
  return name;
}

/** Every object of a run (by its label) the runtime makes, by kind; empty kinds left out. */
export async function objectsOfRun(cluster: TestCluster, namespace: string, runId: string): Promise<Record<string, string[]>> {
  const labelSelector = `org.agentvisor.run=${runId}`;
  const names = (l: { items: { metadata?: { name?: string } }[] }) => l.items.map((i) => i.metadata!.name!);
  const found: Record<string, string[]> = {
    jobs: names(await cluster.batch.listNamespacedJob({ namespace, labelSelector })),
    pods: names(await cluster.core.listNamespacedPod({ namespace, labelSelector })),
    secrets: names(await cluster.core.listNamespacedSecret({ namespace, labelSelector })),
    services: names(await cluster.core.listNamespacedService({ namespace, labelSelector })),
    networkPolicies: names(await cluster.net.listNamespacedNetworkPolicy({ namespace, labelSelector })),
  };
  return Object.fromEntries(Object.entries(found).filter(([, v]) => v.length));
}

/** A line as kwok serves it from the pod log file (CRI format: time, stream, tag, text). */
export const criLine = (text: string) => `${new Date().toISOString().replace('Z', '000000Z')} stdout F ${text}\n`;

/**
 * kwok runs no container, so the test plays the one container a run needs to have really run: the
 * collector (activities/workspace.ts). Once a collector pod's workspace is copied in, its script
 * runs here, in kwok's exec folder (the stand-in for the pod's file system: m0 its workspace, m1
 * its output), with the environment of its Secret; then the pod is told to end (kwok-stages.yaml).
 */
export function playCollectors(cluster: TestCluster, namespace: string): { stop: () => void } {
  let stopped = false;
  const played = new Set<string>();
  const loop = async () => {
    while (!stopped) {
      const pods = await cluster.core
        .listNamespacedPod({ namespace, labelSelector: 'org.agentvisor.role=collector' })
        .catch(() => ({ items: [] as k8s.V1Pod[] }));
      for (const pod of pods.items) {
        const name = pod.metadata!.name!;
        const jobName = pod.metadata!.labels?.['batch.kubernetes.io/job-name'];
        if (played.has(name) || pod.status?.phase !== 'Running' || !jobName) continue;
        const job = await cluster.batch.readNamespacedJob({ name: jobName, namespace }).catch(() => undefined);
        if (job?.metadata?.annotations?.['org.agentvisor.copied-in'] !== 'true') continue;
        played.add(name);
        const secret = await cluster.core.readNamespacedSecret({ name: jobName, namespace });
        const env = Object.fromEntries(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
        const main = pod.spec!.containers[0];
        const script = (main.args ?? main.command ?? []).at(-1)!;
        const execDir = path.join(K8S_DATA, 'exec');
        execFileSync('sh', ['-c', script], {
          cwd: execDir,
          env: {
            PATH: process.env.PATH,
            ...env,
            AV_WORKSPACE: path.join(execDir, 'm0'),
            AV_OUT: path.join(execDir, 'm1'),
            // in a pod, the workspace's files are the collector's user's; here kwok's exec made them
            // (as root, with the archive's owners), so git must be told to trust them
            GIT_CONFIG_COUNT: '1',
            GIT_CONFIG_KEY_0: 'safe.directory',
            GIT_CONFIG_VALUE_0: '*',
          },
          stdio: 'ignore',
        });
        await cluster.core.patchNamespacedPod(
          { name, namespace, body: { metadata: { annotations: { 'agentvisor.test/exit': '0' } } } },
          k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
        );
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  };
  void loop();
  return { stop: () => (stopped = true) };
}

/** An agent container as the runtime tests start it: the base image, its user, no network. */
export const agentSpec = (run: string, name: string, over: Partial<ContainerSpec> = {}): ContainerSpec => ({
  name,
  image: BASE_IMAGE,
  command: ['sh', '-c', 'true'],
  env: { HOME: '/home/agent' },
  workdir: '/workspace',
  mounts: [],
  user: '1000:1000',
  labels: { [LABEL_RUN]: run, [LABEL_TASK]: name, [LABEL_ROLE]: 'agent' },
  memoryBytes: 256 * 1024 ** 2,
  cpus: 0.5,
  network: 'none',
  tmpfs: ['/home/agent', '/tmp'],
  ...over,
});
