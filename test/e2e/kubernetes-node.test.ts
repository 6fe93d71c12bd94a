// Agents as Kubernetes Jobs on a real node (scripts/k8s-cluster.sh, scripts/k8s/node.sh): kubelet
// 1.35, its own containerd with runc, CNI bridge networking, kube-proxy routing Services and
// kube-router enforcing NetworkPolicies. Here the agent image really runs as a restricted pod, the
// workspace really goes through tar in the pod, the kernel really kills a memory hog, and an agent
// really tries, from inside its pod, to reach what its network policy forbids.
import { mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { BASE_IMAGE } from '../../images/constants';
import { KubernetesRuntime } from '../../runtimes/kubernetes';
import { ContainerCannotRun, LABEL_ROLE, LABEL_RUN, LABEL_TASK, type ContainerSpec } from '../../runtimes/runtime';
import { clusterUnavailable, objectsOfRun, restrictedNamespace, startCluster, type TestCluster } from '../support/k8s';
import { until } from '../support/wait';

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`SKIPPED: the Kubernetes tests need the test cluster, and ${unavailable}`);
const describeCluster = unavailable ? describe.skip : describe;

describeCluster('agents as Kubernetes Jobs on a real node (kubelet, containerd, CNI, kube-proxy, kube-router)', () => {
  let cluster: TestCluster;
  beforeAll(() => {
    cluster = startCluster();
  }, 45 * 60_000); // a cold build of the binaries (when scripts/test.sh did not make them first)
  afterAll(() => cluster?.stop());
  const namespaces: string[] = [];
  const namespace = async (prefix: string) => {
    const ns = await restrictedNamespace(cluster, prefix, 'real');
    namespaces.push(ns);
    return ns;
  };
  afterEach(async () => {
    for (const name of namespaces.splice(0)) await cluster.core.deleteNamespace({ name }).catch(() => undefined);
  });
  // the node has the images Docker has loaded into it: never pull (there is no registry)
  const runtimeIn = (ns: string) => new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig, imagePullPolicy: 'Never' });

  const spec = (name: string, over: Partial<ContainerSpec> = {}): ContainerSpec => ({
    name,
    image: BASE_IMAGE,
    command: ['sh', '-c', 'true'],
    env: { HOME: '/home/agent' },
    workdir: '/workspace',
    mounts: [],
    user: '1000:1000',
    labels: { [LABEL_RUN]: 'k8s-node', [LABEL_TASK]: name, [LABEL_ROLE]: 'agent' },
    memoryBytes: 128 * 1024 ** 2,
    cpus: 0.5,
    network: 'none',
    tmpfs: ['/home/agent', '/tmp'],
    ...over,
  });
  const output = async (runtime: KubernetesRuntime, name: string) => {
    let text = '';
    await runtime.logs(
      name,
      new PassThrough().on('data', (d) => (text += d)),
      { follow: false },
    );
    return text;
  };

  test('states of real pods: exit codes, OOM kill, deadline, absent image; restricted as Pod Security says', async () => {
    const ns = await namespace('node-states');
    const runtime = runtimeIn(ns);
    const cases = {
      // what the kernel says of the process: its user, capabilities, no_new_privs, seccomp filter
      ok: spec('ok', {
        command: ['sh', '-c', 'id -u; grep -E "^(CapEff|CapBnd|NoNewPrivs|Seccomp):" /proc/self/status; touch /x 2>&1 || true'],
      }),
      fails: spec('fails', { command: ['sh', '-c', 'exit 3'] }),
      // a memory hog under a 64 MiB limit
      oom: spec('oom', { command: ['sh', '-c', 'tail /dev/zero'], memoryBytes: 64 * 1024 ** 2 }),
      forever: spec('forever', { command: ['sh', '-c', 'while :; do sleep 1; done'], deadlineSeconds: 5 }),
      absent: spec('absent', { image: 'agentvisor/absent:latest' }),
    };
    await Promise.all(Object.values(cases).map((s) => runtime.start(s)));
    const [ok, fails, oom, forever, absent] = await Promise.all(
      Object.values(cases).map((s) => runtime.wait(s.name).catch((e: Error) => e)),
    );
    expect(ok).toEqual({ exitCode: 0, oomKilled: false });
    expect(fails).toEqual({ exitCode: 3, oomKilled: false });
    expect(oom).toEqual({ exitCode: 137, oomKilled: true });
    expect(forever).toMatchObject({ timedOut: true });
    expect(absent).toBeInstanceOf(ContainerCannotRun);
    expect(String(absent)).toMatch(/agentvisor\/absent:latest.*ErrImageNeverPull/);

    const said = await output(runtime, cases.ok.name);
    expect(said).toMatch(/^1000$/m);
    expect(said).toMatch(/^CapEff:\s+0000000000000000$/m);
    expect(said).toMatch(/^CapBnd:\s+0000000000000000$/m);
    expect(said).toMatch(/^NoNewPrivs:\s+1$/m);
    expect(said).toMatch(/^Seccomp:\s+2$/m); // a filter: RuntimeDefault
    expect(said).toMatch(/touch: cannot touch '\/x': Read-only file system/);
    const [pod] = (await cluster.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL_TASK}=ok` })).items;
    expect(pod.spec!.nodeName).toBe('agentvisor-node');

    await Promise.all(Object.values(cases).map((s) => runtime.remove(s.name)));
    await until('nothing left', async () => Object.keys(await objectsOfRun(cluster, ns, 'k8s-node')).length === 0, 60_000);
  }, 180_000);

  test('the workspace goes into the pod and back through tar; the agent changes it in the pod', async () => {
    const ns = await namespace('node-io');
    const runtime = runtimeIn(ns);
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'k8s-node-ws-'));
    writeFileSync(path.join(workspace, 'before.txt'), 'from the worktree\n');
    writeFileSync(path.join(workspace, 'kept.txt'), 'kept\n');
    writeFileSync(path.join(workspace, '.git'), 'gitdir: /the/worker/s/own\n');
    const s = spec('io', {
      command: [
        'sh',
        '-c',
        'set -e; cat before.txt; rm before.txt; echo "made in $(hostname) by $(id -u)" > made.txt; mkdir -p deep/er; echo x > deep/er/f; echo changed >> kept.txt',
      ],
      mounts: [{ source: workspace, target: '/workspace', readOnly: false }],
    });
    await runtime.start(s);
    let streamed = '';
    const logs = runtime.logs(
      s.name,
      new PassThrough().on('data', (d) => (streamed += d)),
      { follow: true },
    );
    expect(await runtime.wait(s.name)).toEqual({ exitCode: 0, oomKilled: false });
    await logs; // the kubelet ends the stream with the container
    expect(streamed).toBe('from the worktree\n');
    const [pod] = (await cluster.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL_TASK}=io` })).items;
    expect(readFileSync(path.join(workspace, 'made.txt'), 'utf8')).toBe(`made in ${pod.metadata!.name} by 1000\n`);
    expect(readFileSync(path.join(workspace, 'deep', 'er', 'f'), 'utf8')).toBe('x\n');
    expect(readFileSync(path.join(workspace, 'kept.txt'), 'utf8')).toBe('kept\nchanged\n');
    expect(existsSync(path.join(workspace, 'before.txt'))).toBe(false);
    expect(readFileSync(path.join(workspace, '.git'), 'utf8')).toBe('gitdir: /the/worker/s/own\n'); // the worker's, not the pod's
    await runtime.remove(s.name);
  }, 120_000);
});
