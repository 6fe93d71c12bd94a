// What the Kubernetes runtime creates for a container, as plain objects: a Job with one pod, the
// Secret holding its environment, and for networks a NetworkPolicy and a Service. Pure functions,
// so the specs can be read (and tested) apart from the API calls.
import type {
  V1Job,
  V1NetworkPolicy,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Secret,
  V1Service,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { LABEL_ROLE, LABEL_RUN, type ContainerSpec } from '../runtime';

export const MANAGED_BY = { 'app.kubernetes.io/managed-by': 'agentvisor' };
/** the agentvisor name of the container (ContainerSpec.name), which Kubernetes names cannot hold */
export const ANNOTATION_NAME = 'org.agentvisor.name';
/** the container's labels as given (label values cannot hold every character they may have) */
export const ANNOTATION_LABELS = 'org.agentvisor.labels';
/** the directory mounts, to copy the writable ones back after the container exits */
export const ANNOTATION_MOUNTS = 'org.agentvisor.mounts';
/** set once the mounts' contents are in the pod */
export const ANNOTATION_COPIED_IN = 'org.agentvisor.copied-in';
export const ANNOTATION_COPIED_OUT = 'org.agentvisor.copied-out';
/** the pod label naming the network a pod is on ('none': no network at all) */
export const LABEL_NETWORK = 'org.agentvisor.network';
/** the label Kubernetes puts on a Job's pods */
export const LABEL_JOB = 'batch.kubernetes.io/job-name';
/** the ServiceAccount every pod runs as: no role bound, no token mounted */
export const SERVICE_ACCOUNT = 'agentvisor-sandbox';
/** The namespace of the pod the worker runs in, when it runs in one. */
export const IN_CLUSTER_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
/** denies every pod of agentvisor's but the gateways all traffic; networks add what they allow */
export const ISOLATION_POLICY = 'agentvisor-isolation';

export const MAIN = 'main';
/** the init container that holds an agent's pod until its NetworkPolicy is in effect */
export const AWAIT_POLICY = 'await-network-policy';
/** how long it waits for that, in seconds */
export const AWAIT_POLICY_SECONDS = 60;
export const COPY_IN = 'copy-in';
export const COPY_OUT = 'copy-out';
export const COPY_IN_DIR = '/agentvisor/in';
export const COPY_OUT_DIR = '/agentvisor/out';
export const READY_MARKER = '.agentvisor-ready';
export const DONE_MARKER = '.agentvisor-done';

/** A Kubernetes object name (DNS label, ≤ 63) for an agentvisor name: readable, and unique by its hash. */
export function objectName(name: string): string {
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 10);
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^agentvisor-/, 'av-')
    .slice(0, 40)
    .replace(/^-+|-+$/g, '');
  return `${slug || 'av'}-${hash}`;
}

/** A label value (≤ 63, alphanumerics, '-', '_', '.') for any string: itself if it is one, else a hash. */
export function labelValue(value: string): string {
  if (value.length <= 63 && /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$/.test(value)) return value;
  return `h${createHash('sha256').update(value).digest('hex').slice(0, 40)}`;
}

export function labelsFor(labels: Record<string, string>): Record<string, string> {
  return { ...Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, labelValue(v)])), ...MANAGED_BY };
}

/** A label selector for these labels; an empty value: the label with any value. */
export function selectorFor(labels: Record<string, string>): string {
  return Object.entries({ ...labels, ...MANAGED_BY })
    .map(([k, v]) => (v ? `${k}=${labelValue(v)}` : k))
    .join(',');
}

export interface MountPlan {
  volume: string;
  source: string;
  target: string;
  readOnly: boolean;
}

