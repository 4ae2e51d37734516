/**
 * `svcplane kubeconfig`: prints the cluster's kubeconfig path, and with --merge adds the
 * cluster's context to $KUBECONFIG (or ~/.kube/config) the way kind does — other contexts kept,
 * the new one current, a second merge replacing rather than duplicating — so plain `kubectl`
 * reaches the cluster. The API server runs standalone on loopback.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from './lib/harness.js';
import { freePortBase } from '../src/store/etcd-cluster.js';

const env = { ...process.env, SVCPLANE_FROM_SOURCE: '1' };

describe('svcplane kubeconfig', { timeout: 120_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-kcfg-'));
  const home = mkdtempSync(join(tmpdir(), 'svp-kcfg-home-'));
  const target = join(home, 'config');
  let server: ChildProcess | undefined;
  const run = (args: string[]) => {
    const r = spawnSync(join(ROOT, 'bin', 'svcplane'), args, { encoding: 'utf8', env: { ...env, KUBECONFIG: target }, timeout: 30_000 });
    return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
  };
  const kubectl = (args: string[]) => spawnSync('kubectl', ['--cache-dir', join(home, 'cache'), ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: target }, timeout: 30_000 });

  before(async () => {
    const port = await freePortBase(1, 18_000, 19_000);
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify({
      name: 'kc', dataDir: dir, workers: 2, proxyMode: 'nftables', scheduler: 'random', store: 'sqlite', apiservers: 1,
      apiserverPort: port, lbPool: '172.18.255.200-172.18.255.250', createdAt: new Date().toISOString(),
    }));
    server = spawn(join(ROOT, 'bin', 'svcplane'), ['apiserver', '--data-dir', dir, '--secure-port', String(port)], { stdio: 'ignore', env });
    for (let i = 0; i < 150; i++) {
      if (spawnSync('curl', ['-sk', `https://127.0.0.1:${port}/readyz`], { encoding: 'utf8' }).stdout === 'ok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('API server did not start');
  });
  after(() => {
    server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    rmSync(home, { recursive: true, force: true });
  });

  it('prints the kubeconfig path', () => {
    const r = run(['kubeconfig', '--name', 'kc', '--data-dir', dir]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out.trim(), join(dir, 'kubeconfig'));
  });

  it('--merge keeps other contexts, makes the cluster current, and kubectl reaches it', () => {
    writeFileSync(target, [
      'apiVersion: v1', 'kind: Config', 'current-context: other',
      'clusters:', '- name: other', '  cluster:', '    server: https://192.0.2.1:6443',
      'users:', '- name: other', '  user:', '    token: abc',
      'contexts:', '- name: other', '  context:', '    cluster: other', '    user: other', '',
    ].join('\n'));
    const r = run(['kubeconfig', '--name', 'kc', '--data-dir', dir, '--merge']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`merged context "svcplane-kc" into ${target.replace(/[/.]/g, '\\$&')}`));
    const cfg = parse(readFileSync(target, 'utf8'));
    assert.equal(cfg['current-context'], 'svcplane-kc');
    assert.deepEqual(cfg.contexts.map((c: any) => c.name).sort(), ['other', 'svcplane-kc']);
    const ns = kubectl(['get', 'ns', 'default', '-o', 'jsonpath={.metadata.name}']);
    assert.equal(ns.status, 0, ns.stderr);
    assert.equal(ns.stdout, 'default');
    // Merging again replaces the entries instead of adding copies.
    assert.equal(run(['kubeconfig', '--name', 'kc', '--data-dir', dir, '--merge']).code, 0);
    const again = parse(readFileSync(target, 'utf8'));
    assert.equal(again.clusters.filter((c: any) => c.name === 'svcplane-kc').length, 1);
    assert.equal(again.users.filter((c: any) => c.name === 'svcplane-kc').length, 1);
    assert.equal(kubectl(['config', 'current-context']).stdout.trim(), 'svcplane-kc');
  });

  it('an unknown cluster is one clear line', () => {
    const r = run(['kubeconfig', '--name', 'nosuch', '--data-dir', join(home, 'nosuch')]);
    assert.notEqual(r.code, 0);
    assert.match(r.err, /cluster "nosuch" not found \(no .*cluster\.json\); create it with: svcplane up --name nosuch/);
  });
});
