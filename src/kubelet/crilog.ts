/**
 * @module kubelet/crilog
 * The CRI log format containerd writes for each container (one line per chunk:
 * `<RFC3339Nano time> <stdout|stderr> <P|F> <content>`, P for a partial line continued by the
 * next): read back as the container printed it, as the kubelet's kuberuntime/logs does, with
 * kubectl logs' --timestamps and --since.
 */

export interface CriLogOptions {
  timestamps?: boolean;
  /** Drop lines logged before this time (ms since the epoch). */
  sinceMs?: number;
}

/**
 * Decode the complete lines of buf (a partial last line is left for the next read). Returns the
 * container's output and how many bytes of buf were consumed.
 */
export function decodeCriLog(buf: Buffer, o: CriLogOptions = {}, state: { partial?: Buffer[] } = {}): { out: Buffer; consumed: number } {
  const out: Buffer[] = [];
  let start = 0;
  for (;;) {
    const nl = buf.indexOf(10, start);
    if (nl < 0) break;
    const line = buf.subarray(start, nl);
    start = nl + 1;
    const s1 = line.indexOf(32);
    const s2 = s1 < 0 ? -1 : line.indexOf(32, s1 + 1);
    if (s2 < 0) continue;
    const tag = line.subarray(s2 + 1, s2 + 2).toString();
    const content = line.subarray(s2 + 3);
    const ts = line.subarray(0, s1).toString();
    if (o.sinceMs !== undefined && Date.parse(ts) < o.sinceMs) continue;
    if (tag === 'P') { (state.partial ??= []).push(content); continue; }
    const whole = state.partial?.length ? Buffer.concat([...state.partial, content]) : content;
    state.partial = [];
    out.push(o.timestamps ? Buffer.from(`${ts} `) : Buffer.alloc(0), whole, Buffer.from('\n'));
  }
  return { out: Buffer.concat(out), consumed: start };
}
