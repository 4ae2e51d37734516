/**
 * `svcplane demo` as a user runs it: non-interactive, with a time limit, output checked for
 * the key lines of the seed walkthrough.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, isRoot } from './lib/harness.js';

test('svcplane demo walks the seed notes and tears the cluster down', { skip: !isRoot() && 'needs root', timeout: 600_000 }, async (t) => {
  const name = `demo${process.pid % 10000}`;
  const dataDir = mkdtempSync(join(tmpdir(), 'svp-demo-'));
  const cli = join(ROOT, 'bin', 'svcplane');
  t.after(() => {
    spawnSync(cli, ['down', '--name', name, '--data-dir', dataDir, '--purge'], { stdio: 'ignore' });
    rmSync(dataDir, { recursive: true, force: true });
  });
  const out = await new Promise<string>((resolve, reject) => {
    const child = spawn(cli, ['demo', '--name', name, '--data-dir', dataDir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    child.stdout.on('data', (d) => { text += d; });
    child.stderr.on('data', (d) => { text += d; });
    const timer = setTimeout(() => { child.kill('SIGTERM'); reject(new Error(`demo did not finish in 8 minutes:\n${text.slice(-3000)}`)); }, 480_000);
    child.on('exit', (code) => { clearTimeout(timer); if (code === 0) resolve(text); else reject(new Error(`demo exited ${code}:\n${text.slice(-3000)}`)); });
  });
  assert.match(out, /all 3 nodes Ready/);
  assert.match(out, /deployment "myapp" successfully rolled out/);
  assert.match(out, /^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$/m);
  assert.match(out, /^myapp\s+ClusterIP\s+10\.\d+\.\d+\.\d+\s+<none>\s+38080\/TCP\s+\S+\s+app=myapp$/m);
  assert.match(out, /^Endpoints:\s+10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080,10\.244\.\d+\.\d+:8080$/m);
  const replicas = new Set([...out.matchAll(/Hello Kubernetes bootcamp! \| Running on: (myapp-\S+) \| v=1/g)].map((m) => m[1]));
  assert.ok(replicas.size >= 3, `requests reached all three replicas: ${[...replicas]}`);
  assert.ok((out.match(/<h1>Welcome to nginx!<\/h1>/g) ?? []).length >= 3, 'NodePort answered on every node');
  assert.match(out, /k8s-nodeXX/);
  assert.match(out, /^frontend-service\s+LoadBalancer\s+\S+\s+172\.18\.255\.\d+\s+80:\d+\/TCP/m);
  assert.match(out, /ErrImagePull|ImagePullBackOff/);
  assert.match(out, /Name:\s+stateful-nginx-0\.svc-nginx\.dev\.svc\.cluster\.local\s+Address:\s+10\.244\.\d+\.\d+/);
  assert.match(out, /canonical name = my\.database\.example\.com/);
  assert.match(out, /<h1>Example Domain<\/h1>/);
  assert.match(out, /Hello from the outside world at 192\.0\.2\.42:9376/);
  assert.match(out, /export KUBECONFIG=/);
  assert.match(out, new RegExp(`Deleted cluster "${name}"`));
});