export interface KubernetesOptions {
  namespace: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

function uidGid(user: string): { uid: number; gid: number } {
  const [u, g = u] = user.split(':');
  const uid = Number(u);
  const gid = Number(g);
  if (!Number.isInteger(uid) || !Number.isInteger(gid) || uid <= 0) {
    throw new Error(`container user "${user}" must be a numeric uid:gid other than root (Pod Security "restricted")`);
  }
  return { uid, gid };
}

/** what a pod's helper containers (copies, the policy wait) ask for */
const SMALL = { requests: { cpu: '10m', memory: '16Mi' }, limits: { cpu: '500m', memory: '128Mi' } };

/** Pod Security "restricted", container side: nothing to gain, nothing to write but its volumes. */
const containerSecurity: V1SecurityContext = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
  readOnlyRootFilesystem: true,
  runAsNonRoot: true,
  seccompProfile: { type: 'RuntimeDefault' },
};

/**
 * The Job of one container. Its pod: restartPolicy Never, backoffLimit 0 (Temporal owns retries),
 * the deadline, requests and limits, a restricted security context, no service account token.
 * Directory mounts cannot be host paths (Pod Security forbids them, and the worker's disk is not the
 * node's): each is an emptyDir that the copy-in init container holds the pod for until the worker
 * has copied the directory in (through the API server, as `kubectl cp` does); writable ones are read
 * back from the copy-out container after the main container exits. No credentials are in the pod
 * for this, and no network is needed.
 */
/**
 * A mounted folder is an emptyDir, whose own folder the kubelet makes root's (group fsGroup): git,
 * run as the pod's user, would refuse a repository there ("dubious ownership"). Its contents are
 * the pod user's own and the pod has no other user, so git is told to trust those folders (as
 * command-line configuration, which `safe.directory` honours; no file in the image changes).
 */
function safeDirectories(mounts: MountPlan[]): { name: string; value: string }[] {
  return [
    { name: 'GIT_CONFIG_COUNT', value: String(mounts.length) },
    ...mounts.flatMap((m, i) => [
      { name: `GIT_CONFIG_KEY_${i}`, value: 'safe.directory' },
      { name: `GIT_CONFIG_VALUE_${i}`, value: m.target },
    ]),
  ];
}

