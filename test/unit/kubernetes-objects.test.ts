// The Kubernetes runtime's objects and its reading of Job and pod states, without an API server
// (test/e2e/kubernetes.test.ts has them admitted and followed by a real one).
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import {
  AWAIT_POLICY,
  gatewayPolicy,
  isolationPolicy,
  jobFor,
  labelValue,
  networkPolicy,
  objectName,
  selectorFor,
} from '../../runtimes/kubernetes/objects';
import { judge } from '../../runtimes/kubernetes/status';
import type { ContainerSpec } from '../../runtimes/runtime';

const spec: ContainerSpec = {
  name: 'agentvisor-run:1/UPPER_task',
  image: 'agentvisor/base:latest',
  command: ['sh', '-c', 'echo hi'],
  env: { TOKEN: 'secret-value' },
  workdir: '/workspace',
  mounts: [
    { source: '/data/worktree', target: '/workspace', readOnly: false },
    { source: '/data/home', target: '/opt/home', readOnly: true },
  ],
  user: '1000:1000',
  labels: { 'org.agentvisor.run': 'run:1', 'org.agentvisor.scope': 'default@127.0.0.1:7233' },
  memoryBytes: 512 * 1024 ** 2,
  cpus: 1.5,
  network: 'none',
  tmpfs: ['/home/agent', '/tmp'],
  deadlineSeconds: 90.2,
};

test('names and label values Kubernetes accepts, stable and distinct', () => {
  const name = objectName(spec.name);
  expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  expect(name.length).toBeLessThanOrEqual(52);
  expect(objectName(spec.name)).toBe(name);
  expect(objectName(spec.name + 'x')).not.toBe(name);
  expect(labelValue('plain-value_1.2')).toBe('plain-value_1.2');
  expect(labelValue('default@127.0.0.1:7233')).toMatch(/^h[0-9a-f]{40}$/);
  expect(selectorFor({ 'org.agentvisor.run': '' })).toBe('org.agentvisor.run,app.kubernetes.io/managed-by=agentvisor');
});

test('a Job: one pod, no retries, the deadline, limits, restricted security, env only in a Secret', () => {
  const { job, secret, mounts } = jobFor(spec, { namespace: 'ns' });
  expect(job.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 91, completions: 1 });
  const pod = job.spec!.template.spec!;
  expect(pod).toMatchObject({
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    securityContext: { runAsNonRoot: true, runAsUser: 1000, runAsGroup: 1000, seccompProfile: { type: 'RuntimeDefault' } },
  });
  expect(pod.containers.map((c) => c.name)).toEqual(['main', 'copy-out']);
  expect(pod.initContainers!.map((c) => c.name)).toEqual(['copy-in']);
  for (const c of [...pod.containers, ...pod.initContainers!]) {
    expect(c.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
      readOnlyRootFilesystem: true,
    });
    // no value from the spec's env: those are in the Secret
    if (c.name !== 'main') expect(c.env).toBeUndefined();
  }
  const main = pod.containers[0];
  // git trusts the mounted folders, which are root's on a real node (an emptyDir's own folder)
  expect(main.env).toEqual([
    { name: 'GIT_CONFIG_COUNT', value: '2' },
    { name: 'GIT_CONFIG_KEY_0', value: 'safe.directory' },
    { name: 'GIT_CONFIG_VALUE_0', value: '/workspace' },
    { name: 'GIT_CONFIG_KEY_1', value: 'safe.directory' },
    { name: 'GIT_CONFIG_VALUE_1', value: '/opt/home' },
  ]);
  expect(main.resources).toEqual({
    requests: { cpu: '1.5', memory: String(512 * 1024 ** 2) },
    limits: { cpu: '1.5', memory: String(512 * 1024 ** 2) },
  });
  expect(main.envFrom).toEqual([{ secretRef: { name: job.metadata!.name } }]);
  expect(pod.containers[1].envFrom).toBeUndefined();
  expect(JSON.stringify(job)).not.toContain('secret-value');
  expect(secret.stringData).toEqual({ TOKEN: 'secret-value' });
  expect(pod.volumes!.every((v) => v.emptyDir)).toBe(true);
  expect(mounts.map((m) => [m.volume, m.readOnly])).toEqual([
    ['m0', false],
    ['m1', true],
  ]);
  expect(() => jobFor({ ...spec, user: '0:0' }, { namespace: 'ns' })).toThrow(/other than root/);
});

