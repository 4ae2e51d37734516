/**
 * The node agent's socket API against real pods: exec over the WebSocket channel protocol
 * (exit codes, stdin, v4 fallback), container logs (tail, follow), and adoption of running
 * pods by a new agent after the old one was killed with SIGKILL.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import type { Pod } from '../src/api/types.js';
import { startServer, type KubeletServer } from '../src/kubelet/server.js';
import type { PodRuntime } from '../src/kubelet/runtime.js';
import { createTestNode, curlIn, eventually, makePod, runtimeFor, type TestNode } from './kubelet-helpers.js';

const isRoot = process.getuid?.() === 0;

interface ExecResult { stdout: string; stderr: string; status: any; protocol: string }

function execWs(sock: string, path: string, stdin?: string, protocols = ['v5.channel.k8s.io', 'v4.channel.k8s.io'], resize?: { Width: number; Height: number }): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws+unix://${sock}:${path}`, protocols);
    let stdout = ''; let stderr = ''; let status: any;
    ws.on('open', () => {
      if (resize) ws.send(Buffer.concat([Buffer.from([4]), Buffer.from(JSON.stringify(resize))]));
      if (stdin !== undefined) {
        ws.send(Buffer.concat([Buffer.from([0]), Buffer.from(stdin)]));
        if (ws.protocol === 'v5.channel.k8s.io') ws.send(Buffer.from([255, 0]));
      }
    });
    ws.on('message', (m: Buffer) => {
      const ch = m[0];
      const body = m.subarray(1).toString();
      if (ch === 1) stdout += body; else if (ch === 2) stderr += body; else if (ch === 3) status = JSON.parse(body);
    });
    ws.on('close', () => resolve({ stdout, stderr, status, protocol: ws.protocol }));
    ws.on('error', reject);
  });
}

function get(sock: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path }, (res) => {
      let b = '';
      res.on('data', (d) => { b += d; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    }).on('error', reject);
  });
}

/**
 * A client WebSocket speaking a subprotocol that is not an RFC 6455 token (the ws client refuses
 * those, Go's gorilla/websocket used by kubectl does not): raw upgrade, then ws's framing classes.
 */
async function rawWebSocket(sock: string, path: string, protocol: string): Promise<{ send(b: Buffer): void; on(ev: 'message' | 'close', f: (m: Buffer) => void): void; close(): void }> {
  const { Receiver, Sender } = await import('ws') as unknown as { Receiver: any; Sender: any };
  const socket = await new Promise<import('node:net').Socket>((resolve, reject) => {
    const req = http.request({ socketPath: sock, path, headers: { Connection: 'Upgrade', Upgrade: 'websocket', 'Sec-WebSocket-Version': '13', 'Sec-WebSocket-Key': Buffer.from('0123456789abcdef').toString('base64'), 'Sec-WebSocket-Protocol': protocol } });
    req.on('upgrade', (res, s) => { assert.equal(res.headers['sec-websocket-protocol'], protocol); resolve(s); });
    req.on('response', (res) => reject(new Error(`upgrade refused: ${res.statusCode}`)));
    req.on('error', reject);
    req.end();
  });
  const sender = new Sender(socket);
  const receiver = new Receiver({ isServer: false });
  socket.pipe(receiver);
  const handlers: Record<string, ((m: Buffer) => void)[]> = { message: [], close: [] };
  receiver.on('message', (m: Buffer) => handlers.message!.forEach((f) => f(m)));
  receiver.on('conclude', () => handlers.close!.forEach((f) => f(Buffer.alloc(0))));
  socket.on('close', () => handlers.close!.forEach((f) => f(Buffer.alloc(0))));
  return {
    send: (b) => sender.send(b, { binary: true, mask: true, fin: true, compress: false }),
    on: (ev, f) => { handlers[ev]!.push(f); },
    close: () => socket.destroy(),
  };
}

