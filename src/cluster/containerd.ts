/**
 * @module cluster/containerd
 * One containerd per node, as kind runs one per node container: its config (root, state, socket,
 * CNI and runc's state all under <data dir>/containerd/<node>), and the clean-up `down` does once
 * it has stopped: the containers and shims this containerd started (their pids are in its own
 * state dir), every mount under that dir, the pods' cgroups.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, readlinkSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../net/exec.js';

/** Where the node agent serves the built-in images, on the node namespace's own loopback. */
export const REGISTRY_PORT = 5000;
export const SANDBOX_IMAGE = 'registry.k8s.io/pause:3.10';
/** Debian's containernetworking-plugins (bridge, host-local, loopback). */
export const CNI_BIN_DIR = '/usr/lib/cni';
/** Namespace containerd's CRI plugin keeps Kubernetes' images and containers in. */
export const CRI_NAMESPACE = 'k8s.io';

export function containerdPaths(dataDir: string, node: string) {
  const dir = join(dataDir, 'containerd', node);
  return {
    dir,
    config: join(dir, 'config.toml'),
    root: join(dir, 'root'),
    state: join(dir, 'state'),
    socket: join(dir, 'containerd.sock'),
    cniConf: join(dir, 'cni'),
    cniData: join(dir, 'cni-ipam'),
    runcRoot: join(dir, 'state', 'runc'),
  };
}

/** The cgroup (cgroupfs driver) every pod of a node lives under; `down` removes it. */
export function nodeCgroupParent(cluster: string, node: string): string {
  return `/svcplane-${cluster}/${node}`;
}

export interface NodeRuntimeConfig {
  dataDir: string; cluster: string; node: string; podCIDR: string; gateway: string;
  /** The image server the mirror points at (default: the node agent's, REGISTRY_PORT). */
  registryPort?: number;
}

/**
 * containerd's config for a node. The CRI plugin's registry mirror for every host is the node
 * agent's image server (built-in images; anything else falls through to the real registry), its
 * CNI is the bridge plugin on the node's cni0 with host-local addresses from the node's pod CIDR.
 */
