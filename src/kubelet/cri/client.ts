/**
 * @module kubelet/cri/client
 * A CRI client (runtime.v1 RuntimeService + ImageService over gRPC on a unix socket), as the
 * kubelet's remote runtime: every call has a deadline, the connection is re-made by gRPC when the
 * runtime restarts. api.proto is the CRI's own interface definition (k8s.io/cri-api), loaded at
 * run time; fields are camelCase, enums strings, int64 numbers (nanosecond timestamps lose a few
 * hundred ns of precision, which no status shows).
 */
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import { PROJECT_ROOT } from '../../cli/self.js';
import * as protoLoader from '@grpc/proto-loader';

/** api.proto sits beside this file in src/ and is not copied by the compiler: the source tree's. */
function protoPath(): string {
  const local = join(dirname(fileURLToPath(import.meta.url)), 'api.proto');
  return existsSync(local) ? local : join(PROJECT_ROOT, 'src', 'kubelet', 'cri', 'api.proto');
}

/** The kubelet's default runtime request timeout is 2 min; pulls and stops get their own. */
export const CRI_TIMEOUT_MS = 30_000;

// Plain shapes of the messages the kubelet uses (a subset of api.proto's fields).
export type Labels = Record<string, string>;
export interface PodSandboxMetadata { name: string; uid: string; namespace: string; attempt: number }
export interface PodSandbox { id: string; metadata: PodSandboxMetadata; state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY'; createdAt: number; labels: Labels; annotations: Labels }
export interface PodSandboxStatus extends PodSandbox { network?: { ip: string; additionalIps?: { ip: string }[] } }
export interface ContainerMetadata { name: string; attempt: number }
export type ContainerState = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';
export interface CriContainer { id: string; podSandboxId: string; metadata: ContainerMetadata; image: { image: string }; imageRef: string; state: ContainerState; createdAt: number; labels: Labels; annotations: Labels }
export interface CriContainerStatus {
  id: string; metadata: ContainerMetadata; state: ContainerState; createdAt: number; startedAt: number; finishedAt: number;
  exitCode: number; image: { image: string }; imageRef: string; reason: string; message: string; labels: Labels; annotations: Labels; logPath: string;
}
export interface CriImage { id: string; repoTags: string[]; repoDigests: string[]; size: number; uid?: { value: number } | null; username?: string }

export interface Mount { containerPath: string; hostPath: string; readonly?: boolean; propagation?: string }
export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: { servers: string[]; searches: string[]; options: string[] };
  portMappings?: { protocol?: string; containerPort: number; hostPort: number; hostIp?: string }[];
  labels?: Labels;
  annotations?: Labels;
  linux?: {
    cgroupParent?: string;
    securityContext?: { namespaceOptions?: { network?: string; pid?: string; ipc?: string }; privileged?: boolean };
  };
}
export interface ContainerConfig {
  metadata: ContainerMetadata;
  image: { image: string };
  command?: string[];
  args?: string[];
  workingDir?: string;
  envs?: { key: string; value: Buffer }[];
  mounts?: Mount[];
  labels?: Labels;
  annotations?: Labels;
  logPath?: string;
  stdin?: boolean;
  stdinOnce?: boolean;
  tty?: boolean;
  linux?: {
    resources?: { cpuPeriod?: number; cpuQuota?: number; cpuShares?: number; memoryLimitInBytes?: number; oomScoreAdj?: number };
    securityContext?: {
      namespaceOptions?: { network?: string; pid?: string; ipc?: string }; privileged?: boolean;
      runAsUser?: { value: number }; runAsGroup?: { value: number }; readonlyRootfs?: boolean; supplementalGroups?: number[];
      capabilities?: { addCapabilities?: string[]; dropCapabilities?: string[] }; noNewPrivs?: boolean;
    };
  };
}

/** A CRI call that failed: the gRPC status code and the runtime's own message. */
export class CriError extends Error {
  constructor(readonly method: string, readonly code: number, readonly details: string) {
    super(`rpc error: code = ${codeName(code)} desc = ${details}`);
  }
}

/** Go's name of a gRPC code (codes.Code.String()): NOT_FOUND → NotFound. */
function codeName(code: number): string {
  const n = grpc.status[code];
  return n ? n.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _u, c: string) => c.toUpperCase()) : String(code);
}

type Unary = (req: unknown, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, res: unknown) => void) => void;

let definition: grpc.GrpcObject | undefined;
function services(): { runtime: grpc.ServiceClientConstructor; image: grpc.ServiceClientConstructor } {
  definition ??= grpc.loadPackageDefinition(protoLoader.loadSync(protoPath(), { keepCase: false, longs: Number, enums: String, defaults: true, oneofs: true }));
  const v1 = (definition.runtime as grpc.GrpcObject).v1 as grpc.GrpcObject;
  return { runtime: v1.RuntimeService as grpc.ServiceClientConstructor, image: v1.ImageService as grpc.ServiceClientConstructor };
}

export class CriClient {
  private readonly rt: grpc.Client;
  private readonly img: grpc.Client;

