/**
 * @module kubelet/portforward
 * /portForward/{ns}/{pod} as kubectl 1.32 uses it: a WebSocket (subprotocol
 * SPDY/3.1+portforward.k8s.io) carrying a SPDY/3.1 connection. For each forwarded connection
 * kubectl opens an "error" and a "data" stream with the same requestid and a port header; the data
 * stream is joined to <port> on 127.0.0.1 inside the pod's network namespace (like the kubelet,
 * so servers bound to localhost are reachable too).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { WebSocket } from 'ws';
import type { NodeRuntime as PodRuntime } from './node-runtime.js';
import {
  controlFrame, dataFrame, FLAG_FIN, FrameParser, HeaderCodec, MAX_DATA_CHUNK,
  TYPE_GOAWAY, TYPE_PING, TYPE_RST_STREAM, TYPE_SYN_REPLY, TYPE_SYN_STREAM,
} from './spdy.js';

export const PORT_FORWARD_SUBPROTOCOL = 'SPDY/3.1+portforward.k8s.io';

/**
 * Joins stdin/stdout to 127.0.0.1:<port> in the namespace it runs in and ends when the pod side
 * closes (nc would wait for stdin's end too, but kubectl only closes once its client has).
 */
const RELAY = `
const s = require('net').connect(Number(process.argv[1]), '127.0.0.1');
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
process.stdin.pipe(s);
s.pipe(process.stdout);
s.on('end', () => process.stdout.end(() => process.exit(0)));
`;

interface Pair { error?: number; data?: number; port?: number; proc?: ChildProcess }

export function handlePortForward(rt: PodRuntime, ws: WebSocket, ns: string, podName: string): void {
  const parser = new FrameParser();
  const codec = new HeaderCodec();
  const pairs = new Map<string, Pair>();
  const streams = new Map<number, { requestId: string; type: string; closedLocal: boolean }>();
  let sendChain: Promise<unknown> = Promise.resolve();
  const send = (b: Buffer) => { if (ws.readyState === ws.OPEN) ws.send(b); };
  const found = rt.findPod(ns, podName);

  const finishStream = (id: number) => {
    const s = streams.get(id);
    if (!s || s.closedLocal) return;
    s.closedLocal = true;
    send(dataFrame(id, FLAG_FIN, Buffer.alloc(0)));
  };
  const fail = (p: Pair, message: string) => {
    if (p.error !== undefined) {
      send(dataFrame(p.error, 0, Buffer.from(message)));
      finishStream(p.error);
    }
    if (p.data !== undefined) finishStream(p.data);
  };

  const start = (requestId: string, p: Pair) => {
    const uid = found?.uid;
    const netns = uid ? rt.netnsOf(uid) : undefined;
    if (!uid || !netns) return fail(p, `pod ${podName} in namespace ${ns} has no network namespace on this node`);
    // A named namespace (process pods) or the path containerd pinned the sandbox's at.
    const enter = netns.startsWith('/') ? ['nsenter', `--net=${netns}`, '--'] : ['ip', 'netns', 'exec', netns];
    const proc = spawn(enter[0]!, [...enter.slice(1), process.execPath, '-e', RELAY, String(p.port)], { stdio: ['pipe', 'pipe', 'pipe'] });
    p.proc = proc;
    let err = '';
    proc.stdout!.on('data', (d: Buffer) => {
      for (let o = 0; o < d.length; o += MAX_DATA_CHUNK) send(dataFrame(p.data!, 0, d.subarray(o, o + MAX_DATA_CHUNK)));
    });
    proc.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    proc.stdin!.on('error', () => undefined);
    proc.on('close', (code) => {
      if (code !== 0 && err) fail(p, `error forwarding port ${p.port} to pod ${podName}: ${err.trim()}`);
      else { if (p.data !== undefined) finishStream(p.data); if (p.error !== undefined) finishStream(p.error); }
      pairs.delete(requestId);
    });
  };

  const onSyn = async (body: Buffer) => {
    const id = body.readUInt32BE(0) & 0x7fffffff;
    const headers = await codec.decode(body.subarray(10));
    const type = headers.streamtype ?? '';
    const requestId = headers.requestid ?? String(id);
    streams.set(id, { requestId, type, closedLocal: false });
    const reply = await codec.encode({});
    sendChain = sendChain.then(() => send(controlFrame(TYPE_SYN_REPLY, 0, Buffer.concat([Buffer.from([(id >>> 24) & 0x7f, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff]), reply]))));
    await sendChain;
    const p = pairs.get(requestId) ?? {};
    pairs.set(requestId, p);
    if (type === 'error') p.error = id;
    else if (type === 'data') { p.data = id; p.port = Number(headers.port); }
    if (p.error !== undefined && p.data !== undefined && !p.proc) start(requestId, p);
  };

  let chain: Promise<unknown> = Promise.resolve();
  ws.on('message', (m: Buffer) => {
    for (const f of parser.push(Buffer.from(m))) {
      chain = chain.then(async () => {
        if (f.kind === 'data') {
          const s = streams.get(f.streamId);
          if (!s) return;
          const p = pairs.get(s.requestId);
          if (s.type === 'data' && p?.proc) {
            if (f.data.length) p.proc.stdin!.write(f.data);
            if (f.flags & FLAG_FIN) p.proc.stdin!.end();
          }
          return;
        }
        if (f.type === TYPE_SYN_STREAM) await onSyn(f.body);
        else if (f.type === TYPE_PING) send(controlFrame(TYPE_PING, 0, f.body));
        else if (f.type === TYPE_RST_STREAM) {
          const s = streams.get(f.body.readUInt32BE(0) & 0x7fffffff);
          const p = s && pairs.get(s.requestId);
          p?.proc?.kill();
        } else if (f.type === TYPE_GOAWAY) ws.close(1000);
      }).catch(() => ws.close(1011));
    }
  });
  ws.on('close', () => {
    for (const p of pairs.values()) p.proc?.kill();
    codec.close();
  });
}