export function jobFor(
  spec: ContainerSpec,
  opts: KubernetesOptions & { serviceIp?: string; serviceAlias?: string },
): { job: V1Job; secret: V1Secret; mounts: MountPlan[] } {
  const name = objectName(spec.name);
  const { uid, gid } = uidGid(spec.user);
  const labels = labelsFor(spec.labels);
  const annotations = { [ANNOTATION_NAME]: spec.name, [ANNOTATION_LABELS]: JSON.stringify(spec.labels) };
  const mounts: MountPlan[] = spec.mounts.map((m, i) => ({ volume: `m${i}`, source: m.source, target: m.target, readOnly: m.readOnly }));
  const writable = mounts.filter((m) => !m.readOnly);
  const pull = opts.imagePullPolicy ?? 'IfNotPresent';
  const emptyDir = (v: string, sizeLimit?: string): V1Volume => ({ name: v, emptyDir: sizeLimit ? { sizeLimit } : {} });

  // the disk limit: each directory volume holds at most that much (the kubelet evicts the pod past
  // it), and the main container's ephemeral-storage limit bounds the pod's use of the node's disk
  const disk = spec.diskBytes ? String(spec.diskBytes) : undefined;
  const volumes: V1Volume[] = [
    ...mounts.map((m) => emptyDir(m.volume, disk)),
    // in memory, as Docker's tmpfs: counted against the memory limit as well as their own size
    ...spec.tmpfs.map((_, i) => ({ name: `t${i}`, emptyDir: { medium: 'Memory', sizeLimit: '512Mi' } })),
    ...(mounts.length ? [emptyDir('copy-in', '1Mi')] : []),
    ...(writable.length ? [emptyDir('copy-out', '1Mi')] : []),
  ];
  const mainMounts: V1VolumeMount[] = [
    ...mounts.map((m) => ({ name: m.volume, mountPath: m.target, readOnly: m.readOnly })),
    ...spec.tmpfs.map((dir, i) => ({ name: `t${i}`, mountPath: dir })),
  ];
  const resources = {
    requests: {
      cpu: spec.cpus ? String(spec.cpus) : '100m',
      ...(spec.memoryBytes ? { memory: String(spec.memoryBytes) } : { memory: '256Mi' }),
      // a small request (a limit alone would request the whole limit from the node's disk)
      ...(disk ? { 'ephemeral-storage': String(Math.min(spec.diskBytes!, 256 * 1024 ** 2)) } : {}),
    },
    limits: {
      ...(spec.cpus ? { cpu: String(spec.cpus) } : {}),
      ...(spec.memoryBytes ? { memory: String(spec.memoryBytes) } : {}),
      ...(disk ? { 'ephemeral-storage': disk } : {}),
    },
  };
  // the marker is the archive's last entry: the container ends once everything before it is there
  const confined = CONFINED_ROLES.includes(spec.labels[LABEL_ROLE] ?? '');
  const waitFor = (marker: string, every: string) => ['sh', '-c', `until [ -e ${marker} ]; do sleep ${every}; done`];
  const podSecurity: V1PodSecurityContext = {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: gid,
    fsGroup: gid,
    seccompProfile: { type: 'RuntimeDefault' },
  };

  const job: V1Job = {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name,
      namespace: opts.namespace,
      labels,
      annotations: { ...annotations, [ANNOTATION_MOUNTS]: JSON.stringify(mounts) },
    },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      ...(spec.deadlineSeconds ? { activeDeadlineSeconds: Math.max(1, Math.ceil(spec.deadlineSeconds)) } : {}),
      template: {
        metadata: {
          labels: { ...labels, [LABEL_NETWORK]: labelValue(spec.network) },
          annotations,
        },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: SERVICE_ACCOUNT,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 10,
          securityContext: podSecurity,
          // the gateway's name on the agent's network, without DNS (agents may reach nothing else)
          ...hostAliases({ ...(opts.serviceIp && opts.serviceAlias ? { [opts.serviceAlias]: opts.serviceIp } : {}), ...spec.hosts }),
          // names go to these servers only, never to the cluster's DNS (which the network's policy blocks anyway)
          ...(spec.dns?.length ? { dnsPolicy: 'None', dnsConfig: { nameservers: spec.dns } } : {}),
          volumes,
          initContainers:
            confined || mounts.length
              ? [
                  ...(confined ? [awaitPolicy(spec.image, pull)] : []),
                  ...(mounts.length
                    ? [
                        {
                          name: COPY_IN,
                          image: spec.image,
                          imagePullPolicy: pull,
                          command: waitFor(READY_MARKER, '0.2'),
                          workingDir: COPY_IN_DIR,
                          volumeMounts: [
                            { name: 'copy-in', mountPath: COPY_IN_DIR },
                            ...mounts.map((m) => ({ name: m.volume, mountPath: `${COPY_IN_DIR}/${m.volume}` })),
                          ],
                          securityContext: containerSecurity,
                          resources: SMALL,
                        },
                      ]
                    : []),
                ]
              : undefined,
          containers: [
            {
              name: MAIN,
              image: spec.image,
              imagePullPolicy: pull,
              // args, not command: the image's entrypoint stays, as Docker's Cmd leaves it
              args: spec.command,
              workingDir: spec.workdir,
              envFrom: [{ secretRef: { name } }],
              // credentials the cluster holds (secret:NAME/KEY): referenced, never copied into the spec;
              // and git's safe.directory for the mounted folders
              ...(mounts.length || (spec.secretEnv && Object.keys(spec.secretEnv).length)
                ? {
                    env: [
                      ...(mounts.length ? safeDirectories(mounts) : []),
                      ...Object.entries(spec.secretEnv ?? {}).map(([variable, ref]) => ({
                        name: variable,
                        valueFrom: { secretKeyRef: { name: ref.secret, key: ref.key } },
                      })),
                    ],
                  }
                : {}),
              ...(spec.ports?.length ? { ports: spec.ports.map((p) => ({ containerPort: p, protocol: 'TCP' })) } : {}),
              volumeMounts: mainMounts,
              securityContext: containerSecurity,
              resources,
            },
            ...(writable.length
              ? [
                  {
                    name: COPY_OUT,
                    image: spec.image,
                    imagePullPolicy: pull,
                    command: waitFor(DONE_MARKER, '1'),
                    workingDir: COPY_OUT_DIR,
                    volumeMounts: [
                      { name: 'copy-out', mountPath: COPY_OUT_DIR },
                      ...writable.map((m) => ({ name: m.volume, mountPath: `${COPY_OUT_DIR}/${m.volume}`, readOnly: true })),
                    ],
                    securityContext: containerSecurity,
                    resources: SMALL,
                  },
                ]
              : []),
          ],
        },
      },
    },
  };
  // the environment (tokens, the gateway's credentials) in the pod's own Secret, read by its main container alone
  const secret: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: opts.namespace, labels, annotations },
    type: 'Opaque',
    stringData: spec.env,
  };
  return { job, secret, mounts };
}

