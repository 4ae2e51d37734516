/**
 * The root CA publisher against svcplane's API server on the memory store: every namespace,
 * existing and new, gets ConfigMap kube-root-ca.crt with the CA given; an edited one is put
 * right, a deleted one comes back.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { res } from '../../api/registry.js';
import type { ConfigMap } from '../../api/types.js';
import { Client } from '../../client/rest.js';
import { startApiServer, type ApiServer } from '../../apiserver/server.js';
import { MemoryStore } from '../../store/memory.js';
import { startControllerManager, type ControllerManager } from '../manager.js';
import { DESCRIPTION, ROOT_CA_CONFIGMAP } from './controller.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

const CA = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
let dir: string;
let api: ApiServer;
let client: Client;
let cm: ControllerManager | undefined;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'svp-rootca-'));
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

const get = (ns: string) => client.get<ConfigMap>(res('configmaps'), ns, ROOT_CA_CONFIGMAP).catch(() => undefined);

async function until<T>(what: string, f: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test('kube-root-ca.crt in every namespace, kept as published', async () => {
  await client.create(res('namespaces'), undefined, { metadata: { name: 'early' } });
  cm = await startControllerManager(client, { leaderElect: false, controllers: ['root-ca-cert-publisher'], port: 0, rootCA: CA });
  for (const ns of ['default', 'kube-system', 'early']) {
    const got = await until(`${ROOT_CA_CONFIGMAP} in ${ns}`, () => get(ns));
    assert.deepEqual(got.data, { 'ca.crt': CA });
    assert.equal(got.metadata?.annotations?.['kubernetes.io/description'], DESCRIPTION);
  }
  await client.create(res('namespaces'), undefined, { metadata: { name: 'late' } });
  await until('one in late', () => get('late'));
  const edited = (await get('late'))!;
  await client.update(res('configmaps'), 'late', { ...edited, data: { 'ca.crt': 'tampered' } } as ConfigMap & { metadata: object });
  await until('the CA back in late', async () => (await get('late'))?.data?.['ca.crt'] === CA);
  await client.delete(res('configmaps'), 'late', ROOT_CA_CONFIGMAP);
  await until('late\'s made again', async () => (await get('late'))?.data?.['ca.crt'] === CA);
});
