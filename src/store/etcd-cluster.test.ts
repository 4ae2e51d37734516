import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EtcdCluster, findEtcd, freePortBase, memberStatus } from './etcd-cluster.js';
import { EtcdStore } from './etcd.js';
import { StoreError } from './types.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Retry a write while the cluster elects a new leader (Unavailable only). */
async function write<T>(fn: () => Promise<T>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    try { return await fn(); } catch (e) {
      if (!(e instanceof StoreError && e.code === 'Unavailable') || Date.now() > end) throw e;
      await sleep(100);
    }
  }
}

describe('etcd cluster of 3 members', { skip: findEtcd() ? false : 'etcd binary not found on PATH (apt-get install -y etcd-server)' }, () => {
  it('survives kill -9 of the leader; the member restarts and rejoins', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'svp-etcd3-'));
    const c = new EtcdCluster({ dataDir: dir, basePort: await freePortBase(6), name: `ha-${process.pid}` });
    let s: EtcdStore | undefined;
    t.after(async () => { await s?.close(); await c.stop(); rmSync(dir, { recursive: true, force: true }); });
    await c.start();
    s = new EtcdStore({ servers: c.endpoints, compactIntervalMs: 0 });

    let st = await memberStatus(c.endpoints);
    assert.deepEqual(st.map((m) => m.healthy), [true, true, true]);
    assert.equal(st.filter((m) => m.leader).length, 1, 'exactly one leader');
    assert.deepEqual(st.map((m) => m.name).sort(), c.members.map((m) => m.name).sort());
    for (let i = 0; i < 20; i++) await s.create(`/registry/ha/k${i}`, String(i));

    const leader = st.findIndex((m) => m.leader);
    await c.killMember(leader);
    const afterKill = [];
    for (let i = 20; i < 40; i++) afterKill.push(await write(() => s!.create(`/registry/ha/k${i}`, String(i))));
    assert.equal(afterKill.length, 20);
    st = await memberStatus(c.endpoints);
    assert.equal(st[leader]!.healthy, false);
    assert.ok(st[leader]!.error, 'the dead member is reported with an error');
    assert.equal(st.filter((m) => m.leader).length, 1, 'the two survivors elected a leader');
    assert.equal(await s.count('/registry/ha/'), 40);

    await c.startMember(leader);
    const want = await s.currentRevision();
    let rejoined = false;
    for (let i = 0; i < 100 && !rejoined; i++) {
      st = await memberStatus(c.endpoints);
      rejoined = st.every((m) => m.healthy) && (st[leader]!.revision ?? 0) >= want;
      if (!rejoined) await sleep(100);
    }
    assert.ok(rejoined, `the restarted member caught up to revision ${want}: ${JSON.stringify(st)}`);
    // Reads served by the restarted member alone see every write.
    const solo = new EtcdStore({ servers: [c.members[leader]!.clientURL], compactIntervalMs: 0 });
    try {
      assert.equal((await solo.list('/registry/ha/', { revision: want })).entries.length, 40);
    } finally {
      await solo.close();
    }
  });
});