test('limits on the pod: memory, CPU, the disk as ephemeral-storage and volume size limits, /tmp and HOME in memory', () => {
  const disk = 64 * 1024 ** 2;
  const { job } = jobFor({ ...spec, diskBytes: disk }, { namespace: 'ns' });
  const pod = job.spec!.template.spec!;
  expect(pod.containers[0].resources).toEqual({
    requests: { cpu: '1.5', memory: String(512 * 1024 ** 2), 'ephemeral-storage': String(disk) },
    limits: { cpu: '1.5', memory: String(512 * 1024 ** 2), 'ephemeral-storage': String(disk) },
  });
  const volumes = Object.fromEntries(pod.volumes!.map((v) => [v.name, v.emptyDir]));
  // the directory mounts (workspace, home files) hold at most the disk limit
  expect(volumes.m0).toEqual({ sizeLimit: String(disk) });
  expect(volumes.m1).toEqual({ sizeLimit: String(disk) });
  // tmpfs: in memory (counted against the memory limit), 512Mi each at most
  expect(volumes.t0).toEqual({ medium: 'Memory', sizeLimit: '512Mi' });
  expect(volumes.t1).toEqual({ medium: 'Memory', sizeLimit: '512Mi' });
  // a large disk limit asks the node for little, and bounds at the limit
  const big = jobFor({ ...spec, diskBytes: 10 * 1024 ** 3 }, { namespace: 'ns' }).job.spec!.template.spec!.containers[0].resources!;
  expect(big.requests!['ephemeral-storage']).toBe(String(256 * 1024 ** 2));
  expect(big.limits!['ephemeral-storage']).toBe(String(10 * 1024 ** 3));
  // without a disk limit (a worker with --disk off): no ephemeral-storage, volumes unbounded
  const none = jobFor(spec, { namespace: 'ns' }).job.spec!.template.spec!;
  expect(none.containers[0].resources!.limits).not.toHaveProperty('ephemeral-storage');
  expect(none.volumes!.find((v) => v.name === 'm0')!.emptyDir).toEqual({});
});

// What a hostile agent's pod may reach (README "Isolation", "Network"). These are the objects only:
// the kwok test cluster has no CNI, so no policy is enforced there and no packet is ever dropped.
test('a network lets its pods reach only the Jobs that serve it, on the ports they serve it', () => {
  expect(networkPolicy('net', {}, 'ns').spec).toMatchObject({ policyTypes: ['Egress'], egress: [] });
  const gw = { podSelector: { matchLabels: { 'batch.kubernetes.io/job-name': 'gw' } } };
  const policy = networkPolicy('net', {}, 'ns', ['gw'], [8080]);
  expect(policy.spec!.policyTypes).toEqual(['Egress']);
  expect(policy.spec!.podSelector).toEqual({
    matchLabels: { 'app.kubernetes.io/managed-by': 'agentvisor', 'org.agentvisor.network': 'net' },
  });
  // one rule: the gateway's pod, its agents' port; not its control port, no DNS, no node, no other pod or address
  expect(policy.spec!.egress).toEqual([{ to: [gw], ports: [{ protocol: 'TCP', port: 8080 }] }]);
  // a server that declares no port gives no rule at all (a rule without ports would open every port)
  expect(networkPolicy('net', {}, 'ns', ['gw']).spec!.egress).toEqual([]);
});