/** The pods that run code from agents, whose network their policy confines (isolationPolicy, networkPolicy). */
const CONFINED_ROLES = ['agent', 'evaluation'];

/**
 * The policy enforcer (kube-router, Calico, Cilium, ...) applies a new pod's NetworkPolicies a
 * moment after the pod has its address: until then the pod reaches everything. So an agent's pod
 * first runs this, which waits until an address every agent's policy forbids, the Kubernetes API
 * server's Service (the kubelet names it in every pod's environment), no longer answers; only then
 * do the workspace copy and the agent start. Bounded: with no enforcer in the cluster the policy
 * never takes effect, and the pod fails saying so rather than running the agent unconfined. It
 * connects with node (in agentvisor's images) or else bash's /dev/tcp, and fails without either.
 */
function awaitPolicy(image: string, pull: string) {
  const connect = `const s = require('net').connect(Number(process.argv[2]), process.argv[1]);
s.setTimeout(1000, () => process.exit(1));
s.on('connect', () => process.exit(0)).on('error', () => process.exit(1));`;
  const script = `set -u
host="\${KUBERNETES_SERVICE_HOST:-}"; port="\${KUBERNETES_SERVICE_PORT:-}"
[ -n "$host" ] || { echo "no KUBERNETES_SERVICE_HOST in the pod: cannot check that its NetworkPolicy is in effect" >&2; exit 1; }
if command -v node >/dev/null 2>&1; then reaches() { node -e "$CONNECT" "$host" "$port"; }
elif command -v bash >/dev/null 2>&1; then reaches() { timeout 1 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$host" "$port" 2>/dev/null; }
else echo "image ${image} has neither node nor bash: cannot check that the pod's NetworkPolicy is in effect" >&2; exit 1; fi
tries=0
while reaches; do
  tries=$((tries + 1))
  if [ "$tries" -ge ${AWAIT_POLICY_SECONDS * 2} ]; then
    echo "the pod still reaches the Kubernetes API server ($host:$port) ${AWAIT_POLICY_SECONDS} s after it started: its NetworkPolicy is not in effect (does the cluster's network plugin enforce NetworkPolicies?); the agent was not started" >&2
    exit 1
  fi
  sleep 0.5
done`;
  return {
    name: AWAIT_POLICY,
    image,
    imagePullPolicy: pull,
    command: ['sh', '-c', script],
    env: [{ name: 'CONNECT', value: connect }],
    // its last words become the container's termination message, which the worker reports
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: containerSecurity,
    resources: SMALL,
  };
}

function hostAliases(hosts: Record<string, string>): { hostAliases?: { ip: string; hostnames: string[] }[] } {
  const entries = Object.entries(hosts);
  return entries.length ? { hostAliases: entries.map(([name, ip]) => ({ ip, hostnames: [name] })) } : {};
}

