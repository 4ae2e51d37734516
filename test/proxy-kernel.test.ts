/**
 * The proxy's backends against a real kernel: a lan, two nodes, four pods and an outside client
 * in network namespaces (src/proxy/testing/topology.ts), rules programmed from fake Services and
 * EndpointSlices, and real curl / UDP traffic. One suite runs for every mode (nftables,
 * iptables-nft, iptables-legacy, userspace); each mode removes what the previous one left.
 *
 * Plan: node0 172.18.0.2 (pods pod-0-11/12/13 = 10.244.0.11-13), node1 172.18.0.3 (pod-1-11 =
 * 10.244.1.11), client 172.18.0.100, LB IP 172.18.255.200 routed by the lan to node0.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { EndpointSlice, Service } from '../src/api/types.js';
import { run } from '../src/net/exec.js';
import { cleanupLeftovers, type ProxyModeName } from '../src/proxy/cleanup.js';
import { clearStaleUDP } from '../src/proxy/conntrack.js';
import { newProvider } from '../src/proxy/proxy.js';
import { Desired, makeService, makeSlice } from '../src/proxy/testing/fixtures.js';
import { HTTP_PORT, LB_IP, ProxyTestNet, UDP_PORT } from '../src/proxy/testing/topology.js';
import type { BackendOptions, Provider, ServicePort, SyncRequest } from '../src/proxy/types.js';

const skip = process.getuid?.() !== 0 && 'needs root (network namespaces)';
const CLUSTER_CIDR = '10.244.0.0/16';
const NODE0 = ['10.244.0.11', '10.244.0.12', '10.244.0.13'];

function services(): Service[] {
  const http = (s: Service, ip: string) => { s.spec!.clusterIP = ip; s.spec!.ports = [{ name: 'http', port: 80, protocol: 'TCP', targetPort: HTTP_PORT }]; };
  return [
    makeService('default', 'web', (s) => { http(s, '10.96.0.10'); s.spec!.type = 'LoadBalancer'; s.spec!.ports![0]!.nodePort = 30080; Object.assign(s, { status: { loadBalancer: { ingress: [{ ip: LB_IP }] } } }); }),
    makeService('default', 'rr', (s) => { http(s, '10.96.0.11'); s.metadata!.annotations = { 'svcplane.io/scheduler': 'rr' }; }),
    makeService('default', 'aff', (s) => { http(s, '10.96.0.12'); s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 60 } }; }),
    makeService('default', 'loc', (s) => { http(s, '10.96.0.13'); s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30081; s.spec!.healthCheckNodePort = 32000; }),
    makeService('default', 'empty', (s) => { http(s, '10.96.0.14'); }),
    makeService('default', 'self', (s) => { http(s, '10.96.0.15'); }),
    makeService('default', 'dns', (s) => { s.spec!.clusterIP = '10.96.0.16'; s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: UDP_PORT }]; }),
  ];
}

function slices(dnsEndpoints = NODE0): EndpointSlice[] {
  const node0 = (ips: string[]) => ips.map((ip) => ({ ip, node: 'NODE0' }));
  return [
    makeSlice('default', 'web', node0(NODE0), [{ name: 'http', port: HTTP_PORT }]),
    makeSlice('default', 'rr', node0(NODE0), [{ name: 'http', port: HTTP_PORT }]),
    makeSlice('default', 'aff', node0(NODE0), [{ name: 'http', port: HTTP_PORT }]),
    makeSlice('default', 'loc', node0(['10.244.0.11']), [{ name: 'http', port: HTTP_PORT }]),
    makeSlice('default', 'self', node0(['10.244.0.11']), [{ name: 'http', port: HTTP_PORT }]),
    makeSlice('default', 'dns', node0(dnsEndpoints), [{ name: 'dns', port: UDP_PORT, protocol: 'UDP' }]),
  ];
}

/** A backend on one node: in this process (kernel modes) or in a child in the node's netns (userspace). */
interface NodeProxy { sync(req: SyncRequest): Promise<void>; close(): Promise<void>; provider?: Provider }

function inProcess(mode: string, o: BackendOptions, iptablesBackend?: 'nft' | 'legacy'): NodeProxy {
  const provider = newProvider({ mode, nodeName: o.nodeName, nodeIP: o.nodeIP, scheduler: o.scheduler, clusterCIDR: o.clusterCIDR, netns: o.netns, nodePortAddresses: [], iptablesBackend, minSyncMs: 0, syncPeriodMs: 0, healthzBind: '', metricsBind: '' });
  return { provider, sync: async (req) => { await provider.sync(req); }, close: async () => {} };
}

