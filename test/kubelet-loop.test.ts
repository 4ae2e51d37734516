/**
 * The node agent's loop (startKubelet) against an in-memory API on a unix socket and real
 * namespaces: Node registration and Lease, pods bound to the node started with Service env,
 * status patched (Running, Ready, podIP), graceful deletion freeing the sandbox, orphans removed.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../src/client/rest.js';
import { startKubelet, type Kubelet } from '../src/kubelet/kubelet.js';
import { startFakeApi, type FakeApi } from './kubelet-fakeapi.js';
import { createTestNode, curlIn, eventually, makePod, TEST_CIDR, type TestNode } from './kubelet-helpers.js';

const isRoot = process.getuid?.() === 0;

describe('kubelet loop', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  let node: TestNode;
  let api: FakeApi;
  let kubelet: Kubelet | undefined;
  const start = () => startKubelet({
    client: new Client({ server: 'http://localhost', socketPath: api.socket }),
    nodeName: 'node-a', nodeIP: '172.18.0.9', podCIDR: TEST_CIDR, dataDir: node.dataDir, clusterName: node.cluster,
    socket: join(node.dataDir, 'kubelet', 'node-a.sock'), nodeNetns: node.netns,
  });
  before(async () => {
    process.env.SVCPLANE_QUIET_INFORMERS = '1';
    node = await createTestNode('loop');
    api = await startFakeApi(join(node.dataDir, 'api.sock'));
  });
  after(async () => {
    await kubelet?.stop({ killPods: true }).catch(() => undefined);
    await api?.close();
    await node?.cleanup();
  });

  it('registers the node, renews its lease, runs a pod with Service env and reports its status', async () => {
    api.put('services', 'default', { metadata: { name: 'my-app' }, spec: { clusterIP: '10.96.12.34', ports: [{ name: 'http', port: 38080, protocol: 'TCP' }] } });
    kubelet = await start();
    const n = api.get('nodes', undefined, 'node-a');
    assert.equal(n.metadata.labels['kubernetes.io/hostname'], 'node-a');
    assert.equal(n.metadata.annotations['svcplane.io/kubelet-socket'], join(node.dataDir, 'kubelet', 'node-a.sock'));
    assert.deepEqual(n.status.addresses, [{ type: 'InternalIP', address: '172.18.0.9' }, { type: 'Hostname', address: 'node-a' }]);
    assert.equal(n.status.nodeInfo.kubeletVersion, 'v1.32.5');
    assert.equal(n.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');
    assert.equal(n.spec.podCIDR, TEST_CIDR);
    assert.equal(api.get('leases', 'kube-node-lease', 'node-a').spec.holderIdentity, 'node-a');

    const pod = makePod('web-1', [{ name: 'web', image: 'jocatalin/kubernetes-bootcamp', readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 1 } }]);
    api.put('pods', 'default', pod);
    const st = await eventually(() => { const p = api.get('pods', 'default', 'web-1'); return p?.status?.conditions?.find((c: any) => c.type === 'Ready')?.status === 'True' ? p.status : undefined; }, 25000, 'pod Ready');
    assert.equal(st.phase, 'Running');
    assert.match(st.podIP, /^10\.244\.7\./);
    assert.equal(st.hostIP, '172.18.0.9');
    assert.equal(st.qosClass, 'BestEffort');
    assert.equal(curlIn(node.netns, `http://${st.podIP}:8080/`).out, 'Hello Kubernetes bootcamp! | Running on: web-1 | v=1\n');
    const ex = kubelet.runtime.execArgv(pod.metadata!.uid!, 'web', ['sh', '-c', 'echo $MY_APP_SERVICE_HOST $MY_APP_SERVICE_PORT $MY_APP_PORT_38080_TCP $KUBERNETES_SERVICE_HOST'])!;
    const { runSync } = await import('../src/net/exec.js');
    assert.equal(runSync(ex.argv, { env: ex.env }).stdout, '10.96.12.34 38080 tcp://10.96.12.34:38080 10.96.0.1\n');
    assert.ok([...api.objects.values()].some((o) => o.kind === 'Event' && o.reason === 'Started'));
  });

  it('deletes gracefully: SIGTERM, object removed with grace 0, sandbox and IP freed', async () => {
    const uid = api.get('pods', 'default', 'web-1').metadata.uid;
    const netns = `svp-${node.cluster}-p-${uid.replace(/-/g, '').slice(0, 8)}`;
    assert.ok(existsSync(`/run/netns/${netns}`));
    api.deletePod('default', 'web-1', 5);
    await eventually(() => api.get('pods', 'default', 'web-1') === undefined || undefined, 15000, 'pod object removed');
    await eventually(() => !existsSync(`/run/netns/${netns}`) || undefined, 5000, 'netns removed');
  });

  it('a restarted agent adopts its pods and removes the sandboxes of pods that are gone', async () => {
    const keep = makePod('keep', [{ name: 'p', image: 'pause' }]);
    const gone = makePod('gone', [{ name: 'p', image: 'pause' }]);
    api.put('pods', 'default', keep); api.put('pods', 'default', gone);
    await eventually(() => api.get('pods', 'default', 'keep')?.status?.phase === 'Running' && api.get('pods', 'default', 'gone')?.status?.phase === 'Running' || undefined, 15000);
    const keepIP = api.get('pods', 'default', 'keep').status.podIP;
    await kubelet!.stop();
    kubelet = undefined;
    // removed while no agent ran
    api.objects.delete('pods/default/gone');
    kubelet = await start();
    const goneNs = `svp-${node.cluster}-p-${gone.metadata!.uid!.replace(/-/g, '').slice(0, 8)}`;
    assert.ok(!existsSync(`/run/netns/${goneNs}`));
    const st = kubelet.runtime.status(keep.metadata!.uid!)!;
    assert.equal(st.podIP, keepIP);
    assert.equal(st.containerStatuses![0]!.restartCount, 0);
    assert.ok(st.containerStatuses![0]!.state!.running);
  });
});
