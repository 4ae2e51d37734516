/**
 * The API server as stock kubectl and @kubernetes/client-node use it, on the SQLite store, in a
 * separate process (so kill -9 is real). Runs without root: loopback only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as k8s from '@kubernetes/client-node';
import { ROOT, EXAMPLES } from './lib/harness.js';

const PORT = 17000 + (process.pid % 1000);

describe('API server with stock kubectl', { timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-api-'));
  const cache = mkdtempSync(join(tmpdir(), 'svp-api-kc-'));
  let server: ChildProcess | undefined;
  const kubeconfig = join(dir, 'kubeconfig');
  const kubectl = (args: string[], input?: string, env: NodeJS.ProcessEnv = {}) => {
    const r = spawnSync('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cache, ...args], { encoding: 'utf8', input, env: { ...process.env, ...env }, timeout: 30_000 });
    return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
  };
  const k = (...args: string[]) => { const r = kubectl(args); assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`); return r.out; };
  const startServer = async () => {
    // From the sources (not a possibly stale dist/ build): this tests the code in the tree.
    server = spawn(join(ROOT, 'bin', 'svcplane'), ['apiserver', '--data-dir', dir, '--store', 'sqlite', '--secure-port', String(PORT)], { stdio: 'ignore', env: { ...process.env, SVCPLANE_FROM_SOURCE: '1' } });
    for (let i = 0; i < 100; i++) {
      const r = spawnSync('curl', ['-sk', `https://127.0.0.1:${PORT}/healthz`], { encoding: 'utf8' });
      if (r.stdout === 'ok') return;
      await new Promise((res) => setTimeout(res, 100));
    }
    throw new Error('API server did not start');
  };
  before(startServer);
  after(() => { server?.kill('SIGKILL'); rmSync(dir, { recursive: true, force: true }); rmSync(cache, { recursive: true, force: true }); });

  it('reports v1.32 and serves the system namespaces and Service kubernetes', () => {
    assert.match(k('version'), /Server Version: v1\.32\./);
    assert.deepEqual(k('get', 'ns', '-o', 'jsonpath={.items[*].metadata.name}').split(' ').sort(), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    assert.match(k('get', 'svc', 'kubernetes'), /^kubernetes\s+ClusterIP\s+10\.96\.0\.1\s+<none>\s+443\/TCP/m);
  });

  it('applies every example manifest; get, describe and output formats show the notes\' columns', () => {
    const ex = (f: string) => join(EXAMPLES, f);
    const base = ['dev-namespace.yaml', 'prod-namespace.yaml', 'myapp-deployment.yaml', 'myapp-service.yaml', 'stateful-nginx.yaml', 'nginx-service-clusterip.yaml',
      'frontend-deployment.yaml', 'backend-deployment.yaml', 'frontend-service.yaml', 'backend-service.yaml', 'nginx-service-deployment.yaml',
      'my-service-externalname.yaml', 'variants-example-externalname.yaml', 'variants-myapp-loadbalancer.yaml', 'variants-myapp-session-affinity.yaml',
      'variants-nginx-app-local.yaml', 'toolbox.yaml'];
    for (const f of base) assert.doesNotMatch(k('apply', '-f', ex(f)), /unchanged/, f);
    // Alternatives that share a name: each applied, checked, then removed.
    for (const [f, ns, name] of [['svc-nginx-headless.yaml', 'dev', 'svc-nginx'], ['svc-nginx-nodeport.yaml', 'dev', 'svc-nginx'], ['svc-nginx-externalname.yaml', 'dev', 'svc-nginx'],
      ['my-service-without-selector.yaml', 'default', 'my-service'], ['my-service-selector.yaml', 'default', 'my-service']] as const) {
      assert.match(k('apply', '-f', ex(f)), / created/, f);
      k('delete', 'svc', '-n', ns, name);
    }
    const tab = kubectl(['apply', '-f', ex('svc-nginx-nodeport-as-in-notes.yaml')]);
    assert.notEqual(tab.code, 0);
    assert.match(tab.err, /yaml: line \d+: found (a tab character|character that cannot start any token)/);

    const cols = (line: string) => line.trim().split(/\s{2,}/);
    const [svcHdr, ...svcRows] = k('get', 'svc', '-A', '-o', 'wide').trim().split('\n');
    assert.deepEqual(cols(svcHdr!), ['NAMESPACE', 'NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
    const row = (name: string) => cols(svcRows.find((l) => cols(l)[1] === name)!);
    assert.deepEqual([row('myapp')[2], row('myapp')[5], row('myapp')[7]], ['ClusterIP', '38080/TCP', 'app=myapp']);
    assert.deepEqual([row('nginx-app')[2], row('nginx-app')[5]], ['NodePort', '8080:32380/TCP']);
    assert.deepEqual([row('my-service')[2], row('my-service')[4], row('my-service')[3]], ['ExternalName', 'my.database.example.com', '<none>']);
    assert.equal(row('myapp-lb')[2], 'LoadBalancer');
    assert.deepEqual(cols(k('get', 'deploy', 'myapp', '-o', 'wide').split('\n')[0]!), ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
    assert.deepEqual(cols(k('get', 'sts', '-n', 'dev').split('\n')[0]!), ['NAME', 'READY', 'AGE']);
    assert.deepEqual(cols(k('get', 'pods', '-o', 'wide').split('\n')[0]!), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
    assert.match(k('get', 'all', '-n', 'dev'), /statefulset\.apps\/stateful-nginx/);
    const d = k('describe', 'svc', 'myapp');
    for (const re of [/^Name:\s+myapp$/m, /^Namespace:\s+default$/m, /^Selector:\s+app=myapp$/m, /^Type:\s+ClusterIP$/m, /^IP:\s+10\.\d+\.\d+\.\d+$/m, /^Port:\s+http\s+38080\/TCP$/m, /^TargetPort:\s+8080\/TCP$/m, /^Endpoints:/m]) assert.match(d, re);
    assert.match(k('get', 'svc', 'myapp', '-o', 'yaml'), /^  clusterIP: 10\./m);
    assert.equal(JSON.parse(k('get', 'svc', 'nginx-app', '-o', 'json')).spec.ports[0].nodePort, 32380);
    assert.equal(k('get', 'svc', 'myapp-sticky', '-o', 'jsonpath={.spec.sessionAffinityConfig.clientIP.timeoutSeconds}'), '600');
    assert.match(k('get', 'svc', 'nginx-app-local', '-o', 'jsonpath={.spec.externalTrafficPolicy}'), /^Local$/);
  });

  it('apply is idempotent, then a modified manifest is a strategic merge', () => {
    assert.match(k('apply', '-f', join(EXAMPLES, 'myapp-service.yaml')), /service\/myapp unchanged/);
    assert.match(k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml')), /deployment\.apps\/myapp unchanged/);
    const mod = spawnSync('sed', ['s/port: 38080/port: 38081/', join(EXAMPLES, 'myapp-service.yaml')], { encoding: 'utf8' }).stdout;
    assert.match(kubectl(['apply', '-f', '-'], mod).out, /service\/myapp configured/);
    assert.equal(k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.ports[*].port}'), '38081');
  });

  it('apply --server-side creates, is idempotent, and reports conflicts with another manager', () => {
    const cm = 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  a: "1"\n';
    assert.match(kubectl(['apply', '--server-side', '-f', '-'], cm).out, /configmap\/ssa serverside-applied/);
    assert.match(kubectl(['apply', '--server-side', '-f', '-'], cm).out, /configmap\/ssa serverside-applied/);
    const mf = JSON.parse(k('get', 'cm', 'ssa', '-o', 'json', '--show-managed-fields')).metadata.managedFields;
    assert.deepEqual(mf.map((m: any) => [m.manager, m.operation]), [['kubectl', 'Apply']]);
    const other = kubectl(['apply', '--server-side', '--field-manager', 'other', '-f', '-'], cm.replace('"1"', '"2"'));
    assert.notEqual(other.code, 0);
    assert.match(other.err, /Apply failed with 1 conflict: conflict with "kubectl": \.data\.a/);
    assert.match(kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager', 'other', '-f', '-'], cm.replace('"1"', '"2"')).out, /serverside-applied/);
    assert.equal(k('get', 'cm', 'ssa', '-o', 'jsonpath={.data.a}'), '2');
  });

  it('patch (strategic, merge, json), label, annotate, edit, scale', () => {
    k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'));
    k('patch', 'deploy', 'myapp', '-p', '{"spec":{"template":{"spec":{"containers":[{"name":"myapp","env":[{"name":"A","value":"1"}]}]}}}}');
    assert.equal(k('get', 'deploy', 'myapp', '-o', 'jsonpath={.spec.template.spec.containers[0].image}'), 'jocatalin/kubernetes-bootcamp:v1', 'SMP merged the container by name');
    k('patch', 'deploy', 'myapp', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"web"}}}');
    k('patch', 'deploy', 'myapp', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/replicas","value":2}]');
    k('label', 'deploy', 'myapp', 'team=a');
    k('annotate', 'deploy', 'myapp', 'note=hi');
    const editor = join(dir, 'editor.sh');
    writeFileSync(editor, '#!/bin/sh\nsed -i "s/note: hi/note: edited/" "$1"\n', { mode: 0o755 });
    assert.match(kubectl(['edit', 'deploy', 'myapp'], undefined, { KUBE_EDITOR: editor, EDITOR: editor }).out, /edited/);
    k('scale', 'deploy', 'myapp', '--replicas=4');
    const d = JSON.parse(k('get', 'deploy', 'myapp', '-o', 'json'));
    assert.equal(d.spec.replicas, 4);
    assert.equal(d.metadata.labels.tier, 'web');
    assert.equal(d.metadata.labels.team, 'a');
    assert.equal(d.metadata.annotations.note, 'edited');
    assert.equal(d.spec.template.spec.containers[0].env[0].value, '1');
    assert.ok(d.metadata.generation >= 3, 'spec changes bump generation');
  });

  it('imperative commands (protobuf bodies): create deployment/service/namespace/configmap, expose, run', () => {
    k('create', 'deployment', 'web', '--image=nginx', '--replicas=2');
    k('create', 'service', 'nodeport', 'web', '--tcp=8080:80', '--node-port=32390');
    k('expose', 'deployment', 'web', '--name=web-internal', '--port=80');
    k('run', 'tool', '--image=busybox', '--', 'sleep', '3600');
    k('create', 'service', 'clusterip', 'cip', '--tcp=80:8080');
    k('create', 'service', 'clusterip', 'headless', '--clusterip=None');
    k('create', 'service', 'loadbalancer', 'lb', '--tcp=80:8080');
    k('create', 'service', 'externalname', 'ext', '--external-name=example.com');
    k('create', 'namespace', 'imperative');
    k('create', 'configmap', 'lit', '--from-literal=a=1', '-n', 'imperative');
    assert.match(k('get', 'svc', 'web', '-o', 'wide'), /web\s+NodePort\s+\S+\s+<none>\s+8080:32390\/TCP\s+\S+\s+app=web/);
    assert.equal(k('get', 'pod', 'tool', '-o', 'jsonpath={.spec.containers[0].args}'), '["sleep","3600"]');
    assert.equal(k('get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.strategy.type}'), '2 nginx RollingUpdate');
    assert.equal(k('get', 'svc', 'web-internal', '-o', 'jsonpath={.spec.selector.app} {.spec.ports[0].port}'), 'web 80');
    assert.equal(k('get', 'svc', 'headless', '-o', 'jsonpath={.spec.clusterIP}'), 'None');
    assert.equal(k('get', 'svc', 'lb', '-o', 'jsonpath={.spec.type}'), 'LoadBalancer');
    assert.equal(k('get', 'svc', 'ext', '-o', 'jsonpath={.spec.externalName}'), 'example.com');
    assert.equal(k('get', 'cm', 'lit', '-n', 'imperative', '-o', 'jsonpath={.data.a}'), '1');
    // (ServiceAccount "default" of a new namespace is the controller manager's: serviceaccount/controller.test.ts.)
    k('create', 'serviceaccount', 'robot', '-n', 'imperative');
    assert.equal(k('get', 'sa', 'robot', '-n', 'imperative', '-o', 'name').trim(), 'serviceaccount/robot');
  });

  it('rejects bad input with kubectl\'s exact words and stores nothing', () => {
    const cases: [string, RegExp][] = [
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: np\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 80\n',
        /The Service "np" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 80: provided port is not in the valid range\. The range of valid ports is 30000-32767/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: dup\nspec:\n  type: NodePort\n  ports:\n  - port: 80\n    nodePort: 32390\n',
        /The Service "dup" is invalid: spec\.ports\[0\]\.nodePort: Invalid value: 32390: provided port is already allocated/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: hl\nspec:\n  type: NodePort\n  clusterIP: None\n  ports:\n  - port: 80\n',
        /spec\.clusterIPs\[0\]: Invalid value: "None": may not be set to 'None' for NodePort services/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: en\nspec:\n  type: ExternalName\n',
        /The Service "en" is invalid: spec\.externalName: Required value/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: dp\nspec:\n  ports:\n  - name: http\n    port: 80\n  - name: http\n    port: 81\n',
        /spec\.ports\[1\]\.name: Duplicate value: "http"/],
      ['apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: sel\nspec:\n  selector:\n    matchLabels:\n      app: a\n  template:\n    metadata:\n      labels:\n        app: b\n    spec:\n      containers:\n      - name: c\n        image: nginx\n',
        /spec\.template\.metadata\.labels: Invalid value: map\[string\]string\{"app":"b"\}: `selector` does not match template `labels`/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: ip\nspec:\n  clusterIP: 10.96.0.1\n  ports:\n  - port: 80\n',
        /spec\.clusterIPs: Invalid value: \[\]string\{"10\.96\.0\.1"\}: failed to allocate IP 10\.96\.0\.1: provided IP is already allocated/],
      ['apiVersion: v1\nkind: Service\nmetadata:\n  name: uf\nspec:\n  portz: 1\n  ports:\n  - port: 80\n',
        /unknown field "spec\.portz"/],
    ];
    for (const [yaml, want] of cases) {
      const r = kubectl(['apply', '-f', '-'], yaml);
      assert.notEqual(r.code, 0, yaml);
      assert.match(r.err, want);
    }
    assert.equal(kubectl(['get', 'svc', 'np', 'dup', 'hl', 'en', 'dp', 'ip', 'uf']).out, '');
    assert.match(kubectl(['get', 'svc', 'nope']).err, /Error from server \(NotFound\): services "nope" not found/);
    const old = k('get', 'svc', 'kubernetes', '-o', 'jsonpath={.metadata.resourceVersion}');
    const conflict = kubectl(['replace', '-f', '-'], `apiVersion: v1\nkind: Service\nmetadata:\n  name: kubernetes\n  resourceVersion: "${Number(old) - 1}"\nspec:\n  ports:\n  - name: https\n    port: 443\n    targetPort: 6443\n`);
    assert.match(conflict.err, /Operation cannot be fulfilled on services "kubernetes": the object has been modified/);
  });

  it('explain, get -w and delete with cascade flags', async () => {
    assert.match(k('explain', 'service.spec.ports'), /FIELD: ports <\[\]ServicePort>/);
    const w = spawn('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cache, 'get', 'svc', 'myapp', '-w', '-o', 'jsonpath={.metadata.labels.w}{"\\n"}']);
    let seen = '';
    w.stdout.on('data', (d) => { seen += d; });
    await new Promise((r) => setTimeout(r, 1500));
    k('label', 'svc', 'myapp', 'w=changed');
    for (let i = 0; i < 50 && !seen.includes('changed'); i++) await new Promise((r) => setTimeout(r, 100));
    w.kill();
    assert.match(seen, /changed/);
    for (const c of ['orphan', 'background', 'foreground']) {
      k('create', 'deployment', `d-${c}`, '--image=nginx');
      assert.match(k('delete', 'deploy', `d-${c}`, `--cascade=${c}`, '--wait=false'), /deleted/);
    }
  });

  it('@kubernetes/client-node: list, watch, create, patch', async () => {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(kubeconfig);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const list = await core.listNamespacedService({ namespace: 'default' });
    assert.ok(list.items.some((s) => s.metadata?.name === 'kubernetes'));
    const events: string[] = [];
    const watch = new k8s.Watch(kc);
    const req = await watch.watch('/api/v1/namespaces/default/configmaps', {}, (type, obj) => events.push(`${type} ${obj.metadata?.name}`), () => {});
    await core.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: 'from-client-node' }, data: { a: '1' } } });
    await core.patchNamespacedConfigMap({ namespace: 'default', name: 'from-client-node', body: { data: { a: '2' } } }, k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch));
    for (let i = 0; i < 50 && events.filter((e) => e.endsWith(' from-client-node')).length < 2; i++) await new Promise((r) => setTimeout(r, 100));
    req.abort();
    assert.deepEqual(events.filter((e) => e.endsWith(' from-client-node')).slice(0, 2), ['ADDED from-client-node', 'MODIFIED from-client-node']);
    const cm = await core.readNamespacedConfigMap({ namespace: 'default', name: 'from-client-node' });
    assert.equal(cm.data?.a, '2');
  });

  it('kill -9 and restart lose no acknowledged object or allocation', async () => {
    for (let i = 0; i < 20; i++) k('create', 'configmap', `cm-${i}`, `--from-literal=i=${i}`);
    const before = k('get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}');
    server!.kill('SIGKILL');
    await new Promise((r) => server!.once('exit', r));
    await startServer();
    assert.equal(k('get', 'configmaps', '-o', 'name').split('\n').filter((l) => l.startsWith('configmap/cm-')).length, 20);
    assert.equal(k('get', 'svc', 'web', '-o', 'jsonpath={.spec.clusterIP}'), before);
    const r = kubectl(['create', 'service', 'nodeport', 'again', '--tcp=80:80', '--node-port=32390']);
    assert.match(r.err, /provided port is already allocated/);
  });
});
