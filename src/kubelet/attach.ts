/**
 * @module kubelet/attach
 * /attach/{ns}/{pod}/{container}: kubectl attach and `kubectl run -i/-it`, to the stdio of a
 * container the runtime started with stdin/tty from the pod spec. containerd holds that stdio (the
 * container's stdin pipe or pty master) and its CRI `Attach` returns a URL on its streaming
 * server, which speaks SPDY/3.1 (remotecommand v4) and WebSocket only up to v4.channel.k8s.io.
 * kubectl 1.32 speaks v5.channel.k8s.io WebSocket, whose stdin half-close (channel 255) a v4
 * WebSocket cannot carry, so the kubelet is a SPDY client of the runtime, as the API server's
 * stream translator is upstream: one stream each for error, stdin, stdout, stderr and resize;
 * kubectl's stdin end becomes the stdin stream's FIN (a `stdinOnce` container then sees EOF), its
 * resize messages go to the resize stream (containerd resizes the pty), the runtime's status
 * (metav1.Status JSON, same in v4 and v5) goes back on channel 3.
 */
import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { CH_CLOSE, CH_ERROR, CH_RESIZE, CH_STDERR, CH_STDIN, CH_STDOUT, errorStatus, frame } from './exec-protocol.js';
import {
  controlFrame, dataFrame, FLAG_FIN, FrameParser, HeaderCodec, MAX_DATA_CHUNK,
  TYPE_GOAWAY, TYPE_HEADERS, TYPE_PING, TYPE_RST_STREAM, TYPE_SYN_REPLY, TYPE_SYN_STREAM,
} from './spdy.js';

/** The remotecommand protocol spoken to the runtime's streaming server (JSON status on the error stream). */
export const STREAM_PROTOCOL_V4 = 'v4.channel.k8s.io';

/** What the node's runtime offers for attach (CriRuntime.attach). */
export interface Attacher {
  attach(uid: string, container: string, o: { stdin: boolean; stdout: boolean; stderr: boolean }): Promise<{ url: string; tty: boolean }>;
}

export type StreamType = 'error' | 'stdin' | 'stdout' | 'stderr' | 'resize';

/**
 * A client SPDY/3.1 connection to a remotecommand server (the runtime's streaming URL): streams
 * are opened by this side with odd ids and a `streamtype` header, as client-go's SPDY executor.
 */
export class SpdyStreamClient {
  private readonly parser = new FrameParser();
  private readonly codec = new HeaderCodec();
  /** Frames leave in the order they were queued (a SYN_STREAM's header block is compressed first). */
  private chain: Promise<unknown> = Promise.resolve();
  private nextId = 1;
  private readonly byId = new Map<number, StreamType>();
  private readonly ids = new Map<StreamType, number>();
  private closed = false;

  constructor(private readonly socket: Duplex, head: Buffer, private readonly on: {
    data: (type: StreamType, d: Buffer) => void;
    end: (type: StreamType) => void;
    close: () => void;
  }) {
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.shut());
    if (head.length) this.receive(head);
  }

  private shut(): void {
    if (this.closed) return;
    this.closed = true;
    this.codec.close();
    this.on.close();
  }

  private write(b: Buffer | Promise<Buffer>): void {
    this.chain = this.chain.then(async () => { const buf = await b; if (!this.closed) this.socket.write(buf); }).catch(() => this.socket.destroy());
  }

  open(type: StreamType): void {
    const id = this.nextId;
    this.nextId += 2;
    this.byId.set(id, type);
    this.ids.set(type, id);
    const head = Buffer.alloc(10); // stream id, associated stream id, priority, slot
    head.writeUInt32BE(id, 0);
    this.write(this.codec.encode({ streamtype: type }).then((block) => controlFrame(TYPE_SYN_STREAM, 0, Buffer.concat([head, block]))));
  }

  send(type: StreamType, d: Buffer): void {
    const id = this.ids.get(type);
    if (id === undefined) return;
    for (let o = 0; o < d.length; o += MAX_DATA_CHUNK) this.write(dataFrame(id, 0, d.subarray(o, o + MAX_DATA_CHUNK)));
  }

  /** Half-close: this side sends no more on the stream. */
  finish(type: StreamType): void {
    const id = this.ids.get(type);
    if (id !== undefined) this.write(dataFrame(id, FLAG_FIN, Buffer.alloc(0)));
  }

  destroy(): void { this.socket.destroy(); }

  private receive(chunk: Buffer): void {
    let frames;
    try { frames = this.parser.push(chunk); } catch { this.socket.destroy(); return; }
    for (const f of frames) {
      if (f.kind === 'data') {
        const type = this.byId.get(f.streamId);
        if (!type) continue;
        if (f.data.length) this.on.data(type, f.data);
        if (f.flags & FLAG_FIN) this.on.end(type);
        continue;
      }
      if (f.type === TYPE_SYN_REPLY || f.type === TYPE_HEADERS || f.type === TYPE_SYN_STREAM) {
        // Every header block is inflated, in order, to keep the shared zlib context in step.
        const off = f.type === TYPE_SYN_STREAM ? 10 : 4;
        void this.codec.decode(f.body.subarray(off)).catch(() => this.socket.destroy());
        const id = f.body.readUInt32BE(0) & 0x7fffffff;
        if (f.type === TYPE_SYN_STREAM) this.write(controlFrame(TYPE_RST_STREAM, 0, Buffer.from([id >>> 24, (id >>> 16) & 0xff, (id >>> 8) & 0xff, id & 0xff, 0, 0, 0, 3])));
        else if (f.type === TYPE_SYN_REPLY && f.flags & FLAG_FIN) { const t = this.byId.get(id); if (t) this.on.end(t); }
      } else if (f.type === TYPE_PING) {
        // Answer the peer's pings (even ids); odd ones would be answers to ours.
        if ((f.body.readUInt32BE(0) & 1) === 0) this.write(controlFrame(TYPE_PING, 0, f.body));
      } else if (f.type === TYPE_RST_STREAM) {
        const t = this.byId.get(f.body.readUInt32BE(0) & 0x7fffffff);
        if (t) this.on.end(t);
      } else if (f.type === TYPE_GOAWAY) {
        this.socket.end();
      }
    }
  }
}

