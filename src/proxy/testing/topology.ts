/**
 * @module proxy/testing/topology
 * A small real network for the proxy's kernel tests, built with the cluster's own topology code
 * under a unique name: a lan, two nodes (172.18.0.2 with three pods, 172.18.0.3 with one), the
 * outside client 172.18.0.100, and an LB IP routed by the lan to the first node. Each pod runs
 * a tiny HTTP server (answers "<pod> <client ip>") and a UDP echo ("<pod>"). destroy() removes
 * every namespace and process, and is safe to call twice.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createPodNetwork } from '../../net/pod-network.js';
import { createTopology, destroyTopology, topologySpec, type TopologySpec } from '../../net/topology.js';
import { run } from '../../net/exec.js';

export const HTTP_PORT = 8080;
export const UDP_PORT = 5353;
export const LB_IP = '172.18.255.200';

const POD_SERVER = `
const http = require('http'), dgram = require('dgram');
const name = process.argv[1];
http.createServer((q, r) => r.end(name + ' ' + q.socket.remoteAddress.replace('::ffff:', '') + '\\n')).listen(${HTTP_PORT});
const u = dgram.createSocket('udp4');
u.on('message', (m, ri) => u.send(name, ri.port, ri.address));
u.bind(${UDP_PORT}, () => console.log('ready'));
`;

export interface TestPod { name: string; ip: string; netns: string; node: string }

export class ProxyTestNet {
  readonly spec: TopologySpec;
  readonly pods: TestPod[] = [];
  private readonly procs: ChildProcess[] = [];
  constructor(readonly tag = `pxt${process.pid % 100000}`) {
    this.spec = topologySpec(this.tag, 1);
  }
  get node0() { return this.spec.nodes[0]!; }
  get node1() { return this.spec.nodes[1]!; }
  get client() { return this.spec.clientNetns; }

  async create(): Promise<void> {
    await createTopology(this.spec);
    // The client sees the LB IP as on-link (it is in the lan's /16): a host route to node0 stands in
    // for what an L2 announcement (MetalLB) would do.
    await run(['ip', '-n', this.spec.clientNetns, 'route', 'add', `${LB_IP}/32`, 'via', this.node0.ip]);
    const plan = [
      { node: this.node0, n: 11 }, { node: this.node0, n: 12 }, { node: this.node0, n: 13 }, { node: this.node1, n: 11 },
    ];
    for (const p of plan) {
      const ip = p.node.podCIDR.replace(/0\/24$/, String(p.n));
      const name = `pod-${p.node.index}-${p.n}`;
      const netns = `svp-${this.tag}-p-${p.node.index}${p.n}`;
      await createPodNetwork({ netns, hostVeth: `v${this.tag.slice(-6)}${p.node.index}${p.n}`, ip, prefixLength: 24, gateway: p.node.gateway, nodeNetns: p.node.netns });
      this.pods.push({ name, ip, netns, node: p.node.name });
    }
    await Promise.all(this.pods.map((p) => new Promise<void>((resolve, reject) => {
      const c = spawn('ip', ['netns', 'exec', p.netns, process.execPath, '-e', POD_SERVER, p.name], { stdio: ['ignore', 'pipe', 'inherit'] });
      this.procs.push(c);
      c.stdout!.once('data', () => resolve());
      c.once('exit', (code) => reject(new Error(`pod server ${p.name} exited ${code}`)));
    })));
  }

  /** Stop a pod's servers (it "dies": connections are refused by its kernel). */
  killPod(name: string): void {
    const i = this.pods.findIndex((p) => p.name === name);
    this.procs[i]?.kill('SIGKILL');
  }

  /** curl in a namespace; returns {code, out}. */
  curl(netns: string, url: string, timeoutS = 2): { code: number; out: string; ms: number } {
    const t0 = Date.now();
    const r = spawnSync('ip', ['netns', 'exec', netns, 'curl', '-s', '-m', String(timeoutS), url], { encoding: 'utf8', timeout: (timeoutS + 5) * 1000 });
    return { code: r.status ?? -1, out: (r.stdout ?? '').trim(), ms: Date.now() - t0 };
  }

  /** One UDP datagram from a fixed source port; the reply text, or '' after timeoutMs. */
  udp(netns: string, ip: string, port: number, srcPort: number, timeoutMs = 1000): string {
    const script = `const s=require('dgram').createSocket('udp4');s.bind(${srcPort},()=>{s.send('q',${port},'${ip}');});s.on('message',m=>{console.log(String(m));process.exit(0)});setTimeout(()=>process.exit(0),${timeoutMs});`;
    const r = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { encoding: 'utf8', timeout: timeoutMs + 5000 });
    return (r.stdout ?? '').trim();
  }

  destroy(): void {
    for (const c of this.procs) c.kill('SIGKILL');
    destroyTopology(this.spec);
  }
}
