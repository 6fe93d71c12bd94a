// Kubernetes backend: one container = one Job with one pod in the worker's namespace (objects in
// runtimes/kubernetes/objects.ts, states in status.ts, directories copied in and out in copy.ts).
// Credentials from a kubeconfig (--kubeconfig, KUBECONFIG, ~/.kube/config) or, in a pod, in-cluster.
import * as k8s from '@kubernetes/client-node';
import { existsSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import { PassThrough, type Writable } from 'node:stream';
import { ContainerCannotRun, LABEL_ROLE, type ContainerInfo, type ContainerRuntime, type ContainerSpec, type ExitInfo } from './runtime';
import { copyIn, copyOut } from './kubernetes/copy';
import {
  ANNOTATION_COPIED_IN,
  ANNOTATION_COPIED_OUT,
  ANNOTATION_LABELS,
  ANNOTATION_MOUNTS,
  ANNOTATION_NAME,
  COPY_IN,
  IN_CLUSTER_NAMESPACE,
  ISOLATION_POLICY,
  LABEL_JOB,
  MAIN,
  MANAGED_BY,
  SERVICE_ACCOUNT,
  gatewayPolicy,
  isolationPolicy,
  jobFor,
  networkPolicy,
  objectName,
  selectorFor,
  serviceFor,
  type KubernetesOptions,
  type MountPlan,
  type WorkerPeer,
} from './kubernetes/objects';
import { judge, type Judgement } from './kubernetes/status';

export interface KubernetesRuntimeOptions extends KubernetesOptions {
  /** a kubeconfig file; default: KUBECONFIG, ~/.kube/config, or the pod's own service account */
  kubeconfig?: string;
}

/** A Job and its pods as read, with the resource versions to watch for what changes next. */
interface Read {
  jobName: string;
  job?: k8s.V1Job;
  pods: k8s.V1Pod[];
  jobsVersion?: string;
  podsVersion?: string;
}

const codeOf = (err: unknown) => (err as { code?: number }).code;
const ignore =
  (...codes: number[]) =>
  (err: unknown) => {
    if (!codes.includes(codeOf(err) ?? 0)) throw err;
    return undefined;
  };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class KubernetesRuntime implements ContainerRuntime {
  readonly kind = 'kubernetes';
  readonly namespace: string;
  private readonly kc = new k8s.KubeConfig();
  private readonly core: k8s.CoreV1Api;
  private readonly batch: k8s.BatchV1Api;
  private readonly net: k8s.NetworkingV1Api;
  private readonly watcher: k8s.Watch;
  private readonly execApi: k8s.Exec;
  private readonly logApi: k8s.Log;
  private prepared?: Promise<void>;
  private self?: Promise<WorkerPeer | undefined>;

  constructor(readonly opts: KubernetesRuntimeOptions) {
    this.namespace = opts.namespace;
    if (opts.kubeconfig) this.kc.loadFromFile(opts.kubeconfig);
    else this.kc.loadFromDefault();
    this.core = this.kc.makeApiClient(k8s.CoreV1Api);
    this.batch = this.kc.makeApiClient(k8s.BatchV1Api);
    this.net = this.kc.makeApiClient(k8s.NetworkingV1Api);
    this.watcher = new k8s.Watch(this.kc);
    this.execApi = new k8s.Exec(this.kc);
    this.logApi = new k8s.Log(this.kc);
  }

  /**
   * Once per process: the ServiceAccount pods run as (no role bound to it, no token mounted) and
   * the policy that isolates agentvisor's pods. Both may come with the installation instead.
   */
  private prepare(): Promise<void> {
    this.prepared ??= (async () => {
      const namespace = this.namespace;
      // read first: an installation that made them need not grant the worker their creation
      if (!(await this.core.readNamespacedServiceAccount({ name: SERVICE_ACCOUNT, namespace }).catch(ignore(404)))) {
        await this.core
          .createNamespacedServiceAccount({
            namespace,
            body: { metadata: { name: SERVICE_ACCOUNT, labels: MANAGED_BY }, automountServiceAccountToken: false },
          })
          .catch(ignore(409));
      }
      if (!(await this.net.readNamespacedNetworkPolicy({ name: ISOLATION_POLICY, namespace }).catch(ignore(404)))) {
        await this.net.createNamespacedNetworkPolicy({ namespace, body: isolationPolicy(namespace) }).catch(ignore(409));
      }
    })().catch((err) => {
      this.prepared = undefined;
      throw err;
    });
    return this.prepared;
  }

  async start(spec: ContainerSpec): Promise<ContainerInfo> {
    await this.prepare();
    const jobName = objectName(spec.name);
    const service = await this.serviceOf(spec.network);
    const { job: body, secret } = jobFor(spec, {
      ...this.opts,
      serviceIp: service?.spec?.clusterIP,
      serviceAlias: service?.metadata?.annotations?.['org.agentvisor.alias'] || undefined,
    });
    let job = await this.readJob(jobName);
    if (!job) {
      job = await this.batch.createNamespacedJob({ namespace: this.namespace, body }).catch(async (err) => {
        if (codeOf(err) !== 409) throw err; // a concurrent attempt made it: use that one
        return (await this.readJob(jobName))!;
      });
    }
    await this.ensureSecret(secret, job);
    if (spec.labels[LABEL_ROLE] === 'gateway') await this.ensureGatewayPolicy(spec, job);
    const mounts = mountsOf(job);
    if (mounts.length && job.metadata?.annotations?.[ANNOTATION_COPIED_IN] !== 'true') await this.copyInto(jobName, mounts);
    return this.inspect(spec.name);
  }

  /** The container's environment, owned by its Job (deleted with it), made again if it went missing. */
  private async ensureSecret(secret: k8s.V1Secret, job: k8s.V1Job): Promise<void> {
    const body: k8s.V1Secret = {
      ...secret,
      metadata: {
        ...secret.metadata,
        ownerReferences: [
          { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid: job.metadata!.uid!, blockOwnerDeletion: false },
        ],
      },
    };
    try {
      await this.core.createNamespacedSecret({ namespace: this.namespace, body });
    } catch (err) {
      if (codeOf(err) === 409) return;
      // the API server's answer may quote what was sent: never pass it on
      throw new Error(`creating the Secret ${secret.metadata?.name} failed (HTTP ${codeOf(err) ?? '?'})`);
    }
  }

  /** Only the run's pods and this worker may connect to a gateway (objects.ts, gatewayPolicy); owned by its Job. */
  private async ensureGatewayPolicy(spec: ContainerSpec, job: k8s.V1Job): Promise<void> {
    const worker = await this.workerPeer();
    if (!worker) return;
    const body = gatewayPolicy(job.metadata!.name!, spec.labels, this.namespace, spec.ports ?? [], worker);
    body.metadata!.ownerReferences = [
      { apiVersion: 'batch/v1', kind: 'Job', name: job.metadata!.name!, uid: job.metadata!.uid!, blockOwnerDeletion: false },
    ];
    await this.net.createNamespacedNetworkPolicy({ namespace: this.namespace, body }).catch(ignore(409));
  }

  /** This worker's own pod, when it runs in the cluster (a pod's hostname is its name); else undefined. */
  private workerPeer(): Promise<WorkerPeer | undefined> {
    this.self ??= (async () => {
      if (!existsSync(IN_CLUSTER_NAMESPACE)) return undefined;
      const namespace = readFileSync(IN_CLUSTER_NAMESPACE, 'utf8').trim();
      const pod = await this.core.readNamespacedPod({ name: os.hostname(), namespace }).catch(ignore(403, 404));
      // not the template's hash: the worker's next pod (an update, a restart) must still reach the gateway
      const { 'pod-template-hash': _hash, ...labels } = pod?.metadata?.labels ?? {};
      return Object.keys(labels).length ? { namespace, labels } : undefined;
    })();
    return this.self;
  }

  /**
   * Copies the directories in as soon as the pod's copy-in container takes them. Exec into it works
   * only while it runs, that is before the main container starts: a copy can never land in a
   * running agent's workspace. Its having ended means a copy was made (by an earlier attempt).
   */
  private async copyInto(jobName: string, mounts: MountPlan[]): Promise<void> {
    let failures = 0;
    for (;;) {
      const r = await this.read(jobName);
      const j = judge(r.job, r.pods);
      if (j.state === 'missing') throw new Error(`Job ${jobName} disappeared while it started`);
      if (j.cannotRun) throw new ContainerCannotRun(j.cannotRun);
      if (j.exit || r.job?.metadata?.annotations?.[ANNOTATION_COPIED_IN] === 'true') return;
      const pod = j.pod;
      if (pod?.spec?.nodeName && !pod.metadata?.deletionTimestamp) {
        try {
          await copyIn({ exec: this.execApi, namespace: this.namespace, pod: pod.metadata!.name! }, mounts);
          await this.annotate(jobName, { [ANNOTATION_COPIED_IN]: 'true' });
          return;
        } catch (err) {
          const state = pod.status?.initContainerStatuses?.find((s) => s.name === COPY_IN)?.state;
          if (state?.terminated?.exitCode === 0) return;
          // failing while it runs: the copy itself fails (no tar in the image, exec not allowed)
          if (state?.running && ++failures >= 3) throw err;
          // else it does not run yet (being created, its image coming): again at the next change
        }
      }
      await this.changed(r, 5_000);
    }
  }

  async inspect(name: string): Promise<ContainerInfo> {
    const r = await this.read(objectName(name));
    return infoOf(name, r.job, judge(r.job, r.pods));
  }

  async wait(name: string): Promise<ExitInfo> {
    const jobName = objectName(name);
    for (;;) {
      const r = await this.read(jobName);
      const j = judge(r.job, r.pods);
      if (j.state === 'missing') throw new Error(`container ${name} is gone (its Job ${jobName} was deleted)`);
      if (j.cannotRun) throw new ContainerCannotRun(j.cannotRun);
      if (j.exit) {
        await this.copyBack(r, j);
        return j.exit;
      }
      await this.changed(r);
    }
  }

  /** The writable directories back from the pod, if it is still there; then its copy-out container ends. */
  private async copyBack(r: Read, j: Judgement): Promise<void> {
    const writable = mountsOf(r.job!).filter((m) => !m.readOnly);
    const pod = j.pod?.metadata?.name;
    if (!writable.length || !pod || r.job!.metadata?.annotations?.[ANNOTATION_COPIED_OUT] === 'true') return;
    try {
      await copyOut({ exec: this.execApi, namespace: this.namespace, pod }, writable);
    } catch (err) {
      // a pod deleted at its deadline (or by stop) has nothing left to give back
      const still = await this.core.readNamespacedPod({ name: pod, namespace: this.namespace }).catch(ignore(404));
      if (still && !still.metadata?.deletionTimestamp) throw err;
      return;
    }
    await this.annotate(r.jobName, { [ANNOTATION_COPIED_OUT]: 'true' });
  }

  async logs(name: string, sink: Writable, opts: { follow: boolean }): Promise<void> {
    const jobName = objectName(name);
    let j: Judgement;
    for (;;) {
      const r = await this.read(jobName);
      j = judge(r.job, r.pods);
      if (j.state === 'missing' || j.cannotRun || j.mainStarted || j.exit) break;
      await this.changed(r);
    }
    const pod = j.pod?.metadata?.name;
    if (!pod || !j.mainStarted) return; // it never ran: no output
    if (!opts.follow) {
      const text = await this.core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container: MAIN }).catch(ignore(400, 404));
      if (text) sink.write(text);
      return;
    }
    const through = new PassThrough();
    // the client pipes the response into `through` and leaves its errors unheard: an aborted
    // stream's error would end the process
    through.on('pipe', (source: NodeJS.ReadableStream) => source.on('error', () => through.end()));
    through.pipe(sink, { end: false });
    const ended = new Promise<void>((resolve) =>
      through
        .on('end', resolve)
        .on('close', resolve)
        .on('error', () => resolve()),
    );
    const controller = await this.logApi.log(this.namespace, pod, MAIN, through, { follow: true });
    // A kubelet ends the stream when the container exits; a simulated node (kwok) never does:
    // stop following a second after the container is seen to have exited.
    const exited = this.untilExited(jobName).then(() => sleep(1000));
    await Promise.race([ended, exited]);
    controller.abort();
    through.unpipe(sink);
  }

  private async untilExited(jobName: string): Promise<void> {
    for (;;) {
      const r = await this.read(jobName);
      const j = judge(r.job, r.pods);
      if (j.state === 'missing' || j.exit || j.cannotRun) return;
      await this.changed(r);
    }
  }

  /** Deletes the pod (SIGTERM, SIGKILL after the grace period); its Job then fails (backoffLimit 0). */
  async stop(name: string, graceSeconds = 10): Promise<void> {
    await this.core.deleteCollectionNamespacedPod({
      namespace: this.namespace,
      labelSelector: `${LABEL_JOB}=${objectName(name)}`,
      gracePeriodSeconds: graceSeconds,
    });
  }

  /** Deletes the Job, its pods and its Secret (missing is fine). */
  async remove(name: string): Promise<void> {
    const jobName = objectName(name);
    const namespace = this.namespace;
    await this.batch.deleteNamespacedJob({ name: jobName, namespace, propagationPolicy: 'Background' }).catch(ignore(404));
    // not only through the garbage collector: nothing of the container is left when this returns
    await this.core.deleteCollectionNamespacedPod({ namespace, labelSelector: `${LABEL_JOB}=${jobName}`, gracePeriodSeconds: 5 });
    await this.core.deleteNamespacedSecret({ name: jobName, namespace }).catch(ignore(404));
    // a gateway's policy (ensureGatewayPolicy), if it has one
    await this.net.deleteNamespacedNetworkPolicy({ name: jobName, namespace }).catch(ignore(404));
  }

  /** A run's network: a NetworkPolicy letting its pods reach only the pods that serve it. */
  async createNetwork(name: string, opts: { internal: boolean; labels: Record<string, string> }): Promise<void> {
    await this.prepare();
    const body = networkPolicy(name, opts.labels, this.namespace);
    // a network with a route out lets its pods go anywhere
    if (!opts.internal) body.spec!.egress = [{}];
    await this.net.createNamespacedNetworkPolicy({ namespace: this.namespace, body }).catch(ignore(409));
  }

  async removeNetwork(name: string): Promise<void> {
    const namespace = this.namespace;
    await this.net.deleteNamespacedNetworkPolicy({ name: objectName(name), namespace }).catch(ignore(404));
    await this.core.deleteNamespacedService({ name: objectName(name), namespace }).catch(ignore(404));
  }

  /**
   * The container serves the network under `alias`: a Service selecting its pod (pods started on
   * the network later find it under that name, through hostAliases), and the network's policy lets
   * them reach it.
   */
  async connect(network: string, container: string, alias?: string): Promise<void> {
    const jobName = objectName(container);
    const job = await this.readJob(jobName);
    if (!job) throw new Error(`container ${container} does not exist`);
    const ports = (job.spec?.template.spec?.containers.find((c) => c.name === MAIN)?.ports ?? []).map((p) => p.containerPort);
    const namespace = this.namespace;
    const policy = await this.net.readNamespacedNetworkPolicy({ name: objectName(network), namespace }).catch(ignore(404));
    // the Service belongs to the network (and goes with it): the network's labels
    const labels = policy
      ? (JSON.parse(policy.metadata?.annotations?.[ANNOTATION_LABELS] ?? '{}') as Record<string, string>)
      : labelsOf(job);
    if (ports.length)
      await this.core
        .createNamespacedService({ namespace, body: serviceFor(network, jobName, ports, labels, alias, namespace) })
        .catch(ignore(409));
    if (!policy) return; // not a network of ours (e.g. the one with the route out)
    const servers = (policy.spec?.egress?.[0]?.to ?? [])
      .map((p) => p.podSelector?.matchLabels?.[LABEL_JOB])
      .filter((s): s is string => !!s);
    if (servers.includes(jobName) || policy.spec?.egress?.some((e) => !e.to)) return;
    const annotations = policy.metadata?.annotations ?? {};
    const allowed = [...new Set([...(policy.spec?.egress?.[0]?.ports ?? []).map((p) => Number(p.port)), ...ports])];
    const updated = networkPolicy(
      annotations[ANNOTATION_NAME] ?? network,
      JSON.parse(annotations[ANNOTATION_LABELS] ?? '{}'),
      namespace,
      [...servers, jobName],
      allowed,
    );
    await this.net.replaceNamespacedNetworkPolicy({
      name: objectName(network),
      namespace,
      body: { ...updated, metadata: { ...updated.metadata, resourceVersion: policy.metadata?.resourceVersion } },
    });
  }

  /** Where the worker reaches the container: its Service's cluster IP, else its pod's IP once it has one. */
  async addressOf(name: string, network: string): Promise<string> {
    const jobName = objectName(name);
    const own = await this.serviceOf(network);
    if (own?.spec?.selector?.[LABEL_JOB] === jobName && own.spec.clusterIP) return own.spec.clusterIP;
    const services = await this.core.listNamespacedService({ namespace: this.namespace, labelSelector: selectorFor({}) });
    const serving = services.items.find((s) => s.spec?.selector?.[LABEL_JOB] === jobName && s.spec.clusterIP);
    if (serving) return serving.spec!.clusterIP!;
    const deadline = Date.now() + 60_000;
    for (;;) {
      const r = await this.read(jobName);
      const ip = judge(r.job, r.pods).pod?.status?.podIP;
      if (ip) return ip;
      if (!r.job || Date.now() > deadline) throw new Error(`container ${name} has no address on network ${network}`);
      await this.changed(r, 5_000);
    }
  }

  async list(labels: Record<string, string>): Promise<ContainerInfo[]> {
    const labelSelector = selectorFor(labels);
    const [jobs, pods] = await Promise.all([
      this.batch.listNamespacedJob({ namespace: this.namespace, labelSelector }),
      this.core.listNamespacedPod({ namespace: this.namespace, labelSelector }),
    ]);
    return jobs.items.map((job) => {
      const own = pods.items.filter((p) => p.metadata?.labels?.[LABEL_JOB] === job.metadata?.name);
      return infoOf(job.metadata?.annotations?.[ANNOTATION_NAME] ?? job.metadata!.name!, job, judge(job, own));
    });
  }

  async listNetworks(labels: Record<string, string>): Promise<{ name: string; labels: Record<string, string> }[]> {
    const labelSelector = selectorFor(labels);
    const [policies, services] = await Promise.all([
      this.net.listNamespacedNetworkPolicy({ namespace: this.namespace, labelSelector }),
      this.core.listNamespacedService({ namespace: this.namespace, labelSelector }),
    ]);
    const found = new Map<string, Record<string, string>>();
    for (const o of [...policies.items, ...services.items]) {
      const name = o.metadata?.annotations?.[ANNOTATION_NAME];
      if (name && !found.has(name)) found.set(name, JSON.parse(o.metadata?.annotations?.[ANNOTATION_LABELS] ?? '{}'));
    }
    return [...found].map(([name, l]) => ({ name, labels: l }));
  }

  // --- reading and watching ------------------------------------------------------------------

  private async readJob(jobName: string): Promise<k8s.V1Job | undefined> {
    return this.batch.readNamespacedJob({ name: jobName, namespace: this.namespace }).catch(ignore(404));
  }

  /** The Job and its pods, by list (whose resource versions the next watch starts from). */
  private async read(jobName: string): Promise<Read> {
    const [jobs, pods] = await Promise.all([
      this.batch.listNamespacedJob({ namespace: this.namespace, fieldSelector: `metadata.name=${jobName}` }),
      this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${LABEL_JOB}=${jobName}` }),
    ]);
    return {
      jobName,
      job: jobs.items[0],
      pods: pods.items,
      jobsVersion: jobs.metadata?.resourceVersion,
      podsVersion: pods.metadata?.resourceVersion,
    };
  }

  /**
   * Resolves at the first change to the Job or its pods after `r` was read (watches from its
   * resource versions, so none is missed), or after `timeoutMs` at the latest.
   */
  private changed(r: Read, timeoutMs = 30_000): Promise<void> {
    const base = `/apis/batch/v1/namespaces/${this.namespace}/jobs`;
    const pods = `/api/v1/namespaces/${this.namespace}/pods`;
    const began = Date.now();
    return new Promise<'event' | 'ended'>((resolve) => {
      const controllers: AbortController[] = [];
      let finished = false;
      const finish = (how: 'event' | 'ended') => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        for (const c of controllers) c.abort();
        resolve(how);
      };
      const timer = setTimeout(() => finish('event'), timeoutMs);
      const watches: [string, Record<string, string | undefined>][] = [
        [base, { fieldSelector: `metadata.name=${r.jobName}`, resourceVersion: r.jobsVersion }],
        [pods, { labelSelector: `${LABEL_JOB}=${r.jobName}`, resourceVersion: r.podsVersion }],
      ];
      for (const [path, query] of watches) {
        this.watcher
          .watch(
            path,
            query,
            (type) => type !== 'BOOKMARK' && finish('event'),
            () => finish('ended'),
          )
          .then(
            (c) => (finished ? c.abort() : controllers.push(c)),
            () => finish('ended'),
          );
      }
    }).then(async (how) => {
      // a watch the server refused or ended at once: do not spin
      if (how === 'ended' && Date.now() - began < 1000) await sleep(1000);
    });
  }

  private async annotate(jobName: string, annotations: Record<string, string>): Promise<void> {
    await this.batch.patchNamespacedJob(
      { name: jobName, namespace: this.namespace, body: { metadata: { annotations } } },
      k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch),
    );
  }

  /** The Service of a network (made by connect), if it has one. */
  private async serviceOf(network: string): Promise<k8s.V1Service | undefined> {
    if (network === 'none') return undefined;
    return this.core.readNamespacedService({ name: objectName(network), namespace: this.namespace }).catch(ignore(404));
  }
}

function mountsOf(job: k8s.V1Job): MountPlan[] {
  return JSON.parse(job.metadata?.annotations?.[ANNOTATION_MOUNTS] ?? '[]') as MountPlan[];
}

function labelsOf(job: k8s.V1Job | undefined): Record<string, string> {
  return JSON.parse(job?.metadata?.annotations?.[ANNOTATION_LABELS] ?? '{}') as Record<string, string>;
}

function infoOf(name: string, job: k8s.V1Job | undefined, j: Judgement): ContainerInfo {
  return { name, state: j.state, exitCode: j.exit?.exitCode, oomKilled: j.exit?.oomKilled, startedAt: j.startedAt, labels: labelsOf(job) };
}
