/**
 * @module kubelet/process
 * A container is a process tree started detached (its own session, so it outlives a restarted
 * node agent) inside the pod's network namespace, in a private mount + UTS namespace where the
 * pod's /etc/resolv.conf, /etc/hosts, /etc/hostname and per-pod directories are bind-mounted.
 * A small sh wrapper stays as the session leader: it forwards SIGTERM to the program and writes
 * the program's exit code to a file, so an adopting node agent still learns how it ended.
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';

/** Directories shadowed per pod: what a container writes there stays in its pod. */
export const POD_PRIVATE_DIRS: Record<string, string> = { html: '/usr/share/nginx/html' };

const WRAPPER = `
hostname "$SVP_HOSTNAME" 2>/dev/null
for f in resolv.conf hosts hostname; do
  [ -e "$SVP_POD_DIR/etc/$f" ] && [ -e "/etc/$f" ] && mount --bind "$SVP_POD_DIR/etc/$f" "/etc/$f"
done
${Object.entries(POD_PRIVATE_DIRS).map(([k, d]) => `[ -d "${d}" ] && mount --bind "$SVP_POD_DIR/${k}" "${d}"`).join('\n')}
cd "$SVP_WORKDIR" 2>/dev/null || cd /
ef="$SVP_EXIT_FILE"
unset SVP_HOSTNAME SVP_POD_DIR SVP_WORKDIR SVP_EXIT_FILE
: > "$ef.ready"
"$@" & c=$!
trap 'kill -TERM $c 2>/dev/null' TERM
trap 'kill -INT $c 2>/dev/null' INT
wait $c; r=$?
while kill -0 $c 2>/dev/null; do wait $c; r=$?; done
echo $r > "$ef"
exit $r
`;

export interface SpawnSpec {
  /** Pod network namespace; undefined for hostNetwork pods when the caller already is in the node's. */
  netns?: string;
  argv: string[];
  env: Record<string, string>;
  hostname: string;
  podDir: string;
  workingDir?: string;
  logFile: string;
  exitFile: string;
}

export interface Spawned {
  pid: number;
  startTicks: string;
  /** Resolves with the exit code when the process ends (only for processes this agent started). */
  exited: Promise<number>;
}

/** Field 22 of /proc/<pid>/stat: start time in clock ticks; pins a pid to one process. */
export function processStartTicks(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

/** Is this exact process (pid + start time) still alive (and not a zombie)? */
export function processAlive(pid: number, startTicks: string): boolean {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return rest[0] !== 'Z' && rest[19] === startTicks;
  } catch {
    return false;
  }
}

export function readExitCode(exitFile: string): number | undefined {
  if (!existsSync(exitFile)) return undefined;
  const n = Number(readFileSync(exitFile, 'utf8').trim());
  return Number.isFinite(n) ? n : undefined;
}

export function spawnContainer(s: SpawnSpec): Spawned {
  const inner = ['unshare', '-m', '--propagation', 'private', '-u', '--', 'sh', '-c', WRAPPER, 'container', ...s.argv];
  const argv = s.netns ? ['ip', 'netns', 'exec', s.netns, ...inner] : inner;
  const fd = openSync(s.logFile, 'a');
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: { ...s.env, SVP_HOSTNAME: s.hostname, SVP_POD_DIR: s.podDir, SVP_WORKDIR: s.workingDir ?? '/', SVP_EXIT_FILE: s.exitFile },
    });
    const exited = new Promise<number>((resolve) => {
      child.on('error', () => resolve(128));
      child.on('exit', (code, sig) => resolve(code ?? (sig === 'SIGKILL' ? 137 : sig === 'SIGTERM' ? 143 : 128)));
    });
    child.unref();
    const pid = child.pid ?? -1;
    return { pid, startTicks: processStartTicks(pid) ?? '', exited };
  } finally {
    closeSync(fd);
  }
}

/** Has the wrapper finished setting up the namespaces (exec may join them now)? */
export async function waitSetUp(exitFile: string, timeoutMs = 5000): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(`${exitFile}.ready`)) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return false;
}

/** Signal the wrapper (which forwards to the program). */
export function signalContainer(pid: number, sig: NodeJS.Signals): void {
  try { process.kill(pid, sig); } catch { /* gone */ }
}

/** SIGKILL the container's whole process group (session leader pid = pgid). */
export function killContainerGroup(pid: number): void {
  try { process.kill(-pid, 'SIGKILL'); } catch { /* gone */ }
  try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Any process left in the container's group? */
export function groupAlive(pid: number): boolean {
  try { process.kill(-pid, 0); return true; } catch { return false; }
}
