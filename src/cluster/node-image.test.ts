/**
 * Seeding a node's containerd root from the preloaded node root: written-once files are shared
 * (hard links), the databases containerd writes are the node's own, an existing root is kept.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { seedNodeRoot } from './node-image.js';

describe('node root seeding', () => {
  it('links blobs and layers, copies the two databases, leaves an existing root alone', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'svp-noderoot-'));
    try {
      const tpl = join(dir, 'template');
      const files: Record<string, string> = {
        'io.containerd.content.v1.content/blobs/sha256/abc': 'layer bytes',
        'io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/bin/sh': 'busybox',
        'io.containerd.metadata.v1.bolt/meta.db': 'meta',
        'io.containerd.snapshotter.v1.overlayfs/metadata.db': 'snapshots',
      };
      for (const [f, text] of Object.entries(files)) {
        mkdirSync(join(tpl, f, '..'), { recursive: true });
        writeFileSync(join(tpl, f), text);
      }
      const root = join(dir, 'node', 'root');
      assert.equal(await seedNodeRoot(tpl, root), true);
      for (const [f, text] of Object.entries(files)) assert.equal(readFileSync(join(root, f), 'utf8'), text, f);
      const same = (f: string) => statSync(join(tpl, f)).ino === statSync(join(root, f)).ino;
      assert.ok(same('io.containerd.content.v1.content/blobs/sha256/abc'), 'a blob is shared');
      assert.ok(same('io.containerd.snapshotter.v1.overlayfs/snapshots/1/fs/bin/sh'), 'an unpacked layer is shared');
      assert.ok(!same('io.containerd.metadata.v1.bolt/meta.db'), 'the metadata database is the node\'s own');
      assert.ok(!same('io.containerd.snapshotter.v1.overlayfs/metadata.db'), 'the snapshotter database is the node\'s own');
      // The node's writes stay its own.
      writeFileSync(join(root, 'io.containerd.metadata.v1.bolt/meta.db'), 'changed');
      assert.equal(readFileSync(join(tpl, 'io.containerd.metadata.v1.bolt/meta.db'), 'utf8'), 'meta');
      // A root that exists (a resumed cluster) is not seeded again.
      assert.equal(await seedNodeRoot(tpl, root), false);
      assert.equal(readFileSync(join(root, 'io.containerd.metadata.v1.bolt/meta.db'), 'utf8'), 'changed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
