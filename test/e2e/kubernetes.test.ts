// Agents as Kubernetes Jobs, against a real API server (etcd, kube-apiserver with Pod Security
// admission, kube-controller-manager, kube-scheduler: scripts/k8s-cluster.sh). Its one node is
// simulated by kwok: pods are scheduled, admitted and moved through the phases their script would
// give them (scripts/k8s/kwok-stages.yaml), its "exec" runs in one local folder and its logs come
// from one file. No container runs: what an agent does inside its pod is not tested here.
import * as k8s from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { createActivities } from '../../activities';
import { openTaskNetwork } from '../../activities/gateway';
import { validateGraphFile, cancelRun, startRun, waitForRun } from '../../client/api';
import { loadConfig } from '../../client/config';
import { BASE_IMAGE } from '../../images/constants';
import { KubernetesRuntime } from '../../runtimes/kubernetes';
import { labelValue } from '../../runtimes/kubernetes/objects';
import { ContainerCannotRun, LABEL_ROLE, LABEL_RUN, LABEL_SCOPE, LABEL_TASK, type ContainerSpec } from '../../runtimes/runtime';
import { withRealWorker } from '../support/temporal';
import {
  clusterUnavailable,
  criLine,
  objectsOfRun,
  onNode,
  playCollectors,
  restrictedNamespace,
  startCluster,
  type TestCluster,
  agentSpec,
} from '../support/k8s';
import { spawnWorker } from '../support/processes';
import { makeRepo, sh, writeGraph } from '../support/repo';
import { until } from '../support/wait';

const unavailable = clusterUnavailable();
if (unavailable) console.warn(`SKIPPED: the Kubernetes tests need the test cluster, and ${unavailable}`);
const describeCluster = unavailable ? describe.skip : describe;

