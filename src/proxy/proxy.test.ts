/**
 * The proxy as a whole (config → trackers → runner → nftables in a throw-away namespace →
 * health and metrics servers on loopback), fed by fake informers.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import type { EndpointSlice, Service } from '../api/types.js';
import { run, runSync } from '../net/exec.js';
import { IPVS_UNAVAILABLE, startProxy, validateOptions } from './proxy.js';
import { FakeSource, makeService, makeSlice } from './testing/fixtures.js';

const isRoot = process.getuid?.() === 0;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function get(port: number, path = '/'): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: r.status, body: await r.text() };
}

describe('options', () => {
  it('ipvs on a kernel without IPVS fails with one line naming the alternatives', () => {
    assert.throws(() => validateOptions({ mode: 'ipvs', scheduler: 'rr' }), (e: Error) => e.message === IPVS_UNAVAILABLE && !e.message.includes('\n'));
  });
  it('IPVS schedulers need the userspace mode', () => {
    assert.throws(() => validateOptions({ mode: 'nftables', scheduler: 'wlc' }), /--proxy-mode userspace/);
    validateOptions({ mode: 'userspace', scheduler: 'wlc' });
    assert.throws(() => validateOptions({ mode: 'userspace', scheduler: 'fastest' }), /rr, wrr, lc, wlc, sh, dh, sed, nq/);
  });
});

describe('startProxy (nftables, fake informers)', { skip: !isRoot && 'needs root' }, () => {
  const ns = `svp-pxo-${process.pid}`;
  runSync(['ip', 'netns', 'add', ns], { allowFail: true });
  after(() => { runSync(['ip', 'netns', 'del', ns], { allowFail: true }); });

  it('programs after sync; health check node port answers 200/503 with kube-proxy\'s body; /healthz and /metrics', async () => {
    const services = new FakeSource<Service>();
    const slices = new FakeSource<EndpointSlice>();
    const [healthz, metricsPort, hcPort] = [await freePort(), await freePort(), await freePort()];
    const svc = makeService('ns', 'web', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30080; s.spec!.healthCheckNodePort = hcPort; });
    services.set(svc);
    const slice = makeSlice('ns', 'web', [{ ip: '10.244.0.2', node: 'n0' }]);
    slice.metadata!.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': new Date().toISOString() };
    slices.set(slice);
    const p = await startProxy({
      sources: { services, slices }, nodeName: 'n0', nodeIP: '172.18.0.2', mode: 'nftables', scheduler: 'random', clusterCIDR: '10.244.0.0/16',
      minSyncMs: 50, syncPeriodMs: 60_000, healthzBind: `127.0.0.1:${healthz}`, metricsBind: `127.0.0.1:${metricsPort}`, netns: ns, healthCheckBindHost: '127.0.0.1',
    });
    try {
      await p.synced();
      assert.match((await run(['nft', 'list', 'map', 'ip', 'svcplane', 'service-ips'], { netns: ns })).stdout, /10\.96\.0\.10 \. tcp \. 80 counter packets 0 bytes 0 : goto svc-/);
      assert.equal((await get(healthz, '/healthz')).status, 200);
      let hc = await get(hcPort);
      assert.equal(hc.status, 200);
      assert.deepEqual(JSON.parse(hc.body), { service: { namespace: 'ns', name: 'web' }, localEndpoints: 1, serviceProxyHealthy: true });
      // The endpoint moves to another node: this node has none left.
      const moved = p.synced();
      slices.set(makeSlice('ns', 'web', [{ ip: '10.244.1.2', node: 'n1' }]));
      await moved;
      hc = await get(hcPort);
      assert.equal(hc.status, 503);
      assert.equal(JSON.parse(hc.body).localEndpoints, 0);
      const m = (await get(metricsPort, '/metrics')).body;
      assert.match(m, /kubeproxy_sync_proxy_rules_duration_seconds_count \d+/);
      assert.match(m, /kubeproxy_network_programming_duration_seconds_count [1-9]/);
      assert.match(m, /svcplane_proxy_service_connections\{namespace="ns",service="web",port="http",protocol="tcp"\} 0/);
      assert.match(m, /kubeproxy_sync_proxy_rules_total\{kind="full",result="success"\} 1/);
    } finally {
      await p.stop({ cleanup: true });
    }
    assert.equal((await run(['nft', 'list', 'table', 'ip', 'svcplane'], { netns: ns, allowFail: true })).code, 1, 'table removed on cleanup');
  });

  it('an SCTP Service port on a kernel without SCTP is left out with one log line naming it; the others are programmed', async () => {
    const haveSCTP = existsSync('/proc/net/sctp');
    const services = new FakeSource<Service>();
    const slices = new FakeSource<EndpointSlice>();
    services.set(makeService('ns', 'web'));
    services.set(makeService('ns', 'assoc', (s) => { s.spec!.clusterIP = '10.96.0.11'; s.spec!.ports = [{ name: 'sctp', port: 9999, protocol: 'SCTP', targetPort: 9999 }]; }));
    slices.set(makeSlice('ns', 'web', [{ ip: '10.244.0.2', node: 'n0' }]));
    slices.set(makeSlice('ns', 'assoc', [{ ip: '10.244.0.3', node: 'n0' }], [{ name: 'sctp', port: 9999, protocol: 'SCTP' }]));
    const lines: string[] = [];
    const orig = console.error;
    console.error = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
    let p: Awaited<ReturnType<typeof startProxy>> | undefined;
    try {
      p = await startProxy({
        sources: { services, slices }, nodeName: 'n0', nodeIP: '172.18.0.2', mode: 'nftables', scheduler: 'random', clusterCIDR: '10.244.0.0/16',
        minSyncMs: 50, syncPeriodMs: 60_000, healthzBind: '', metricsBind: '', netns: ns,
      });
      await p.synced();
      const map = (await run(['nft', 'list', 'map', 'ip', 'svcplane', 'service-ips'], { netns: ns })).stdout;
      assert.match(map, /10\.96\.0\.10 \. tcp \. 80 /);
      if (haveSCTP) {
        assert.match(map, /10\.96\.0\.11 \. sctp \. 9999 /);
      } else {
        assert.doesNotMatch(map, /sctp/);
        const warned = lines.filter((l) => l.includes('SCTP is not available'));
        assert.equal(warned.length, 1, lines.join('\n'));
        assert.match(warned[0]!, /"servicePort":"ns\/assoc:sctp\/sctp"/);
        // A later sync does not repeat it.
        const again = p.synced();
        slices.set(makeSlice('ns', 'web', [{ ip: '10.244.0.4', node: 'n0' }]));
        await again;
        assert.equal(lines.filter((l) => l.includes('SCTP is not available')).length, 1);
      }
    } finally {
      console.error = orig;
      await p?.stop({ cleanup: true });
    }
  });
});