/** Denies all traffic to and from agentvisor's pods except gateways; each network allows its part. */
export function isolationPolicy(namespace: string): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: ISOLATION_POLICY, namespace, labels: MANAGED_BY },
    spec: {
      podSelector: {
        matchLabels: MANAGED_BY,
        matchExpressions: [{ key: 'org.agentvisor.role', operator: 'NotIn', values: ['gateway'] }],
      },
      policyTypes: ['Ingress', 'Egress'],
    },
  };
}

/**
 * A network (one agent's): its pods may reach the pods of the Jobs that serve it (the gateway,
 * added by connect) on the ports those serve it (`ports`: the gateway's agents' port, not its
 * control port), and nothing else: no DNS (the gateway's name is in the pod's hostAliases), not
 * the node, not another pod; with no server yet, nothing at all. Ingress to agent pods is denied
 * by isolationPolicy, so other agents cannot reach them either.
 */
export function networkPolicy(
  network: string,
  labels: Record<string, string>,
  namespace: string,
  servers: string[] = [],
  ports: number[] = [],
): V1NetworkPolicy {
  const net = labelValue(network);
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: objectName(network),
      namespace,
      labels: labelsFor(labels),
      annotations: { [ANNOTATION_NAME]: network, [ANNOTATION_LABELS]: JSON.stringify(labels) },
    },
    spec: {
      podSelector: { matchLabels: { ...MANAGED_BY, [LABEL_NETWORK]: net } },
      policyTypes: ['Egress'],
      // a server with no declared port is not reachable at all (no rule without ports: that would be every port)
      egress:
        servers.length && ports.length
          ? [
              {
                to: servers.map((job) => ({ podSelector: { matchLabels: { [LABEL_JOB]: job } } })),
                ports: ports.map((port) => ({ protocol: 'TCP', port })),
              },
            ]
          : [],
    },
  };
}

/** The worker's own pod, in the cluster: its namespace and the labels its Deployment gives it. */
export interface WorkerPeer {
  namespace: string;
  labels: Record<string, string>;
}

/**
 * Who may connect to a run's gateway (the pod of the Job `jobName`): the run's pods on the ports it
 * serves them (its agents' port; each agent's own policy narrows it to its gateway), and the worker
 * on any port (the control side, which takes the worker's token). Made for an in-cluster worker,
 * which knows its pod; a worker outside the cluster makes none (its packets come from a machine
 * no pod selector names), and the gateway then takes connections from anywhere, as before.
 */
export function gatewayPolicy(
  jobName: string,
  labels: Record<string, string>,
  namespace: string,
  ports: number[],
  worker: WorkerPeer,
): V1NetworkPolicy {
  const run = labels[LABEL_RUN];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: jobName, namespace, labels: labelsFor(labels) },
    spec: {
      podSelector: { matchLabels: { [LABEL_JOB]: jobName } },
      policyTypes: ['Ingress'],
      ingress: [
        ...(run && ports.length
          ? [
              {
                _from: [{ podSelector: { matchLabels: { ...MANAGED_BY, [LABEL_RUN]: labelValue(run) } } }],
                ports: ports.map((port) => ({ protocol: 'TCP', port })),
              },
            ]
          : []),
        {
          _from: [
            {
              podSelector: { matchLabels: worker.labels },
              ...(worker.namespace !== namespace
                ? { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': worker.namespace } } }
                : {}),
            },
          ],
        },
      ],
    },
  };
}

/** The Service by which a network's pods reach the container serving it (the gateway), under `alias`. */
export function serviceFor(
  network: string,
  jobName: string,
  ports: number[],
  labels: Record<string, string>,
  alias: string | undefined,
  namespace: string,
): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: objectName(network),
      namespace,
      labels: labelsFor(labels),
      annotations: { [ANNOTATION_NAME]: network, [ANNOTATION_LABELS]: JSON.stringify(labels), 'org.agentvisor.alias': alias ?? '' },
    },
    spec: {
      type: 'ClusterIP',
      selector: { [LABEL_JOB]: jobName },
      ports: ports.map((p) => ({ name: `tcp-${p}`, port: p, targetPort: p, protocol: 'TCP' })),
    },
  };
}
