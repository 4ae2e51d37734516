/**
 * Pod runtime against real namespaces: sandbox (netns, veth, IP), built-in images, per-pod mount
 * namespaces, unknown images, crash-loop back-off, readiness probes.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { runSync } from '../src/net/exec.js';
import { loadUserImage } from '../src/images/catalog.js';
import type { PodRuntime } from '../src/kubelet/runtime.js';
import { createTestNode, curlIn, eventually, makePod, runtimeFor, type TestNode } from './kubelet-helpers.js';

const isRoot = process.getuid?.() === 0;

describe('kubelet pod runtime', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  let node: TestNode;
  let rt: PodRuntime;
  before(async () => {
    node = await createTestNode('rt');
    rt = runtimeFor(node);
  });
  after(async () => {
    for (const uid of rt?.uids() ?? []) await rt.stop(uid, 0).catch(() => undefined);
    rt?.close();
    await node?.cleanup();
  });

  it('creates a sandbox with its own IP, never reused while in use, and removes it', async () => {
    const a = makePod('sb-a', [{ name: 'p', image: 'registry.k8s.io/pause:3.10' }]);
    const b = makePod('sb-b', [{ name: 'p', image: 'pause' }]);
    await rt.start(a);
    await rt.start(b);
    const sa = await eventually(() => rt.status(a.metadata!.uid!)?.phase === 'Running' ? rt.status(a.metadata!.uid!) : undefined, 10000, 'pod a Running');
    const sb = await eventually(() => rt.status(b.metadata!.uid!)?.podIP ? rt.status(b.metadata!.uid!) : undefined);
    assert.match(sa!.podIP!, /^10\.244\.7\.\d+$/);
    assert.notEqual(sa!.podIP, sb!.podIP);
    const netns = `svp-${node.cluster}-p-${a.metadata!.uid!.replace(/-/g, '').slice(0, 8)}`;
    assert.ok(existsSync(`/run/netns/${netns}`));
    // the node reaches the pod over cni0
    assert.equal(runSync(['ip', 'route', 'get', sa!.podIP!], { netns: node.netns, allowFail: true }).stdout.includes('dev cni0'), true);
    assert.equal(runSync(['ping', '-c', '1', '-W', '2', sa!.podIP!], { netns: node.netns, allowFail: true }).code, 0, 'the pod answers a ping from its node');
    assert.match(runSync(['ip', 'neigh', 'show', sa!.podIP!], { netns: node.netns }).stdout, /dev cni0 lladdr/);
    const route = runSync(['ip', '-n', netns, 'route', 'show', 'default']).stdout;
    assert.match(route, /default via 10\.244\.7\.1 dev eth0/);
    await rt.stop(a.metadata!.uid!, 1);
    rt.remove(a.metadata!.uid!);
    assert.ok(!existsSync(`/run/netns/${netns}`));
    assert.equal(runSync(['ip', '-n', node.netns, 'link', 'show', `veth${a.metadata!.uid!.replace(/-/g, '').slice(0, 8)}`], { allowFail: true }).code !== 0, true);
    // a new pod gets a fresh address while b still holds its own
    const c = makePod('sb-c', [{ name: 'p', image: 'pause' }]);
    await rt.start(c);
    const sc = await eventually(() => rt.status(c.metadata!.uid!)?.podIP ? rt.status(c.metadata!.uid!) : undefined);
    assert.notEqual(sc!.podIP, sb!.podIP);
    for (const p of [b, c]) { await rt.stop(p.metadata!.uid!, 1); rt.remove(p.metadata!.uid!); }
  });

  it('runs kubernetes-bootcamp answering with the exact line from the node', async () => {
    const p = makePod('bootcamp-7d9c', [{ name: 'kubernetes-bootcamp', image: 'jocatalin/kubernetes-bootcamp:v1' }]);
    await rt.start(p);
    const ip = await eventually(() => rt.status(p.metadata!.uid!)?.podIP);
    const out = await eventually(() => { const r = curlIn(node.netns, `http://${ip}:8080/`); return r.code === 0 ? r.out : undefined; }, 20000, 'bootcamp answers');
    assert.equal(out, 'Hello Kubernetes bootcamp! | Running on: bootcamp-7d9c | v=1\n');
    // The status is refreshed by the runtime's own loop: wait for it rather than race it.
    const st = await eventually(() => { const x = rt.status(p.metadata!.uid!); return x?.containerStatuses?.[0]?.ready ? x : undefined; }, 10000, 'container ready');
    assert.equal(st.phase, 'Running');
    assert.equal(st.containerStatuses![0]!.ready, true);
    assert.equal(st.conditions!.find((c) => c.type === 'Ready')!.status, 'True');
    // resolv.conf and hostname as seen inside the pod
    const ex = rt.execArgv(p.metadata!.uid!, 'kubernetes-bootcamp', ['sh', '-c', 'cat /etc/resolv.conf; hostname'])!;
    const r = runSync(ex.argv, { env: ex.env });
    assert.match(r.stdout, /nameserver 10\.96\.0\.10/);
    assert.match(r.stdout, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(r.stdout, /options ndots:5/);
    assert.match(r.stdout, /bootcamp-7d9c\n$/);
    await rt.stop(p.metadata!.uid!, 2);
    rt.remove(p.metadata!.uid!);
  });

  it('gives each nginx pod its own /usr/share/nginx/html', async () => {
    const a = makePod('nginx-a', [{ name: 'nginx', image: 'nginx:1.25' }]);
    const b = makePod('nginx-b', [{ name: 'nginx', image: 'nginx' }]);
    await rt.start(a); await rt.start(b);
    const ipa = await eventually(() => rt.status(a.metadata!.uid!)?.podIP);
    const ipb = await eventually(() => rt.status(b.metadata!.uid!)?.podIP);
    for (const ip of [ipa, ipb]) await eventually(() => curlIn(node.netns, `http://${ip}/`).out.includes('Welcome to nginx!') || undefined, 20000, 'nginx welcome');
    const ex = rt.execArgv(a.metadata!.uid!, 'nginx', ['/bin/bash', '-c', 'echo "k8s-nodeXX" > /usr/share/nginx/html/index.html'])!;
    assert.equal(runSync(ex.argv, { env: ex.env }).code, 0);
    assert.equal(curlIn(node.netns, `http://${ipa}/`).out, 'k8s-nodeXX\n');
    assert.match(curlIn(node.netns, `http://${ipb}/`).out, /Welcome to nginx!/);
    assert.ok(!existsSync('/usr/share/nginx/html/index.html') || !readFileSync('/usr/share/nginx/html/index.html', 'utf8').includes('k8s-nodeXX'));
    for (const p of [a, b]) { await rt.stop(p.metadata!.uid!, 2); rt.remove(p.metadata!.uid!); }
  });

  it('reports an unknown image as ErrImagePull with how to load it', async () => {
    const p = makePod('backend', [{ name: 'backend', image: 'my-custom-backend-image:v1' }]);
    await rt.start(p);
    const w = await eventually(() => rt.status(p.metadata!.uid!)?.containerStatuses?.[0]?.state?.waiting?.reason === 'ErrImagePull' ? rt.status(p.metadata!.uid!)!.containerStatuses![0]!.state!.waiting : undefined);
    assert.match(w.message!, /my-custom-backend-image:v1/);
    assert.match(w.message!, /svcplane image load my-custom-backend-image:v1 --command/);
    assert.equal(rt.status(p.metadata!.uid!)!.phase, 'Pending');
    await eventually(() => rt.status(p.metadata!.uid!)?.containerStatuses?.[0]?.state?.waiting?.reason === 'ImagePullBackOff' || undefined, 8000, 'ImagePullBackOff');
    // `svcplane image load` makes it runnable: the pod starts on a later attempt
    loadUserImage(node.dataDir, 'my-custom-backend-image:v1', 'echo loaded $0; sleep 30');
    p.spec!.containers[0]!.image = 'my-custom-backend-image:v1';
    const p2 = makePod('backend2', [{ name: 'backend', image: 'my-custom-backend-image:v1' }]);
    await rt.start(p2);
    await eventually(() => rt.status(p2.metadata!.uid!)?.containerStatuses?.[0]?.state?.running || undefined, 8000, 'loaded image running');
    await eventually(() => { const f = rt.logFile(p2.metadata!.uid!, 'backend'); return f && readFileSync(f, 'utf8') === 'loaded my-custom-backend-image:v1\n' ? true : undefined; }, 5000, 'loaded image log');
    for (const x of [p, p2]) { await rt.stop(x.metadata!.uid!, 0); rt.remove(x.metadata!.uid!); }
  });

  it('restarts a crashing container with back-off (CrashLoopBackOff)', async () => {
    const p = makePod('crasher', [{ name: 'c', image: 'busybox', command: ['sh', '-c', 'echo boom; exit 3'] }]);
    await rt.start(p);
    const s = await eventually(() => {
      const cs = rt.status(p.metadata!.uid!)?.containerStatuses?.[0];
      return cs?.state?.waiting?.reason === 'CrashLoopBackOff' ? cs : undefined;
    }, 15000, 'CrashLoopBackOff');
    assert.match(s.state!.waiting!.message!, /^back-off 10s restarting failed container=c pod=crasher_default\(/);
    assert.equal(s.lastState!.terminated!.exitCode, 3);
    assert.equal(s.lastState!.terminated!.reason, 'Error');
    assert.equal(s.restartCount, 1);
    assert.equal(rt.status(p.metadata!.uid!)!.phase, 'Running');
    const log = rt.logFile(p.metadata!.uid!, 'c');
    assert.equal(readFileSync(log!, 'utf8'), 'boom\n');
    await rt.stop(p.metadata!.uid!, 0); rt.remove(p.metadata!.uid!);
  });

  it('keeps a pod not Ready while its readiness probe fails', async () => {
    const p = makePod('unready', [{
      name: 'web', image: 'nginx',
      readinessProbe: { httpGet: { path: '/healthz-missing', port: 80 }, periodSeconds: 1, failureThreshold: 1 },
    }]);
    await rt.start(p);
    const ip = await eventually(() => rt.status(p.metadata!.uid!)?.podIP);
    await eventually(() => curlIn(node.netns, `http://${ip}/`).code === 0 || undefined, 20000, 'nginx up');
    await new Promise((r) => setTimeout(r, 2500));
    const st = rt.status(p.metadata!.uid!)!;
    assert.equal(st.phase, 'Running');
    assert.equal(st.containerStatuses![0]!.ready, false);
    assert.equal(st.conditions!.find((c) => c.type === 'Ready')!.status, 'False');
    await rt.stop(p.metadata!.uid!, 1); rt.remove(p.metadata!.uid!);
  });
});
