// Agents as Kubernetes Jobs on a real node (scripts/k8s-cluster.sh, scripts/k8s/node.sh): kubelet
// 1.35, its own containerd with runc, CNI bridge networking, kube-proxy routing Services and
// kube-router enforcing NetworkPolicies. Here the agent image really runs as a restricted pod, the
// workspace really goes through tar in the pod, the kernel really kills a memory hog, and an agent
// really tries, from inside its pod, to reach what its network policy forbids.
import * as k8s from '@kubernetes/client-node';
import { execFileSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import Docker from 'dockerode';
import { GATEWAY_CONTROL_PORT, GATEWAY_PORT, openTaskNetwork } from '../../activities/gateway';
import { AGENTS_IMAGE, BASE_IMAGE } from '../../images/constants';
import { ensureAgentsImage } from '../../images/build';
import { cancelRun, startRun, waitForRun } from '../../client/api';
import { loadConfig } from '../../client/config';
import { KubernetesRuntime } from '../../runtimes/kubernetes';
import { AWAIT_POLICY, LABEL_JOB } from '../../runtimes/kubernetes/objects';
import {
  ContainerCannotRun,
  LABEL_ROLE,
  LABEL_RUN,
  LABEL_SCOPE,
  LABEL_TASK,
  containerName,
  type ContainerSpec,
} from '../../runtimes/runtime';
import {
  K8S_DATA,
  K8S_SCRIPT,
  clusterUnavailable,
  objectsOfRun,
  onNode,
  restrictedNamespace,
  startCluster,
  type TestCluster,
  agentSpec,
} from '../support/k8s';
import { relay, startHosts } from '../support/hosts';
import { expectStoppedByRunBudget } from '../support/run-result';
import { freePort } from '../support/ports';
import { spawnWorker } from '../support/processes';
import { containersOfRun, makeRepo, sh, writeGraph } from '../support/repo';
import { testClient, untilPolling, withRealWorker } from '../support/temporal';
import { until } from '../support/wait';

/** A TCP server on these ports that answers "hi" (node, as in the base image). */
/** Answers on each port; says "listening" once it listens on all of them. */
const serve = (...ports: number[]) => [
  'node',
  '-e',
  `let n = 0;
  for (const p of [${ports.join(',')}])
    require('net').createServer((s) => s.end('hi')).listen(p, () => ++n === ${ports.length} && console.log('listening'));`,
];

/**
 * Tries each target ("what=host:port") from inside the pod, after `waitSeconds`: one line "what ok"
 * when it connected, else "what" and why not (refused, unreachable, timeout after 3 s).
 */
const probe = (targets: Record<string, string>, waitSeconds: number) => [
  'node',
  '-e',
  `const net = require('net');
  const t = (h, p) => new Promise((r) => {
    const s = net.connect(Number(p), h);
    s.setTimeout(3000, () => { s.destroy(); r('timeout'); });
    s.on('connect', () => { s.destroy(); r('ok'); }).on('error', (e) => r(e.code));
  });
  setTimeout(async () => {
    for (const [what, at] of Object.entries(${JSON.stringify(targets)})) console.log(what, await t(...at.split(':')));
  }, ${waitSeconds * 1000});`,
];
const results = (text: string) =>
  Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split(' ')),
  );