  constructor(readonly socket: string) {
    const s = services();
    const creds = grpc.credentials.createInsecure();
    // The kubelet's limit on messages from the runtime (16 MiB), enough for long container lists.
    const options = { 'grpc.max_receive_message_length': 16 << 20, 'grpc.initial_reconnect_backoff_ms': 200, 'grpc.max_reconnect_backoff_ms': 2000 };
    this.rt = new s.runtime(`unix://${socket}`, creds, options);
    this.img = new s.image(`unix://${socket}`, creds, options);
  }

  private call<T>(client: grpc.Client, method: string, req: object, timeoutMs = CRI_TIMEOUT_MS): Promise<T> {
    return new Promise((resolve, reject) => {
      const fn = (client as unknown as Record<string, Unary>)[method]!;
      fn.call(client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(new CriError(method, err.code, err.details || err.message));
        else resolve(res as T);
      });
    });
  }

  version(): Promise<{ runtimeName: string; runtimeVersion: string; runtimeApiVersion: string }> {
    return this.call(this.rt, 'Version', { version: 'v1' }, 2000);
  }
  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    return (await this.call<{ podSandboxId: string }>(this.rt, 'RunPodSandbox', { config }, 120_000)).podSandboxId;
  }
  async stopPodSandbox(podSandboxId: string): Promise<void> { await this.call(this.rt, 'StopPodSandbox', { podSandboxId }, 120_000); }
  async removePodSandbox(podSandboxId: string): Promise<void> { await this.call(this.rt, 'RemovePodSandbox', { podSandboxId }, 120_000); }
  async podSandboxStatus(podSandboxId: string): Promise<PodSandboxStatus> {
    return (await this.call<{ status: PodSandboxStatus }>(this.rt, 'PodSandboxStatus', { podSandboxId })).status;
  }
  /** The runtime's own details of a sandbox (containerd: JSON under "info", with netNamespacePath). */
  async podSandboxInfo(podSandboxId: string): Promise<Record<string, unknown>> {
    const r = await this.call<{ info: Record<string, string> }>(this.rt, 'PodSandboxStatus', { podSandboxId, verbose: true });
    try { return JSON.parse(r.info?.info ?? '{}') as Record<string, unknown>; } catch { return {}; }
  }
  async listPodSandbox(filter: { labelSelector?: Labels; state?: { state: string } } = {}): Promise<PodSandbox[]> {
    return (await this.call<{ items: PodSandbox[] }>(this.rt, 'ListPodSandbox', { filter })).items;
  }
  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    return (await this.call<{ containerId: string }>(this.rt, 'CreateContainer', { podSandboxId, config, sandboxConfig }, 120_000)).containerId;
  }
  async startContainer(containerId: string): Promise<void> { await this.call(this.rt, 'StartContainer', { containerId }, 120_000); }
  /** Stop with a grace period in seconds: the runtime sends the stop signal, then SIGKILL. */
  async stopContainer(containerId: string, timeout: number): Promise<void> {
    await this.call(this.rt, 'StopContainer', { containerId, timeout }, (timeout + 30) * 1000);
  }
  async removeContainer(containerId: string): Promise<void> { await this.call(this.rt, 'RemoveContainer', { containerId }); }
  async listContainers(filter: { podSandboxId?: string; labelSelector?: Labels } = {}): Promise<CriContainer[]> {
    return (await this.call<{ containers: CriContainer[] }>(this.rt, 'ListContainers', { filter })).containers;
  }
  async containerStatus(containerId: string, verbose = false): Promise<{ status: CriContainerStatus; info: Record<string, string> }> {
    return this.call(this.rt, 'ContainerStatus', { containerId, verbose });
  }
  async execSync(containerId: string, cmd: string[], timeoutS: number): Promise<{ stdout: Buffer; stderr: Buffer; exitCode: number }> {
    return this.call(this.rt, 'ExecSync', { containerId, cmd, timeout: timeoutS }, (timeoutS + 10) * 1000);
  }
  async exec(req: { containerId: string; cmd: string[]; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<string> {
    return (await this.call<{ url: string }>(this.rt, 'Exec', req)).url;
  }
  async attach(req: { containerId: string; tty: boolean; stdin: boolean; stdout: boolean; stderr: boolean }): Promise<string> {
    return (await this.call<{ url: string }>(this.rt, 'Attach', req)).url;
  }
  async status(): Promise<{ conditions: { type: string; status: boolean; reason: string; message: string }[] }> {
    return (await this.call<{ status: { conditions: { type: string; status: boolean; reason: string; message: string }[] } }>(this.rt, 'Status', {}, 5000)).status;
  }

  async imageStatus(image: string): Promise<CriImage | undefined> {
    const r = await this.call<{ image?: CriImage | null }>(this.img, 'ImageStatus', { image: { image } });
    return r.image && r.image.id ? r.image : undefined;
  }
  async pullImage(image: string, sandboxConfig?: PodSandboxConfig): Promise<string> {
    return (await this.call<{ imageRef: string }>(this.img, 'PullImage', { image: { image }, sandboxConfig }, 300_000)).imageRef;
  }
  async listImages(): Promise<CriImage[]> {
    return (await this.call<{ images: CriImage[] }>(this.img, 'ListImages', {})).images;
  }
  async removeImage(image: string): Promise<void> { await this.call(this.img, 'RemoveImage', { image: { image } }); }

  close(): void {
    this.rt.close();
    this.img.close();
  }
}