/** A minimal SPDY client, as kubectl's port-forward: error + data stream for one connection. */
async function portForwardOnce(sock: string, path: string, port: number, send: string): Promise<{ data: string; error: string }> {
  const { FrameParser, HeaderCodec, controlFrame, dataFrame, FLAG_FIN, TYPE_SYN_STREAM, TYPE_SYN_REPLY } = await import('../src/kubelet/spdy.js');
  const ws = await rawWebSocket(sock, path, 'SPDY/3.1+portforward.k8s.io');
  const codec = new HeaderCodec();
  const parser = new FrameParser();
  const out = { data: '', error: '' };
  let fins = 0;
  const replies = new Set<number>();
  const done = new Promise<void>((resolve) => {
    ws.on('message', (m: Buffer) => {
      for (const f of parser.push(Buffer.from(m))) {
        if (f.kind === 'control' && f.type === TYPE_SYN_REPLY) replies.add(f.body.readUInt32BE(0));
        if (f.kind === 'data') {
          if (f.streamId === 1) out.error += f.data.toString(); else out.data += f.data.toString();
          if (f.flags & FLAG_FIN && ++fins === 2) resolve();
        }
      }
    });
    ws.on('close', () => resolve());
  });
  const syn = async (id: number, headers: Record<string, string>) => {
    const block = await codec.encode(headers);
    const head = Buffer.alloc(10);
    head.writeUInt32BE(id, 0);
    ws.send(controlFrame(TYPE_SYN_STREAM, 0, Buffer.concat([head, block])));
  };
  await syn(1, { streamtype: 'error', port: String(port), requestid: '0' });
  ws.send(dataFrame(1, FLAG_FIN, Buffer.alloc(0)));
  await syn(3, { streamtype: 'data', port: String(port), requestid: '0' });
  if (send) ws.send(dataFrame(3, 0, Buffer.from(send)));
  await done;
  assert.ok(replies.has(1) && replies.has(3), 'SYN_REPLY for both streams');
  ws.close();
  codec.close();
  return out;
}

