/**
 * @module kubelet/cri-runtime
 * The node agent's pods as containers of the node's containerd, driven through the CRI like the
 * kubelet's kuberuntime: one pod sandbox (pause) per pod owning its network namespace (set up by
 * containerd's CNI: the bridge plugin on cni0 with host-local addresses), one container per
 * spec container with its own mount, PID, IPC and UTS namespaces and cgroups from `resources`.
 * Nothing is kept on disk about what runs: each sync lists sandboxes and containers from the
 * runtime and the status is derived from its answers, so a restarted agent adopts what runs.
 * Back-off, probe results and readiness live in memory (a restarted agent probes again).
 */
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Container, ContainerStatus, Pod, PodCondition, PodStatus, Probe } from '../api/types.js';
import { unknownImageMessage } from '../images/catalog.js';
import { nodeCgroupParent } from '../cluster/containerd.js';
import { quantityNumber } from '../scheduler/logic.js';
import { CriClient, CriError, type CriContainer, type CriContainerStatus, type ContainerConfig, type Mount, type PodSandbox, type PodSandboxConfig } from './cri/client.js';
import { decodeCriLog } from './crilog.js';
import { containerEnv, expand, type EnvSources } from './env.js';
import { hostsFile, podHostnames, resolvConf } from './podfiles.js';
import { runProbe } from './probes.js';
import { containerMounts, nodeRootfs, setUpVolume, tearDownVolumes, type HostVolume, type VolumeSources } from './volumes.js';
import { qosClass, BACKOFF_INITIAL_S, BACKOFF_MAX_S, BACKOFF_RESET_MS, SANDBOX_RETRY_MS, TICK_MS, type EventFn } from './runtime.js';

export const CONTAINER_RUNTIME = 'containerd';
// The kubelet's labels and annotations on CRI objects (pkg/kubelet/types/labels.go, kuberuntime/labels.go).
const L_POD_NAME = 'io.kubernetes.pod.name';
const L_POD_NS = 'io.kubernetes.pod.namespace';
const L_POD_UID = 'io.kubernetes.pod.uid';
const L_CONTAINER = 'io.kubernetes.container.name';
const A_RESTARTS = 'io.kubernetes.container.restartCount';
/** Where a container's termination message goes unless it says (the API's default too). */
const DEFAULT_TERMINATION_PATH = '/dev/termination-log';
/** The kubelet's limits on termination messages (kuberuntime maxMsgSize, and the log fallback's). */
const MAX_TERMINATION_MESSAGE = 4096;
const MAX_FALLBACK_LINES = 80;
const MAX_FALLBACK_BYTES = 2048;
/** A volume that failed to set up is tried again after this; projected kinds are refreshed this often. */
const VOLUME_RETRY_MS = 2000;
const VOLUME_RESYNC_MS = 10_000;
/** Volume kinds whose content follows API objects while the pod runs. */
const REFRESHED = new Set(['configMap', 'secret', 'downwardAPI', 'projected']);
/** CPU shares per core and the CFS period, as the kubelet computes them (pkg/kubelet/cm/helpers_linux.go). */
const SHARES_PER_CPU = 1024;
const MIN_SHARES = 2;
const QUOTA_PERIOD = 100_000;
const MIN_QUOTA = 1000;

export interface CriRuntimeOptions {
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  clusterName: string;
  clusterDNS: string[];
  clusterDomain: string;
  /** containerd's socket. */
  socket: string;
  /** The CRI client to use instead of one on `socket` (unit tests pass a fake runtime). */
  cri?: CriClient;
  env?: EnvSources;
  onStatusChange?: (uid: string) => void;
  event?: EventFn;
  /** Extra mounts per pod (service account token), made before its containers are created. */
  podMounts?: (pod: Pod, dir: string) => Promise<Mount[]>;
  /** Where the objects behind configMap, secret, projected and downwardAPI volumes come from. */
  volumes?: VolumeSources;
}

interface ProbeState { successes: number; failures: number; lastRun: number; inFlight: boolean }
interface Live {
  readiness: ProbeState; liveness: ProbeState; startup: ProbeState;
  ready: boolean; started: boolean;
  /** The container instance these results are about. */
  id?: string;
}
interface Want {
  crashCount: number;
  nextStartAt?: number;
  reason?: string;
  message?: string;
  imageFailures: number;
  /** The last pull's error, shown while the pull backs off. */
  pullError?: string;
  busy: boolean;
  stopping: boolean;
  /**
   * The runtime's refresh generation when this agent last started an instance: lists from refreshes
   * that began no later do not show it yet, so they cannot say the container is missing.
   */
  startedGen?: number;
}

const nowIso = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');
const isoOfNs = (ns: number) => (ns > 0 ? new Date(Math.floor(ns / 1e6)).toISOString().replace(/\.\d+Z$/, 'Z') : undefined);
const probeState = (): ProbeState => ({ successes: 0, failures: 0, lastRun: 0, inFlight: false });

function podLabel(p: { name: string; namespace: string; uid: string }): string {
  return `${p.name}_${p.namespace}(${p.uid})`;
}

function backoffText(delay: number): string {
  return delay >= 60 ? `${Math.floor(delay / 60)}m${delay % 60 ? `${delay % 60}s` : '0s'}` : `${delay}s`;
}

/** The lines of a resolv.conf as the CRI's DNSConfig (containerd writes the file from it). */
export function dnsConfigOf(text: string): { servers: string[]; searches: string[]; options: string[] } {
  const out = { servers: [] as string[], searches: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    if (k === 'nameserver') out.servers.push(...v);
    else if (k === 'search') out.searches.push(...v);
    else if (k === 'options') out.options.push(...v);
  }
  return out;
}

/** CRI resources of a container, as the kubelet derives them from requests and limits. */
export function linuxResources(c: Container): { cpuPeriod?: number; cpuQuota?: number; cpuShares: number; memoryLimitInBytes?: number } {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  const cpuReq = req.cpu ?? lim.cpu;
  const milli = cpuReq !== undefined ? Math.ceil(quantityNumber(cpuReq as string) * 1000) : 0;
  const out: { cpuPeriod?: number; cpuQuota?: number; cpuShares: number; memoryLimitInBytes?: number } = {
    cpuShares: Math.max(MIN_SHARES, Math.floor((milli * SHARES_PER_CPU) / 1000)),
  };
  if (lim.cpu !== undefined) {
    const lm = Math.ceil(quantityNumber(lim.cpu as string) * 1000);
    out.cpuPeriod = QUOTA_PERIOD;
    out.cpuQuota = Math.max(MIN_QUOTA, Math.floor((lm * QUOTA_PERIOD) / 1000));
  }
  if (lim.memory !== undefined) out.memoryLimitInBytes = Math.floor(quantityNumber(lim.memory as string));
  return out;
}

/** One pod on this node. */
class CriPod {
  pod?: Pod;
  sandboxId?: string;
  sandboxConfig?: PodSandboxConfig;
  ip?: string;
  netnsPath?: string;
  sandboxError?: unknown;
  sandboxRetryAt = 0;
  private sandboxPromise?: Promise<void>;
  /** This pod's containers as the runtime last listed them (every instance, newest last per name). */
  containers: CriContainer[] = [];
  statuses = new Map<string, CriContainerStatus>();
  pids = new Map<string, number>();
  want = new Map<string, Want>();
  live = new Map<string, Live>();
  terminating = false;
  stopped?: Promise<void>;
  startTime = nowIso();
  syncing = false;
  /** The generation of the refresh that last listed this pod's containers. */
  listedGen = 0;
  /** Termination messages of ended instances, by container id. */
  private messages = new Map<string, string | undefined>();
  /** The pod's volumes, once all are set up (containers start only then). */
  volumes?: Map<string, HostVolume>;
  volumeRetryAt = 0;
  volumeSyncAt = 0;
  private volumeSyncing = false;