describeCluster('agents as Kubernetes Jobs (real API server, kwok node)', () => {
  let cluster: TestCluster;
  beforeAll(() => {
    cluster = startCluster();
  }, 45 * 60_000); // a cold build of the binaries (when scripts/test.sh did not make them first)
  afterAll(() => cluster?.stop());
  // each test's namespaces go after it, passed or failed
  const namespaces: string[] = [];
  const namespace = async (prefix: string) => {
    const ns = await restrictedNamespace(cluster, prefix);
    namespaces.push(ns);
    return ns;
  };
  afterEach(async () => {
    for (const name of namespaces.splice(0)) await cluster.core.deleteNamespace({ name }).catch(() => undefined);
  });

  const spec = (name: string, over: Partial<ContainerSpec> = {}) => agentSpec('k8s-runtime', name, over);
  const podsOf = async (ns: string, task: string) =>
    (await cluster.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL_TASK}=${labelValue(task)}` })).items;

  test('the API server admits what the runtime creates under Pod Security "restricted", and refuses a pod that is not', async () => {
    const ns = await namespace('k8s-admit');
    const runtime = new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig });
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'k8s-ws-'));
    await runtime.start(
      spec('admitted', {
        command: ['sh', '-c', 'sleep 2'],
        env: { HOME: '/home/agent', AGENTVISOR_GATEWAY_TOKEN: 'task-token-value' },
        mounts: [{ source: workspace, target: '/workspace', readOnly: false }],
        deadlineSeconds: 120,
      }),
    );
    // the Job controller made its pod: the API server's Pod Security admission let it in
    const [pod] = await podsOf(ns, 'admitted');
    expect(pod.spec).toMatchObject({
      automountServiceAccountToken: false,
      serviceAccountName: 'agentvisor-sandbox',
      restartPolicy: 'Never',
      nodeName: 'agentvisor-kwok-node',
    });
    expect(pod.spec!.volumes!.every((v) => v.emptyDir)).toBe(true);
    // the token is in the pod's Secret, owned by its Job, and nowhere in the pod's spec
    expect(JSON.stringify(pod)).not.toContain('task-token-value');
    const secret = await cluster.core.readNamespacedSecret({ name: pod.spec!.containers[0].envFrom![0].secretRef!.name!, namespace: ns });
    expect(Buffer.from(secret.data!.AGENTVISOR_GATEWAY_TOKEN, 'base64').toString()).toBe('task-token-value');
    expect(secret.metadata!.ownerReferences![0]).toMatchObject({
      kind: 'Job',
      name: pod.metadata!.labels!['batch.kubernetes.io/job-name'],
    });
    const [job] = (await cluster.batch.listNamespacedJob({ namespace: ns })).items;
    expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 120 });

    // the same enforcement refuses a pod without the restricted security context: the test can fail
    const refused = await cluster.core
      .createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'not-restricted' },
          spec: { serviceAccountName: 'agentvisor-sandbox', containers: [{ name: 'c', image: BASE_IMAGE }] },
        },
      })
      .then(
        () => undefined,
        (err: { code: number; body: string }) => err,
      );
    expect(refused?.code).toBe(403);
    expect(JSON.parse(refused!.body).message).toMatch(/violates PodSecurity "restricted:latest"/);
    await runtime.remove(spec('admitted').name);
  });

  test('states: running, exit codes, OOM kill, deadline, absent image; nothing left after remove', async () => {
    const ns = await namespace('k8s-states');
    const runtime = new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig });
    const cases = {
      ok: spec('ok', { command: ['sh', '-c', 'sleep 3'] }),
      fails: spec('fails', { command: ['sh', '-c', 'exit 3'] }),
      oom: spec('oom', { command: ['sh', '-c', 'tail /dev/zero'] }),
      forever: spec('forever', { command: ['sh', '-c', 'while :; do sleep 1; done'], deadlineSeconds: 4 }),
      absent: spec('absent', { image: 'agentvisor/absent:latest' }),
    };
    await Promise.all(Object.values(cases).map((s) => runtime.start(s)));
    await until('ok running', async () => (await runtime.inspect(cases.ok.name)).state === 'running', 30_000);
    const [ok, fails, oom, forever, absent] = await Promise.all(
      Object.values(cases).map((s) => runtime.wait(s.name).catch((e: Error) => e)),
    );
    expect(ok).toEqual({ exitCode: 0, oomKilled: false });
    expect(fails).toEqual({ exitCode: 3, oomKilled: false });
    expect(oom).toEqual({ exitCode: 137, oomKilled: true });
    expect(forever).toMatchObject({ timedOut: true });
    expect(absent).toBeInstanceOf(ContainerCannotRun);
    expect(String(absent)).toMatch(/agentvisor\/absent:latest.*ErrImageNeverPull/);
    expect((await runtime.inspect(cases.fails.name)).state).toBe('exited');
    expect((await runtime.list({ [LABEL_RUN]: 'k8s-runtime' })).map((c) => c.name).sort()).toEqual(
      Object.values(cases)
        .map((s) => s.name)
        .sort(),
    );

    await Promise.all(Object.values(cases).map((s) => runtime.remove(s.name)));
    expect((await runtime.inspect(cases.ok.name)).state).toBe('missing');
    await until('nothing left', async () => Object.keys(await objectsOfRun(cluster, ns, 'k8s-runtime')).length === 0, 30_000);
  });

  test('the log streams while the pod runs; the workspace goes in and comes back through exec', async () => {
    const ns = await namespace('k8s-io');
    const runtime = new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig });
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'k8s-ws-'));
    writeFileSync(path.join(workspace, 'before.txt'), 'from the worktree\n');
    writeFileSync(path.join(workspace, '.git'), 'gitdir: /the/worker/s/own\n');
    const s = spec('io', { command: ['sh', '-c', 'sleep 6'], mounts: [{ source: workspace, target: '/workspace', readOnly: false }] });
    await runtime.start(s);
    // in the pod (kwok's exec folder): the worktree as it was
    const inPod = path.join(cluster.execDir, 'm0');
    expect(readFileSync(path.join(inPod, 'before.txt'), 'utf8')).toBe('from the worktree\n');

    let streamed = '';
    const sink = new PassThrough().on('data', (d) => (streamed += d));
    const logs = runtime.logs(s.name, sink, { follow: true });
    const nonce = `line written while it runs ${Date.now()}`;
    await until('the pod runs', async () => (await runtime.inspect(s.name)).state === 'running', 30_000);
    appendFileSync(cluster.podLog, criLine(nonce));
    await until('the new line streamed', () => streamed.includes(nonce), 15_000);
    // "the agent's work", done in the pod's stand-in file system while it runs
    writeFileSync(path.join(inPod, 'made-by-agent.txt'), 'new\n');
    rmSync(path.join(inPod, 'before.txt'));

    expect(await runtime.wait(s.name)).toEqual({ exitCode: 0, oomKilled: false });
    await logs; // ends with the container (a simulated node never ends the stream itself)
    expect(readFileSync(path.join(workspace, 'made-by-agent.txt'), 'utf8')).toBe('new\n');
    expect(existsSync(path.join(workspace, 'before.txt'))).toBe(false);
    expect(readFileSync(path.join(workspace, '.git'), 'utf8')).toBe('gitdir: /the/worker/s/own\n'); // the worker's, not the pod's
    await runtime.remove(s.name);
  });

  test("a run's gateway: its pod; an agent's network: a Service and a NetworkPolicy letting the agent reach only its agents' port; credentials in its own Secret; a failed start leaves nothing", async () => {
    const ns = await namespace('k8s-gw');
    const runtime = new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig });
    const activities = createActivities({ runtime, scope: 'k8s-test' });
    process.env.K8S_TEST_KEY = 'sk-the-real-credential';
    const repo = makeRepo();
    const file = writeGraph(`
name: k8s-gateway
repo: ${repo}
agents:
  caller: { harness: command, command: "sleep 30", credentials: { anthropic: "env:K8S_TEST_KEY" } }
tasks:
  - { id: t, agent: caller }
`);
    const { graph } = await validateGraphFile(file);
    const runId = 'k8s-gw-run';
    const artifactsDir = mkdtempSync(path.join(os.tmpdir(), 'k8s-gw-'));
    // the gateway's pod starts, but no process answers on a simulated node: the start fails
    const started = activities.startGateway({ runId, artifactsDir, graph: graph! }).catch((e: Error) => e);
    await until('the gateway pod', async () => (await podsOf(ns, '_gateway')).length > 0, 60_000);
    const [gateway] = await podsOf(ns, '_gateway');
    const gatewayJob = gateway.metadata!.labels!['batch.kubernetes.io/job-name'];
    // what runAgent does for an agent with the gateway: a network of its own, served by the gateway
    const { network: net, gatewayIp } = await openTaskNetwork(runtime, runId, 't', 'k8s-test');
    const [policy] = (await cluster.net.listNamespacedNetworkPolicy({ namespace: ns, labelSelector: `${LABEL_RUN}=${runId}` })).items;
    const [service] = (await cluster.core.listNamespacedService({ namespace: ns, labelSelector: `${LABEL_RUN}=${runId}` })).items;
    expect(service.spec!.ports!.map((p) => p.port)).toEqual([8080]);
    expect(service.spec!.selector).toEqual({ 'batch.kubernetes.io/job-name': gatewayJob });
    expect(gatewayIp).toBe(service.spec!.clusterIP);
    // the gateway's agents' port and nothing else: not its control port (8081), no DNS
    expect(policy.spec!.egress).toEqual([
      { to: [{ podSelector: { matchLabels: { 'batch.kubernetes.io/job-name': gatewayJob } } }], ports: [{ protocol: 'TCP', port: 8080 }] },
    ]);

    // the agent on its network: the gateway's name is the Service's address, no cluster DNS; no credential near it
    await runtime.start(
      spec('agent-on-net', {
        // (as runAgent labels it: the run's compensations remove their own scope's containers only)
        labels: { [LABEL_RUN]: runId, [LABEL_TASK]: 't', [LABEL_ROLE]: 'agent', [LABEL_SCOPE]: 'k8s-test' },
        network: net,
        hosts: { 'agentvisor-gateway': gatewayIp },
        dns: [gatewayIp],
        command: ['sh', '-c', 'sleep 30'],
      }),
    );
    const [agent] = await podsOf(ns, 't');
    expect(agent.spec!.hostAliases).toEqual([{ ip: service.spec!.clusterIP, hostnames: ['agentvisor-gateway'] }]);
    expect([agent.spec!.dnsPolicy, agent.spec!.dnsConfig]).toEqual(['None', { nameservers: [service.spec!.clusterIP] }]);
    expect(agent.metadata!.labels!['org.agentvisor.network']).toBe(policy.spec!.podSelector!.matchLabels!['org.agentvisor.network']);
    const secrets = (await cluster.core.listNamespacedSecret({ namespace: ns })).items;
    const holding = secrets.filter((x) =>
      Object.values(x.data ?? {}).some((v) => Buffer.from(v, 'base64').toString() === 'sk-the-real-credential'),
    );
    expect(holding.map((x) => x.metadata!.name)).toEqual([gateway.spec!.containers[0].envFrom![0].secretRef!.name]);
    const pods = (await cluster.core.listNamespacedPod({ namespace: ns })).items;
    const readers = pods.filter((p) =>
      [...p.spec!.containers, ...(p.spec!.initContainers ?? [])].some((c) =>
        c.envFrom?.some((e) => e.secretRef?.name === holding[0].metadata!.name),
      ),
    );
    expect(readers.map((p) => p.metadata!.name)).toEqual([gateway.metadata!.name]);
    expect(JSON.stringify(pods)).not.toContain('sk-the-real-credential');

    expect(String(await started)).toMatch(/the gateway did not start/);
    // what the run's compensations do: its containers, then its gateway
    await activities.removeContainers({ runId });
    await activities.stopGateway({ runId });
    await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
    delete process.env.K8S_TEST_KEY;
  }, 180_000);

  test("deploy/kubernetes: admitted as is; the worker's role does all the runtime does, and no more", async () => {
    // a namespace of its own (deleted after the test; one left by an earlier run must be gone first)
    await until(
      'no namespace agentvisor',
      async () => !(await cluster.core.readNamespace({ name: 'agentvisor' }).catch(() => undefined)),
      120_000,
    );
    namespaces.push('agentvisor');
    const objects = k8s.loadAllYaml(
      readFileSync(path.join(__dirname, '..', '..', 'deploy', 'kubernetes', 'worker.yaml'), 'utf8'),
    ) as k8s.KubernetesObject[];
    const api = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
    // its pods on the simulated node (the real one runs this manifest in kubernetes-node.test.ts)
    const ns = objects.find((o) => o.kind === 'Namespace')!;
    ns.metadata!.annotations = { ...ns.metadata!.annotations, ...onNode('kwok') };
    for (const o of objects)
      await api.create(o).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    // the Deployment's pod was made: admitted under the namespace's enforce: restricted label
    await until(
      'the worker pod',
      async () =>
        (await cluster.core.listNamespacedPod({ namespace: 'agentvisor', labelSelector: 'app.kubernetes.io/name=agentvisor-worker' })).items
          .length === 1,
      60_000,
    );

    // the runtime, with the worker's own credentials (a token of its service account)
    const token = (
      await cluster.core.createNamespacedServiceAccountToken({
        name: 'agentvisor-worker',
        namespace: 'agentvisor',
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      })
    ).status!.token;
    const server = cluster.kc.getCurrentCluster()!;
    const kubeconfig = path.join(mkdtempSync(path.join(os.tmpdir(), 'k8s-worker-')), 'kubeconfig');
    writeFileSync(
      kubeconfig,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        'current-context': 'w',
        clusters: [{ name: 'c', cluster: { server: server.server, 'certificate-authority-data': server.caData } }],
        users: [{ name: 'worker', user: { token } }],
        contexts: [{ name: 'w', context: { cluster: 'c', user: 'worker' } }],
      }),
    );
    const runtime = new KubernetesRuntime({ namespace: 'agentvisor', kubeconfig });
    const runId = 'k8s-rbac';
    const labels = { [LABEL_RUN]: runId, [LABEL_TASK]: 'x', [LABEL_ROLE]: 'agent' };
    const workspace = mkdtempSync(path.join(os.tmpdir(), 'k8s-ws-'));
    writeFileSync(path.join(workspace, 'f.txt'), 'x\n');
    await runtime.createNetwork(`agentvisor-${runId}`, { internal: true, labels: { [LABEL_RUN]: runId } });
    await runtime.start(
      spec(`agentvisor-${runId}-gw`, {
        labels: { ...labels, [LABEL_TASK]: '_gateway', [LABEL_ROLE]: 'gateway' },
        command: ['node', 'gateway.js'],
        ports: [8080],
        network: 'bridge',
      }),
    );
    await runtime.connect(`agentvisor-${runId}`, `agentvisor-${runId}-gw`, 'agentvisor-gateway');
    await runtime.addressOf(`agentvisor-${runId}-gw`, 'bridge');
    const agent = spec(`agentvisor-${runId}-x`, {
      labels,
      network: `agentvisor-${runId}`,
      command: ['sh', '-c', 'sleep 2'],
      mounts: [{ source: workspace, target: '/workspace', readOnly: false }],
    });
    await runtime.start(agent);
    const out = new PassThrough();
    await Promise.all([runtime.logs(agent.name, out, { follow: true }), runtime.wait(agent.name)]);
    await runtime.stop(`agentvisor-${runId}-gw`, 1);
    expect((await runtime.list({ [LABEL_RUN]: runId })).length).toBe(2);
    expect(await runtime.listNetworks({ [LABEL_RUN]: runId })).toEqual([{ name: `agentvisor-${runId}`, labels: { [LABEL_RUN]: runId } }]);
    for (const c of await runtime.list({ [LABEL_RUN]: runId })) await runtime.remove(c.name);
    await runtime.removeNetwork(`agentvisor-${runId}`);
    await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, 'agentvisor', runId)).length === 0, 30_000);

    // and no more: no Secret can be read back, nothing outside its namespace
    const workerKc = new k8s.KubeConfig();
    workerKc.loadFromFile(kubeconfig);
    const authz = workerKc.makeApiClient(k8s.AuthorizationV1Api);
    const can = async (verb: string, resource: string, namespace: string, group = '') =>
      (await authz.createSelfSubjectAccessReview({ body: { spec: { resourceAttributes: { verb, resource, namespace, group } } } })).status!
        .allowed;
    expect(await can('create', 'jobs', 'agentvisor', 'batch')).toBe(true);
    expect(await can('get', 'secrets', 'agentvisor')).toBe(false);
    expect(await can('list', 'secrets', 'agentvisor')).toBe(false);
    expect(await can('create', 'jobs', 'default', 'batch')).toBe(false);
    expect(await can('create', 'rolebindings', 'agentvisor', 'rbac.authorization.k8s.io')).toBe(false);
    expect(await can('create', 'pods', 'agentvisor')).toBe(false);
  }, 180_000);

  describe('runs on a Kubernetes worker', () => {
    let ns: string;
    let runtime: KubernetesRuntime;
    let collectors: { stop: () => void };
    beforeAll(async () => {
      ns = await restrictedNamespace(cluster, 'k8s-runs');
      runtime = new KubernetesRuntime({ namespace: ns, kubeconfig: cluster.kubeconfig });
      collectors = playCollectors(cluster, ns);
    });
    afterAll(() => {
      collectors.stop();
      return cluster.core.deleteNamespace({ name: ns }).then(
        () => undefined,
        () => undefined,
      );
    });

    const inProcessWorker = <T>(fn: () => Promise<T>): Promise<T> => withRealWorker(fn, runtime);

    /** Runs a graph on an in-process worker; `during` acts while it runs. */
    const run = async (runId: string, yaml: string, during: () => Promise<void> = async () => undefined) => {
      const cfg = loadConfig();
      return inProcessWorker(async () => {
        const started = await startRun(writeGraph(yaml), { config: cfg, worker: 'none', runId });
        try {
          await during();
          return await waitForRun(started.client, runId, cfg);
        } finally {
          await started.client.connection.close();
        }
      });
    };

    test('a task runs as a Job: its workspace goes to the pod and back, its work is merged; nothing is left', async () => {
      const repo = makeRepo();
      const runId = 'k8s-works';
      const report = await run(
        runId,
        `
name: k8s-works
repo: ${repo}
agents:
  worker: { harness: command, command: "sleep 8" }
tasks:
  - { id: works, agent: worker }
`,
        async () => {
          await until(
            'the workspace copied in, the agent running',
            async () => {
              const [job] = (await cluster.batch.listNamespacedJob({ namespace: ns, labelSelector: `${LABEL_RUN}=${runId}` })).items;
              return (
                job?.metadata?.annotations?.['org.agentvisor.copied-in'] === 'true' &&
                (await runtime.inspect(`agentvisor-${runId}-works`)).state === 'running'
              );
            },
            60_000,
          );
          // "the agent's work", written in kwok's stand-in for the pod's file system
          expect(readFileSync(path.join(cluster.execDir, 'm0', 'src', 'value.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
          writeFileSync(path.join(cluster.execDir, 'm0', 'from-the-pod.txt'), 'written in the pod\n');
        },
      );
      expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
      expect(report.tasks[0]).toMatchObject({ id: 'works', status: 'succeeded', filesChanged: 1 });
      expect(sh(repo, 'show', `${report.integrationBranch}:from-the-pod.txt`)).toBe('written in the pod\n');
      await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
    }, 240_000);

    test('failure and deadline are followed to clear task failures; nothing is left', async () => {
      const repo = makeRepo();
      const runId = 'k8s-failures';
      const report = await run(
        runId,
        `
name: k8s-failures
repo: ${repo}
failFast: false
agents:
  failing: { harness: command, command: "exit 3" }
  stuck: { harness: command, command: "while :; do sleep 1; done" }
tasks:
  - { id: fails, agent: failing, retry: { attempts: 1 } }
  - { id: stuck, agent: stuck, timeout: 5s, retry: { attempts: 1 } }
`,
      );
      expect(report.status).toBe('failed');
      const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
      expect(byId.fails).toMatchObject({ status: 'failed', exitCode: 3, error: expect.stringMatching(/exited with code 3/) });
      expect(byId.stuck).toMatchObject({ status: 'failed', error: expect.stringMatching(/timed out after 5s/) });
      await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
    }, 240_000);

    test('cancel deletes the Job with its pod and Secret', async () => {
      const repo = makeRepo();
      const file = writeGraph(`
name: k8s-cancel
repo: ${repo}
agents:
  stuck: { harness: command, command: "while :; do sleep 1; done" }
tasks:
  - { id: stuck, agent: stuck }
`);
      const cfg = loadConfig();
      const runId = 'k8s-cancel';
      const report = await inProcessWorker(async () => {
        const started = await startRun(file, { config: cfg, worker: 'none', runId });
        try {
          await until('the agent runs', async () => (await runtime.inspect(`agentvisor-${runId}-stuck`)).state === 'running', 60_000);
          expect(Object.keys(await objectsOfRun(cluster, ns, runId)).sort()).toEqual(['jobs', 'pods', 'secrets']);
          await cancelRun(started.client, runId);
          return await waitForRun(started.client, runId, cfg);
        } finally {
          await started.client.connection.close();
        }
      });
      expect(report.status).toBe('cancelled');
      await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
    }, 180_000);

    test('a worker killed mid-run: the next one finds the Job again, none is created twice', async () => {
      const repo = makeRepo();
      const file = writeGraph(`
name: k8s-crash
repo: ${repo}
agents:
  slow: { harness: command, command: "sleep 25" }
tasks:
  - { id: slow, agent: slow, retry: { attempts: 3, backoff: 1s } }
`);
      const cfg = loadConfig();
      const runId = 'k8s-crash';
      // every Job and pod of the run the API server ever saw created
      const created = new Set<string>();
      const watches = await Promise.all(
        [`/apis/batch/v1/namespaces/${ns}/jobs`, `/api/v1/namespaces/${ns}/pods`].map((p) =>
          new k8s.Watch(cluster.kc).watch(
            p,
            { labelSelector: `${LABEL_RUN}=${runId}` },
            (type, obj: k8s.KubernetesObject) => {
              if (type === 'ADDED')
                created.add(`${p.split('/').pop()}/${obj.metadata!.labels?.['org.agentvisor.role']}/${obj.metadata!.uid}`);
            },
            () => undefined,
          ),
        ),
      );
      const args = ['--runtime', 'kubernetes', '--namespace', ns, '--kubeconfig', cluster.kubeconfig];
      let worker = await spawnWorker(process.env, args);
      const started = await startRun(file, { config: cfg, worker: 'none', runId });
      try {
        await until('the agent runs', async () => (await runtime.inspect(`agentvisor-${runId}-slow`)).state === 'running', 60_000);
        const before = (await runtime.list({ [LABEL_RUN]: runId })).map((c) => c.name);
        await worker.kill9();
        worker = await spawnWorker(process.env, args);
        const report = await waitForRun(started.client, runId, cfg);
        expect(report.status).toBe('completed');
        expect(before).toEqual([`agentvisor-${runId}-slow`]);
        // one Job and one pod of the agent, ever: re-attached after the kill, not made again (and
        // one of its collector's)
        expect([...created].map((c) => c.split('/').slice(0, 2).join('/')).sort()).toEqual([
          'jobs/agent',
          'jobs/collector',
          'pods/agent',
          'pods/collector',
        ]);
        await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
      } finally {
        watches.forEach((w) => w.abort());
        await worker.stop();
        await started.client.connection.close();
      }
    }, 240_000);

    test('agentvisor gc sweeps what a crashed run left in the cluster', async () => {
      const runId = 'k8s-gc-orphan';
      const scope = `default@${process.env.TEMPORAL_ADDRESS}`;
      await runtime.start(
        spec(`agentvisor-${runId}-x`, {
          labels: { [LABEL_RUN]: runId, [LABEL_TASK]: 'x', 'org.agentvisor.scope': scope },
          command: ['sh', '-c', 'sleep 60'],
        }),
      );
      await runtime.createNetwork(`agentvisor-${runId}`, { internal: true, labels: { [LABEL_RUN]: runId, 'org.agentvisor.scope': scope } });
      expect(Object.keys(await objectsOfRun(cluster, ns, runId)).sort()).toEqual(['jobs', 'networkPolicies', 'pods', 'secrets']);
      const { collectGarbage } = await import('../../client/gc');
      const { testClient } = await import('../support/temporal');
      const client = await testClient();
      try {
        const report = await collectGarbage({ client, runtime, scope, dataDir: mkdtempSync(path.join(os.tmpdir(), 'k8s-gc-')) });
        expect(report.containers).toEqual([`agentvisor-${runId}-x`]);
        expect(report.networks).toEqual([`agentvisor-${runId}`]);
      } finally {
        await client.connection.close();
      }
      await until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 30_000);
    });
  });
});

// Bad runtime flags: exit 2 naming the problem, before anything starts (no cluster needed).
test.each([
  [['worker', '--runtime', 'podman'], /--runtime "podman" is not a runtime \(docker or kubernetes\)/],
  [['worker', '--runtime', 'kubernetes'], /--runtime kubernetes needs --namespace NAME/],
  [['worker', '--runtime', 'kubernetes', '--namespace', 'Not_A_Name'], /--namespace "Not_A_Name" is not a Kubernetes namespace name/],
  [['worker', '--namespace', 'agents'], /--namespace is for --runtime kubernetes/],
  [
    ['gc', '--runtime', 'kubernetes', '--namespace', 'agents', '--kubeconfig', '/nonexistent/kubeconfig'],
    /--kubeconfig \/nonexistent\/kubeconfig: no such file/,
  ],
  [
    ['worker', '--runtime', 'kubernetes', '--namespace', 'agents', '--image-pull-policy', 'Sometimes'],
    /--image-pull-policy "Sometimes" is not one of Always, IfNotPresent, Never/,
  ],
])('agentvisor %j: exit 2', (args, message) => {
  const r = spawnSync(process.execPath, [path.join(__dirname, '..', '..', 'bin', 'agentvisor.js'), ...args], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 2, stderr: expect.stringMatching(message) });
});
