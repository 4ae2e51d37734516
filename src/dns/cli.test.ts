/**
 * `svcplane dns` as a process: flags, --kubeconfig to an API endpoint, dig, and SIGTERM (lame duck: /ready 503 while still answering, then exit 0).
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { service } from './testdata.js';

const run = promisify(execFile);
const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..', '..');

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

test(`svcplane dns process: kubeconfig, dig, SIGTERM lame duck`, async (t) => {
  try { await run('dig', ['-v']); } catch { return t.skip('dig not installed'); }
  const lists: Record<string, unknown[]> = {
    '/api/v1/namespaces': [{ metadata: { name: 'default', resourceVersion: '1' } }],
    '/api/v1/services': [service('default', 'myapp', '10.96.3.215', [{ name: 'http', port: 80 }])],
    '/apis/discovery.k8s.io/v1/endpointslices': [],
  };
  const api = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    res.setHeader('Content-Type', 'application/json');
    if (u.searchParams.get('watch')) { res.writeHead(200); res.flushHeaders(); return; }
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '5' }, items: lists[u.pathname] ?? [] }));
  });
  await new Promise<void>((r) => api.listen(0, '127.0.0.1', r));
  const dir = mkdtempSync(join(tmpdir(), `svcplane-dns-cli-${process.pid}-`));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\ncurrent-context: t\nclusters:\n- name: t\n  cluster: {server: "http://127.0.0.1:${(api.address() as any).port}"}\ncontexts:\n- name: t\n  context: {cluster: t, user: t}\nusers:\n- name: t\n  user: {}\n`);
  const port = await freePort();
  const ready = await freePort();
  const entry = `import { Command } from ${JSON.stringify(join(ROOT, 'node_modules/commander/esm.mjs'))}; import { register } from ${JSON.stringify(join(ROOT, 'src/dns/cli.ts'))}; const p = new Command('svcplane'); register(p); await p.parseAsync(process.argv);`;
  const entryFile = join(dir, 'entry.mts');
  writeFileSync(entryFile, entry);
  const child = spawn(process.execPath, ['--import', 'tsx', entryFile, 'dns', '--kubeconfig', kubeconfig,
    '--listen', `127.0.0.1:${port}`, '--health', '', '--metrics', '', '--ready', `127.0.0.1:${ready}`, '--upstream', '127.0.0.1:9', '--lameduck', '700'],
  { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  t.after(() => { if (child.exitCode === null) child.kill('SIGKILL'); api.closeAllConnections(); api.close(); rmSync(dir, { recursive: true, force: true }); });

  const status = async (): Promise<number> => { try { return (await fetch(`http://127.0.0.1:${ready}/ready`)).status; } catch { return 0; } };
  for (let i = 0; i < 150 && (await status()) !== 200; i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal(await status(), 200, stderr);
  const dig = async (): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', '+short', 'myapp.default.svc.cluster.local']).catch((e) => e)).stdout?.trim() ?? '';
  assert.equal(await dig(), '10.96.3.215');

  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 150));
  assert.equal(await status(), 503, 'lame duck: not ready');
  assert.equal(await dig(), '10.96.3.215', 'lame duck: still answering');
  assert.equal(await exited, 0, stderr);
});