export function writeContainerdConfig(c: NodeRuntimeConfig): string {
  const p = containerdPaths(c.dataDir, c.node);
  for (const d of [p.dir, p.root, p.state, p.cniConf, p.cniData]) mkdirSync(d, { recursive: true, mode: 0o700 });
  const toml = `version = 2
root = ${JSON.stringify(p.root)}
state = ${JSON.stringify(p.state)}
[grpc]
  address = ${JSON.stringify(p.socket)}
[ttrpc]
  address = ${JSON.stringify(`${p.socket}.ttrpc`)}
[debug]
  level = "warn"
[metrics]
  address = ""
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${JSON.stringify(SANDBOX_IMAGE)}
  # CRI Attach/Exec URLs: the node agent, in the same netns, dials them (kubectl attach, run -it);
  # port 0 lets containerd pick a free one and put it in the URLs it returns.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  netns_mounts_under_state_dir = true
  enable_selinux = false
  # Lowering an oom_score_adj is refused on some hosts (the pause container asks for -998):
  # clamped to containerd's own, as when it runs unprivileged.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = ${JSON.stringify(p.runcRoot)}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${JSON.stringify(CNI_BIN_DIR)}
    conf_dir = ${JSON.stringify(p.cniConf)}
    max_conf_num = 1
  [plugins."io.containerd.grpc.v1.cri".registry.mirrors."*"]
    endpoint = ["http://127.0.0.1:${c.registryPort ?? REGISTRY_PORT}"]
`;
  writeFileSync(p.config, toml, { mode: 0o600 });
  const cni = {
    cniVersion: '1.0.0', name: 'svcplane',
    plugins: [{
      type: 'bridge', bridge: 'cni0', isGateway: true, ipMasq: false, hairpinMode: true,
      ipam: { type: 'host-local', ranges: [[{ subnet: c.podCIDR, gateway: c.gateway }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: p.cniData },
    }, {
      // hostPort: the CRI's port mappings, DNAT on the node (127.0.0.1 too: route_localnet is on).
      type: 'portmap', capabilities: { portMappings: true }, snat: true,
    }],
  };
  writeFileSync(join(p.cniConf, '10-svcplane.conflist'), JSON.stringify(cni, null, 2), { mode: 0o600 });
  return p.config;
}

function readPid(f: string): number | undefined {
  try { const n = Number(readFileSync(f, 'utf8').trim()); return n > 1 ? n : undefined; } catch { return undefined; }
}

function alive(pid: number): boolean {
  try { process.kill(pid, 0); return true; } catch { return false; }
}

/** Is pid still the process the file named: a shim binary, or a container in this node's cgroup? */
function isOurs(pid: number, kind: 'shim' | 'init', cgroupParent: string): boolean {
  try {
    if (kind === 'shim') return readlinkSync(`/proc/${pid}/exe`).includes('containerd-shim');
    return readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(cgroupParent);
  } catch { return false; }
}

/** Mount points at or under dir, deepest first. */
export function mountsUnder(dir: string): string[] {
  let lines: string[] = [];
  try { lines = readFileSync('/proc/self/mountinfo', 'utf8').split('\n'); } catch { return []; }
  const out: string[] = [];
  for (const l of lines) {
    const mp = l.split(' ')[4];
    if (!mp) continue;
    const path = mp.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (path === dir || path.startsWith(`${dir}/`)) out.push(path);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Remove a cgroup subtree in every hierarchy (children first; only empty cgroups can go). */
export function removeCgroups(rel: string): void {
  const roots: string[] = [];
  try {
    for (const e of readdirSync('/sys/fs/cgroup', { withFileTypes: true })) if (e.isDirectory()) roots.push(join('/sys/fs/cgroup', e.name));
  } catch { return; }
  roots.push('/sys/fs/cgroup');
  const rm = (d: string) => {
    let kids: string[] = [];
    try { kids = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(d, e.name)); } catch { return; }
    for (const k of kids) rm(k);
    try { rmdirSync(d); } catch { /* busy or gone */ }
  };
  for (const r of new Set(roots)) {
    const d = join(r, rel);
    if (existsSync(d)) rm(d);
  }
}

/**
 * The live processes of a node's containerd tasks (pod sandboxes and containers): each one's init
 * process (checked to be in the node's cgroup) and its shim (checked to be a containerd shim),
 * from the pid files in containerd's own state dir.
 */
export function runtimeTasks(dataDir: string, cluster: string, node: string): { pid: number; what: string }[] {
  const tasks = join(containerdPaths(dataDir, node).state, 'io.containerd.runtime.v2.task');
  const parent = nodeCgroupParent(cluster, node);
  const out: { pid: number; what: string }[] = [];
  if (!existsSync(tasks)) return out;
  for (const ns of readdirSync(tasks)) {
    let ids: string[] = [];
    try { ids = readdirSync(join(tasks, ns)); } catch { continue; }
    for (const id of ids) {
      const d = join(tasks, ns, id);
      const init = readPid(join(d, 'init.pid'));
      if (init && isOurs(init, 'init', parent)) out.push({ pid: init, what: `container ${node}/${id.slice(0, 12)}` });
      const shim = readPid(join(d, 'shim.pid'));
      if (shim && isOurs(shim, 'shim', parent)) out.push({ pid: shim, what: `shim ${node}/${id.slice(0, 12)}` });
    }
  }
  return out;
}

/**
 * After containerd has stopped: kill the containers and shims it left (pids from its own state
 * files, checked to still be those processes), unmount rootfs and netns mounts under its dir
 * and the pods' tmpfs volumes, remove the node's cgroups. Returns how many processes it stopped.
 */
export async function cleanupNodeRuntime(dataDir: string, cluster: string, node: string): Promise<number> {
  const p = containerdPaths(dataDir, node);
  const parent = nodeCgroupParent(cluster, node);
  const pids: number[] = [];
  for (const t of runtimeTasks(dataDir, cluster, node)) {
    try { process.kill(t.pid, 'SIGKILL'); pids.push(t.pid); } catch { /* gone */ }
  }
  for (let i = 0; i < 100 && pids.some(alive); i++) await new Promise((r) => setTimeout(r, 50));
  for (const m of mountsUnder(p.dir)) await run(['umount', '-l', m], { allowFail: true });
  // Memory emptyDirs of the node's pods (tmpfs the node agent mounted), if it could not unmount them.
  for (const m of mountsUnder(join(dataDir, 'nodes', node, 'pods'))) await run(['umount', '-l', m], { allowFail: true });
  removeCgroups(parent.slice(1));
  return pids.length;
}