test('agent pods take no traffic from anyone and send none but what their network allows', () => {
  const policy = isolationPolicy('ns');
  expect(policy.spec).toEqual({
    podSelector: {
      matchLabels: { 'app.kubernetes.io/managed-by': 'agentvisor' },
      matchExpressions: [{ key: 'org.agentvisor.role', operator: 'NotIn', values: ['gateway'] }],
    },
    policyTypes: ['Ingress', 'Egress'],
  });
  expect(policy.spec!.ingress).toBeUndefined(); // none allowed: other agents cannot reach an agent
});

test("a gateway takes connections from its run's pods on its agents' port, and from the worker on any", () => {
  const worker = { namespace: 'ns', labels: { 'app.kubernetes.io/name': 'agentvisor-worker' } };
  const policy = gatewayPolicy('gw-job', { 'org.agentvisor.run': 'run:1', 'org.agentvisor.role': 'gateway' }, 'ns', [8080], worker);
  expect(policy.metadata!.name).toBe('gw-job');
  expect(policy.metadata!.annotations).toBeUndefined(); // not a network: stopGateway's listNetworks skips it
  expect(policy.spec).toEqual({
    podSelector: { matchLabels: { 'batch.kubernetes.io/job-name': 'gw-job' } },
    policyTypes: ['Ingress'],
    ingress: [
      {
        _from: [
          { podSelector: { matchLabels: { 'app.kubernetes.io/managed-by': 'agentvisor', 'org.agentvisor.run': labelValue('run:1') } } },
        ],
        ports: [{ protocol: 'TCP', port: 8080 }],
      },
      { _from: [{ podSelector: { matchLabels: worker.labels } }] },
    ],
  });
  // a worker in another namespace: named by it too
  const elsewhere = gatewayPolicy('gw-job', { 'org.agentvisor.run': 'r' }, 'agents', [8080], { ...worker, namespace: 'agentvisor' });
  expect(elsewhere.spec!.ingress![1]._from).toEqual([
    { podSelector: { matchLabels: worker.labels }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'agentvisor' } } },
  ]);
});

test('an agent pod names its gateway by hostAliases and asks no cluster DNS', () => {
  const { job } = jobFor(
    { ...spec, network: 'net', hosts: { 'agentvisor-gateway': '10.96.0.7' }, dns: ['10.96.0.7'] },
    { namespace: 'ns', serviceIp: '10.96.0.7', serviceAlias: 'agentvisor-gateway' },
  );
  const pod = job.spec!.template.spec!;
  expect(pod.hostAliases).toEqual([{ ip: '10.96.0.7', hostnames: ['agentvisor-gateway'] }]);
  expect(pod.dnsPolicy).toBe('None');
  expect(pod.dnsConfig).toEqual({ nameservers: ['10.96.0.7'] });
  // a container on no gateway's network: none of these
  const alone = jobFor(spec, { namespace: 'ns' }).job.spec!.template.spec!;
  expect([alone.hostAliases, alone.dnsPolicy, alone.dnsConfig]).toEqual([undefined, undefined, undefined]);
});

test('a pod of agent code starts only once its network policy is in effect; a gateway need not wait', () => {
  const of = (role: string) => jobFor({ ...spec, labels: { ...spec.labels, 'org.agentvisor.role': role } }, { namespace: 'ns' }).job;
  for (const role of ['agent', 'evaluation']) {
    const init = of(role).spec!.template.spec!.initContainers!;
    expect([role, init.map((c) => c.name)]).toEqual([role, [AWAIT_POLICY, 'copy-in']]);
    expect(init[0]).toMatchObject({ image: spec.image, terminationMessagePolicy: 'FallbackToLogsOnError' });
    expect(init[0].command!.join(' ')).toMatch(/KUBERNETES_SERVICE_HOST/);
    expect(init[0].envFrom).toBeUndefined(); // nothing of the Secret
  }
  for (const role of ['gateway', 'collector'])
    expect([role, of(role).spec!.template.spec!.initContainers!.map((c) => c.name)]).toEqual([role, ['copy-in']]);
  // without mounts, the wait alone
  expect(
    jobFor(
      { ...spec, mounts: [], labels: { 'org.agentvisor.role': 'agent' } },
      { namespace: 'ns' },
    ).job.spec!.template.spec!.initContainers!.map((c) => c.name),
  ).toEqual([AWAIT_POLICY]);
});