const CASSETTES = path.join(__dirname, '..', 'fixtures', 'cassettes', 'agents');

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

  const spec = (name: string, over: Partial<ContainerSpec> = {}) => agentSpec('k8s-node', name, { memoryBytes: 128 * 1024 ** 2, ...over });
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

  test("NetworkPolicy enforced: an agent reaches its run's gateway and nothing else; a pod without policy reaches all of it", async () => {
    const ns = await namespace('node-net');
    const runtime = runtimeIn(ns);
    const runId = 'k8s-node-net';
    const scope = 'k8s-node-test';
    const run = { [LABEL_RUN]: runId, [LABEL_SCOPE]: scope };

    // the run's gateway, as startGateway makes it: its agents' port declared, its control port not
    const gateway = containerName(runId, '_gateway');
    await runtime.start(
      spec(gateway, {
        labels: { ...run, [LABEL_TASK]: '_gateway', [LABEL_ROLE]: 'gateway' },
        command: serve(GATEWAY_PORT, GATEWAY_CONTROL_PORT),
        ports: [GATEWAY_PORT],
        network: 'bridge',
      }),
    );
    // a pod and a Service that are not agentvisor's, in the same namespace
    const plain = (name: string, command: string[], labels: Record<string, string> = {}): k8s.V1Pod => ({
      metadata: { name, labels },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'c',
            image: BASE_IMAGE,
            imagePullPolicy: 'Never',
            command,
            securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
          },
        ],
      },
    });
    await cluster.core.createNamespacedPod({ namespace: ns, body: plain('bystander', serve(9000), { app: 'bystander' }) });
    const bystanderService = await cluster.core.createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'bystander' }, spec: { selector: { app: 'bystander' }, ports: [{ port: 9000 }] } },
    });
    const running = async (selector: string) =>
      (await cluster.core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.find(
        (p) => p.status?.phase === 'Running' && p.status.podIP,
      );
    // running is not yet listening: the probes must find both servers up, or the check proves nothing
    const listening = async (selector: string) => {
      const pod = await running(selector);
      if (!pod) return false;
      const log = await cluster.core.readNamespacedPodLog({ name: pod.metadata!.name!, namespace: ns }).catch(() => '');
      return String(log).includes('listening');
    };
    await until(
      'the gateway and the bystander listen',
      async () => (await listening(`${LABEL_ROLE}=gateway`)) && (await listening('app=bystander')),
      60_000,
    );
    const gatewayPod = (await running(`${LABEL_ROLE}=gateway`))!.status!.podIP!;
    const bystanderPod = (await running('app=bystander'))!.status!.podIP!;

    // what runAgent does for an agent with a gateway: a network of its own, served by the gateway
    const { network, gatewayIp } = await openTaskNetwork(runtime, runId, 't', scope);
    const apiServer = new URL(cluster.kc.getCurrentCluster()!.server);
    const machine = (await cluster.core.readNode({ name: 'agentvisor-node' })).status!.addresses!.find(
      (a) => a.type === 'InternalIP',
    )!.address;
    const targets = {
      'gateway-by-name': `agentvisor-gateway:${GATEWAY_PORT}`,
      'gateway-pod': `${gatewayPod}:${GATEWAY_PORT}`,
      'gateway-control': `${gatewayPod}:${GATEWAY_CONTROL_PORT}`,
      'bystander-pod': `${bystanderPod}:9000`,
      'bystander-service': `${bystanderService.spec!.clusterIP}:9000`,
      'kubernetes-service': '10.96.0.1:443',
      'the-machine': `${machine}:${apiServer.port}`,
    };
    // kube-router applies a new pod's policies a moment after the pod starts: the agent's pod
    // holds its agent until they are in effect (objects.ts, awaitPolicy), so the probes start at once
    const agent = containerName(runId, 't');
    await runtime.start(
      spec(agent, {
        labels: { ...run, [LABEL_TASK]: 't', [LABEL_ROLE]: 'agent' },
        network,
        hosts: { 'agentvisor-gateway': gatewayIp },
        dns: [gatewayIp],
        command: probe(targets, 0),
      }),
    );
    // the same probes from a pod no policy selects: every target answers, so the agent's could too.
    // Not the gateway's ports: a new pod outside the run was seen refused there even with no
    // policy on the gateway (kube-router, until it has synced the new pod), so their answer to it
    // would prove nothing. That both ports listen was waited for above, so a refusal of the agent
    // on the control port is its policy's.
    const { ['gateway-by-name']: _byName, ['gateway-pod']: _pod, ['gateway-control']: _control, ...others } = targets;
    await cluster.core.createNamespacedPod({ namespace: ns, body: plain('control', probe(others, 0)) });

    expect(await runtime.wait(agent)).toEqual({ exitCode: 0, oomKilled: false });
    const fromAgent = results(await output(runtime, agent));
    await until(
      'the control pod ends',
      async () => (await cluster.core.readNamespacedPod({ name: 'control', namespace: ns })).status?.phase === 'Succeeded',
      60_000,
    );
    const fromControl = results(await cluster.core.readNamespacedPodLog({ name: 'control', namespace: ns }));

    expect(fromControl).toEqual(Object.fromEntries(Object.keys(others).map((k) => [k, 'ok'])));
    expect(fromAgent).toMatchObject({ 'gateway-by-name': 'ok', 'gateway-pod': 'ok' });
    for (const blocked of ['gateway-control', 'bystander-pod', 'bystander-service', 'kubernetes-service', 'the-machine'])
      expect([blocked, fromAgent[blocked]]).not.toEqual([blocked, 'ok']);
    // what held the agent: its pod's first init container, done before the agent started
    const [agentPod] = (await cluster.core.listNamespacedPod({ namespace: ns, labelSelector: `${LABEL_TASK}=t` })).items;
    expect(agentPod.status!.initContainerStatuses!.map((c) => [c.name, c.state?.terminated?.exitCode])).toEqual([[AWAIT_POLICY, 0]]);

    await runtime.remove(agent);
    await runtime.remove(gateway);
    await runtime.removeNetwork(network);
  }, 180_000);

  describe('runs on a Kubernetes worker, every container a real pod (the collector too)', () => {
    let ns: string;
    let runtime: KubernetesRuntime;
    // the worker's default of 2 CPUs per agent would not fit beside the copy containers on a
    // 2-core node: agents here ask for half a core (in-process and spawned workers read this)
    const cpus = process.env.AGENTVISOR_LIMIT_CPUS;
    beforeAll(async () => {
      process.env.AGENTVISOR_LIMIT_CPUS = '0.5';
      ns = await restrictedNamespace(cluster, 'node-runs', 'real');
      runtime = runtimeIn(ns);
    });
    afterAll(async () => {
      if (cpus === undefined) delete process.env.AGENTVISOR_LIMIT_CPUS;
      else process.env.AGENTVISOR_LIMIT_CPUS = cpus;
      await cluster?.core.deleteNamespace({ name: ns }).catch(() => undefined);
    });

    const inProcessWorker = <T>(fn: () => Promise<T>): Promise<T> => withRealWorker(fn, runtime);
    const nothingLeft = (runId: string) =>
      until('nothing of the run left', async () => Object.keys(await objectsOfRun(cluster, ns, runId)).length === 0, 60_000);

    test('success (its work collected by a real collector pod), failure, OOM kill and deadline, followed to the report', async () => {
      const repo = makeRepo();
      const runId = 'k8s-node-states';
      const cfg = loadConfig();
      const report = await inProcessWorker(async () => {
        const started = await startRun(
          writeGraph(`
name: k8s-node-states
repo: ${repo}
failFast: false
agents:
  works: { harness: command, command: "hostname > from-the-pod.txt" }
  failing: { harness: command, command: "exit 3" }
  hog: { harness: command, command: "tail /dev/zero", limits: { memory: 64m } }
  stuck: { harness: command, command: "while :; do sleep 1; done" }
tasks:
  - { id: works, agent: works }
  - { id: fails, agent: failing, retry: { attempts: 1 } }
  - { id: hog, agent: hog, retry: { attempts: 1 } }
  - { id: stuck, agent: stuck, timeout: 8s, retry: { attempts: 1 } }
`),
          { config: cfg, worker: 'none', runId },
        );
        try {
          return await waitForRun(started.client, runId, cfg);
        } finally {
          await started.client.connection.close();
        }
      });
      expect(report.status).toBe('failed');
      const byId = Object.fromEntries(report.tasks.map((t) => [t.id, t]));
      expect({ status: byId.works.status, error: byId.works.error, filesChanged: byId.works.filesChanged }).toEqual({
        status: 'succeeded',
        error: undefined,
        filesChanged: 1,
      });
      // (a failed run is rolled back, its branches too: the merged work is checked in the crash test below)
      expect(byId.fails).toMatchObject({ status: 'failed', exitCode: 3, error: expect.stringMatching(/exited with code 3/) });
      expect(byId.hog).toMatchObject({ status: 'failed', error: expect.stringMatching(/out of memory/i) });
      expect(byId.stuck).toMatchObject({ status: 'failed', error: expect.stringMatching(/timed out after 8s/) });
      await nothingLeft(runId);
    }, 300_000);

    test('cancel deletes the Job with its pod and Secret', async () => {
      const repo = makeRepo();
      const cfg = loadConfig();
      const runId = 'k8s-node-cancel';
      const report = await inProcessWorker(async () => {
        const started = await startRun(
          writeGraph(`
name: k8s-node-cancel
repo: ${repo}
agents:
  stuck: { harness: command, command: "while :; do sleep 1; done" }
tasks:
  - { id: stuck, agent: stuck }
`),
          { config: cfg, worker: 'none', runId },
        );
        try {
          await until('the agent runs', async () => (await runtime.inspect(containerName(runId, 'stuck'))).state === 'running', 120_000);
          await cancelRun(started.client, runId);
          return await waitForRun(started.client, runId, cfg);
        } finally {
          await started.client.connection.close();
        }
      });
      expect(report.status).toBe('cancelled');
      await nothingLeft(runId);
    }, 240_000);

    test('a worker killed mid-run: the next one finds the Job again, none is created twice', async () => {
      const repo = makeRepo();
      const cfg = loadConfig();
      const runId = 'k8s-node-crash';
      const created = new Set<string>();
      const watches = await Promise.all(
        [`/apis/batch/v1/namespaces/${ns}/jobs`, `/api/v1/namespaces/${ns}/pods`].map((p) =>
          new k8s.Watch(cluster.kc).watch(
            p,
            { labelSelector: `${LABEL_RUN}=${runId}` },
            (type, obj: k8s.KubernetesObject) => {
              if (type === 'ADDED') created.add(`${p.split('/').pop()}/${obj.metadata!.labels?.[LABEL_ROLE]}/${obj.metadata!.uid}`);
            },
            () => undefined,
          ),
        ),
      );
      const args = ['--runtime', 'kubernetes', '--namespace', ns, '--kubeconfig', cluster.kubeconfig, '--image-pull-policy', 'Never'];
      let worker = await spawnWorker(process.env, args);
      const started = await startRun(
        writeGraph(`
name: k8s-node-crash
repo: ${repo}
agents:
  slow: { harness: command, command: "sleep 20; echo done > slow.txt" }
tasks:
  - { id: slow, agent: slow, retry: { attempts: 3, backoff: 1s } }
`),
        { config: cfg, worker: 'none', runId },
      );
      try {
        await until('the agent runs', async () => (await runtime.inspect(containerName(runId, 'slow'))).state === 'running', 120_000);
        await worker.kill9();
        worker = await spawnWorker(process.env, args);
        const report = await waitForRun(started.client, runId, cfg);
        expect({ status: report.status, errors: report.tasks.map((t) => t.error) }).toEqual({ status: 'completed', errors: [undefined] });
        expect(sh(repo, 'show', `${report.integrationBranch}:slow.txt`)).toBe('done\n');
        expect([...created].map((c) => c.split('/').slice(0, 2).join('/')).sort()).toEqual([
          'jobs/agent',
          'jobs/collector',
          'pods/agent',
          'pods/collector',
        ]);
        await nothingLeft(runId);
      } finally {
        watches.forEach((w) => w.abort());
        await worker.stop();
        await started.client.connection.close();
      }
    }, 300_000);
  });

  // One run of real CLIs on three hosts, each through a gateway of its own: Claude Code on host-a
  // and Codex on host-b (`agentvisor worker --host` processes in network namespaces, agents on this
  // machine's Docker engine, as in hosts-agents.test.ts) and OpenCode on the real node, served by
  // the in-cluster worker (host "kubernetes", the worker image built from deploy/kubernetes and
  // applied with its manifest), whose gateway is a pod beside the agent's. Model traffic is replayed
  // from test/fixtures/cassettes/agents by each host's gateway.
  test('the worker image, built from deploy/kubernetes, runs in the cluster and serves a model-backed run across hosts', async () => {
    const root = path.join(__dirname, '..', '..');
    // built as a user would (on the agent image: no registry here to pull node from), then loaded
    // into the node's containerd, as a push to a registry would make it pullable
    const image = 'agentvisor/worker:k8s-node-test';
    // the certificates this machine trusts beyond Debian's (a proxy that intercepts TLS, here)
    const caDir = '/usr/local/share/ca-certificates';
    const extraCa = existsSync(caDir)
      ? readdirSync(caDir)
          .filter((f) => f.endsWith('.crt'))
          .map((f) => readFileSync(path.join(caDir, f), 'utf8'))
          .join('\n')
      : '';
    const args = ['--build-arg', `NODE_IMAGE=${BASE_IMAGE}`, '--build-arg', `EXTRA_CA_CERT=${extraCa}`];
    execFileSync('docker', ['build', '-q', '-f', 'deploy/kubernetes/Dockerfile', ...args, '-t', image, '.'], {
      cwd: root,
      stdio: 'ignore',
    });
    await ensureAgentsImage(new Docker());
    execFileSync(K8S_SCRIPT, ['load', image, AGENTS_IMAGE], { env: { ...process.env, AGENTVISOR_K8S_DATA: K8S_DATA }, stdio: 'ignore' });

    // host-a and host-b: their git remote (git daemon) and Temporal relay are on the root side of
    // their links, which the node's pods reach too (the node is this machine): one remote for all
    const origin = path.join(mkdtempSync(path.join(os.tmpdir(), 'k8s-node-remote-')), 'origin.git');
    execFileSync('git', ['clone', '-q', '--bare', makeRepo(), origin]);
    const KEY = 'AGENTVISOR_TEST_HOST_KEY';
    const secrets = {
      'host-a': `sk-host-a-${process.pid}-never-leaves`,
      'host-b': `sk-host-b-${process.pid}-never-leaves`,
      kubernetes: `sk-k8s-${process.pid}-never-leaves`,
    };
    const hosts = await startHosts(
      [
        { name: 'host-a', env: { [KEY]: secrets['host-a'] } },
        { name: 'host-b', env: { [KEY]: secrets['host-b'] } },
      ],
      origin,
      { engineReach: true },
    );
    // the pod reaches the Temporal server on this machine through a relay (it listens on the loopback)
    const machine = (await cluster.core.readNode({ name: 'agentvisor-node' })).status!.addresses!.find(
      (a) => a.type === 'InternalIP',
    )!.address;
    const relayPort = await freePort();
    const temporal = await relay(machine, relayPort, process.env.TEMPORAL_ADDRESS!);
    // the manifest's claim, bound to a folder of this machine (no storage provisioner here)
    const pvDir = mkdtempSync(path.join(K8S_DATA, 'pv-'));
    chmodSync(pvDir, 0o777);
    const pvName = `agentvisor-data-${path.basename(pvDir).toLowerCase()}`;
    // The cassettes: the graph names one folder for every host's gateway. They go onto the worker's
    // data volume, which the pod also mounts at this folder's own path (read-only), so that path
    // names the same files for host-a and host-b (this machine's disk) and the in-cluster worker,
    // which copies them into its gateway pod as it does any mount.
    const cassettes = path.join(pvDir, 'cassettes');
    cpSync(CASSETTES, cassettes, { recursive: true });
    execFileSync('chmod', ['-R', 'a+rX', cassettes]);
    await until(
      'no namespace agentvisor',
      async () => !(await cluster.core.readNamespace({ name: 'agentvisor' }).catch(() => undefined)),
      120_000,
    );
    await cluster.core.createPersistentVolume({
      body: {
        metadata: { name: pvName },
        spec: {
          capacity: { storage: '20Gi' },
          accessModes: ['ReadWriteOnce'],
          storageClassName: '',
          hostPath: { path: pvDir, type: 'Directory' },
          claimRef: { namespace: 'agentvisor', name: 'agentvisor-data' },
        },
      },
    });
    namespaces.push('agentvisor');
    const runId = `k8s-hosts-${process.pid}`;
    // every pod and Secret of the run, as the API served them while it ran
    const seen: string[] = [];
    const watches: AbortController[] = [];
    const client = await testClient();
    try {
      // the manifest as a user applies it, with what its comments say to set: the image and
      // TEMPORAL_ADDRESS; and here, the real node, half a core per agent (2 cores), the cassettes
      const objects = k8s.loadAllYaml(
        readFileSync(path.join(root, 'deploy', 'kubernetes', 'worker.yaml'), 'utf8'),
      ) as k8s.KubernetesObject[];
      for (const o of objects) {
        if (o.kind === 'Namespace') o.metadata!.annotations = { ...o.metadata!.annotations, ...onNode('real') };
        if (o.kind === 'Deployment') {
          const c = (o as k8s.V1Deployment).spec!.template.spec!.containers[0];
          c.image = image;
          c.imagePullPolicy = 'Never';
          c.env = [
            ...c.env!.map((e) => (e.name === 'TEMPORAL_ADDRESS' ? { ...e, value: `${machine}:${relayPort}` } : e)),
            { name: 'AGENTVISOR_LIMIT_CPUS', value: '0.5' },
          ];
          c.volumeMounts = [...c.volumeMounts!, { name: 'data', mountPath: pvDir, readOnly: true }];
        }
      }
      const api = k8s.KubernetesObjectApi.makeApiClient(cluster.kc);
      for (const o of objects) await api.create(o);
      // the Kubernetes host's credential: a Secret of the namespace, named by reference in the graph
      await cluster.core.createNamespacedSecret({
        namespace: 'agentvisor',
        body: { metadata: { name: 'agentvisor-model' }, stringData: { openai: secrets.kubernetes } },
      });
      for (const p of [
        '/api/v1/namespaces/agentvisor/pods',
        '/api/v1/namespaces/agentvisor/secrets',
        '/apis/networking.k8s.io/v1/namespaces/agentvisor/networkpolicies',
      ])
        watches.push(
          await new k8s.Watch(cluster.kc).watch(
            p,
            { labelSelector: `${LABEL_RUN}=${runId}` },
            (_type, obj: k8s.KubernetesObject) => seen.push(JSON.stringify(obj)),
            () => undefined,
          ),
        );
      const workerPod = async () =>
        (
          await cluster.core.listNamespacedPod({ namespace: 'agentvisor', labelSelector: 'app.kubernetes.io/name=agentvisor-worker' })
        ).items.find((p) => p.status?.containerStatuses?.[0]?.ready);
      await until('the worker pod runs', async () => !!(await workerPod()), 180_000);
      await untilPolling(process.env.TEMPORAL_ADDRESS!);

      const cfg = loadConfig();
      const started = await startRun(
        writeGraph(`
name: k8s-hosts
remote: ${hosts.remote}
gateway: { mode: replay, cassettes: ${cassettes} }
agents:
  claude:   { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: env:${KEY} } }
  codex:    { harness: codex, model: gpt-5-codex, credentials: { openai: env:${KEY} } }
  opencode: { harness: opencode, model: openai/gpt-5-mini, credentials: { openai: secret:agentvisor-model/openai } }
tasks:
  - { id: claude, agent: claude, prompt: "Create claude.txt", runsOn: host-a, timeout: 5m }
  - { id: codex, agent: codex, prompt: "Create codex.txt", runsOn: host-b, timeout: 5m }
  - { id: opencode, agent: opencode, prompt: "Create opencode.txt", runsOn: kubernetes, timeout: 5m }
`),
        { config: cfg, worker: 'none', runId },
      );
      await started.client.connection.close();
      const report = await waitForRun(client, runId, cfg);
      console.log(report.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
      expect({ status: report.status, error: report.error }).toEqual({ status: 'completed', error: undefined });
      expect(report.tasks.map((t) => [t.id, t.host])).toEqual([
        ['claude', 'host-a'],
        ['codex', 'host-b'],
        ['opencode', 'kubernetes'],
      ]);
      // each file on its task branch in the remote
      for (const t of ['claude', 'codex', 'opencode'])
        expect(execFileSync('git', ['--git-dir', origin, 'show', `agentvisor-tasks/${runId}/${t}:${t}.txt`], { encoding: 'utf8' })).toBe(
          `hello from ${t}\n`,
        );
      // usage per task: the cassettes' (see each file's header), metered by the gateway of its host
      const usage = Object.fromEntries(report.tasks.map((t) => [t.id, t.usage]));
      expect(usage.claude).toMatchObject({ inputTokens: 1750, outputTokens: 97, cachedTokens: 7400 });
      expect(usage.codex).toMatchObject({ inputTokens: 1328, outputTokens: 82, cachedTokens: 3072 });
      expect(usage.opencode).toMatchObject({ inputTokens: 1906, outputTokens: 159, cachedTokens: 8704 });
      expect(usage.opencode!.costUsd).toBeCloseTo(0.0008916, 9);
      // the Kubernetes host's gateway was a pod of the run; it and every other object of it are gone
      expect(seen.some((o) => o.includes('"org.agentvisor.role":"gateway"'))).toBe(true);
      // the in-cluster worker admitted itself alone, beside the run's pods, to its gateway
      const policies = seen.map((o) => JSON.parse(o) as k8s.V1NetworkPolicy).filter((o) => o.kind === 'NetworkPolicy');
      const forGateway = policies.filter((p) => p.spec?.podSelector?.matchLabels?.[LABEL_JOB] && p.spec.ingress);
      expect(forGateway.length).toBeGreaterThan(0);
      expect(forGateway[0].spec!.ingress![1]).toEqual({
        from: [{ podSelector: { matchLabels: { 'app.kubernetes.io/name': 'agentvisor-worker' } } }],
      });
      await until(
        'nothing of the run left',
        async () => Object.keys(await objectsOfRun(cluster, 'agentvisor', runId)).length === 0,
        60_000,
      );
      expect(await containersOfRun(runId)).toEqual([]);

      // no credential value in any history, worker log, run file, pod spec or container environment
      // (each pod's environment is its own Secret, seen above with the pods)
      const histories = await Promise.all(
        [runId, ...report.tasks.map((t) => `${runId}/${t.id}`)].map(async (id) =>
          JSON.stringify(await client.workflow.getHandle(id).fetchHistory()),
        ),
      );
      const decoded = seen.map((o) =>
        o.replace(/"([A-Za-z0-9+/=]{16,})"/g, (_m, b64: string) => Buffer.from(b64, 'base64').toString('latin1')),
      );
      const texts = [
        ...histories,
        ...seen,
        ...decoded,
        String(await cluster.core.readNamespacedPodLog({ name: (await workerPod())!.metadata!.name!, namespace: 'agentvisor' })),
        ...Object.values(hosts.hosts).map((h) => h.worker!.output()),
        ...[pvDir, ...Object.values(hosts.hosts).map((h) => h.dataDir)].flatMap((d) => filesUnder(path.join(d, 'runs', runId))),
      ];
      expect(seen.some((o) => o.includes('"kind":"Secret"') || o.includes('"type":"Opaque"'))).toBe(true);
      for (const secret of Object.values(secrets)) expect(texts.filter((t) => t.includes(secret))).toEqual([]);

      // The run's budget across the hosts and the node: Claude Code's first call on host-a
      // (claude.yaml: $0.007275) crosses $0.005. The agent on the node, whose gateway metered
      // nothing, is stopped for the run's budget, or never starts if the budget was spent first.
      const budgetRunId = `k8s-budget-${process.pid}`;
      const budgetRun = await startRun(
        writeGraph(`
name: k8s-budget
remote: ${hosts.remote}
budget: { usd: 0.005 }
failFast: false
gateway: { mode: replay, cassettes: ${cassettes} }
agents:
  claude: { harness: claude-code, model: claude-sonnet-4-5, credentials: { anthropic: env:${KEY} } }
  waiter: { harness: command, command: "sleep 600", credentials: { openai: secret:agentvisor-model/openai } }
tasks:
  - { id: claude, agent: claude, prompt: "Create claude.txt", runsOn: host-a, timeout: 5m }
  - { id: waiting, agent: waiter, runsOn: kubernetes, timeout: 4m }
`),
        { config: cfg, worker: 'none', runId: budgetRunId },
      );
      await budgetRun.client.connection.close();
      const spent = await waitForRun(client, budgetRunId, cfg);
      console.log(spent.tasks.map((t) => `${t.id}@${t.host}: ${t.status} ${t.error ?? ''} ${JSON.stringify(t.usage ?? {})}`).join('\n'));
      expectStoppedByRunBudget(spent, 'kubernetes');
      await until(
        'nothing of the budget run left',
        async () => Object.keys(await objectsOfRun(cluster, 'agentvisor', budgetRunId)).length === 0,
        60_000,
      );
      expect(await containersOfRun(budgetRunId)).toEqual([]);
    } finally {
      watches.forEach((w) => w.abort());
      await client.connection.close();
      await hosts.close();
      temporal.close();
      await cluster.core.deleteNamespace({ name: 'agentvisor' }).catch(() => undefined);
      namespaces.splice(namespaces.indexOf('agentvisor'), 1);
      await until(
        'no namespace agentvisor',
        async () => !(await cluster.core.readNamespace({ name: 'agentvisor' }).catch(() => undefined)),
        120_000,
      );
      await cluster.core.deletePersistentVolume({ name: pvName }).catch(() => undefined);
    }
  }, 1_200_000);
});

/** Every file under a folder, as text. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(f).isFile())
    .map((f) => readFileSync(f, 'latin1'));
}
