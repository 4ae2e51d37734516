/**
 * An in-memory CRI runtime for unit tests of the agent's CRI pod worker: sandboxes and containers
 * are records, every image is present, containers run until `exit` is called. Lists can be held
 * (`holdLists`): each answers what existed when it was asked, once `releaseLists` is called, as a
 * slow runtime does under load.
 */
import type { CriClient, CriContainer, CriContainerStatus, CriImage, ContainerConfig, PodSandbox, PodSandboxConfig, PodSandboxStatus } from './client.js';

export class FakeCri {
  sandboxes: PodSandboxStatus[] = [];
  containers: CriContainerStatus[] = [];
  sandboxOf = new Map<string, string>();
  /** Each container's config as the agent sent it (mounts, log path, …). */
  configs = new Map<string, ContainerConfig>();
  sandboxConfigs = new Map<string, PodSandboxConfig>();
  /** Calls by method name. */
  calls: { method: string; arg?: string }[] = [];
  holdLists = false;
  /** Exit code of every exec (probes). */
  execExit = 0;
  private held: (() => void)[] = [];
  private next = 1;

  private now(): number { return Date.now() * 1e6; }
  private id(): string { return (this.next++).toString(16).padStart(12, '0'); }

  releaseLists(): void { const h = this.held; this.held = []; for (const f of h) f(); }
  heldLists(): number { return this.held.length; }
  /** The main process of a container ends with `code`. */
  exit(id: string, code: number): void {
    const c = this.containers.find((x) => x.id === id);
    if (c) Object.assign(c, { state: 'CONTAINER_EXITED', exitCode: code, finishedAt: this.now(), reason: code ? 'Error' : 'Completed' });
  }
  count(method: string, arg?: string): number { return this.calls.filter((c) => c.method === method && (arg === undefined || c.arg === arg)).length; }

  async version() { return { runtimeName: 'fake', runtimeVersion: '0', runtimeApiVersion: 'v1' }; }
  async status() { return { conditions: [] }; }
  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const id = this.id();
    this.calls.push({ method: 'runPodSandbox', arg: config.metadata.name });
    this.sandboxConfigs.set(id, config);
    this.sandboxes.push({ id, metadata: config.metadata, state: 'SANDBOX_READY', createdAt: this.now(), labels: config.labels ?? {}, annotations: config.annotations ?? {}, network: { ip: `10.244.1.${this.sandboxes.length + 2}` } });
    return id;
  }
  async stopPodSandbox(id: string): Promise<void> {
    for (const c of this.containers) if (this.sandboxOf.get(c.id) === id && c.state === 'CONTAINER_RUNNING') this.exit(c.id, 137);
    const s = this.sandboxes.find((x) => x.id === id);
    if (s) s.state = 'SANDBOX_NOTREADY';
  }
  async removePodSandbox(id: string): Promise<void> {
    this.sandboxes = this.sandboxes.filter((s) => s.id !== id);
    this.containers = this.containers.filter((c) => this.sandboxOf.get(c.id) !== id);
  }
  async podSandboxStatus(id: string): Promise<PodSandboxStatus> {
    const s = this.sandboxes.find((x) => x.id === id);
    if (!s) throw new Error(`sandbox ${id} not found`);
    return s;
  }
  async podSandboxInfo(): Promise<Record<string, unknown>> { return {}; }
  async listPodSandbox(filter: { labelSelector?: Record<string, string> } = {}): Promise<PodSandbox[]> {
    return this.sandboxes.filter((s) => Object.entries(filter.labelSelector ?? {}).every(([k, v]) => s.labels[k] === v));
  }
  async createContainer(sandboxId: string, config: ContainerConfig): Promise<string> {
    const id = this.id();
    this.calls.push({ method: 'createContainer', arg: config.metadata.name });
    this.sandboxOf.set(id, sandboxId);
    this.configs.set(id, config);
    this.containers.push({
      id, metadata: config.metadata, state: 'CONTAINER_CREATED', createdAt: this.now(), startedAt: 0, finishedAt: 0, exitCode: 0,
      image: config.image, imageRef: config.image.image, reason: '', message: '', labels: config.labels ?? {}, annotations: config.annotations ?? {}, logPath: config.logPath ?? '',
    });
    return id;
  }
  async startContainer(id: string): Promise<void> {
    const c = this.containers.find((x) => x.id === id);
    if (!c) throw new Error(`container ${id} not found`);
    Object.assign(c, { state: 'CONTAINER_RUNNING', startedAt: this.now() });
  }
  async stopContainer(id: string): Promise<void> {
    const c = this.containers.find((x) => x.id === id);
    if (c?.state === 'CONTAINER_RUNNING') this.exit(id, 137);
  }
  async removeContainer(id: string): Promise<void> { this.containers = this.containers.filter((c) => c.id !== id); }
  listContainers(): Promise<CriContainer[]> {
    const snapshot = this.containers.map((c): CriContainer => ({
      id: c.id, podSandboxId: this.sandboxOf.get(c.id)!, metadata: { ...c.metadata }, image: c.image, imageRef: c.imageRef,
      state: c.state, createdAt: c.createdAt, labels: c.labels, annotations: c.annotations,
    }));
    if (!this.holdLists) return Promise.resolve(snapshot);
    return new Promise((resolve) => this.held.push(() => resolve(snapshot)));
  }
  async containerStatus(id: string): Promise<{ status: CriContainerStatus; info: Record<string, string> }> {
    const c = this.containers.find((x) => x.id === id);
    if (!c) throw new Error(`container ${id} not found`);
    return { status: { ...c }, info: {} };
  }
  async execSync(id: string): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    this.calls.push({ method: 'execSync', arg: id });
    return { stdout: Buffer.alloc(0), stderr: Buffer.alloc(0), exitCode: this.execExit };
  }
  async imageStatus(image: string): Promise<CriImage | undefined> { return { id: `sha256:${image}`, repoTags: [image], repoDigests: [], size: 1 }; }
  async pullImage(image: string): Promise<string> { return `sha256:${image}`; }
  async listImages(): Promise<CriImage[]> { return []; }
  close(): void { /* nothing to close */ }

  /** This fake where the agent expects a CriClient. */
  client(): CriClient { return this as unknown as CriClient; }
}
