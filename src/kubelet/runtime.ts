/**
 * @module kubelet/runtime
 * PodRuntime: the container runtime + CNI half of the node agent. start(pod) builds the sandbox
 * (netns, veth, IP, resolv.conf, hosts) and keeps the pod's containers running per
 * restartPolicy with the kubelet's exponential back-off and probes; status(pod) reports what
 * Kubernetes would; stop(pod) ends it (SIGTERM, grace period, SIGKILL) and frees the sandbox.
 * Each pod's record lives in <data dir>/pods/<uid>/state.json so a restarted agent adopts its
 * running processes instead of starting them again.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Container, ContainerStatus, Pod, PodCondition, PodStatus, Probe } from '../api/types.js';
import { containerArgv, resolveImage, unknownImageMessage, DEFAULT_IMAGE_HOME } from '../images/catalog.js';
import { run } from '../net/exec.js';
import { createPodNetwork, deletePodNetwork, listPodNetns, podNetnsMounted, repinPodNetns } from '../net/pod-network.js';
import { containerEnv, expand, type EnvSources } from './env.js';
import { Ipam, IpamExhaustedError, gatewayOf } from './ipam.js';
import { hostsFile, podHostnames, resolvConf } from './podfiles.js';
import { runProbe } from './probes.js';
import { waitSetUp, groupAlive, killContainerGroup, POD_PRIVATE_DIRS, processAlive, readExitCode, signalContainer, spawnContainer } from './process.js';

export const BACKOFF_INITIAL_S = 10;
export const BACKOFF_MAX_S = 300;
/** A container that ran this long without failing gets its back-off reset (kubelet: 2 × max). */
export const BACKOFF_RESET_MS = 600_000;
export const TICK_MS = 500;
/** A sandbox that could not be built is tried again after this (the kubelet's pod worker back-off). */
export const SANDBOX_RETRY_MS = 10_000;
export const STATE_FILE = 'state.json';
export const CONTAINER_RUNTIME = 'svcplane';

export type EventFn = (pod: Pod, type: 'Normal' | 'Warning', reason: string, message: string) => void;

export interface RuntimeOptions {
  dataDir: string;
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  clusterName: string;
  clusterDNS: string[];
  clusterDomain: string;
  /** Node netns when this process is not inside it (tests); undefined in the node agent. */
  nodeNetns?: string;
  imageHomes?: string[];
  apiserverSocket?: string;
  env?: EnvSources;
  onStatusChange?: (uid: string) => void;
  event?: EventFn;
}

interface Terminated { exitCode: number; reason: string; message?: string; startedAt?: string; finishedAt: string; signal?: number }

interface ContainerRecord {
  name: string;
  image: string;
  restartCount: number;
  state: 'waiting' | 'running' | 'terminated';
  reason?: string;
  message?: string;
  pid?: number;
  startTicks?: string;
  startedAt?: string;
  terminated?: Terminated;
  last?: Terminated;
  crashCount: number;
  nextStartAt?: number;
  imageFailures?: number;
}

interface PodRecord {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  netns?: string;
  hostVeth?: string;
  ip?: string;
  startTime: string;
  containers: Record<string, ContainerRecord>;
}

interface ProbeState { successes: number; failures: number; lastRun: number; inFlight: boolean; ok: boolean }

interface Live {
  starting: boolean;
  stopping: boolean;
  own: boolean;
  readiness: ProbeState;
  liveness: ProbeState;
  startup: ProbeState;
  ready: boolean;
  started: boolean;
}

const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

function probeState(): ProbeState {
  return { successes: 0, failures: 0, lastRun: 0, inFlight: false, ok: false };
}

function ctrKey(c: string): string {
  return c.replace(/[^A-Za-z0-9_.-]/g, '_');
}

function podLabel(pod: { name: string; namespace: string; uid: string }): string {
  return `${pod.name}_${pod.namespace}(${pod.uid})`;
}

/** The pod's sandbox id as the runtime would report it (64 hex digits, stable per pod). */
export function sandboxId(uid: string): string {
  return createHash('sha256').update(`sandbox/${uid}`).digest('hex');
}

/**
 * The FailedCreatePodSandBox message in the kubelet's words; a network set-up failure reads as
 * containerd + the bridge CNI plugin report it.
 */
export function sandboxFailureMessage(uid: string, e: unknown): string {
  const msg = (e as Error)?.message ?? String(e);
  if (e instanceof IpamExhaustedError) {
    return `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "${sandboxId(uid)}": plugin type="bridge" failed (add): ${msg}`;
  }
  return `Failed to create pod sandbox: ${msg}`;
}