const job = (conditions: { type: string; reason?: string }[] = []): V1Job => ({
  metadata: { name: 'j', creationTimestamp: new Date('2026-01-01T00:00:00Z') },
  status: { conditions: conditions.map((c) => ({ ...c, status: 'True' })) },
});
const pod = (main: object | undefined, init?: object): V1Pod => ({
  metadata: { name: 'j-abcde', creationTimestamp: new Date('2026-01-01T00:00:01Z') },
  status: {
    containerStatuses: main ? [{ name: 'main', image: 'img', imageID: '', ready: false, restartCount: 0, state: main }] : [],
    initContainerStatuses: init ? [{ name: 'copy-in', image: 'img', imageID: '', ready: false, restartCount: 0, state: init }] : [],
  },
});

test('pod and Job states read as container states', () => {
  expect(judge(undefined, []).state).toBe('missing');
  expect(judge(job(), []).state).toBe('created');
  expect(judge(job(), [pod({ running: { startedAt: new Date() } })])).toMatchObject({ state: 'running', mainStarted: true });
  expect(judge(job(['Complete'].map((type) => ({ type }))), [pod({ terminated: { exitCode: 0 } })]).exit).toEqual({
    exitCode: 0,
    oomKilled: false,
  });
  expect(
    judge(job([{ type: 'Failed', reason: 'BackoffLimitExceeded' }]), [pod({ terminated: { exitCode: 3, reason: 'Error' } })]).exit,
  ).toEqual({ exitCode: 3, oomKilled: false });
  expect(judge(job([{ type: 'Failed' }]), [pod({ terminated: { exitCode: 137, reason: 'OOMKilled' } })]).exit).toEqual({
    exitCode: 137,
    oomKilled: true,
  });
  expect(judge(job([{ type: 'FailureTarget', reason: 'DeadlineExceeded' }]), []).exit).toEqual({
    exitCode: 137,
    oomKilled: false,
    timedOut: true,
  });
  // exited, while the copy-out container still holds the pod
  expect(judge(job(), [pod({ terminated: { exitCode: 2 } })])).toMatchObject({ state: 'exited', exit: { exitCode: 2 } });
  expect(judge(job(), [pod(undefined, { waiting: { reason: 'ErrImageNeverPull', message: 'not present' } })]).cannotRun).toMatch(
    /ErrImageNeverPull/,
  );
  expect(judge(job(), [pod({ waiting: { reason: 'ContainerCreating' } })]).cannotRun).toBeUndefined();
});

test('a pod whose network policy never took effect cannot run, and says why', () => {
  const waited = (state: object): V1Pod => ({
    metadata: { name: 'j-abcde' },
    status: {
      phase: 'Failed',
      initContainerStatuses: [{ name: AWAIT_POLICY, image: 'img', imageID: '', ready: false, restartCount: 0, state }],
      containerStatuses: [
        { name: 'main', image: 'img', imageID: '', ready: false, restartCount: 0, state: { waiting: { reason: 'PodInitializing' } } },
      ],
    },
  });
  const message =
    'the pod still reaches the Kubernetes API server (10.96.0.1:443) 60 s after it started: its NetworkPolicy is not in effect';
  const j = judge(job([{ type: 'Failed' }]), [waited({ terminated: { exitCode: 1, message: `${message}\n` } })]);
  expect(j.cannotRun).toBe(`the pod's network could not be confined: ${message}`);
  expect(j.mainStarted).toBe(false);
  expect(judge(job(), [waited({ terminated: { exitCode: 0 } })]).cannotRun).toBeUndefined();
  expect(judge(job(), [waited({ waiting: { reason: 'ErrImageNeverPull' } })]).cannotRun).toMatch(/ErrImageNeverPull/);
});