describe('kubelet socket API', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  let node: TestNode;
  let rt: PodRuntime;
  let server: KubeletServer;
  let sock: string;
  before(async () => {
    node = await createTestNode('srv');
    rt = runtimeFor(node);
    sock = join(node.dataDir, 'kubelet', 'node-a.sock');
    server = await startServer(rt, sock, undefined, () => true);
  });
  after(async () => {
    await server?.close();
    for (const uid of rt?.uids() ?? []) await rt.stop(uid, 0).catch(() => undefined);
    rt?.close();
    await node?.cleanup();
  });

  it('exec: exit codes, stdin, stderr, env, v4 fallback', { timeout: 30000 }, async () => {
    const p = makePod('shell', [{ name: 'sh', image: 'nicolaka/netshoot', env: [{ name: 'GREETING', value: 'hi $(POD)' }, { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }] }]);
    p.spec!.containers[0]!.env = [{ name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } }, { name: 'GREETING', value: 'hi $(POD)' }];
    await rt.start(p);
    await eventually(() => rt.status(p.metadata!.uid!)?.phase === 'Running' || undefined);
    const ok = await execWs(sock, '/exec/default/shell/sh?command=sh&command=-c&command=echo%20$GREETING;%20hostname&stdout=1&stderr=1');
    assert.equal(ok.protocol, 'v5.channel.k8s.io');
    assert.equal(ok.stdout, 'hi shell\nshell\n');
    assert.equal(ok.status.status, 'Success');
    const fail = await execWs(sock, '/exec/default/shell/sh?command=sh&command=-c&command=echo%20oops%20%3E%262;%20exit%203&stdout=1&stderr=1');
    assert.equal(fail.stderr, 'oops\n');
    assert.equal(fail.status.status, 'Failure');
    assert.equal(fail.status.reason, 'NonZeroExitCode');
    assert.deepEqual(fail.status.details.causes, [{ reason: 'ExitCode', message: '3' }]);
    const cat = await execWs(sock, '/exec/default/shell/sh?command=cat&stdin=1&stdout=1&stderr=1', 'from stdin\n');
    assert.equal(cat.stdout, 'from stdin\n');
    assert.equal(cat.status.status, 'Success');
    const v4 = await execWs(sock, '/exec/default/shell/sh?command=true&stdout=1', undefined, ['v4.channel.k8s.io']);
    assert.equal(v4.protocol, 'v4.channel.k8s.io');
    assert.equal(v4.status.status, 'Success');
    // -t: a terminal of the size kubectl sent, stderr merged into stdout
    const tty = await execWs(sock, '/exec/default/shell/sh?command=sh&command=-c&command=test%20-t%200%20%26%26%20stty%20size%3B%20echo%20err%20%3E%262&stdin=1&stdout=1&tty=1', 'exit\n', undefined, { Width: 91, Height: 33 });
    assert.match(tty.stdout, /33 91\r?\n/);
    assert.match(tty.stdout, /err/);
    assert.equal(tty.status.status, 'Success');
    const missing = await execWs(sock, '/exec/default/nope/sh?command=true&stdout=1');
    assert.equal(missing.status.status, 'Failure');
  });

  it('port-forward: SPDY/3.1 tunnelled in a WebSocket reaches the pod\'s port', { timeout: 30000 }, async () => {
    const p = makePod('pf', [{ name: 'web', image: 'nginx' }]);
    await rt.start(p);
    const ip = await eventually(() => rt.status(p.metadata!.uid!)?.podIP);
    await eventually(() => curlIn(node.netns, `http://${ip}/`).code === 0 || undefined, 20000, 'nginx up');
    const body = await portForwardOnce(sock, '/portForward/default/pf', 80, 'GET / HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.match(body.data, /^HTTP\/1\.1 200 OK/);
    assert.match(body.data, /Welcome to nginx!/);
    assert.equal(body.error, '');
    const closed = await portForwardOnce(sock, '/portForward/default/pf', 81, '');
    assert.equal(closed.data, '');
    assert.match(closed.error, /error forwarding port 81 to pod pf: connect ECONNREFUSED 127.0.0.1:81/);
  });

  it('logs: whole, tailLines, follow until the container ends', { timeout: 30000 }, async () => {
    const p = makePod('talker', [{ name: 't', image: 'busybox', command: ['sh', '-c', 'for i in 1 2 3; do echo line $i; done; sleep 1; echo late; sleep 1'] }], (x) => { x.spec!.restartPolicy = 'Never'; });
    await rt.start(p);
    await eventually(async () => (await get(sock, '/containerLogs/default/talker/t')).body.includes('line 3') || undefined);
    assert.equal((await get(sock, '/containerLogs/default/talker/t?tailLines=1')).body, 'line 3\n');
    const followed = await get(sock, '/containerLogs/default/talker/t?follow=true');
    assert.equal(followed.body, 'line 1\nline 2\nline 3\nlate\n');
    const st = await eventually(() => rt.status(p.metadata!.uid!)?.phase === 'Succeeded' ? rt.status(p.metadata!.uid!) : undefined);
    assert.equal(st.containerStatuses![0]!.state!.terminated!.reason, 'Completed');
    assert.equal((await get(sock, '/containerLogs/default/talker/t?previous=true')).status, 400);
  });

  it('a new agent adopts running pods after the old one is killed with SIGKILL', { timeout: 60000 }, async () => {
    const pod: Pod = makePod('adoptee', [{ name: 'web', image: 'jocatalin/kubernetes-bootcamp' }]);
    // The first agent runs in a child process that is then killed.
    const script = `
      import { runtimeFor } from ${JSON.stringify(join(import.meta.dirname, 'kubelet-helpers.ts'))};
      const rt = runtimeFor(JSON.parse(process.env.NODE_JSON), {});
      await rt.start(JSON.parse(process.env.POD_JSON));
      const t = setInterval(() => { const s = rt.status(JSON.parse(process.env.POD_JSON).metadata.uid); if (s?.containerStatuses?.[0]?.state?.running) { console.log('RUNNING'); clearInterval(t); } }, 100);
    `;
    const other = runtimeFor(node); other.close();
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, NODE_JSON: JSON.stringify({ ...node, cleanup: undefined }), POD_JSON: JSON.stringify(pod) }, stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('first agent did not start the pod')), 20000);
        child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('RUNNING')) { clearTimeout(timer); resolve(); } });
      });
    } finally {
      child.kill('SIGKILL');
    }
    const rt2 = runtimeFor(node);
    try {
      assert.ok(rt2.adopt().includes(pod.metadata!.uid!));
      await rt2.start(pod);
      const st = rt2.status(pod.metadata!.uid!)!;
      assert.ok(st.containerStatuses![0]!.state!.running, 'adopted container is running');
      assert.equal(st.containerStatuses![0]!.restartCount, 0);
      const out = await eventually(() => { const r = curlIn(node.netns, `http://${st.podIP}:8080/`); return r.code === 0 ? r.out : undefined; }, 20000);
      assert.equal(out, 'Hello Kubernetes bootcamp! | Running on: adoptee | v=1\n');
      // the adopted process is still watched: killing it is noticed and it is restarted
      await rt2.stop(pod.metadata!.uid!, 2);
      rt2.remove(pod.metadata!.uid!);
      assert.equal(curlIn(node.netns, `http://${st.podIP}:8080/`).code !== 0, true);
    } finally {
      rt2.close();
    }
  });
});