/** Open the runtime's streaming URL as SPDY/3.1 with remotecommand v4 (an HTTP upgrade). */
export function dialStream(url: string, timeoutMs = 10_000): Promise<{ socket: Duplex; head: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, {
      method: 'POST',
      headers: { Connection: 'Upgrade', Upgrade: 'SPDY/3.1', 'X-Stream-Protocol-Version': STREAM_PROTOCOL_V4 },
      timeout: timeoutMs,
    });
    req.on('upgrade', (res, socket, head) => {
      socket.setTimeout(0);
      const proto = res.headers['x-stream-protocol-version'];
      if (proto !== STREAM_PROTOCOL_V4) { socket.destroy(); reject(new Error(`unable to upgrade streaming request: protocol ${String(proto)} was not ${STREAM_PROTOCOL_V4}`)); return; }
      resolve({ socket, head });
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => reject(new Error(`unable to upgrade streaming request: ${res.statusCode} ${body.trim() || http.STATUS_CODES[res.statusCode ?? 0] || ''}`.trim())));
    });
    req.on('timeout', () => req.destroy(new Error('timed out dialing the container runtime\'s streaming server')));
    req.on('error', reject);
    req.end();
  });
}

const flag = (q: URLSearchParams, k: string) => q.get(k) === '1' || q.get(k) === 'true';

/**
 * Serve one attach WebSocket (v5/v4.channel.k8s.io) by joining it to the runtime's attach stream.
 * Ends with the runtime's status when the container's output ends (it exited), or when either side
 * goes away.
 */
export function handleAttach(rt: Attacher | undefined, ws: WebSocket, target: { uid: string; container: string } | string, q: URLSearchParams): void {
  const send = (ch: number, d: Buffer | string) => { if (ws.readyState === ws.OPEN) ws.send(frame(ch, d)); };
  const finish = (status?: string) => {
    if (status) send(CH_ERROR, status);
    if (ws.readyState === ws.OPEN) ws.close(1000);
  };
  if (typeof target === 'string') return finish(errorStatus(target));
  if (!rt) return finish(errorStatus('attach is not supported by the process runtime: run the cluster with --runtime containerd'));
  const want = { stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr') };
  // kubectl's messages wait here until the runtime's streams exist.
  const early: Buffer[] = [];
  let client: SpdyStreamClient | undefined;
  let tty = false;
  let gone = false;
  const onMessage = (buf: Buffer) => {
    if (!buf.length || !client) return;
    const ch = buf[0]!;
    const body = buf.subarray(1);
    if (ch === CH_STDIN && want.stdin) client.send('stdin', body);
    else if (ch === CH_RESIZE && tty) client.send('resize', body);
    else if (ch === CH_CLOSE && body[0] === CH_STDIN && want.stdin) client.finish('stdin');
  };
  ws.on('message', (m: Buffer, isBinary: boolean) => {
    const buf = isBinary ? m : Buffer.from(m);
    if (client) onMessage(buf); else early.push(buf);
  });
  ws.on('close', () => { gone = true; client?.destroy(); });

  void (async () => {
    const { url, tty: t } = await rt.attach(target.uid, target.container, want);
    tty = t;
    const { socket, head } = await dialStream(url);
    if (gone) { socket.destroy(); return; }
    const status: Buffer[] = [];
    client = new SpdyStreamClient(socket, head, {
      data: (type, d) => {
        if (type === 'stdout') send(CH_STDOUT, d);
        else if (type === 'stderr') send(CH_STDERR, d);
        else if (type === 'error') status.push(d);
      },
      end: () => undefined,
      // The runtime writes its status, then closes the connection: all output has been sent by then.
      close: () => finish(status.length ? Buffer.concat(status).toString() : undefined),
    });
    // The streams the runtime waits for (its count follows the request: error, stdin, stdout, stderr, resize for a tty).
    client.open('error');
    if (want.stdin) client.open('stdin');
    if (want.stdout) client.open('stdout');
    if (want.stderr && !tty) client.open('stderr');
    if (tty) client.open('resize');
    for (const b of early.splice(0)) onMessage(b);
  })().catch((e: Error) => finish(errorStatus(e.message)));
}
