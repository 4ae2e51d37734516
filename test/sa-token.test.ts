/**
 * Service account tokens end to end: the API server in its own process on SQLite, the
 * controller manager making ServiceAccount "default" of a new namespace, stock kubectl
 * (`create sa`, `get sa`, `create token`, protobuf TokenRequests) and curl with the tokens on
 * the HTTPS port and the secure socket the in-cluster relay leads to. Loopback only, no root.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/harness.js';

const PORT = 18000 + (process.pid % 1000);

describe('service account tokens with kubectl and curl', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-satok-'));
  const cache = mkdtempSync(join(tmpdir(), 'svp-satok-kc-'));
  const procs: ChildProcess[] = [];
  const kubeconfig = join(dir, 'kubeconfig');
  const kubectl = (...args: string[]) => {
    const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cache, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
  };
  const k = (...args: string[]) => { const r = kubectl(...args); assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`); return r.out.trim(); };
  /** HTTP status of a GET with this bearer token, on the port or (socket) the secure unix socket. */
  const curl = (token: string, path: string, socket = false) => {
    const where = socket ? ['--unix-socket', join(dir, 'apiserver-secure.sock'), `https://localhost${path}`] : [`https://127.0.0.1:${PORT}${path}`];
    const r = spawnSync('curl', ['-sk', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', '-H', `Authorization: Bearer ${token}`, ...where], { encoding: 'utf8' });
    return Number(r.stdout);
  };
  const start = (args: string[]) => { const p = spawn(join(ROOT, 'bin', 'svcplane'), args, { stdio: 'ignore', env: { ...process.env, SVCPLANE_FROM_SOURCE: '1' } }); procs.push(p); return p; };
  async function until<T>(what: string, f: () => T | undefined, ms = 20_000): Promise<T> {
    const deadline = Date.now() + ms;
    for (;;) {
      const v = f();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  before(async () => {
    start(['apiserver', '--data-dir', dir, '--store', 'sqlite', '--secure-port', String(PORT)]);
    await until('the API server', () => spawnSync('curl', ['-sk', `https://127.0.0.1:${PORT}/readyz`], { encoding: 'utf8' }).stdout === 'ok');
  });
  after(() => {
    for (const p of procs) p.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  it('kubectl create token default: the token reads pods on the port and the secure socket; a changed one is 401', () => {
    const t = k('create', 'token', 'default');
    assert.equal(curl(t, '/api/v1/namespaces/default/pods'), 200);
    assert.equal(curl(t, '/api/v1/namespaces/default/pods', true), 200);
    const [h, p, s] = t.split('.') as [string, string, string];
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    assert.equal(claims.sub, 'system:serviceaccount:default:default');
    const other = Buffer.from(JSON.stringify({ ...claims, exp: claims.exp + 10 * 365 * 86400 })).toString('base64url');
    assert.equal(curl(`${h}.${other}.${s}`, '/api/v1/namespaces/default/pods'), 401, 'claims changed, signature kept');
    assert.equal(curl(`${h}.${p}.${s.slice(1)}`, '/api/v1/namespaces/default/pods', true), 401);
    const short = kubectl('create', 'token', 'default', '--duration=5m');
    assert.notEqual(short.code, 0);
    assert.match(short.err, /TokenRequest\.authentication\.k8s\.io "" is invalid: spec\.expirationSeconds: Invalid value: 300: may not specify a duration less than 10 minutes/);
  });

  it('kubectl create sa / get sa; a deleted ServiceAccount\'s token is 401', () => {
    k('create', 'sa', 'robot');
    assert.match(k('get', 'sa'), /^robot\s+0\s+\S+$/m);
    const t = k('create', 'token', 'robot', '--duration=10m');
    assert.equal(curl(t, '/api/v1/namespaces/default/pods'), 200);
    k('delete', 'sa', 'robot');
    assert.equal(curl(t, '/api/v1/namespaces/default/pods'), 401);
    assert.equal(curl(t, '/api/v1/namespaces/default/pods', true), 401);
  });

  it('a pod-bound token is 401 once the pod is deleted', () => {
    k('run', 'web', '--image=nginx');
    const t = k('create', 'token', 'default', '--bound-object-kind=Pod', '--bound-object-name=web');
    assert.equal(JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString())['kubernetes.io'].pod.name, 'web');
    assert.equal(curl(t, '/api/v1/namespaces/default/pods/web'), 200);
    k('delete', 'pod', 'web', '--wait=true');
    assert.equal(curl(t, '/api/v1/namespaces/default/pods'), 401);
  });

  it('the controller manager gives a new namespace its default ServiceAccount, whose token works', async () => {
    k('create', 'namespace', 'team');
    start(['controller-manager', '--kubeconfig', join(dir, 'kubeconfig-local'), '--leader-elect=false', '--controllers=serviceaccount', '--port=0']);
    await until('serviceaccount/default in team', () => kubectl('get', 'sa', 'default', '-n', 'team', '-o', 'name').out.trim() === 'serviceaccount/default');
    assert.equal(curl(k('create', 'token', 'default', '-n', 'team'), '/api/v1/namespaces/team/pods'), 200);
  });
});