function userspaceChild(o: BackendOptions): NodeProxy {
  const child: ChildProcess = spawn('ip', ['netns', 'exec', o.netns!, process.execPath, '--import', 'tsx', join(import.meta.dirname, '../src/proxy/testing/userspace-child.ts')], { stdio: ['pipe', 'pipe', 'inherit'], cwd: join(import.meta.dirname, '..') });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const call = (msg: unknown) => new Promise<void>((resolve, reject) => {
    waiting.push((l) => { const r = JSON.parse(l) as { ok: boolean; error?: string }; if (r.ok) resolve(); else reject(new Error(r.error)); });
    child.stdin!.write(JSON.stringify(msg) + '\n');
  });
  const ready = call({ options: { ...o, netns: undefined } });
  return {
    sync: async (req) => { await ready; await call({ ports: req.ports }); },
    close: async () => { child.stdin!.end(); await new Promise((r) => { child.once('exit', r); setTimeout(r, 5000); }); child.kill('SIGKILL'); },
  };
}

const net = new ProxyTestNet();
const MODES: { name: string; mode: ProxyModeName; iptablesBackend?: 'nft' | 'legacy' }[] = [
  { name: 'nftables', mode: 'nftables' },
  { name: 'iptables (iptables-nft)', mode: 'iptables', iptablesBackend: 'nft' },
  { name: 'iptables (iptables-legacy)', mode: 'iptables', iptablesBackend: 'legacy' },
  { name: 'userspace', mode: 'userspace' },
];

