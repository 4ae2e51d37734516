/**
 * The node agent with svcplane's own API server (memory store) on a unix socket: Node and Lease,
 * a pod bound to the node started and reported Ready, logs and exec through pods/<p>/log|exec,
 * graceful deletion that frees the sandbox.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { res } from '../src/api/registry.js';
import type { Pod } from '../src/api/types.js';
import { startApiServer, type ApiServer } from '../src/apiserver/server.js';
import { Client } from '../src/client/rest.js';
import { startKubelet, type Kubelet } from '../src/kubelet/kubelet.js';
import { MemoryStore } from '../src/store/memory.js';
import { createTestNode, curlIn, eventually, makePod, TEST_CIDR, type TestNode } from './kubelet-helpers.js';

const isRoot = process.getuid?.() === 0;

describe('kubelet with the API server', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  let node: TestNode;
  let api: ApiServer;
  let kubelet: Kubelet | undefined;
  let client: Client;
  let apiSock: string;
  before(async () => {
    process.env.SVCPLANE_QUIET_INFORMERS = '1';
    node = await createTestNode('apis');
    apiSock = join(node.dataDir, 'apiserver.sock');
    api = await startApiServer({ dataDir: node.dataDir, store: new MemoryStore(), host: '127.0.0.1', port: 0, socketPath: apiSock });
    client = new Client({ server: 'http://localhost', socketPath: apiSock });
    kubelet = await startKubelet({
      client, nodeName: 'node-a', nodeIP: '172.18.0.9', podCIDR: TEST_CIDR, dataDir: node.dataDir, clusterName: node.cluster,
      socket: join(node.dataDir, 'kubelet', 'node-a.sock'), nodeNetns: node.netns,
    });
  });
  after(async () => {
    await kubelet?.stop({ killPods: true }).catch(() => undefined);
    await api?.close().catch(() => undefined);
    client?.close();
    await node?.cleanup();
  });

  it('runs a bound pod, serves its logs and exec through the API, deletes it gracefully', { timeout: 90000 }, async () => {
    const n = await client.get<any>(res('nodes'), undefined, 'node-a');
    assert.equal(n.status.conditions.find((c: any) => c.type === 'Ready').status, 'True');
    assert.equal((await client.get<any>(res('leases'), 'kube-node-lease', 'node-a')).spec.holderIdentity, 'node-a');
    const pod = makePod('boot', [{ name: 'app', image: 'jocatalin/kubernetes-bootcamp' }]);
    delete (pod.metadata as { uid?: string }).uid;
    await client.create(res('pods'), 'default', pod);
    const st = await eventually(async () => {
      const p = await client.get<Pod>(res('pods'), 'default', 'boot');
      return p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
    }, 30000, 'pod Ready');
    const ip = st.status!.podIP!;
    assert.equal(await eventually(() => { const r = curlIn(node.netns, `http://${ip}:8080/`); return r.code === 0 ? r.out : undefined; }, 20000), 'Hello Kubernetes bootcamp! | Running on: boot | v=1\n');
    const logs = await eventually(async () => {
      const r = await client.request('GET', '/api/v1/namespaces/default/pods/boot/log');
      return r.status === 200 && r.body.toString().includes('Total Requests: 1') ? r.body.toString() : undefined;
    }, 10000, 'logs through the API');
    assert.match(logs, /Kubernetes Bootcamp App Started At/);
    // exec through the API server's pass-through
    const out = await new Promise<{ stdout: string; status: any }>((resolve, reject) => {
      const ws = new WebSocket(`ws+unix://${apiSock}:/api/v1/namespaces/default/pods/boot/exec?command=hostname&stdout=true&stderr=true`, ['v5.channel.k8s.io']);
      let stdout = ''; let status: any;
      ws.on('message', (m: Buffer) => { if (m[0] === 1) stdout += m.subarray(1).toString(); if (m[0] === 3) status = JSON.parse(m.subarray(1).toString()); });
      ws.on('close', () => resolve({ stdout, status }));
      ws.on('error', reject);
    });
    assert.equal(out.stdout, 'boot\n');
    assert.equal(out.status.status, 'Success');
    const uid = st.metadata!.uid!;
    const netns = `svp-${node.cluster}-p-${uid.replace(/-/g, '').slice(0, 8)}`;
    assert.ok(existsSync(`/run/netns/${netns}`));
    await client.delete(res('pods'), 'default', 'boot');
    await eventually(async () => { try { await client.get(res('pods'), 'default', 'boot'); return undefined; } catch (e) { return (e as { code?: number }).code === 404 || undefined; } }, 40000, 'pod gone');
    await eventually(() => !existsSync(`/run/netns/${netns}`) || undefined, 5000, 'netns removed');
  });
});
