import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster, findEtcd, freePortBase } from './etcd-cluster.js';
import { EtcdStore, createEtcdStore } from './etcd.js';
import { runStoreConformance } from './conformance.js';
import { StoreError, type StoreEvent } from './types.js';

const etcdBin = findEtcd();
if (!etcdBin) {
  describe('etcd store', () => {
    it('skipped: the etcd binary is not installed (apt-get install -y etcd-server)', { skip: 'etcd binary not found on PATH' }, () => {});
  });
} else {
  const dir = mkdtempSync(join(tmpdir(), 'svp-etcd-'));
  let cluster: EtcdCluster | undefined;
  const started = (async () => {
    cluster = new EtcdCluster({ dataDir: dir, basePort: await freePortBase(2), members: 1, name: `conf-${process.pid}` });
    await cluster.start();
    return cluster;
  })();
  after(async () => { await cluster?.stop(); rmSync(dir, { recursive: true, force: true }); });

  runStoreConformance('etcd', async () => new EtcdStore({ servers: (await started).endpoints, compactIntervalMs: 0 }));

  describe('etcd store: availability', () => {
    it('unreachable at start: one line naming the URL and what was tried', async () => {
      const port = await freePortBase(1);
      const t0 = Date.now();
      await assert.rejects(createEtcdStore({ etcdServers: [`http://127.0.0.1:${port}`] }),
        (e: Error) => e.message.startsWith(`etcd unreachable at http://127.0.0.1:${port} (tried for 5s): `) && !e.message.includes('\n'));
      assert.ok(Date.now() - t0 < 15_000);
    });

    it('etcd lost while running: calls fail as Unavailable, then recover; a watch resumes without missing events', async () => {
      const c = await started;
      const s = await createEtcdStore({ etcdServers: c.endpoints, compactIntervalMs: 0 });
      try {
        const from = await s.currentRevision();
        const got: StoreEvent[] = [];
        const errors: Error[] = [];
        const w = await s.watch('/avail/', from, (ev) => got.push(ev), (e) => errors.push(e));
        await s.create('/avail/before', '1');
        await c.killMember(0);
        await assert.rejects(s.create('/avail/during', 'x'), (e) => e instanceof StoreError && e.code === 'Unavailable' && /etcd unavailable at http:\/\/127\.0\.0\.1:\d+/.test(e.message));
        // Long enough for the watch to fail a few reconnects while etcd is down.
        await new Promise((x) => setTimeout(x, 1500));
        await c.startMember(0);
        let r = 0;
        for (let i = 0; i < 100 && !r; i++) {
          try { r = await s.create('/avail/after', '2'); } catch (e) { assert.equal((e as StoreError).code, 'Unavailable'); await new Promise((x) => setTimeout(x, 100)); }
        }
        assert.ok(r > 0, 'writes work again after etcd is back');
        await s.update('/avail/after', '3', r);
        for (let i = 0; i < 100 && got.length < 3; i++) await new Promise((x) => setTimeout(x, 50));
        w.stop();
        assert.deepEqual(got.map((e) => [e.key, e.value]), [['/avail/before', '1'], ['/avail/after', '2'], ['/avail/after', '3']]);
        assert.deepEqual(errors, []);
      } finally {
        await s.close();
      }
    });
  });
}
