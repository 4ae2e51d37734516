/**
 * Pure parts of the node agent: resolv.conf and hosts per pod, Service link env vars, $(VAR)
 * expansion, IPAM persistence and reuse rules, image name resolution.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import type { Pod } from '../api/types.js';
import { containerArgv, loadUserImage, parseImage, resolveImage, unknownImageMessage } from '../images/catalog.js';
import { containerEnv, expand, serviceEnv } from './env.js';
import { Ipam, IpamExhaustedError, gatewayOf } from './ipam.js';
import { sandboxFailureMessage, sandboxId } from './runtime.js';
import { hostsFile, resolvConf } from './podfiles.js';

const pod = (spec: Partial<NonNullable<Pod['spec']>> = {}): Pod => ({ metadata: { name: 'web-0', namespace: 'prod', uid: 'u1' }, spec: { containers: [], ...spec } });

describe('pod files', () => {
  it('ClusterFirst resolv.conf', () => {
    assert.equal(resolvConf(pod(), { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local' }).split('\n').filter((l) => !l.startsWith('search')).join('\n'), 'nameserver 10.96.0.10\noptions ndots:5\n');
    assert.match(resolvConf(pod(), { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local' }), /^search prod\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
  });
  it('None with dnsConfig', () => {
    const r = resolvConf(pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.2.3.4'], searches: ['a.b'], options: [{ name: 'ndots', value: '2' }] } }), { clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local' });
    assert.equal(r, 'search a.b\nnameserver 1.2.3.4\noptions ndots:2\n');
  });
  it('hosts with the StatefulSet FQDN', () => {
    const h = hostsFile(pod({ hostname: 'web-0', subdomain: 'svc-nginx' }), ['10.244.1.5'], 'cluster.local');
    assert.match(h, /^10\.244\.1\.5\tweb-0\.svc-nginx\.prod\.svc\.cluster\.local\tweb-0$/m);
    assert.match(h, /^127\.0\.0\.1\tlocalhost$/m);
  });
});

describe('environment', () => {
  const svc = { metadata: { name: 'my-app', namespace: 'prod' }, spec: { clusterIP: '10.96.5.6', ports: [{ name: 'http', port: 38080, protocol: 'TCP' as const }] } };
  it('Service links like the kubelet', () => {
    assert.deepEqual(serviceEnv(svc), {
      MY_APP_SERVICE_HOST: '10.96.5.6', MY_APP_SERVICE_PORT: '38080', MY_APP_SERVICE_PORT_HTTP: '38080',
      MY_APP_PORT: 'tcp://10.96.5.6:38080', MY_APP_PORT_38080_TCP: 'tcp://10.96.5.6:38080',
      MY_APP_PORT_38080_TCP_PROTO: 'tcp', MY_APP_PORT_38080_TCP_PORT: '38080', MY_APP_PORT_38080_TCP_ADDR: '10.96.5.6',
    });
    assert.deepEqual(serviceEnv({ metadata: { name: 'h' }, spec: { clusterIP: 'None' } }), {});
  });
  it('env sources, fieldRefs, configMapKeyRef, expansion, enableServiceLinks=false', async () => {
    const p = pod({ enableServiceLinks: false });
    const env = await containerEnv(p, { name: 'c', env: [
      { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'COLOR', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'color' } } },
      { name: 'URL', value: 'http://$(POD_IP):80/$$(x)' },
    ] }, { podIP: '10.244.1.5', hostIP: '172.18.0.3', nodeName: 'n', hostname: 'web-0' }, {
      services: (ns) => (ns === 'prod' ? [svc] : []),
      configMap: async (_ns, name) => (name === 'cfg' ? { metadata: { name }, data: { color: 'blue' } } : undefined),
      secret: async () => undefined,
    });
    assert.equal(env.POD_IP, '10.244.1.5');
    assert.equal(env.COLOR, 'blue');
    assert.equal(env.URL, 'http://10.244.1.5:80/$(x)');
    assert.equal(env.MY_APP_SERVICE_HOST, undefined);
    assert.equal(env.KUBERNETES_SERVICE_HOST, '10.96.0.1');
    assert.equal(env.KUBERNETES_SERVICE_PORT, '443');
    assert.equal(expand('$(MISSING)', {}), '$(MISSING)');
  });
});

describe('ipam', () => {
  it('never hands out an address in use, survives a restart, moves on after release', () => {
    const dir = mkdtempSync(join(tmpdir(), 'svp-ipam-'));
    try {
      const f = join(dir, 'ipam.json');
      const a = new Ipam(f, '10.244.3.0/24');
      assert.equal(gatewayOf('10.244.3.0/24'), '10.244.3.1');
      assert.equal(a.allocate('p1'), '10.244.3.2');
      assert.equal(a.allocate('p2'), '10.244.3.3');
      assert.equal(a.allocate('p1'), '10.244.3.2');
      a.release('p1');
      const b = new Ipam(f, '10.244.3.0/24');
      assert.equal(b.allocate('p3'), '10.244.3.4');
      assert.equal(b.owners().get('p2'), '10.244.3.3');
      const small = new Ipam(join(dir, 's.json'), '10.0.0.0/30');
      small.allocate('x');
      assert.throws(() => small.allocate('y'), (e: Error) => e instanceof IpamExhaustedError && e.message === 'failed to allocate for range 0: no IP addresses available in range set: 10.0.0.1-10.0.0.2');
      assert.equal(new Ipam(join(dir, 't.json'), '10.244.1.0/24').rangeSet, '10.244.1.1-10.244.1.254');
      const id = sandboxId('0b6c3d9e-1111-2222-3333-444455556666');
      assert.match(id, /^[0-9a-f]{64}$/);
      assert.equal(sandboxFailureMessage('0b6c3d9e-1111-2222-3333-444455556666', new IpamExhaustedError('10.244.1.1-10.244.1.254')),
        `Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "${id}": plugin type="bridge" failed (add): failed to allocate for range 0: no IP addresses available in range set: 10.244.1.1-10.244.1.254`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('images', () => {
  it('parses names and resolves built-ins and loaded images', () => {
    assert.deepEqual(parseImage('docker.io/library/nginx:1.25@sha256:abc'), { repo: 'nginx', tag: '1.25' });
    assert.deepEqual(parseImage('localhost:5000/app'), { repo: 'localhost:5000/app', tag: 'latest' });
    assert.equal(resolveImage('nginx:1.27', [])?.source, 'builtin');
    assert.equal(resolveImage('my-custom-backend-image:v1', []), undefined);
    assert.match(unknownImageMessage('my-custom-backend-image:v1'), /^image "my-custom-backend-image:v1" is not a svcplane built-in image \(known: jocatalin\/kubernetes-bootcamp, nginx, busybox/);
    const dir = mkdtempSync(join(tmpdir(), 'svp-img-'));
    try {
      loadUserImage(dir, 'my-custom-backend-image:v1', 'echo hi');
      const spec = resolveImage('my-custom-backend-image:v1', [dir])!;
      assert.deepEqual(containerArgv(spec, undefined, ['a']), ['sh', '-c', 'echo hi', 'my-custom-backend-image:v1', 'a']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    const bb = resolveImage('busybox:1.36', [])!;
    assert.deepEqual(containerArgv(bb), ['sh']);
    assert.deepEqual(containerArgv(bb, ['sleep'], ['3600']), ['sleep', '3600']);
    assert.deepEqual(containerArgv(resolveImage('curlimages/curl', [])!, undefined, ['-s', 'x']), ['curl', '-s', 'x']);
  });
});