describe('proxy backends on a real kernel', { skip, timeout: 300_000 }, () => {
  before(async () => { await net.create(); });
  after(async () => {
    net.destroy();
  });

  for (const m of MODES) {
    describe(m.name, () => {
      let proxies: NodeProxy[] = [];
      let desired: Desired;
      const fix = <T>(objs: T[]) => JSON.parse(JSON.stringify(objs).replaceAll('NODE0', net.node0.name)) as T[];
      const syncAll = async (changed?: Set<string>) => { for (const p of proxies) await p.sync({ ports: desired.ports(), changed }); };
      before(async () => {
        for (const n of net.spec.nodes) {
          const removed = await cleanupLeftovers(m.mode, n.netns, m.iptablesBackend);
          void removed;
        }
        desired = new Desired(services(), fix(slices()));
        desired.update();
        proxies = net.spec.nodes.map((n) => {
          const o: BackendOptions = { nodeName: n.name, nodeIP: n.ip, clusterCIDR: CLUSTER_CIDR, scheduler: 'random', nodePortAddresses: [], netns: n.netns };
          return m.mode === 'userspace' ? userspaceChild(o) : inProcess(m.mode, o, m.iptablesBackend);
        });
        await syncAll();
      });
      after(async () => { for (const p of proxies) await p.close(); });

      it('previous modes left nothing behind', async () => {
        const nft = await run(['nft', 'list', 'tables'], { netns: net.node0.netns });
        if (m.mode !== 'nftables') assert.doesNotMatch(nft.stdout, /table ip svcplane\n/);
        if (m.mode !== 'userspace') assert.doesNotMatch(nft.stdout, /svcplane-userspace/);
        for (const b of ['nft', 'legacy']) {
          if (m.mode === 'iptables' && b === m.iptablesBackend) continue;
          const saved = spawnSync('ip', ['netns', 'exec', net.node0.netns, `iptables-${b}-save`, '-t', 'nat'], { encoding: 'utf8' }).stdout;
          assert.doesNotMatch(saved, /KUBE-/, `iptables-${b} still has KUBE-* chains`);
        }
      });

      it('ClusterIP from a node and from a pod on another node; 30 requests reach every endpoint', () => {
        assert.match(net.curl(net.node0.netns, 'http://10.96.0.10').out, /^pod-0-1\d /);
        // Kernel modes keep the pod's source; the userspace proxy connects from node1 itself.
        assert.match(net.curl(net.pods[3]!.netns, 'http://10.96.0.10').out, m.mode === 'userspace' ? /^pod-0-1\d 172\.18\.0\.3$/ : /^pod-0-1\d 10\.244\.1\.11$/);
        const seen = new Set(Array.from({ length: 30 }, () => net.curl(net.node0.netns, 'http://10.96.0.10').out.split(' ')[0]));
        assert.deepEqual([...seen].sort(), ['pod-0-11', 'pod-0-12', 'pod-0-13']);
      });

      it('scheduler rr (per-Service annotation): four requests visit the three pods in turn', () => {
        const names = Array.from({ length: 4 }, () => net.curl(net.node0.netns, 'http://10.96.0.11').out.split(' ')[0]);
        assert.equal(new Set(names.slice(0, 3)).size, 3, names.join(','));
        assert.equal(names[3], names[0], names.join(','));
      });

      it('NodePort from the outside client on both nodes, and 127.0.0.1 on the node', () => {
        assert.match(net.curl(net.client, `http://${net.node0.ip}:30080`).out, /^pod-0-1\d /);
        assert.match(net.curl(net.client, `http://${net.node1.ip}:30080`).out, /^pod-0-1\d /, 'off-node NodePort (masqueraded)');
        assert.match(net.curl(net.node0.netns, 'http://127.0.0.1:30080').out, /^pod-0-1\d /);
      });

      it('LoadBalancer IP from the outside client', () => {
        assert.match(net.curl(net.client, `http://${LB_IP}`).out, /^pod-0-1\d /);
      });

      it('a Service without endpoints is refused at once', () => {
        const r = net.curl(net.node0.netns, 'http://10.96.0.14', 3);
        assert.equal(r.code, 7, `curl exit ${r.code} (7 = refused, 28 = timeout)`);
        assert.ok(r.ms < 1500, `${r.ms} ms`);
      });

      it('sessionAffinity ClientIP sticks', () => {
        const names = new Set(Array.from({ length: 6 }, () => net.curl(net.node0.netns, 'http://10.96.0.12').out.split(' ')[0]));
        assert.equal(names.size, 1, [...names].join(','));
      });

      it('externalTrafficPolicy Local: client IP kept on the node with the endpoint, dropped on the other', () => {
        const r = net.curl(net.client, `http://${net.node0.ip}:30081`);
        if (m.mode === 'userspace') assert.match(r.out, /^pod-0-11 /, 'userspace proxies terminate the connection: source not kept');
        else assert.equal(r.out, 'pod-0-11 172.18.0.100');
        const other = net.curl(net.client, `http://${net.node1.ip}:30081`, 1);
        assert.notEqual(other.code, 0, 'no local endpoint on node1');
      });

      it('hairpin: a pod reaches itself through its Service', () => {
        assert.match(net.curl(net.pods[0]!.netns, 'http://10.96.0.15').out, /^pod-0-11 /);
      });

      it('UDP through a ClusterIP; a removed endpoint\'s conntrack entry is flushed', async () => {
        const first = net.udp(net.node0.netns, '10.96.0.16', 53, 41000);
        assert.match(first, /^pod-0-1\d$/);
        const left = NODE0.filter((ip) => !ip.endsWith(first.slice(-2)));
        desired.ep.onSlice(fix(slices(left)).find((s) => s.metadata!.name === 'dns-abc')!);
        const upd = desired.update();
        assert.equal(upd.staleUDPEndpoints.length, 1);
        await syncAll(upd.changed);
        for (const n of net.spec.nodes) await clearStaleUDP(upd, n.netns);
        const second = net.udp(net.node0.netns, '10.96.0.16', 53, 41000);
        assert.match(second, /^pod-0-1\d$/);
        assert.notEqual(second, first, 'same client port now reaches another endpoint');
        desired.ep.onSlice(fix(slices()).find((s) => s.metadata!.name === 'dns-abc')!);
        await syncAll(desired.update().changed);
      });

      it('incremental sync: an endpoint change rewrites only that Service', async () => {
        desired.ep.onSlice(fix(slices()).map((s) => (s.metadata!.name === 'web-abc' ? makeSlice('default', 'web', [{ ip: '10.244.0.13', node: net.node0.name }], [{ name: 'http', port: HTTP_PORT }]) : s)).find((s) => s.metadata!.name === 'web-abc')!);
        const upd = desired.update();
        assert.deepEqual([...upd.changed], ['default/web:http/tcp']);
        await syncAll(upd.changed);
        const names = new Set(Array.from({ length: 8 }, () => net.curl(net.node0.netns, 'http://10.96.0.10').out.split(' ')[0]));
        assert.deepEqual([...names], ['pod-0-13']);
        desired.ep.onSlice(fix(slices()).find((s) => s.metadata!.name === 'web-abc')!);
        await syncAll(desired.update().changed);
      });

      if (m.mode === 'nftables') {
        it('per-Service and per-endpoint counters', async () => {
          for (let i = 0; i < 3; i++) net.curl(net.node0.netns, 'http://10.96.0.10');
          const c = await proxies[0]!.provider!.counters();
          assert.ok((c.services.get('default/web:http/tcp')?.connections ?? 0) >= 3);
          assert.ok((c.services.get('default/web:http/tcp')?.bytes ?? 0) > 0);
          const ep = [...c.endpoints].filter(([k]) => k.endsWith(':8080/tcp')).reduce((a, [, v]) => a + v.connections, 0);
          assert.ok(ep >= 3, `endpoint connections ${ep}`);
        });
      }

      if (m.mode === 'userspace') {
        it('retries the next backend when one refuses', () => {
          net.killPod('pod-0-12');
          const results = Array.from({ length: 9 }, () => net.curl(net.node0.netns, 'http://10.96.0.11', 5));
          assert.ok(results.every((r) => r.code === 0 && /^pod-0-1[13] /.test(r.out)), results.map((r) => `${r.code}:${r.out}`).join(','));
        });
      }
    });
  }

  it('cleanup removes every mode\'s rules', async () => {
    for (const n of net.spec.nodes) await cleanupLeftovers(undefined, n.netns);
    const nft = await run(['nft', 'list', 'tables'], { netns: net.node0.netns });
    assert.doesNotMatch(nft.stdout, /svcplane\n|svcplane-userspace/);
    for (const b of ['nft', 'legacy']) assert.doesNotMatch(spawnSync('ip', ['netns', 'exec', net.node0.netns, `iptables-${b}-save`], { encoding: 'utf8' }).stdout, /KUBE-/);
  });
});
export type { ServicePort };
