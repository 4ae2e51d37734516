/**
 * What a user sees through stock kubectl once the controllers and scheduler run: the seed
 * notes' myapp Deployment + Service → rollout status finishes, READY 3/3, Endpoints with
 * three ip:port, describe svc's Endpoints line, EndpointSlices.
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Client } from '../src/client/rest.js';
import { startApiServer } from '../src/apiserver/server.js';
import { MemoryStore } from '../src/store/memory.js';
import { startControllerManager, type ControllerManager } from '../src/controllers/manager.js';
import { startScheduler } from '../src/scheduler/index.js';
import { FakeNodeAgent } from '../src/controllers/testing/nodeagent.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';
const EXAMPLES = resolve(import.meta.dirname, '..', 'examples');

let dataDir: string;
let srv: { close(): Promise<void> } | undefined;
let client: Client;
let cm: ControllerManager | undefined;
let sched: { stop(): Promise<void> } | undefined;
let agent: FakeNodeAgent | undefined;
let cacheDir: string;

/** Asynchronous: the API server runs in this process and must keep serving while kubectl waits. */
function kubectl(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  return new Promise((done) => {
    execFile('kubectl', ['--kubeconfig', join(dataDir, 'kubeconfig'), '--cache-dir', cacheDir, ...args], { encoding: 'utf8', timeout: 60_000 },
      (e, out, err) => done({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err }));
  });
}

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'svp-ctlk-'));
  cacheDir = join(dataDir, 'kcache');
  const s = await startApiServer({ dataDir, store: new MemoryStore() as any, port: 0, host: '127.0.0.1' });
  srv = s;
  client = new Client({ server: 'http://localhost', socketPath: join(dataDir, 'apiserver.sock') });
  agent = new FakeNodeAgent(client, ['svcplane-control-plane', 'svcplane-worker', 'svcplane-worker2']);
  await agent.start();
  cm = await startControllerManager(client, { leaderElect: false, port: 0 });
  sched = await startScheduler(client, { leaderElect: false, port: 0 });
});

after(async () => {
  await cm?.stop();
  await sched?.stop();
  agent?.stop();
  client?.close();
  await srv?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test('kubectl: rollout status, get deploy -o wide, get endpoints, describe svc, get endpointslices', { skip: spawnSync('kubectl', ['version', '--client']).status !== 0 && 'kubectl not installed' }, async () => {
  let r = await kubectl('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'), '-f', join(EXAMPLES, 'myapp-service.yaml'));
  assert.equal(r.code, 0, r.err);
  r = await kubectl('rollout', 'status', 'deployment/myapp', '--timeout=30s');
  assert.equal(r.code, 0, r.err + r.out);
  assert.match(r.out, /deployment "myapp" successfully rolled out/);
  r = await kubectl('get', 'deploy', 'myapp', '-o', 'wide');
  assert.match(r.out, /myapp\s+3\/3\s+3\s+3\s+/, r.out + r.err);
  // Endpoints: three ip:8080
  let ep = '';
  for (let i = 0; i < 50; i++) {
    ep = (await kubectl('get', 'endpoints', 'myapp')).out;
    if ((ep.match(/10\.244\.\d+\.\d+:8080/g) ?? []).length === 3) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.equal((ep.match(/10\.244\.\d+\.\d+:8080/g) ?? []).length, 3, ep);
  r = await kubectl('describe', 'svc', 'myapp');
  assert.match(r.out, /Endpoints:\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080/, r.out + r.err);
  r = await kubectl('get', 'endpointslices', '-l', 'kubernetes.io/service-name=myapp');
  assert.match(r.out, /myapp-[a-z0-9]{5}\s+IPv4\s+8080\s+10\.244/, r.out + r.err);
  r = await kubectl('rollout', 'history', 'deployment/myapp');
  assert.match(r.out, /^1\s/m, r.out + r.err);
  r = await kubectl('describe', 'deploy', 'myapp');
  assert.match(r.out, /ScalingReplicaSet\s+.*Scaled up replica set myapp-[bcdfghjklmnpqrstvwxz2456789]+ from 0 to 3/, r.out);
});

test('kubectl: set image, rollout undo, scale and restart all finish their rollouts', async () => {
  const ok = async (...args: string[]) => { const r = await kubectl(...args); assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}${r.out}`); return r.out; };
  await ok('set', 'image', 'deployment/myapp', 'myapp=jocatalin/kubernetes-bootcamp:v2');
  await ok('rollout', 'status', 'deployment/myapp', '--timeout=30s');
  assert.match(await ok('get', 'deploy', 'myapp', '-o', 'wide'), /myapp\s+3\/3\s+3\s+3\s+.*kubernetes-bootcamp:v2/);
  await ok('rollout', 'undo', 'deployment/myapp');
  await ok('rollout', 'status', 'deployment/myapp', '--timeout=30s');
  assert.match(await ok('get', 'deploy', 'myapp', '-o', 'wide'), /kubernetes-bootcamp:v1/);
  const hist = await ok('rollout', 'history', 'deployment/myapp');
  assert.match(hist, /^2\s/m); assert.match(hist, /^3\s/m);
  assert.equal((await ok('get', 'rs', '-l', 'app=myapp', '-o', 'name')).trim().split('\n').length, 2, 'undo reuses the first ReplicaSet');
  await ok('scale', 'deployment/myapp', '--replicas=5');
  await ok('rollout', 'status', 'deployment/myapp', '--timeout=30s');
  assert.match(await ok('get', 'deploy', 'myapp'), /myapp\s+5\/5/);
  await ok('rollout', 'restart', 'deployment/myapp');
  await ok('rollout', 'status', 'deployment/myapp', '--timeout=30s');
  assert.equal((await ok('get', 'rs', '-l', 'app=myapp', '-o', 'name')).trim().split('\n').length, 3);
});
