/**
 * Who may reach the API from inside the cluster: the Service `kubernetes` (10.96.0.1:443) and the
 * control-plane node's 172.18.0.2:6443 lead to the API server with the same authentication as
 * https://127.0.0.1:<port> on the host — 401 for anyone without the token or a client certificate,
 * from a pod and from the outside client host, for reads and writes alike; with the token,
 * kubectl from the client host works. (The load balancer of several API servers: etcd.test.ts.)
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { paths } from '../src/cluster/config.js';

const skip = !isRoot() && 'needs root (network namespaces)';

/** HTTP status of a curl run somewhere (the -w line after the body). */
function statusOf(out: string): number {
  return Number(out.slice(out.lastIndexOf('\n') + 1));
}

/** The body before that line, as JSON. */
function bodyOf(out: string): any {
  return JSON.parse(out.slice(0, out.lastIndexOf('\n')));
}

function checkAccess(c: () => TestCluster) {
  const token = () => readFileSync(join(paths(c().config.dataDir).pki, 'token'), 'utf8').trim();
  const curlArgs = (url: string, extra: string[] = []) => ['curl', '-sk', '-m', '10', '-w', '\n%{http_code}', ...extra, url];

  it('from the outside client host: 401 without credentials for reads and writes, 200 with the token, nothing created', async () => {
    const url = 'https://172.18.0.2:6443';
    // The relay starts once the API server answers; wait for its first answer.
    const anon = await c().eventually('an answer from 172.18.0.2:6443', () => { const r = c().exec('client', curlArgs(`${url}/api/v1/nodes`)); return statusOf(r.out) ? r : undefined; });
    assert.equal(statusOf(anon.out), 401, anon.out);
    assert.equal(bodyOf(anon.out).reason, 'Unauthorized');
    const write = c().exec('client', curlArgs(`${url}/api/v1/namespaces`, ['-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"intruder"}}']));
    assert.equal(statusOf(write.out), 401, write.out);
    const badToken = c().exec('client', curlArgs(`${url}/api/v1/secrets`, ['-H', `Authorization: Bearer ${token()}0`]));
    assert.equal(statusOf(badToken.out), 401);
    const ok = c().exec('client', curlArgs(`${url}/api/v1/nodes`, ['-H', `Authorization: Bearer ${token()}`]));
    assert.equal(statusOf(ok.out), 200);
    assert.equal(bodyOf(ok.out).kind, 'NodeList');
    assert.equal(c().kubectl(['get', 'ns', 'intruder']).code, 1, 'the anonymous POST created nothing');
  });

  it('kubectl on the client host with the token and the CA, through 172.18.0.2:6443', () => {
    const ca = join(paths(c().config.dataDir).pki, 'ca.crt');
    const args = ['kubectl', `--server=https://172.18.0.2:6443`, `--certificate-authority=${ca}`, `--cache-dir=${c().cacheDir}`];
    const ok = c().exec('client', [...args, `--token=${token()}`, 'get', 'nodes', '-o', 'name'], 60_000);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`node/${c().name}-control-plane`));
    const wrong = c().exec('client', [...args, `--token=${token()}0`, 'get', 'nodes'], 60_000);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.err, /You must be logged in to the server/);
  });
}

describe('API access from inside the cluster', { skip, timeout: 300_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ workers: 1 });
    c.k('apply', '-f', join(EXAMPLES, 'toolbox.yaml'));
    await c.podsReady('app=toolbox', 1);
    await c.podsReady('k8s-app=kube-dns', 2, 'kube-system');
  });
  after(async () => { await c?.destroy(); });

  it('from a pod, https://10.96.0.1 and https://kubernetes.default.svc are 401 without a token, 200 with it', async () => {
    const inPod = (extra: string[], url: string) => c.kubectl(['exec', 'toolbox', '--', 'curl', '-sk', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', ...extra, url]);
    const anon = await c.eventually('an answer from 10.96.0.1', () => { const r = inPod([], 'https://10.96.0.1/api/v1/nodes'); return r.out.trim() !== '000' && r.out.trim() ? r : undefined; });
    assert.equal(anon.out.trim(), '401');
    assert.equal(inPod([], 'https://kubernetes.default.svc/api/v1/namespaces/kube-system/secrets').out.trim(), '401');
    assert.equal(inPod(['-X', 'DELETE'], 'https://10.96.0.1/api/v1/namespaces/default/pods/toolbox').out.trim(), '401');
    assert.equal(c.k('get', 'pod', 'toolbox', '-o', 'jsonpath={.metadata.deletionTimestamp}'), '', 'the anonymous DELETE did nothing');
    const token = readFileSync(join(paths(c.config.dataDir).pki, 'token'), 'utf8').trim();
    assert.equal(inPod(['-H', `Authorization: Bearer ${token}`], 'https://10.96.0.1/api/v1/nodes').out.trim(), '200');
  });

  checkAccess(() => c);
});
