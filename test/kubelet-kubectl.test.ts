/**
 * Stock kubectl 1.32 against the node agent, through an in-memory API that passes
 * pods/<p>/exec|portforward|log to the agent's socket as svcplane's API server does:
 * `kubectl exec` exit codes and stdin (the nginx page edit), `kubectl logs`, `kubectl port-forward`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Client } from '../src/client/rest.js';
import { startKubelet, type Kubelet } from '../src/kubelet/kubelet.js';
import { haveCommand, run } from '../src/net/exec.js';
import { startFakeApi, type FakeApi } from './kubelet-fakeapi.js';
import { createTestNode, curlIn, eventually, makePod, TEST_CIDR, type TestNode } from './kubelet-helpers.js';

const isRoot = process.getuid?.() === 0;

describe('kubectl against the node agent', { skip: (!isRoot && 'needs root') || (!haveCommand('kubectl') && 'needs kubectl'), concurrency: false }, () => {
  let node: TestNode;
  let api: FakeApi & { port?: number };
  let kubelet: Kubelet | undefined;
  let kubeconfig: string;
  let cacheDir: string;
  let podIP: string;
  // Asynchronous: the API and the node agent run in this process and must keep answering.
  const kubectl = async (args: string[], input?: string) => {
    const r = await run(['kubectl', '--kubeconfig', kubeconfig, '--cache-dir', cacheDir, ...args], { input, allowFail: true, timeoutMs: 20000 });
    return { code: r.code, out: r.stdout, err: r.stderr };
  };
  before(async () => {
    process.env.SVCPLANE_QUIET_INFORMERS = '1';
    node = await createTestNode('kctl');
    const sock = join(node.dataDir, 'kubelet', 'node-a.sock');
    api = await startFakeApi(join(node.dataDir, 'api.sock'), { kubeletSocket: () => sock, tcp: true });
    kubeconfig = join(node.dataDir, 'kubeconfig');
    cacheDir = mkdtempSync(join(tmpdir(), 'svp-kctl-cache-'));
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters: [{name: t, cluster: {server: "http://127.0.0.1:${api.port}"}}]\nusers: [{name: t, user: {}}]\ncontexts: [{name: t, context: {cluster: t, user: t, namespace: default}}]\ncurrent-context: t\n`);
    kubelet = await startKubelet({
      client: new Client({ server: 'http://localhost', socketPath: api.socket }),
      nodeName: 'node-a', nodeIP: '172.18.0.9', podCIDR: TEST_CIDR, dataDir: node.dataDir, clusterName: node.cluster, socket: sock, nodeNetns: node.netns,
    });
    api.put('pods', 'default', makePod('web', [{ name: 'nginx', image: 'nginx:1.27' }]));
    podIP = await eventually(() => api.get('pods', 'default', 'web')?.status?.podIP, 15000, 'pod IP');
    await eventually(() => curlIn(node.netns, `http://${podIP}/`).code === 0 || undefined, 20000, 'nginx up');
  });
  after(async () => {
    await kubelet?.stop({ killPods: true }).catch(() => undefined);
    await api?.close();
    await node?.cleanup();
  });

  it('kubectl exec: exit code, stdin edits this pod\'s page', { timeout: 60000 }, async () => {
    const fail = await kubectl(['exec', 'web', '--', 'sh', '-c', 'echo to-stderr >&2; exit 3']);
    assert.equal(fail.code, 3, fail.err);
    assert.match(fail.err, /to-stderr/);
    const edit = await kubectl(['exec', '-i', 'web', '--', '/bin/bash'], 'echo "k8s-nodeXX" > /usr/share/nginx/html/index.html\nexit\n');
    assert.equal(edit.code, 0, edit.err);
    assert.equal(curlIn(node.netns, `http://${podIP}/`).out, 'k8s-nodeXX\n');
    assert.equal((await kubectl(['exec', 'web', '--', 'hostname'])).out, 'web\n');
  });

  it('kubectl logs shows the access log', { timeout: 30000 }, async () => {
    const r = await kubectl(['logs', 'web', '--tail', '1']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /"GET \/ HTTP\/1\.1" 200/);
  });

  it('kubectl port-forward reaches the pod', { timeout: 60000 }, async () => {
    const pf = spawn('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cacheDir, 'port-forward', 'pod/web', ':80'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    pf.stderr.on('data', (d) => { err += d; });
    try {
      const port = await new Promise<string>((resolve, reject) => {
        let out = '';
        const t = setTimeout(() => reject(new Error(`no forwarding line: ${out} ${err}`)), 20000);
        pf.stdout.on('data', (d) => { out += d; const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 80/.exec(out); if (m) { clearTimeout(t); resolve(m[1]!); } });
      });
      for (let i = 0; i < 2; i++) {
        const r = await run(['curl', '-s', '-m', '5', `http://127.0.0.1:${port}/`], { allowFail: true });
        assert.equal(r.stdout, 'k8s-nodeXX\n', `curl through port-forward: ${r.stderr} ${err}`);
      }
    } finally {
      pf.kill('SIGKILL');
    }
  });
});