/** One pod on this node. */
class PodWorker {
  pod?: Pod;
  live = new Map<string, Live>();
  terminating = false;
  sandboxReady = false;
  /** Why the sandbox could not be built, and when to try again (no retry, no event before). */
  sandboxError?: unknown;
  sandboxRetryAt = 0;
  private sandboxPromise?: Promise<void>;
  stopped?: Promise<void>;

  constructor(readonly rt: PodRuntime, public rec: PodRecord) {}

  get dir(): string { return this.rt.podDir(this.rec.uid); }

  save(): void {
    mkdirSync(this.dir, { recursive: true });
    const p = join(this.dir, STATE_FILE);
    writeFileSync(`${p}.tmp`, JSON.stringify(this.rec));
    renameSync(`${p}.tmp`, p);
  }

  liveOf(name: string): Live {
    let l = this.live.get(name);
    if (!l) {
      l = { starting: false, stopping: false, own: false, readiness: probeState(), liveness: probeState(), startup: probeState(), ready: false, started: false };
      this.live.set(name, l);
    }
    return l;
  }

  changed(): void {
    this.save();
    this.rt.opts.onStatusChange?.(this.rec.uid);
  }

  event(type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.pod) this.rt.opts.event?.(this.pod, type, reason, message);
  }

  async ensureSandbox(): Promise<void> {
    if (this.sandboxReady) return;
    this.sandboxPromise ??= this.createSandbox().finally(() => { this.sandboxPromise = undefined; });
    return this.sandboxPromise;
  }

  private async createSandbox(): Promise<void> {
    const pod = this.pod!;
    const o = this.rt.opts;
    mkdirSync(join(this.dir, 'etc'), { recursive: true });
    for (const k of Object.keys(POD_PRIVATE_DIRS)) mkdirSync(join(this.dir, k), { recursive: true });
    if (!pod.spec?.hostNetwork) {
      const uid8 = this.rec.uid.replace(/-/g, '').slice(0, 8);
      this.rec.netns = `svp-${o.clusterName}-p-${uid8}`;
      this.rec.hostVeth = `veth${uid8}`;
      this.rec.ip = this.rt.ipam.allocate(this.rec.uid);
      this.save();
      await createPodNetwork({ netns: this.rec.netns, hostVeth: this.rec.hostVeth, ip: this.rec.ip, prefixLength: this.rt.ipam.prefixLength, gateway: gatewayOf(o.podCIDR), nodeNetns: o.nodeNetns });
    } else {
      this.rec.ip = o.nodeIP;
      this.rec.netns = o.nodeNetns;
    }
    const { hostname } = podHostnames(pod, o.clusterDomain);
    writeFileSync(join(this.dir, 'etc', 'resolv.conf'), resolvConf(pod, { clusterDNS: o.clusterDNS, clusterDomain: o.clusterDomain }));
    writeFileSync(join(this.dir, 'etc', 'hosts'), hostsFile(pod, [this.rec.ip], o.clusterDomain));
    writeFileSync(join(this.dir, 'etc', 'hostname'), `${hostname}\n`);
    this.sandboxReady = true;
    this.changed();
  }

  /** Bring containers toward the spec: start the ones due, report image errors. */
  async sync(): Promise<void> {
    if (this.terminating || !this.pod) return;
    if (!this.sandboxReady) {
      // A failed sandbox waits out its back-off: the node's other pods, its Lease and its status
      // must not drown in retries (and events) of pods that cannot start, e.g. with no IP left.
      if (Date.now() < this.sandboxRetryAt) throw this.sandboxError;
      try {
        await this.ensureSandbox();
        this.sandboxError = undefined;
      } catch (e) {
        if (Date.now() >= this.sandboxRetryAt) {
          this.sandboxError = e;
          this.sandboxRetryAt = Date.now() + SANDBOX_RETRY_MS;
          this.event('Warning', 'FailedCreatePodSandBox', sandboxFailureMessage(this.rec.uid, e));
        }
        throw e;
      }
    }
    for (const c of this.pod.spec?.containers ?? []) {
      const rec = this.rec.containers[c.name] ??= { name: c.name, image: c.image ?? '', restartCount: 0, state: 'waiting', reason: 'ContainerCreating', crashCount: 0 };
      const l = this.liveOf(c.name);
      if (l.starting || l.stopping || rec.state === 'running') continue;
      if (rec.state === 'terminated') continue; // not to be restarted (policy)
      if (rec.nextStartAt && Date.now() < rec.nextStartAt) continue;
      l.starting = true;
      this.startContainer(c, rec, l).catch((e) => {
        rec.state = 'waiting'; rec.reason = 'RunContainerError'; rec.message = (e as Error).message;
        rec.nextStartAt = Date.now() + BACKOFF_INITIAL_S * 1000;
        this.changed();
      }).finally(() => { l.starting = false; });
    }
  }

  private async startContainer(c: Container, rec: ContainerRecord, l: Live): Promise<void> {
    const o = this.rt.opts;
    const pod = this.pod!;
    const image = c.image ?? '';
    const spec = resolveImage(image, this.rt.imageHomes);
    if (!spec) {
      rec.imageFailures = (rec.imageFailures ?? 0) + 1;
      const first = rec.imageFailures === 1 || rec.reason === 'ImagePullBackOff';
      // ErrImagePull on each attempt, ImagePullBackOff while waiting for the next (like the kubelet).
      rec.state = 'waiting';
      rec.reason = first && rec.imageFailures % 2 === 1 ? 'ErrImagePull' : 'ImagePullBackOff';
      rec.message = rec.reason === 'ErrImagePull' ? unknownImageMessage(image, 'process') : `Back-off pulling image "${image}": ${unknownImageMessage(image, 'process')}`;
      if (rec.reason === 'ErrImagePull') {
        this.event('Normal', 'Pulling', `Pulling image "${image}"`);
        this.event('Warning', 'Failed', `Failed to pull image "${image}": ${unknownImageMessage(image, 'process')}`);
        this.event('Warning', 'Failed', 'Error: ErrImagePull');
      } else {
        this.event('Normal', 'BackOff', `Back-off pulling image "${image}"`);
        this.event('Warning', 'Failed', 'Error: ImagePullBackOff');
      }
      const delay = Math.min(BACKOFF_INITIAL_S * 2 ** Math.max(0, Math.floor(rec.imageFailures / 2) - 1), BACKOFF_MAX_S);
      rec.nextStartAt = Date.now() + (rec.reason === 'ErrImagePull' ? 2000 : delay * 1000);
      this.changed();
      return;
    }
    rec.imageFailures = 0;
    const { hostname } = podHostnames(pod, o.clusterDomain);
    let env: Record<string, string>;
    try {
      env = await containerEnv(pod, c, { podIP: this.rec.ip ?? '', hostIP: o.nodeIP, nodeName: o.nodeName, hostname, apiserverSocket: o.apiserverSocket }, this.rt.envSources);
    } catch (e) {
      rec.state = 'waiting'; rec.reason = 'CreateContainerConfigError'; rec.message = (e as Error).message;
      this.event('Warning', 'Failed', `Error: ${rec.message}`);
      rec.nextStartAt = Date.now() + 2000;
      this.changed();
      return;
    }
    if (this.terminating) return;
    const argv = containerArgv(spec, c.command?.map((s) => expand(s, env)), c.args?.map((s) => expand(s, env)));
    if (!argv.length) throw new Error(`no command specified for container "${c.name}"`);
    if (rec.terminated || rec.startedAt) {
      // A restart: the instance that ended becomes lastState and its log the --previous one.
      rec.restartCount++;
    }
    const logDir = join(this.dir, 'logs', ctrKey(c.name));
    mkdirSync(logDir, { recursive: true });
    writeFileSync(join(this.dir, `env-${ctrKey(c.name)}.json`), JSON.stringify({ env, workingDir: c.workingDir || '/' }));
    const exitFile = join(this.dir, `exit-${ctrKey(c.name)}`);
    rmSync(exitFile, { force: true });
    rmSync(`${exitFile}.ready`, { force: true });
    this.event('Normal', 'Pulled', `Container image "${image}" already present on machine`);
    const sp = spawnContainer({
      netns: this.rec.netns, argv, env, hostname, podDir: this.dir, workingDir: c.workingDir || undefined,
      logFile: join(logDir, `${rec.restartCount}.log`), exitFile,
    });
    rec.pid = sp.pid; rec.startTicks = sp.startTicks;
    rec.state = 'running'; rec.reason = undefined; rec.message = undefined;
    rec.startedAt = now();
    if (rec.terminated) rec.last = rec.terminated;
    rec.terminated = undefined;
    rec.nextStartAt = undefined;
    l.own = true;
    l.ready = false; l.started = !c.startupProbe;
    l.readiness = probeState(); l.liveness = probeState(); l.startup = probeState();
    this.event('Normal', 'Created', `Created container ${c.name}`);
    this.event('Normal', 'Started', `Started container ${c.name}`);
    this.changed();
    const pid = sp.pid;
    void sp.exited.then((code) => this.onExit(c.name, pid, code));
  }

  onExit(name: string, pid: number, code: number): void {
    const rec = this.rec.containers[name];
    if (!rec || rec.pid !== pid || rec.state !== 'running') return;
    const l = this.liveOf(name);
    const finishedAt = now();
    const startedMs = rec.startedAt ? Date.parse(rec.startedAt) : Date.now();
    rec.terminated = { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: rec.startedAt, finishedAt };
    if (code > 128) rec.terminated.signal = code - 128;
    rec.pid = undefined; rec.startTicks = undefined;
    l.ready = false; l.own = false;
    const policy = this.pod?.spec?.restartPolicy ?? 'Always';
    const restart = !this.terminating && (policy === 'Always' || (policy === 'OnFailure' && code !== 0));
    if (!restart) {
      rec.state = 'terminated';
      this.changed();
      return;
    }
    if (Date.now() - startedMs > BACKOFF_RESET_MS) rec.crashCount = 0;
    const delay = rec.crashCount === 0 ? 0 : Math.min(BACKOFF_INITIAL_S * 2 ** (rec.crashCount - 1), BACKOFF_MAX_S);
    rec.crashCount++;
    if (delay > 0) {
      rec.state = 'waiting';
      rec.reason = 'CrashLoopBackOff';
      rec.message = `back-off ${delay >= 60 ? `${Math.floor(delay / 60)}m${delay % 60 ? `${delay % 60}s` : '0s'}` : `${delay}s`} restarting failed container=${name} pod=${podLabel(this.rec)}`;
      rec.last = rec.terminated;
      rec.nextStartAt = Date.now() + delay * 1000;
      this.event('Warning', 'BackOff', `Back-off restarting failed container ${name} in pod ${podLabel(this.rec)}`);
    } else {
      rec.state = 'waiting';
      rec.reason = undefined;
      rec.nextStartAt = undefined;
    }
    this.changed();
    void this.sync().catch(() => undefined);
  }

  /** Periodic work: notice exits of adopted processes, run probes due. */
  tick(): void {
    if (!this.pod) return;
    for (const c of this.pod.spec?.containers ?? []) {
      const rec = this.rec.containers[c.name];
      if (!rec || rec.state !== 'running' || !rec.pid) continue;
      const l = this.liveOf(c.name);
      if (!l.own && !processAlive(rec.pid, rec.startTicks ?? '')) {
        this.onExit(c.name, rec.pid, readExitCode(join(this.dir, `exit-${ctrKey(c.name)}`)) ?? 137);
        continue;
      }
      this.probes(c, rec, l);
    }
    if (!this.terminating) {
      const due = (this.pod.spec?.containers ?? []).some((c) => {
        const r = this.rec.containers[c.name];
        return !r || (r.state === 'waiting' && (!r.nextStartAt || Date.now() >= r.nextStartAt));
      });
      if (due) void this.sync().catch(() => undefined);
    }
  }

  private probes(c: Container, rec: ContainerRecord, l: Live): void {
    const startedMs = Date.parse(rec.startedAt ?? now());
    const run1 = (kind: 'startup' | 'liveness' | 'readiness', p: Probe, onResult: (ok: boolean, message: string) => void) => {
      const st = l[kind];
      if (st.inFlight) return;
      const t = Date.now();
      if (t - startedMs < (p.initialDelaySeconds ?? 0) * 1000) return;
      if (st.lastRun && t - st.lastRun < (p.periodSeconds ?? 10) * 1000) return;
      st.lastRun = t; st.inFlight = true;
      runProbe(p, this.rt.probeTarget(this, c)).then((r) => {
        st.inFlight = false;
        if (rec.state !== 'running' || rec.startedAt === undefined || Date.parse(rec.startedAt) !== startedMs) return;
        if (r.ok) { st.successes++; st.failures = 0; } else { st.failures++; st.successes = 0; }
        if (!r.ok) this.event('Warning', 'Unhealthy', `${kind[0]!.toUpperCase()}${kind.slice(1)} probe failed: ${r.message}`);
        onResult(r.ok, r.message);
      }, () => { st.inFlight = false; });
    };
    if (c.startupProbe && !l.started) {
      const p = c.startupProbe;
      run1('startup', p, (ok) => {
        if (ok && l.startup.successes >= 1) { l.started = true; this.changed(); }
        else if (!ok && l.startup.failures >= (p.failureThreshold ?? 3)) this.killForProbe(c.name, 'startup');
      });
      return;
    }
    if (c.livenessProbe) {
      const p = c.livenessProbe;
      run1('liveness', p, (ok) => {
        if (!ok && l.liveness.failures >= (p.failureThreshold ?? 3)) this.killForProbe(c.name, 'liveness');
      });
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

  private killForProbe(name: string, kind: string): void {
    const rec = this.rec.containers[name];
    if (!rec?.pid) return;
    this.event('Normal', 'Killing', `Container ${name} failed ${kind} probe, will be restarted`);
    void this.stopContainer(name, this.pod?.spec?.terminationGracePeriodSeconds ?? 30);
  }

  async stopContainer(name: string, graceSeconds: number): Promise<void> {
    const rec = this.rec.containers[name];
    const l = this.liveOf(name);
    if (!rec?.pid || l.stopping) return;
    const pid = rec.pid;
    const ticks = rec.startTicks ?? '';
    l.stopping = true;
    try {
      signalContainer(pid, 'SIGTERM');
      const deadline = Date.now() + graceSeconds * 1000;
      while (Date.now() < deadline && (processAlive(pid, ticks) || groupAlive(pid))) await new Promise((r) => setTimeout(r, 100));
      killContainerGroup(pid);
      // Adopted processes are not our children: report their end ourselves.
      if (!l.own) this.onExit(name, pid, readExitCode(join(this.dir, `exit-${ctrKey(name)}`)) ?? 137);
      else {
        for (let i = 0; i < 50 && this.rec.containers[name]?.pid === pid; i++) await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      l.stopping = false;
    }
  }

  /** Stop every container and free the sandbox. */
  async stopAll(graceSeconds: number): Promise<void> {
    this.terminating = true;
    for (const [name, rec] of Object.entries(this.rec.containers)) {
      if (rec.pid && this.pod && this.live.get(name)?.stopping !== true) this.event('Normal', 'Killing', `Stopping container ${name}`);
    }
    await Promise.all(Object.keys(this.rec.containers).map((n) => this.stopContainer(n, graceSeconds)));
    if (this.sandboxPromise) await this.sandboxPromise.catch(() => undefined);
    if (this.rec.netns && this.rec.hostVeth) await deletePodNetwork(this.rec.netns, this.rec.hostVeth, this.rt.opts.nodeNetns);
    this.rt.ipam.release(this.rec.uid);
    this.rt.addressFreed();
    this.sandboxReady = false;
  }

  status(): PodStatus {
    const pod = this.pod;
    const specContainers = pod?.spec?.containers ?? [];
    const statuses: ContainerStatus[] = specContainers.map((c) => {
      const rec = this.rec.containers[c.name];
      const l = this.liveOf(c.name);
      const st: ContainerStatus = {
        name: c.name, image: c.image ?? '', imageID: '', ready: false, restartCount: rec?.restartCount ?? 0, started: false,
        state: { waiting: { reason: 'ContainerCreating' } }, lastState: {},
      };
      if (!rec) return st;
      const term = (t: Terminated) => ({ exitCode: t.exitCode, reason: t.reason, ...(t.signal ? { signal: t.signal } : {}), startedAt: t.startedAt, finishedAt: t.finishedAt, containerID: `${CONTAINER_RUNTIME}://${this.rec.uid.slice(0, 8)}-${c.name}` });
      if (rec.state === 'running') {
        st.state = { running: { startedAt: rec.startedAt } };
        st.started = l.started;
        st.ready = l.ready && l.started;
        st.containerID = `${CONTAINER_RUNTIME}://${this.rec.uid.slice(0, 8)}-${c.name}-${rec.restartCount}`;
        st.imageID = `${CONTAINER_RUNTIME}://${c.image}`;
      } else if (rec.state === 'terminated' && rec.terminated) {
        st.state = { terminated: term(rec.terminated) };
      } else {
        st.state = { waiting: { reason: rec.reason ?? 'ContainerCreating', ...(rec.message ? { message: rec.message } : {}) } };
      }
      const last = rec.state === 'waiting' && rec.terminated ? rec.terminated : rec.last;
      if (last) st.lastState = { terminated: term(last) };
      return st;
    });
    let waiting = 0; let running = 0; let stopped = 0; let succeeded = 0;
    for (const s of statuses) {
      if (s.state?.running) running++;
      else if (s.state?.terminated) { stopped++; if (s.state.terminated.exitCode === 0) succeeded++; }
      else if (s.state?.waiting && s.lastState?.terminated) stopped++;
      else waiting++;
    }
    const policy = pod?.spec?.restartPolicy ?? 'Always';
    let phase: PodStatus['phase'] = 'Pending';
    if (waiting > 0) phase = 'Pending';
    else if (running > 0) phase = 'Running';
    else if (stopped > 0) {
      if (policy === 'Always') phase = 'Running';
      else if (stopped === succeeded && statuses.every((s) => s.state?.terminated)) phase = 'Succeeded';
      else if (policy === 'Never' && statuses.every((s) => s.state?.terminated)) phase = 'Failed';
      else phase = 'Running';
    }
    const allReady = statuses.length > 0 && statuses.every((s) => s.ready);
    const t = this.rec.startTime;
    const prev = new Map((pod?.status?.conditions ?? []).map((c) => [c.type, c]));
    const cond = (type: string, ok: boolean, reason?: string): PodCondition => {
      const status = ok ? 'True' : 'False';
      const p = prev.get(type);
      return { type, status, lastProbeTime: null as unknown as undefined, lastTransitionTime: p?.status === status ? p.lastTransitionTime : now(), ...(reason && !ok ? { reason } : {}) };
    };
    const notReady = statuses.filter((s) => !s.ready).map((s) => s.name);
    const terminal = phase === 'Succeeded' || phase === 'Failed';
    const conditions: PodCondition[] = [
      cond('PodReadyToStartContainers', this.sandboxReady),
      cond('Initialized', true),
      { ...cond('Ready', allReady && !terminal, terminal ? 'PodCompleted' : 'ContainersNotReady'), ...(!allReady && !terminal ? { message: `containers with unready status: [${notReady.join(' ')}]` } : {}) },
      { ...cond('ContainersReady', allReady && !terminal, terminal ? 'PodCompleted' : 'ContainersNotReady'), ...(!allReady && !terminal ? { message: `containers with unready status: [${notReady.join(' ')}]` } : {}) },
      cond('PodScheduled', true),
    ];
    const ip = this.sandboxReady ? this.rec.ip : undefined;
    return {
      phase,
      conditions,
      hostIP: this.rt.opts.nodeIP,
      hostIPs: [{ ip: this.rt.opts.nodeIP }],
      ...(ip ? { podIP: ip, podIPs: [{ ip }] } : {}),
      startTime: t,
      containerStatuses: statuses,
      qosClass: qosClass(pod),
    };
  }
}

export function qosClass(pod?: Pod): 'BestEffort' | 'Burstable' | 'Guaranteed' {
  const cs = pod?.spec?.containers ?? [];
  const any = cs.some((c) => Object.keys(c.resources?.requests ?? {}).length || Object.keys(c.resources?.limits ?? {}).length);
  if (!any) return 'BestEffort';
  const guaranteed = cs.every((c) => {
    const l = c.resources?.limits ?? {};
    const r = c.resources?.requests ?? l;
    return l.cpu && l.memory && String(r.cpu) === String(l.cpu) && String(r.memory) === String(l.memory);
  });
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

const NO_ENV: EnvSources = { services: () => [], configMap: async () => undefined, secret: async () => undefined };

export class PodRuntime {
  readonly ipam: Ipam;
  readonly imageHomes: string[];
  readonly envSources: EnvSources;
  private workers = new Map<string, PodWorker>();
  private timer?: NodeJS.Timeout;

  constructor(readonly opts: RuntimeOptions) {
    this.ipam = new Ipam(join(opts.dataDir, 'kubelet', opts.nodeName, 'ipam.json'), opts.podCIDR);
    this.imageHomes = opts.imageHomes ?? [opts.dataDir, DEFAULT_IMAGE_HOME];
    this.envSources = opts.env ?? NO_ENV;
    // Bind-mount targets for per-pod directories must exist on the node's file system.
    for (const d of Object.values(POD_PRIVATE_DIRS)) mkdirSync(d, { recursive: true });
    this.timer = setInterval(() => { for (const w of this.workers.values()) w.tick(); }, TICK_MS);
    this.timer.unref();
  }

  podsRoot(): string { return join(this.opts.dataDir, 'pods'); }
  podDir(uid: string): string { return join(this.podsRoot(), uid); }

  /**
   * Load the records of pods this node ran before a restart; running processes are adopted
   * (pid + start time must match). Returns the uids found.
   */
  adopt(): string[] {
    const root = this.podsRoot();
    if (!existsSync(root)) return [];
    const found: string[] = [];
    for (const uid of readdirSync(root)) {
      const f = join(root, uid, STATE_FILE);
      if (!existsSync(f)) continue;
      let rec: PodRecord;
      try { rec = JSON.parse(readFileSync(f, 'utf8')) as PodRecord; } catch { continue; }
      if (rec.node !== this.opts.nodeName) continue;
      const w = new PodWorker(this, rec);
      if (rec.ip && rec.hostVeth) this.ipam.reserve(uid, rec.ip);
      for (const c of Object.values(rec.containers)) {
        if (c.state === 'running' && c.pid && !processAlive(c.pid, c.startTicks ?? '')) {
          // Ended while nobody watched: report it when the worker next ticks.
          const code = readExitCode(join(w.dir, `exit-${ctrKey(c.name)}`)) ?? 137;
          c.state = 'waiting'; c.terminated = { exitCode: code, reason: code === 0 ? 'Completed' : 'Error', startedAt: c.startedAt, finishedAt: now() };
          c.pid = undefined;
        } else if (c.state === 'running') {
          const l = w.liveOf(c.name);
          l.started = true; // probes re-establish readiness; startup already passed or will be rechecked
        }
      }
      // The pod's namespace must be pinned where this agent can see it; a pin an older agent left
      // only in its own mount namespace is made again from a container still inside it, else the
      // sandbox is built anew (same IP) before the containers start again.
      const holder = Object.values(rec.containers).find((c) => c.state === 'running' && c.pid);
      w.sandboxReady = !!rec.ip && (!rec.hostVeth || (!!rec.netns && (podNetnsMounted(rec.netns) || (!!holder && repinPodNetns(rec.netns, holder.pid!)))));
      this.workers.set(uid, w);
      found.push(uid);
    }
    return found;
  }

  has(uid: string): boolean { return this.workers.has(uid); }

  /** An address went back to the pool: pods that found none try again now, not at their back-off. */
  addressFreed(): void {
    for (const w of this.workers.values()) if (w.sandboxError instanceof IpamExhaustedError) w.sandboxRetryAt = 0;
  }
  uids(): string[] { return [...this.workers.keys()]; }

  /** Start or update a pod (idempotent). */
  async start(pod: Pod): Promise<void> {
    const uid = pod.metadata?.uid;
    if (!uid) throw new Error('pod has no metadata.uid');
    let w = this.workers.get(uid);
    if (!w) {
      w = new PodWorker(this, { uid, namespace: pod.metadata?.namespace ?? 'default', name: pod.metadata?.name ?? '', node: this.opts.nodeName, startTime: now(), containers: {} });
      this.workers.set(uid, w);
    }
    const first = !w.pod;
    w.pod = pod;
    if (first) {
      // Adopted running containers: the records may predate a restart of this agent.
      w.save();
    }
    if (w.terminating) return;
    await w.sync();
  }

  /** Stop a pod: SIGTERM, wait up to graceSeconds, SIGKILL; free netns, veth and IP. */
  async stop(uid: string, graceSeconds: number): Promise<void> {
    const w = this.workers.get(uid);
    if (!w) return;
    w.stopped ??= w.stopAll(graceSeconds);
    await w.stopped;
  }

  /** Forget a stopped pod and remove its files (logs included). */
  remove(uid: string): void {
    const w = this.workers.get(uid);
    if (w && !w.stopped) throw new Error(`pod ${uid} is not stopped`);
    this.workers.delete(uid);
    rmSync(this.podDir(uid), { recursive: true, force: true });
  }

  status(uid: string): PodStatus | undefined {
    return this.workers.get(uid)?.status();
  }

  pod(uid: string): Pod | undefined {
    return this.workers.get(uid)?.pod;
  }

  isTerminating(uid: string): boolean {
    return this.workers.get(uid)?.terminating ?? false;
  }

  findPod(namespace: string, name: string): { uid: string; pod?: Pod } | undefined {
    for (const [uid, w] of this.workers) if (w.rec.namespace === namespace && w.rec.name === name && !w.terminating) return { uid, pod: w.pod };
    for (const [uid, w] of this.workers) if (w.rec.namespace === namespace && w.rec.name === name) return { uid, pod: w.pod };
    return undefined;
  }

  /** The running container's process (the session leader in the pod's namespaces). */
  containerProcess(uid: string, container: string): { pid: number; env: Record<string, string>; workingDir: string } | undefined {
    const w = this.workers.get(uid);
    const rec = w?.rec.containers[container];
    if (!w || !rec?.pid || rec.state !== 'running') return undefined;
    let env: Record<string, string> = {};
    let workingDir = '/';
    try {
      const saved = JSON.parse(readFileSync(join(w.dir, `env-${ctrKey(container)}.json`), 'utf8')) as { env: Record<string, string>; workingDir: string };
      env = saved.env; workingDir = saved.workingDir || '/';
    } catch { /* none */ }
    return { pid: rec.pid, env, workingDir };
  }

  /** The pod's network namespace (undefined for hostNetwork pods run inside the node's). */
  netnsOf(uid: string): string | undefined {
    return this.workers.get(uid)?.rec.netns;
  }

  /** Wait until a just-started container's namespaces are set up (so exec joins the right ones). */
  async waitContainerSetUp(uid: string, container: string): Promise<boolean> {
    const w = this.workers.get(uid);
    if (!w) return false;
    return waitSetUp(join(w.dir, `exit-${ctrKey(container)}`));
  }

  /** argv that runs cmd inside a running container's network, mount and UTS namespaces. */
  execArgv(uid: string, container: string, cmd: string[]): { argv: string[]; env: Record<string, string> } | undefined {
    const p = this.containerProcess(uid, container);
    if (!p) return undefined;
    return { argv: ['nsenter', '-t', String(p.pid), '-n', '-m', '-u', `--wd=${p.workingDir}`, '--', ...cmd], env: p.env };
  }

  /** Log file of a container: the current instance, or the previous one. */
  logFile(uid: string, container: string, previous = false): string | undefined {
    const w = this.workers.get(uid);
    const rec = w?.rec.containers[container];
    if (!w || !rec) return undefined;
    // Log files are numbered by restartCount; the previous instance is the one before.
    const n = previous ? rec.restartCount - 1 : rec.restartCount;
    if (n < 0) return undefined;
    const f = join(w.dir, 'logs', ctrKey(container), `${n}.log`);
    return existsSync(f) ? f : undefined;
  }

  containerNames(uid: string): string[] {
    return (this.workers.get(uid)?.pod?.spec?.containers ?? []).map((c) => c.name);
  }

  probeTarget(w: PodWorker, c: Container) {
    return {
      podIP: w.rec.ip ?? '',
      nodeNetns: this.opts.nodeNetns,
      port: (p: number | string | undefined) => {
        if (typeof p === 'number') return p;
        const named = c.ports?.find((x) => x.name === p);
        return named?.containerPort ?? Number(p);
      },
      exec: async (cmd: string[], timeoutMs: number) => {
        await this.waitContainerSetUp(w.rec.uid, c.name);
        const e = this.execArgv(w.rec.uid, c.name, cmd);
        if (!e) return { code: 1, output: 'container not running' };
        const r = await run(e.argv, { env: e.env, allowFail: true, timeoutMs });
        return { code: r.code, output: r.stdout + r.stderr };
      },
    };
  }

  /** Remove sandboxes this node left behind for pods it no longer has a record of. */
  async cleanOrphans(known: Set<string>): Promise<string[]> {
    const removed: string[] = [];
    for (const uid of this.uids()) {
      if (known.has(uid)) continue;
      await this.stop(uid, 0);
      this.remove(uid);
      removed.push(uid);
    }
    // Allocations without a pod record (crash between allocation and record).
    for (const owner of this.ipam.owners().keys()) if (!this.workers.has(owner)) this.ipam.release(owner);
    const mine = new Set([...this.workers.values()].map((w) => w.rec.netns));
    for (const ns of listPodNetns(this.opts.clusterName)) {
      const uid8 = ns.slice(ns.lastIndexOf('-') + 1);
      if (mine.has(ns)) continue;
      // Only namespaces whose veth sits on this node's bridge are ours to remove.
      const veth = `veth${uid8}`;
      const r = await run(['ip', ...(this.opts.nodeNetns ? ['-n', this.opts.nodeNetns] : []), 'link', 'show', veth], { allowFail: true });
      if (r.code === 0) { await deletePodNetwork(ns, veth, this.opts.nodeNetns); removed.push(ns); }
    }
    return removed;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