  constructor(readonly rt: CriRuntime, readonly uid: string, readonly namespace: string, readonly name: string) {}

  get dir(): string { return join(this.rt.podsRoot(), this.uid); }
  get logDir(): string { return join(this.rt.logsRoot(), `${this.namespace}_${this.name}_${this.uid}`); }

  wantOf(name: string): Want {
    let w = this.want.get(name);
    if (!w) { w = { crashCount: 0, imageFailures: 0, busy: false, stopping: false }; this.want.set(name, w); }
    return w;
  }
  liveOf(name: string): Live {
    let l = this.live.get(name);
    if (!l) { l = { readiness: probeState(), liveness: probeState(), startup: probeState(), ready: false, started: false }; this.live.set(name, l); }
    return l;
  }
  changed(): void { this.rt.opts.onStatusChange?.(this.uid); }
  event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.pod) this.rt.opts.event?.(this.pod, type, reason, message);
  }

  /** The status the API holds for this instance of a container, if it holds one. */
  reported(name: string, id: string): ContainerStatus | undefined {
    return this.pod?.status?.containerStatuses?.find((s) => s.name === name && s.containerID === `${CONTAINER_RUNTIME}://${id}`);
  }

  /** Instances of a container, oldest first. */
  instances(name: string): CriContainer[] {
    return this.containers.filter((c) => c.metadata.name === name).sort((a, b) => a.metadata.attempt - b.metadata.attempt || a.createdAt - b.createdAt);
  }
  latest(name: string): CriContainer | undefined { return this.instances(name).at(-1); }

  sandboxConfigFor(pod: Pod): PodSandboxConfig {
    const o = this.rt.opts;
    const { hostname } = podHostnames(pod, o.clusterDomain);
    const hostNetwork = !!pod.spec?.hostNetwork;
    return {
      metadata: { name: this.name, uid: this.uid, namespace: this.namespace, attempt: 0 },
      hostname: hostNetwork ? '' : hostname,
      logDirectory: this.logDir,
      // hostPort: the CNI portmap plugin makes <node>:hostPort (and 127.0.0.1 there) reach the pod.
      portMappings: hostNetwork ? [] : [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].flatMap((c) => (c.ports ?? [])
        .filter((p) => p.hostPort)
        .map((p) => ({ protocol: p.protocol ?? 'TCP', containerPort: p.containerPort, hostPort: p.hostPort!, ...(p.hostIP ? { hostIp: p.hostIP } : {}) }))),
      dnsConfig: dnsConfigOf(resolvConf(pod, { clusterDNS: o.clusterDNS, clusterDomain: o.clusterDomain })),
      labels: { ...(pod.metadata?.labels ?? {}), [L_POD_NAME]: this.name, [L_POD_NS]: this.namespace, [L_POD_UID]: this.uid },
      annotations: { ...(pod.metadata?.annotations ?? {}) },
      linux: {
        cgroupParent: `${nodeCgroupParent(o.clusterName, o.nodeName)}/pod${this.uid}`,
        securityContext: { namespaceOptions: { network: hostNetwork ? 'NODE' : 'POD', pid: pod.spec?.shareProcessNamespace ? 'POD' : 'CONTAINER', ipc: 'POD' } },
      },
    };
  }

  async ensureSandbox(): Promise<void> {
    if (this.sandboxId) return;
    this.sandboxPromise ??= this.createSandbox().finally(() => { this.sandboxPromise = undefined; });
    return this.sandboxPromise;
  }

  private async createSandbox(): Promise<void> {
    const pod = this.pod!;
    const cri = this.rt.cri;
    const config = this.sandboxConfigFor(pod);
    mkdirSync(this.logDir, { recursive: true });
    mkdirSync(this.dir, { recursive: true });
    // A sandbox made by an earlier try (the runtime restarted mid-call) is used if ready; dead ones
    // go, and the new one gets the next attempt number, as the kubelet does.
    const earlier = await cri.listPodSandbox({ labelSelector: { [L_POD_UID]: this.uid } });
    const ready = earlier.find((s) => s.state === 'SANDBOX_READY');
    for (const s of earlier) if (s !== ready) await cri.removePodSandbox(s.id).catch(() => undefined);
    config.metadata.attempt = earlier.reduce((m, s) => Math.max(m, s.metadata.attempt + 1), 0);
    const id = ready?.id ?? await cri.runPodSandbox(config);
    if (ready) config.metadata.attempt = ready.metadata.attempt;
    const st = await cri.podSandboxStatus(id);
    this.sandboxConfig = config;
    this.sandboxId = id;
    this.ip = pod.spec?.hostNetwork ? this.rt.opts.nodeIP : st.network?.ip || undefined;
    this.netnsPath = await this.rt.sandboxNetns(id);
    this.writeHosts();
    this.changed();
  }

  /** The kubelet-managed /etc/hosts, mounted into every container of the pod. */
  writeHosts(): void {
    if (!this.pod) return;
    mkdirSync(this.dir, { recursive: true });
    writeFileSync(join(this.dir, 'etc-hosts'), hostsFile(this.pod, [this.ip ?? this.rt.opts.nodeIP], this.rt.opts.clusterDomain), { mode: 0o644 });
  }

  /** Compare the spec with what runs and act: start what is due, report image errors. */
  async sync(): Promise<void> {
    if (this.terminating || !this.pod || this.syncing) return;
    this.syncing = true;
    try {
      if (!this.sandboxId) {
        if (Date.now() < this.sandboxRetryAt) throw this.sandboxError;
        try {
          await this.ensureSandbox();
          this.sandboxError = undefined;
        } catch (e) {
          if (Date.now() >= this.sandboxRetryAt) {
            this.sandboxError = e;
            this.sandboxRetryAt = Date.now() + SANDBOX_RETRY_MS;
            this.event('Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${(e as Error).message}`);
            this.changed();
          }
          throw e;
        }
      }
      if (!this.volumes && !(await this.setUpVolumes())) return;
      const policy = this.pod.spec?.restartPolicy ?? 'Always';
      if (!this.syncInit(policy)) return;
      for (const c of this.pod.spec?.containers ?? []) {
        const w = this.wantOf(c.name);
        if (w.busy || w.stopping || this.terminating) continue;
        if (w.startedGen !== undefined && this.listedGen <= w.startedGen) continue;
        const last = this.latest(c.name);
        if (last && (last.state === 'CONTAINER_RUNNING' || last.state === 'CONTAINER_UNKNOWN')) continue;
        if (last && last.state === 'CONTAINER_EXITED') {
          const st = this.statuses.get(last.id);
          if (!st) continue; // its exit code comes with the next refresh
          const code = st.exitCode;
          if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) continue;
        }
        if (w.nextStartAt && Date.now() < w.nextStartAt) continue;
        this.launch(c, last, w);
      }
    } finally {
      this.syncing = false;
    }
  }

  /** Start (or restart) one container in the background; `busy` until the runtime has answered. */
  private launch(c: Container, last: CriContainer | undefined, w: Want): void {
    w.busy = true;
    void this.startContainer(c, last).catch((e) => {
      w.reason = 'RunContainerError'; w.message = (e as Error).message;
      w.nextStartAt = Date.now() + BACKOFF_INITIAL_S * 1000;
      this.event('Warning', 'Failed', `Error: ${w.message}`);
      this.changed();
    }).finally(() => { w.busy = false; });
  }

  /**
   * Init containers, as the kubelet runs them (kuberuntime computeInitContainerActions): in
   * order, each to a successful exit before the next; a failed one again with back-off (or, under
   * restartPolicy Never, the pod fails); a sidecar (restartPolicy Always) started, and its startup
   * probe passed, before the next, then kept running. True once the app containers may start.
   * A pod whose app containers already ran (adopted after an agent restart) does not run them again.
   */
  private syncInit(policy: string): boolean {
    const inits = this.pod?.spec?.initContainers ?? [];
    if (!inits.length) return true;
    // Once the app containers ran, only sidecars are looked after, and none holds the others up.
    const appStarted = (this.pod?.spec?.containers ?? []).some((c) => this.latest(c.name));
    const waitHere = () => !appStarted;
    for (const c of inits) {
      const sidecar = isSidecar(c);
      if (!sidecar && appStarted) continue;
      const w = this.wantOf(c.name);
      if (w.busy || w.stopping || (w.startedGen !== undefined && this.listedGen <= w.startedGen)) { if (waitHere()) return false; continue; }
      const last = this.latest(c.name);
      if (last && (last.state === 'CONTAINER_RUNNING' || last.state === 'CONTAINER_UNKNOWN')) {
        if (sidecar && (this.liveOf(c.name).started || appStarted)) continue;
        return false;
      }
      if (last?.state === 'CONTAINER_EXITED') {
        const st = this.statuses.get(last.id);
        if (!st) { if (waitHere()) return false; continue; }
        if (!sidecar && st.exitCode === 0) continue;
        if (!sidecar && policy === 'Never') return false; // the pod has failed
      }
      if (w.nextStartAt && Date.now() < w.nextStartAt) { if (waitHere()) return false; continue; }
      this.launch(c, last, w);
      if (waitHere()) return false;
    }
    return true;
  }

  private addresses(): { podIP: string; hostIP: string } {
    return { podIP: this.ip ?? '', hostIP: this.rt.opts.nodeIP };
  }

  private volumeSources(): VolumeSources {
    const src = this.rt.opts.volumes;
    if (!src) throw new Error('this node agent has no source for volume contents');
    return src;
  }

  /**
   * Set up every volume of the pod, as the kubelet's volume manager does before the containers
   * start; a failure is a FailedMount event naming the volume, retried every 2 s, the containers
   * waiting in ContainerCreating meanwhile.
   */
  private async setUpVolumes(): Promise<boolean> {
    const pod = this.pod!;
    if (Date.now() < this.volumeRetryAt) return false;
    const out = new Map<string, HostVolume>();
    const rootfs = nodeRootfs(this.rt.opts.dataDir, this.rt.opts.nodeName);
    for (const v of pod.spec?.volumes ?? []) {
      try {
        out.set(v.name, await setUpVolume(pod, v, this.dir, rootfs, this.volumeSources(), this.addresses()));
      } catch (e) {
        this.volumeRetryAt = Date.now() + VOLUME_RETRY_MS;
        this.event('Warning', 'FailedMount', `MountVolume.SetUp failed for volume "${v.name}" : ${(e as Error).message}`);
        this.changed();
        return false;
      }
    }
    this.volumes = out;
    this.volumeSyncAt = Date.now();
    return true;
  }

  /** Bring configMap, secret, downwardAPI and projected volumes of a running pod up to date. */
  refreshVolumes(): void {
    const pod = this.pod;
    if (!pod || !this.volumes || this.volumeSyncing || this.terminating || Date.now() - this.volumeSyncAt < VOLUME_RESYNC_MS) return;
    this.volumeSyncing = true;
    this.volumeSyncAt = Date.now();
    const rootfs = nodeRootfs(this.rt.opts.dataDir, this.rt.opts.nodeName);
    void (async () => {
      for (const v of pod.spec?.volumes ?? []) {
        if (!REFRESHED.has(this.volumes?.get(v.name)?.kind ?? '')) continue;
        // A failure keeps the files as they were (the kubelet logs and retries on its next pass).
        await setUpVolume(pod, v, this.dir, rootfs, this.volumeSources(), this.addresses()).catch(() => undefined);
      }
    })().finally(() => { this.volumeSyncing = false; });
  }

  /**
   * Run a lifecycle hook (exec in the container, httpGet against the pod, or sleep); undefined
   * when it succeeded, else the event message in the kubelet's words.
   */
  private async runHook(c: Container, id: string, h: NonNullable<NonNullable<Container['lifecycle']>['postStart']>, budgetMs: number): Promise<string | undefined> {
    const who = `for Container "${c.name}" in Pod "${podLabel(this)}"`;
    if (h.sleep) {
      await new Promise((r) => setTimeout(r, Math.min(h.sleep!.seconds * 1000, budgetMs)));
      return undefined;
    }
    const timeoutSeconds = Math.max(1, Math.ceil(budgetMs / 1000));
    if (h.exec) {
      const cmd = h.exec.command ?? [];
      const r = await runProbe({ exec: { command: cmd }, timeoutSeconds }, this.rt.probeTarget(this, c, id));
      return r.ok ? undefined : `Exec lifecycle hook ([${cmd.join(' ')}]) ${who} failed - error: command '${cmd.join(' ')}' exited with an error: ${r.message}`;
    }
    if (h.httpGet) {
      const r = await runProbe({ httpGet: h.httpGet, timeoutSeconds }, this.rt.probeTarget(this, c, id));
      return r.ok ? undefined : `HTTP lifecycle hook (${h.httpGet.path ?? '/'}) ${who} failed - error: ${r.message}`;
    }
    return undefined;
  }

  /** The kubelet's EnsureImageExists: pull per imagePullPolicy, ErrImagePull / ImagePullBackOff. */
  private async ensureImage(c: Container, w: Want): Promise<boolean> {
    const cri = this.rt.cri;
    const image = c.image ?? '';
    const tagless = !/:[^/]+$/.test(image.replace(/@.*$/, '')) && !image.includes('@');
    const policy = c.imagePullPolicy ?? (tagless || image.endsWith(':latest') ? 'Always' : 'IfNotPresent');
    const present = await cri.imageStatus(image).catch(() => undefined);
    if (present && policy !== 'Always') {
      this.event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
      return true;
    }
    if (!present && policy === 'Never') {
      w.reason = 'ErrImageNeverPull';
      w.message = `Container image "${image}" is not present with pull policy of Never`;
      this.event('Warning', 'ErrImageNeverPull', w.message);
      w.nextStartAt = Date.now() + BACKOFF_INITIAL_S * 1000;
      this.changed();
      return false;
    }
    if (w.imageFailures > 0 && w.reason === 'ErrImagePull') {
      // Between attempts the container waits in ImagePullBackOff, as the kubelet's back-off reports it.
      // The status keeps the last pull's error, as the kubelet's image manager does since 1.32.
      w.reason = 'ImagePullBackOff';
      this.event('Normal', 'BackOff', `Back-off pulling image "${image}"`);
      w.message = `Back-off pulling image "${image}": ErrImagePull: ${w.pullError ?? ''}`;
      this.event('Warning', 'Failed', 'Error: ImagePullBackOff');
      const delay = Math.min(BACKOFF_INITIAL_S * 2 ** (w.imageFailures - 1), BACKOFF_MAX_S);
      w.nextStartAt = Date.now() + delay * 1000;
      this.changed();
      return false;
    }
    this.event('Normal', 'Pulling', `Pulling image "${image}"`);
    const t0 = Date.now();
    try {
      await this.rt.pull(image, this.sandboxConfig);
    } catch (e) {
      w.imageFailures++;
      w.reason = 'ErrImagePull';
      const hint = e instanceof CriError && /not found|failed to resolve reference|dial tcp|no such host|unreachable/.test(e.details) ? `. ${unknownImageMessage(image)}` : '';
      w.message = `${(e as Error).message}${hint}`;
      w.pullError = w.message;
      this.event('Warning', 'Failed', `Failed to pull image "${image}": ${w.message}`);
      this.event('Warning', 'Failed', 'Error: ErrImagePull');
      w.nextStartAt = Date.now() + 1000;
      this.changed();
      return false;
    }
    const s = ((Date.now() - t0) / 1000).toFixed(3);
    const size = (await cri.imageStatus(image).catch(() => undefined))?.size ?? 0;
    this.event('Normal', 'Pulled', `Successfully pulled image "${image}" in ${s}s (${s}s including waiting). Image size: ${size} bytes.`);
    w.imageFailures = 0;
    return true;
  }

  private async startContainer(c: Container, last: CriContainer | undefined): Promise<void> {
    const o = this.rt.opts;
    const pod = this.pod!;
    const cri = this.rt.cri;
    const w = this.wantOf(c.name);
    if (!(await this.ensureImage(c, w))) return;
    const { hostname } = podHostnames(pod, o.clusterDomain);
    let env: Record<string, string>;
    try {
      env = await containerEnv(pod, c, { podIP: this.ip ?? '', hostIP: o.nodeIP, nodeName: o.nodeName, hostname, allocatable: o.volumes?.allocatable() }, this.rt.envSources);
    } catch (e) {
      w.reason = 'CreateContainerConfigError'; w.message = (e as Error).message;
      this.event('Warning', 'Failed', `Error: ${w.message}`);
      w.nextStartAt = Date.now() + 2000;
      this.changed();
      return;
    }
    // The runtime's image config gives PATH and the rest; the kubelet only adds the pod's.
    delete env.PATH;
    if (this.terminating) return;
    const attempt = last ? last.metadata.attempt + 1 : 0;
    const own = containerMounts(c, this.volumes ?? new Map());
    const mounts: Mount[] = [{ containerPath: '/etc/hosts', hostPath: join(this.dir, 'etc-hosts') }];
    // The termination message file: a file of the node's, empty, written by the container if it
    // wants (kubectl describe shows it as the last state's Message).
    const tmFile = this.terminationFile(c.name, attempt);
    mkdirSync(dirname(tmFile), { recursive: true });
    writeFileSync(tmFile, '', { mode: 0o666 });
    chmodSync(tmFile, 0o666);
    if (!own.some((m) => m.containerPath === (c.terminationMessagePath || DEFAULT_TERMINATION_PATH))) {
      mounts.push({ containerPath: c.terminationMessagePath || DEFAULT_TERMINATION_PATH, hostPath: tmFile });
    }
    // The default service account mount, unless the container mounts something of its own there.
    if (o.podMounts) mounts.push(...(await o.podMounts(pod, this.dir)).filter((m) => !own.some((x) => x.containerPath === m.containerPath)));
    mounts.push(...own);
    const config: ContainerConfig = {
      metadata: { name: c.name, attempt },
      image: { image: c.image ?? '' },
      command: c.command?.map((s) => expand(s, env)) ?? [],
      args: c.args?.map((s) => expand(s, env)) ?? [],
      workingDir: c.workingDir ?? '',
      envs: Object.entries(env).map(([key, value]) => ({ key, value: Buffer.from(value) })),
      mounts,
      labels: { [L_POD_NAME]: this.name, [L_POD_NS]: this.namespace, [L_POD_UID]: this.uid, [L_CONTAINER]: c.name },
      annotations: { [A_RESTARTS]: String(attempt) },
      logPath: `${c.name}/${attempt}.log`,
      stdin: !!c.stdin, stdinOnce: !!c.stdinOnce, tty: !!c.tty,
      linux: {
        resources: linuxResources(c),
        securityContext: {
          namespaceOptions: { network: pod.spec?.hostNetwork ? 'NODE' : 'POD', pid: pod.spec?.shareProcessNamespace ? 'POD' : 'CONTAINER', ipc: 'POD' },
          ...securityContextOf(pod, c),
        },
      },
    };
    const refused = await this.nonRootRefusal(c);
    if (refused) {
      w.reason = 'CreateContainerConfigError'; w.message = refused;
      this.event('Warning', 'Failed', `Error: ${refused}`);
      w.nextStartAt = Date.now() + 2000;
      this.changed();
      return;
    }
    mkdirSync(join(this.logDir, c.name), { recursive: true });
    const id = await cri.createContainer(this.sandboxId!, config, this.sandboxConfig!);
    this.event('Normal', 'Created', `Created container ${c.name}`);
    w.startedGen = this.rt.generation;
    await cri.startContainer(id);
    this.event('Normal', 'Started', `Started container ${c.name}`);
    // postStart: the start is not over until it returns; a failure kills the container, which
    // then restarts per the pod's restartPolicy (pkg/kubelet/kuberuntime startContainer).
    const postStart = c.lifecycle?.postStart;
    if (postStart) {
      const failed = await this.runHook(c, id, postStart, 30_000);
      if (failed) {
        this.event('Warning', 'FailedPostStartHook', failed);
        await cri.stopContainer(id, 0).catch(() => undefined);
      }
    }
    w.reason = undefined; w.message = undefined; w.nextStartAt = undefined;
    const l = this.liveOf(c.name);
    Object.assign(l, { readiness: probeState(), liveness: probeState(), startup: probeState(), ready: false, started: !c.startupProbe, id });
    // Older instances than the one before go (the previous one stays for `logs --previous`).
    for (const old of this.instances(c.name).slice(0, -1)) void cri.removeContainer(old.id).catch(() => undefined);
    // A refresh already under way may have listed before this instance existed: wait for one begun after.
    await this.rt.refresh();
    if (this.listedGen <= w.startedGen) await this.rt.refresh();
  }

  /**
   * runAsNonRoot, as the kubelet verifies it before creating the container: the user it will run
   * as (runAsUser, else the image's) must be a number other than 0.
   */
  private async nonRootRefusal(c: Container): Promise<string | undefined> {
    const psc = this.pod?.spec?.securityContext ?? {};
    const csc = c.securityContext ?? {};
    if (!(csc.runAsNonRoot ?? psc.runAsNonRoot)) return undefined;
    const uid = csc.runAsUser ?? psc.runAsUser;
    if (uid !== undefined) return uid === 0 ? `container's runAsUser breaks non-root policy (pod: "${podLabel(this)}", container: ${c.name})` : undefined;
    const img = await this.rt.cri.imageStatus(c.image ?? '').catch(() => undefined);
    const imageUid = img?.uid?.value;
    if (imageUid === undefined && img?.username) return `container has runAsNonRoot and image has non-numeric user (${img.username}), cannot verify user is non-root (pod: "${podLabel(this)}", container: ${c.name})`;
    if (!imageUid) return `container has runAsNonRoot and image will run as root (pod: "${podLabel(this)}", container: ${c.name})`;
    return undefined;
  }

  /** An instance the runtime no longer lists. */
  forget(id: string): void { this.messages.delete(id); }

  /** Where an instance's termination message is kept on the node. */
  terminationFile(name: string, attempt: number): string {
    return join(this.dir, 'containers', name, `${attempt}.termination-log`);
  }

  /**
   * The message of an ended instance, as the kubelet reads it: the termination message file
   * (at most 4096 bytes); if that is empty under FallbackToLogsOnError and the exit was an error,
   * the last 80 lines of its log (at most 2048 bytes).
   */
  terminationMessage(name: string, st: CriContainerStatus): string | undefined {
    // An ended instance's message does not change: read once, not on every status computation.
    if (this.messages.has(st.id)) return this.messages.get(st.id);
    const msg = this.readTerminationMessage(name, st);
    this.messages.set(st.id, msg);
    return msg;
  }

  private readTerminationMessage(name: string, st: CriContainerStatus): string | undefined {
    const c = [...(this.pod?.spec?.containers ?? []), ...(this.pod?.spec?.initContainers ?? [])].find((x) => x.name === name);
    let msg = '';
    try { msg = readFileSync(this.terminationFile(name, st.metadata.attempt)).subarray(0, MAX_TERMINATION_MESSAGE).toString(); } catch { /* none */ }
    if (!msg && c?.terminationMessagePolicy === 'FallbackToLogsOnError' && st.exitCode !== 0) {
      try {
        const log = decodeCriLog(readFileSync(join(this.logDir, name, `${st.metadata.attempt}.log`))).out.toString();
        const lines = log.split('\n');
        if (lines.at(-1) === '') lines.pop();
        msg = lines.slice(-MAX_FALLBACK_LINES).join('\n');
        if (Buffer.byteLength(msg) > MAX_FALLBACK_BYTES) msg = Buffer.from(msg).subarray(-MAX_FALLBACK_BYTES).toString();
      } catch { /* no log */ }
    }
    return msg || undefined;
  }

  /** An instance ended (seen by a refresh): decide its back-off, as the kubelet's pod worker. */
  onExit(name: string, st: CriContainerStatus): void {
    const l = this.liveOf(name);
    l.ready = false;
    const w = this.wantOf(name);
    const policy = this.pod?.spec?.restartPolicy ?? 'Always';
    const init = this.pod?.spec?.initContainers?.find((c) => c.name === name);
    // An init container runs again only after a failure (never under Never); a sidecar always.
    const again = init ? isSidecar(init) || (st.exitCode !== 0 && policy !== 'Never') : policy === 'Always' || (policy === 'OnFailure' && st.exitCode !== 0);
    const restart = !this.terminating && again;
    if (restart) {
      const ranMs = (st.finishedAt - st.startedAt) / 1e6;
      if (ranMs > BACKOFF_RESET_MS) w.crashCount = 0;
      const delay = w.crashCount === 0 ? 0 : Math.min(BACKOFF_INITIAL_S * 2 ** (w.crashCount - 1), BACKOFF_MAX_S);
      w.crashCount++;
      if (delay > 0) {
        w.reason = 'CrashLoopBackOff';
        w.message = `back-off ${backoffText(delay)} restarting failed container=${name} pod=${podLabel(this)}`;
        w.nextStartAt = Date.now() + delay * 1000;
        this.event('Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${podLabel(this)}`);
      } else {
        w.reason = undefined; w.message = undefined; w.nextStartAt = undefined;
      }
    }
    this.changed();
  }

  /** Probes of running containers. */
  tick(): void {
    if (!this.pod || this.terminating) return;
    for (const c of [...(this.pod.spec?.initContainers ?? []).filter(isSidecar), ...(this.pod.spec?.containers ?? [])]) {
      const last = this.latest(c.name);
      if (last?.state !== 'CONTAINER_RUNNING') continue;
      const st = this.statuses.get(last.id);
      const l = this.liveOf(c.name);
      if (l.id !== last.id) {
        // An instance this agent did not start (adopted after a restart): probed from scratch,
        // from what the API last heard about it (a restart changes neither started nor ready).
        const was = this.reported(c.name, last.id);
        Object.assign(l, { readiness: probeState(), liveness: probeState(), startup: probeState(), ready: !!was?.ready, started: was?.started ?? !c.startupProbe, id: last.id });
      }
      this.probes(c, last.id, (st?.startedAt ?? last.createdAt) / 1e6, l);
    }
    this.refreshVolumes();
    void this.sync().catch(() => undefined);
  }

  private probes(c: Container, id: string, startedMs: number, l: Live): void {
    const run1 = (kind: 'startup' | 'liveness' | 'readiness', p: Probe, onResult: (ok: boolean) => void) => {
      const st = l[kind];
      if (st.inFlight) return;
      const t = Date.now();
      if (t - startedMs < (p.initialDelaySeconds ?? 0) * 1000) return;
      if (st.lastRun && t - st.lastRun < (p.periodSeconds ?? 10) * 1000) return;
      st.lastRun = t; st.inFlight = true;
      runProbe(p, this.rt.probeTarget(this, c, id)).then((r) => {
        st.inFlight = false;
        if (l.id !== id) return;
        if (r.ok) { st.successes++; st.failures = 0; } else { st.failures++; st.successes = 0; }
        if (!r.ok) this.event('Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${r.message}`);
        onResult(r.ok);
      }, () => { st.inFlight = false; });
    };
    if (c.startupProbe && !l.started) {
      const p = c.startupProbe;
      run1('startup', p, (ok) => {
        if (ok) { l.started = true; this.changed(); } else if (l.startup.failures >= (p.failureThreshold ?? 3)) this.killForProbe(c.name, id, 'startup');
      });
      return;
    }
    if (c.livenessProbe) {
      const p = c.livenessProbe;
      run1('liveness', p, (ok) => { if (!ok && l.liveness.failures >= (p.failureThreshold ?? 3)) this.killForProbe(c.name, id, 'liveness'); });
    }
    if (c.readinessProbe) {
      const p = c.readinessProbe;
      run1('readiness', p, (ok) => {
        const before = l.ready;
        if (ok && l.readiness.successes >= (p.successThreshold ?? 1)) l.ready = true;
        if (!ok && l.readiness.failures >= (p.failureThreshold ?? 3)) l.ready = false;
        if (before !== l.ready) this.changed();
      });
    } else if (!l.ready) {
      l.ready = true;
      this.changed();
    }
  }

  private killForProbe(name: string, id: string, kind: string): void {
    this.event('Normal', 'Killing', `Container ${name} failed ${kind} probe, will be restarted`);
    void this.stopContainer(name, id, this.pod?.spec?.terminationGracePeriodSeconds ?? 30);
  }

  async stopContainer(name: string, id: string, graceSeconds: number): Promise<void> {
    const w = this.wantOf(name);
    if (w.stopping) return;
    w.stopping = true;
    try {
      await this.rt.cri.stopContainer(id, graceSeconds).catch(() => undefined);
      await this.rt.refresh();
    } finally {
      w.stopping = false;
    }
  }

  /** Stop every container (grace period), then the sandbox, and remove them. */
  async stopAll(graceSeconds: number): Promise<void> {
    this.terminating = true;
    const cri = this.rt.cri;
    if (this.sandboxPromise) await this.sandboxPromise.catch(() => undefined);
    const running = this.containers.filter((c) => c.state === 'CONTAINER_RUNNING');
    for (const c of running) this.event('Normal', 'Killing', `Stopping container ${c.metadata.name}`);
    await Promise.all(running.map(async (c) => {
      // preStop first, within the grace period; SIGTERM then gets what is left of it (at least
      // the 2 s upstream's kubelet grants after a hook that used it all).
      const spec = [...(this.pod?.spec?.containers ?? []), ...(this.pod?.spec?.initContainers ?? [])].find((x) => x.name === c.metadata.name);
      const preStop = spec?.lifecycle?.preStop;
      let grace = graceSeconds;
      if (spec && preStop && graceSeconds > 0) {
        const t0 = Date.now();
        const failed = await this.runHook(spec, c.id, preStop, graceSeconds * 1000);
        if (failed) this.event('Warning', 'FailedPreStopHook', failed);
        grace = Math.max(2, Math.ceil(graceSeconds - (Date.now() - t0) / 1000));
      }
      await cri.stopContainer(c.id, grace).catch(() => undefined);
    }));
    for (const s of await cri.listPodSandbox({ labelSelector: { [L_POD_UID]: this.uid } }).catch(() => [] as PodSandbox[])) {
      await cri.stopPodSandbox(s.id).catch(() => undefined);
      await cri.removePodSandbox(s.id).catch(() => undefined);
    }
    this.sandboxId = undefined;
    this.containers = [];
    await tearDownVolumes(this.dir);
  }

  status(): PodStatus {
    const pod = this.pod;
    const policy = pod?.spec?.restartPolicy ?? 'Always';
    const term = (s: CriContainerStatus) => {
      const message = s.message || this.terminationMessage(s.metadata.name, s);
      return {
        exitCode: s.exitCode, reason: s.reason || (s.exitCode === 0 ? 'Completed' : 'Error'),
        ...(message ? { message } : {}),
        startedAt: isoOfNs(s.startedAt), finishedAt: isoOfNs(s.finishedAt), containerID: `${CONTAINER_RUNTIME}://${s.id}`,
      };
    };
    const inits = pod?.spec?.initContainers ?? [];
    const initDone = (name: string) => {
      const last = this.latest(name);
      const st = last && this.statuses.get(last.id);
      return !!st && last!.state === 'CONTAINER_EXITED' && st.exitCode === 0;
    };
    const appStarted = (pod?.spec?.containers ?? []).some((c) => this.latest(c.name));
    const incomplete = appStarted ? [] : inits.filter((c) => (isSidecar(c) ? !(this.latest(c.name)?.state === 'CONTAINER_RUNNING' && this.liveOf(c.name).started) : !initDone(c.name))).map((c) => c.name);
    const initFailed = policy === 'Never' && inits.some((c) => {
      const last = this.latest(c.name);
      const st = last && this.statuses.get(last.id);
      return !isSidecar(c) && !!st && last!.state === 'CONTAINER_EXITED' && st.exitCode !== 0;
    });
    const statusOf = (c: Container, init: boolean): ContainerStatus => {
      const sidecar = init && isSidecar(c);
      const w = this.wantOf(c.name);
      const l = this.liveOf(c.name);
      const inst = this.instances(c.name);
      const last = inst.at(-1);
      const lastSt = last ? this.statuses.get(last.id) : undefined;
      const prev = inst.length > 1 ? this.statuses.get(inst.at(-2)!.id) : undefined;
      // Before the init containers are done, what has not started waits in PodInitializing
      // (kubectl then shows Init:i/n).
      const idle = incomplete.length ? 'PodInitializing' : 'ContainerCreating';
      const st: ContainerStatus = {
        name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: last?.metadata.attempt ?? 0, started: false,
        state: { waiting: { reason: w.reason ?? idle, ...(w.message ? { message: w.message } : {}) } }, lastState: {},
      };
      if (!last) return st;
      st.image = lastSt?.image.image || last.image.image || st.image;
      st.imageID = lastSt?.imageRef || last.imageRef || '';
      st.containerID = `${CONTAINER_RUNTIME}://${last.id}`;
      if (last.state === 'CONTAINER_RUNNING') {
        st.state = { running: { startedAt: isoOfNs(lastSt?.startedAt ?? last.createdAt) } };
        // An instance this agent has not probed yet (adopted after a restart) keeps what the API
        // last heard about it until its probes say otherwise; one the API never heard of is
        // started unless a startup probe gates it, ready unless a readiness probe does. Else a
        // ready pod turns unready for a moment after every agent restart and drops out of its
        // Services' endpoints (upstream's kubelet still does: kubernetes#100277).
        const probed = l.id === last.id;
        const was = probed ? undefined : this.reported(c.name, last.id);
        st.started = probed ? l.started : was?.started ?? !c.startupProbe;
        st.ready = st.started && (probed ? l.ready : was ? !!was.ready : !c.readinessProbe);
        if (prev?.finishedAt) st.lastState = { terminated: term(prev) };
      } else if (last.state === 'CONTAINER_EXITED' && lastSt) {
        const restarts = !this.terminating && (init
          ? sidecar || (lastSt.exitCode !== 0 && policy !== 'Never')
          : policy === 'Always' || (policy === 'OnFailure' && lastSt.exitCode !== 0));
        if (init && !sidecar && lastSt.exitCode === 0) st.ready = true; // a completed init container
        if (restarts) {
          st.state = { waiting: { reason: w.reason ?? 'ContainerCreating', ...(w.message ? { message: w.message } : {}) } };
          if (!w.reason) st.state = { waiting: { reason: 'ContainerCreating' } };
          st.lastState = { terminated: term(lastSt) };
        } else {
          st.state = { terminated: term(lastSt) };
          if (prev?.finishedAt) st.lastState = { terminated: term(prev) };
        }
      } else if (prev?.finishedAt) {
        st.lastState = { terminated: term(prev) };
      }
      return st;
    };
    const statuses: ContainerStatus[] = (pod?.spec?.containers ?? []).map((c) => statusOf(c, false));
    const initStatuses: ContainerStatus[] = inits.map((c) => statusOf(c, true));
    let waiting = 0; let running = 0; let stopped = 0; let succeeded = 0;
    for (const s of statuses) {
      if (s.state?.running) running++;
      else if (s.state?.terminated) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
      else if (s.state?.waiting && s.lastState?.terminated) stopped++;
      else waiting++;
    }
    let phase: PodStatus['phase'] = 'Pending';
    if (initFailed) phase = 'Failed';
    else if (waiting > 0) phase = 'Pending';
    else if (running > 0) phase = 'Running';
    else if (stopped > 0) {
      if (policy === 'Always') phase = 'Running';
      else if (stopped === succeeded && statuses.every((s) => s.state?.terminated)) phase = 'Succeeded';
      else if (policy === 'Never' && statuses.every((s) => s.state?.terminated)) phase = 'Failed';
      else phase = 'Running';
    }
    // Sidecars count for readiness, as app containers do.
    const sidecarStatuses = initStatuses.filter((_, i) => isSidecar(inits[i]!));
    const allReady = statuses.length > 0 && incomplete.length === 0 && [...statuses, ...sidecarStatuses].every((s) => s.ready);
    const prevConds = new Map((pod?.status?.conditions ?? []).map((c) => [c.type, c]));
    const cond = (type: string, ok: boolean, reason?: string): PodCondition => {
      const status = ok ? 'True' : 'False';
      const p = prevConds.get(type);
      return { type, status, lastProbeTime: null as unknown as undefined, lastTransitionTime: p?.status === status ? p.lastTransitionTime : nowIso(), ...(reason && !ok ? { reason } : {}) };
    };
    const notReady = [...sidecarStatuses, ...statuses].filter((s) => !s.ready).map((s) => s.name);
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const unready = !allReady && !terminal ? { message: `containers with unready status: [${notReady.join(' ')}]` } : {};
    // readinessGates: conditions others set on the pod; Ready only when each is True
    // (pkg/kubelet/status generatePodReadyCondition).
    const gateProblems = (pod?.spec?.readinessGates ?? []).map((g) => {
      const cnd = prevConds.get(g.conditionType);
      if (!cnd) return `corresponding condition of pod readiness gate "${g.conditionType}" does not exist.`;
      return cnd.status === 'True' ? undefined : `the status of pod readiness gate "${g.conditionType}" is not "True", but ${cnd.status}`;
    }).filter((x): x is string => !!x);
    const ready = allReady && !terminal && gateProblems.length === 0;
    const readyWhy = !allReady || terminal ? unready : gateProblems.length ? { reason: 'ReadinessGatesNotReady', message: gateProblems.join(', ') } : {};
    const conditions: PodCondition[] = [
      cond('PodReadyToStartContainers', !!this.sandboxId),
      { ...cond('Initialized', incomplete.length === 0, 'ContainersNotInitialized'), ...(incomplete.length ? { message: `containers with incomplete status: [${incomplete.join(' ')}]` } : {}) },
      { ...cond('Ready', ready, terminal ? 'PodCompleted' : 'ContainersNotReady'), ...readyWhy },
      { ...cond('ContainersReady', allReady && !terminal, terminal ? 'PodCompleted' : 'ContainersNotReady'), ...unready },
      cond('PodScheduled', true),
    ];
    const ip = this.sandboxId ? this.ip : undefined;
    return {
      phase, conditions,
      hostIP: this.rt.opts.nodeIP, hostIPs: [{ ip: this.rt.opts.nodeIP }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: this.startTime, ...(inits.length ? { initContainerStatuses: initStatuses } : {}), containerStatuses: statuses, qosClass: qosClass(pod),
    };
  }
}

/**
 * The CRI security context of a container from its own and its pod's securityContext, as the
 * kubelet builds it (kuberuntime security_context.go): user and group, read-only root, the
 * pod's supplemental groups with fsGroup, capabilities, no_new_privs for
 * allowPrivilegeEscalation false.
 */
export function securityContextOf(pod: Pod, c: Container): NonNullable<NonNullable<ContainerConfig['linux']>['securityContext']> {
  const psc = pod.spec?.securityContext ?? {};
  const csc = c.securityContext ?? {};
  const runAsUser = csc.runAsUser ?? psc.runAsUser;
  const runAsGroup = csc.runAsGroup ?? psc.runAsGroup;
  const groups = [...(psc.supplementalGroups ?? []), ...(psc.fsGroup !== undefined ? [psc.fsGroup] : [])];
  return {
    privileged: !!csc.privileged,
    ...(runAsUser !== undefined ? { runAsUser: { value: runAsUser } } : {}),
    ...(runAsGroup !== undefined ? { runAsGroup: { value: runAsGroup } } : {}),
    readonlyRootfs: !!csc.readOnlyRootFilesystem,
    ...(groups.length ? { supplementalGroups: groups } : {}),
    ...(csc.capabilities ? { capabilities: { addCapabilities: csc.capabilities.add ?? [], dropCapabilities: csc.capabilities.drop ?? [] } } : {}),
    noNewPrivs: csc.allowPrivilegeEscalation === false,
  };
}

/** An init container that keeps running beside the app containers (restartPolicy Always). */
function isSidecar(c: Container): boolean {
  return c.restartPolicy === 'Always';
}

const NO_ENV: EnvSources = { services: () => [], configMap: async () => undefined, secret: async () => undefined };

/** The node's pods on containerd, with the surface the node agent and its socket API use. */
export class CriRuntime {
  readonly cri: CriClient;
  readonly envSources: EnvSources;
  private pods = new Map<string, CriPod>();
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  /** Counts refreshes begun; each pod keeps the number of the one that last listed it. */
  generation = 0;
  /** Pulls in flight by image: pods (and the start-up pre-pull) wanting one image share one pull. */
  private pulls = new Map<string, Promise<string>>();

  constructor(readonly opts: CriRuntimeOptions) {
    this.cri = opts.cri ?? new CriClient(opts.socket);
    this.envSources = opts.env ?? NO_ENV;
    this.timer = setInterval(() => {
      void this.refresh().then(() => { for (const p of this.pods.values()) p.tick(); }, () => undefined);
    }, TICK_MS);
    this.timer.unref();
  }

  podsRoot(): string { return join(this.opts.dataDir, 'nodes', this.opts.nodeName, 'pods'); }
  logsRoot(): string { return join(this.opts.dataDir, 'nodes', this.opts.nodeName, 'logs'); }

  /** Wait until containerd answers (it starts beside the agent). */
  async waitReady(timeoutMs = 30_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try { await this.cri.version(); return; } catch (e) { if (Date.now() > end) throw e; }
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  pull(image: string, sandboxConfig?: PodSandboxConfig): Promise<string> {
    let p = this.pulls.get(image);
    if (!p) {
      p = this.cri.pullImage(image, sandboxConfig).finally(() => this.pulls.delete(image));
      this.pulls.set(image, p);
    }
    return p;
  }

  /**
   * Pull what every cluster runs at once (the pause image, cluster DNS) when the node starts, as
   * kind's node image has them preloaded: the first pods then do not wait for a pull.
   */
  async prepull(images: string[]): Promise<void> {
    // One after another, in the order given: the first (pause, which every sandbox needs) is not
    // slowed down by unpacking the others.
    for (const image of images) {
      if (await this.cri.imageStatus(image).catch(() => undefined)) continue;
      await this.pull(image).catch(() => undefined);
    }
  }

  /** The sandbox's network namespace path (containerd's info), for port-forward. */
  async sandboxNetns(id: string): Promise<string | undefined> {
    const info = await this.cri.podSandboxInfo(id).catch(() => ({} as Record<string, unknown>));
    return typeof info.netNamespacePath === 'string' && info.netNamespacePath ? info.netNamespacePath : undefined;
  }

  /** List containers once for all pods; fetch the status of instances that changed. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => { this.refreshing = undefined; });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const gen = ++this.generation;
    const all = await this.cri.listContainers();
    const byUid = new Map<string, CriContainer[]>();
    for (const c of all) {
      const uid = c.labels[L_POD_UID];
      if (!uid) continue;
      let l = byUid.get(uid);
      if (!l) { l = []; byUid.set(uid, l); }
      l.push(c);
    }
    for (const p of this.pods.values()) {
      const list = (byUid.get(p.uid) ?? []).filter((c) => !p.sandboxId || c.podSandboxId === p.sandboxId);
      const before = new Map(p.containers.map((c) => [c.id, c.state]));
      p.containers = list;
      p.listedGen = gen;
      let changed = list.length !== before.size;
      for (const c of list) {
        const was = before.get(c.id);
        if (was !== c.state || !p.statuses.has(c.id)) {
          changed = true;
          try {
            const r = await this.cri.containerStatus(c.id, c.state === 'CONTAINER_RUNNING' && !p.pids.has(c.id));
            p.statuses.set(c.id, r.status);
            const info = r.info?.info;
            if (info) { try { const pid = (JSON.parse(info) as { pid?: number }).pid; if (pid) p.pids.set(c.id, pid); } catch { /* none */ } }
            if (c.state === 'CONTAINER_EXITED' && was && was !== 'CONTAINER_EXITED') p.onExit(c.metadata.name, r.status);
          } catch { /* gone meanwhile */ }
        }
      }
      for (const id of [...p.statuses.keys()]) if (!list.some((c) => c.id === id)) { p.statuses.delete(id); p.pids.delete(id); p.forget(id); }
      if (changed) p.changed();
    }
  }

  /** Sandboxes of this node's earlier run: their pods are adopted. Returns their uids. */
  async adopt(): Promise<string[]> {
    await this.waitReady();
    const found: string[] = [];
    for (const s of await this.cri.listPodSandbox()) {
      const uid = s.labels[L_POD_UID];
      if (!uid || s.state !== 'SANDBOX_READY') continue;
      const p = new CriPod(this, uid, s.metadata.namespace, s.metadata.name);
      p.sandboxId = s.id;
      const st = await this.cri.podSandboxStatus(s.id).catch(() => undefined);
      p.ip = st?.network?.ip || undefined;
      p.netnsPath = await this.sandboxNetns(s.id);
      p.startTime = isoOfNs(s.createdAt) ?? p.startTime;
      this.pods.set(uid, p);
      found.push(uid);
    }
    await this.refresh();
    return found;
  }

  has(uid: string): boolean { return this.pods.has(uid); }
  uids(): string[] { return [...this.pods.keys()]; }
  addressFreed(): void {
    for (const p of this.pods.values()) if (p.sandboxError) p.sandboxRetryAt = 0;
  }

  async start(pod: Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    if (!uid) throw new Error('pod has no metadata.uid');
    let p = this.pods.get(uid);
    if (!p) {
      p = new CriPod(this, uid, pod.metadata?.namespace ?? 'default', pod.metadata?.name ?? '');
      this.pods.set(uid, p);
    }
    const first = !p.pod;
    p.pod = pod;
    if (first && p.sandboxId) {
      p.sandboxConfig = p.sandboxConfigFor(pod);
      p.writeHosts();
    }
    if (p.terminating) return;
    await p.sync();
  }

  async stop(uid: string, graceSeconds: number): Promise<void> {
    const p = this.pods.get(uid);
    if (!p) return;
    p.stopped ??= p.stopAll(graceSeconds);
    await p.stopped;
    this.addressFreed();
  }

  remove(uid: string): void {
    const p = this.pods.get(uid);
    if (p && !p.stopped) throw new Error(`pod ${uid} is not stopped`);
    this.pods.delete(uid);
    if (p) {
      rmSync(p.dir, { recursive: true, force: true });
      rmSync(p.logDir, { recursive: true, force: true });
    }
  }

  status(uid: string): PodStatus | undefined { return this.pods.get(uid)?.status(); }
  pod(uid: string): Pod | undefined { return this.pods.get(uid)?.pod; }
  isTerminating(uid: string): boolean { return this.pods.get(uid)?.terminating ?? false; }

  findPod(namespace: string, name: string): { uid: string; pod?: Pod } | undefined {
    for (const [uid, p] of this.pods) if (p.namespace === namespace && p.name === name && !p.terminating) return { uid, pod: p.pod };
    for (const [uid, p] of this.pods) if (p.namespace === namespace && p.name === name) return { uid, pod: p.pod };
    return undefined;
  }
  containerNames(uid: string): string[] {
    return (this.pods.get(uid)?.pod?.spec?.containers ?? []).map((c) => c.name);
  }

  /** The running container's main process as the host sees it, and its environment. */
  containerProcess(uid: string, container: string): { pid: number; env: Record<string, string>; workingDir: string; id: string } | undefined {
    const p = this.pods.get(uid);
    const last = p?.latest(container);
    if (!p || !last || last.state !== 'CONTAINER_RUNNING') return undefined;
    const pid = p.pids.get(last.id);
    if (!pid) return undefined;
    const env: Record<string, string> = {};
    try {
      for (const kv of readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')) {
        const i = kv.indexOf('=');
        if (i > 0) env[kv.slice(0, i)] = kv.slice(i + 1);
      }
    } catch { return undefined; }
    const spec = p.pod?.spec?.containers?.find((c) => c.name === container);
    return { pid, env, workingDir: spec?.workingDir || '/', id: last.id };
  }

  async waitContainerSetUp(uid: string, container: string): Promise<boolean> {
    for (let i = 0; i < 100; i++) {
      if (this.containerProcess(uid, container)) return true;
      await this.refresh().catch(() => undefined);
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /**
   * argv that runs cmd in a running container: every namespace of its main process (mount, PID,
   * IPC, UTS, network, cgroup), its root and working directory, its environment. The directory is
   * the process's own (`-w` alone): `--wd=DIR` is opened in the host's root before nsenter enters
   * the container's, which left exec in the host's / (`ls .` showed the host's files).
   */
  execArgv(uid: string, container: string, cmd: string[]): { argv: string[]; env: Record<string, string> } | undefined {
    const p = this.containerProcess(uid, container);
    if (!p) return undefined;
    // As the container's user and group (runAsUser/runAsGroup), as runc exec would run it; nsenter
    // leaves out the supplementary groups.
    let ids: string[] = [];
    try {
      const st = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      const uidN = /^Uid:\s+(\d+)/m.exec(st)?.[1];
      const gidN = /^Gid:\s+(\d+)/m.exec(st)?.[1];
      if (uidN && gidN && (uidN !== '0' || gidN !== '0')) ids = ['-S', uidN, '-G', gidN];
    } catch { /* gone: nsenter fails on its own */ }
    return { argv: ['nsenter', '-t', String(p.pid), '-m', '-u', '-i', '-n', '-p', '-C', '-r', '-w', ...ids, '--', ...cmd], env: p.env };
  }

  /**
   * The runtime's streaming URL for attaching to a running container's stdio (CRI Attach), as
   * the kubelet's GetAttach: tty is the container's own (fixed when it was created), and a tty
   * has no separate stderr. Errors carry the kubelet's wording.
   */
  async attach(uid: string, container: string, o: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<{ url: string; tty: boolean }> {
    const p = this.pods.get(uid);
    const full = p ? `${p.name}_${p.namespace}` : uid;
    let last = p?.latest(container);
    if (p && last?.state !== 'CONTAINER_RUNNING') { await this.refresh().catch(() => undefined); last = p.latest(container); }
    if (!p || !last || last.state !== 'CONTAINER_RUNNING') throw new Error(`container ${container} not found in pod ${full}`);
    const tty = !!p.pod?.spec?.containers?.find((c) => c.name === container)?.tty;
    const url = await this.cri.attach({ containerId: last.id, tty, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr && !tty });
    return { url, tty };
  }

  /**
   * The runtime's streaming URL for a command in a running container (CRI Exec, as the kubelet's
   * GetExec): runc runs it as the container's own process would run, with its user, groups,
   * capabilities, cgroup and security settings. A tty has no separate stderr.
   */
  async exec(uid: string, container: string, cmd: string[], tty: boolean, o: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<{ url: string; tty: boolean }> {
    const p = this.pods.get(uid);
    const full = p ? `${p.name}_${p.namespace}` : uid;
    let last = p?.latest(container);
    if (p && last?.state !== 'CONTAINER_RUNNING') { await this.refresh().catch(() => undefined); last = p.latest(container); }
    if (!p || !last || last.state !== 'CONTAINER_RUNNING') throw new Error(`container ${container} not found in pod ${full}`);
    const url = await this.cri.exec({ containerId: last.id, cmd, tty, stdin: o.stdin, stdout: o.stdout, stderr: o.stderr && !tty });
    return { url, tty };
  }

  /** CRI log file of a container: the current instance, or the previous one. */
  logFile(uid: string, container: string, previous = false): string | undefined {
    const p = this.pods.get(uid);
    if (!p) return undefined;
    const inst = p.instances(container);
    const c = previous ? inst.at(-2) : inst.at(-1);
    if (!c) return undefined;
    return join(p.logDir, container, `${c.metadata.attempt}.log`);
  }

  netnsOf(uid: string): string | undefined { return this.pods.get(uid)?.netnsPath; }

  probeTarget(p: CriPod, c: Container, id: string) {
    return {
      podIP: p.ip ?? '',
      port: (x: number | string | undefined) => {
        if (typeof x === 'number') return x;
        return c.ports?.find((y) => y.name === x)?.containerPort ?? Number(x);
      },
      exec: async (cmd: string[], timeoutMs: number) => {
        try {
          const r = await this.cri.execSync(id, cmd, Math.max(1, Math.ceil(timeoutMs / 1000)));
          return { code: r.exitCode, output: Buffer.concat([Buffer.from(r.stdout ?? []), Buffer.from(r.stderr ?? [])]).toString() };
        } catch (e) {
          return { code: 1, output: (e as Error).message };
        }
      },
    };
  }

  /** Sandboxes of pods the API no longer has: stopped and removed. */
  async cleanOrphans(known: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const uid of this.uids()) {
      if (known.has(uid)) continue;
      await this.stop(uid, 0);
      this.remove(uid);
      removed.push(uid);
    }
    return removed;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.cri.close();
  }
}
