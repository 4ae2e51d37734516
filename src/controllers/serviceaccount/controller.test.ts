/**
 * The serviceaccount controller against svcplane's API server on the memory store: a namespace
 * made before the controller ran has no "default" ServiceAccount until the controller starts;
 * then every new namespace gets one, and a deleted "default" comes back with a new uid.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { res } from '../../api/registry.js';
import { Client } from '../../client/rest.js';
import { startApiServer, type ApiServer } from '../../apiserver/server.js';
import { MemoryStore } from '../../store/memory.js';
import { startControllerManager, type ControllerManager } from '../manager.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

let dir: string;
let api: ApiServer;
let client: Client;
let cm: ControllerManager | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'svp-sactl-'));
  const socketPath = join(dir, 'api.sock');
  api = await startApiServer({ dataDir: dir, store: new MemoryStore() as never, port: 0, host: '127.0.0.1', socketPath });
  client = new Client({ server: 'http://localhost', socketPath });
});

after(async () => {
  await cm?.stop();
  client?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

const sa = (ns: string) => client.get<{ metadata: { uid: string } }>(res('serviceaccounts'), ns, 'default').catch(() => undefined);

/** Poll until the condition holds (the controller acts asynchronously), at most 10 s. */
async function until<T>(what: string, f: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('default ServiceAccounts: existing and new namespaces get one, a deleted one comes back', async () => {
  await client.create(res('namespaces'), undefined, { metadata: { name: 'early' } });
  assert.equal(await sa('early'), undefined, 'the API server alone makes none for a new namespace');
  assert.ok(await sa('kube-system'), 'bootstrap made the system namespaces\' own');
  cm = await startControllerManager(client, { leaderElect: false, controllers: ['serviceaccount'], port: 0 });
  await until('default in early', () => sa('early'));
  await client.create(res('namespaces'), undefined, { metadata: { name: 'late' } });
  const first = await until('default in late', () => sa('late'));
  await client.delete(res('serviceaccounts'), 'late', 'default');
  const again = await until('default in late again', async () => { const s = await sa('late'); return s && s.metadata.uid !== first.metadata.uid ? s : undefined; });
  assert.notEqual(again.metadata.uid, first.metadata.uid);
});
