/**
 * Stock kubectl's imperative commands (which send their objects in Kubernetes' protobuf
 * encoding) against the API server in this process: for each command with many flags, what is
 * stored (read back as JSON) holds every field of what the same command prints with
 * `--dry-run=client -o json`. kubectl talks to the server through a recording proxy in this
 * test, which shows that each create was a protobuf body. Runs without root: loopback only.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { MemoryStore } from '../src/store/memory.js';
import { startApiServer, type ApiServer } from '../src/apiserver/server.js';

const PROTOBUF = 'application/vnd.kubernetes.protobuf';

interface Seen { method: string; path: string; contentType: string }

/** A plain-HTTP proxy for kubectl that forwards to the HTTPS server with the token and notes each request. */
function recordingProxy(target: URL, ca: string, token: string, seen: Seen[]): Promise<http.Server> {
  const proxy = http.createServer((req, resp) => {
    seen.push({ method: req.method ?? '', path: req.url ?? '', contentType: String(req.headers['content-type'] ?? '') });
    // PBK_DUMP=<dir> keeps each POST body (how the kubectl bodies in protobuf-fuzz.test.ts were captured).
    if (process.env.PBK_DUMP && req.method === 'POST') { const ch: Buffer[] = []; req.on('data', (c) => ch.push(c)); req.on('end', () => writeFileSync(`${process.env.PBK_DUMP}/${seen.length}.bin`, Buffer.concat(ch))); }
    const up = https.request({
      host: target.hostname, port: target.port, path: req.url, method: req.method, ca, servername: 'localhost', agent: false,
      headers: { ...req.headers, host: target.host, authorization: `Bearer ${token}` },
    }, (r) => { resp.writeHead(r.statusCode ?? 502, r.headers); r.pipe(resp); });
    up.on('error', (e) => { resp.writeHead(502); resp.end(String(e)); });
    req.pipe(up);
  });
  return new Promise((resolve) => proxy.listen(0, '127.0.0.1', () => resolve(proxy)));
}

/**
 * Is every field of `want` (kubectl's dry-run output) in `got` (what was stored), with the same
 * value? Server-set fields are skipped, and a few zero values kubectl writes that the server
 * defaults (each listed with the value it must have become).
 */
function missing(want: unknown, got: unknown, path: string, out: string[]): string[] {
  if (/^\.(status|metadata\.creationTimestamp)$|\.template\.metadata\.creationTimestamp$/.test(path)) return out;
  if (want === null) return out; // nil in Go: nothing was sent
  if (Array.isArray(want)) {
    // The server adds the default not-ready/unreachable tolerations after the ones given.
    const extra = path.endsWith('.spec.tolerations');
    if (!Array.isArray(got) || (extra ? got.length < want.length : got.length !== want.length)) { out.push(`${path}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`); return out; }
    want.forEach((w, i) => missing(w, got[i], `${path}[${i}]`, out));
    return out;
  }
  if (typeof want === 'object') {
    if (!got || typeof got !== 'object' || Array.isArray(got)) { out.push(`${path}: want an object, got ${JSON.stringify(got)}`); return out; }
    for (const [k, v] of Object.entries(want)) missing(v, (got as Record<string, unknown>)[k], `${path}.${k}`, out);
    return out;
  }
  if (want !== got) {
    // kubectl writes targetPort 0 when none was given; the server defaults it to the port.
    if (/\.ports\[\d+\]\.targetPort$/.test(path) && want === 0 && typeof got === 'number' && got > 0) return out;
    out.push(`${path}: want ${JSON.stringify(want)}, got ${JSON.stringify(got)}`);
  }
  return out;
}

describe('kubectl imperative commands: what is stored is what kubectl meant', { timeout: 240_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-pbk-'));
  const cache = mkdtempSync(join(tmpdir(), 'svp-pbk-kc-'));
  const store = new MemoryStore();
  const seen: Seen[] = [];
  let srv: ApiServer;
  let proxy: http.Server;
  const kubeconfig = join(dir, 'proxy.kubeconfig');
  const kubectl = (args: string[]): Promise<{ code: number; out: string; err: string }> => new Promise((resolve) => {
    execFile('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', cache, ...args], { timeout: 30_000, maxBuffer: 16 << 20 }, (e, out, err) => {
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, out, err });
    });
  });
  const k = async (...args: string[]) => { const r = await kubectl(args); assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`); return r.out; };

  before(async () => {
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    const token = readFileSync(join(dir, 'pki', 'token'), 'utf8').trim();
    proxy = await recordingProxy(new URL(srv.url), readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'), token, seen);
    const port = (proxy.address() as AddressInfo).port;
    writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:${port}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\n    namespace: pbk\nusers:\n- name: t\n  user: {}\ncurrent-context: t\n`);
    writeFileSync(join(dir, 'app.conf'), 'listen 8080;\nworkers 4;\n');
    writeFileSync(join(dir, 'blob.bin'), Buffer.from([0, 1, 2, 0xff, 0xfe, 0x80, 10]));
    writeFileSync(join(dir, 'app.env'), 'MODE=prod\nLEVEL=3\n');
    await k('create', 'namespace', 'pbk');
  });
  after(async () => {
    await new Promise((r) => proxy?.close(r));
    await srv?.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  const pod = {
    spec: {
      volumes: [
        { name: 'cfg', configMap: { name: 'app', items: [{ key: 'app.conf', path: 'conf/app.conf', mode: 0o400 }], defaultMode: 0o644, optional: true } },
        { name: 'sec', secret: { secretName: 'creds', defaultMode: 0o600, optional: false } },
        { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '64Mi' } },
        { name: 'host', hostPath: { path: '/var/log', type: 'Directory' } },
        { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.labels' } }, { path: 'cpu', resourceFieldRef: { containerName: 'main', resource: 'limits.cpu', divisor: '1m' } }] } },
        { name: 'all', projected: { defaultMode: 0o440, sources: [{ configMap: { name: 'app' } }, { secret: { name: 'creds', items: [{ key: 'user', path: 'u' }] } }, { serviceAccountToken: { audience: 'api', expirationSeconds: 3600, path: 'token' } }] } },
        { name: 'data', persistentVolumeClaim: { claimName: 'data', readOnly: true } },
        { name: 'share', nfs: { server: 'nfs.example.com', path: '/exports', readOnly: true } },
      ],
      initContainers: [{ name: 'init', image: 'busybox:1.36', command: ['sh', '-c', 'true'], resources: { requests: { cpu: '10m', memory: '8Mi' } } }],
      containers: [{
        name: 'main', image: 'nginx:1.27', command: ['nginx'], args: ['-g', 'daemon off;', ''], workingDir: '/srv',
        ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }, { name: 'dns', containerPort: 53, protocol: 'UDP', hostPort: 5353, hostIP: '127.0.0.1' }],
        env: [
          { name: 'PLAIN', value: 'v' },
          { name: 'EMPTY', value: '' },
          { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'app', key: 'mode', optional: true } } },
          { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'creds', key: 'user' } } },
          { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
          { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
        ],
        envFrom: [{ prefix: 'CM_', configMapRef: { name: 'app', optional: true } }, { secretRef: { name: 'creds' } }],
        resources: { limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '1Gi' }, requests: { cpu: '250m', memory: '128Mi' } },
        volumeMounts: [
          { name: 'cfg', mountPath: '/etc/app', readOnly: true, subPath: 'conf' },
          { name: 'scratch', mountPath: '/tmp/x', mountPropagation: 'None', subPathExpr: '$(POD_IP)' },
        ],
        livenessProbe: { httpGet: { path: '/healthz', port: 'http', scheme: 'HTTP', httpHeaders: [{ name: 'X-Probe', value: '1' }] }, initialDelaySeconds: 5, timeoutSeconds: 2, periodSeconds: 7, successThreshold: 1, failureThreshold: 4, terminationGracePeriodSeconds: 12 },
        readinessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 3 },
        startupProbe: { exec: { command: ['cat', '/tmp/ready'] }, failureThreshold: 30, periodSeconds: 1 },
        lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo started'] } }, preStop: { httpGet: { path: '/drain', port: 8080, host: '127.0.0.1' } } },
        terminationMessagePath: '/tmp/term', terminationMessagePolicy: 'FallbackToLogsOnError', imagePullPolicy: 'Always',
        securityContext: {
          capabilities: { add: ['NET_ADMIN', 'NET_BIND_SERVICE'], drop: ['ALL'] }, privileged: false, runAsUser: 1000, runAsGroup: 1000, runAsNonRoot: true,
          readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, seccompProfile: { type: 'RuntimeDefault' },
        },
        stdin: true, stdinOnce: true, tty: true,
      }],
      restartPolicy: 'OnFailure', terminationGracePeriodSeconds: 0, activeDeadlineSeconds: 3600, dnsPolicy: 'None',
      nodeSelector: { 'kubernetes.io/os': 'linux' }, serviceAccountName: 'default', automountServiceAccountToken: false,
      hostname: 'web-0', subdomain: 'web', schedulerName: 'default-scheduler', priority: 0, enableServiceLinks: false, shareProcessNamespace: true,
      securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000, supplementalGroups: [4000, 5000], sysctls: [{ name: 'net.ipv4.ip_unprivileged_port_start', value: '0' }], fsGroupChangePolicy: 'OnRootMismatch' },
      imagePullSecrets: [{ name: 'regcred' }],
      affinity: {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a', 'b'] }] }] },
          preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 10, preference: { matchExpressions: [{ key: 'disk', operator: 'Exists' }] } }],
        },
        podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { labelSelector: { matchLabels: { app: 'x' } }, topologyKey: 'kubernetes.io/hostname', namespaces: ['pbk'] } }] },
      },
      tolerations: [{ key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 30 }, { key: 'dedicated', operator: 'Equal', value: 'web', effect: 'NoSchedule' }],
      hostAliases: [{ ip: '10.1.2.3', hostnames: ['db', 'db.local'] }],
      dnsConfig: { nameservers: ['10.96.0.10'], searches: ['svc.cluster.local'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
      readinessGates: [{ conditionType: 'example.com/ready' }],
      topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['x'] }] } }],
      os: { name: 'linux' },
    },
  };
  const svc = {
    spec: {
      sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local',
      ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv4'], publishNotReadyAddresses: true, allocateLoadBalancerNodePorts: false,
      loadBalancerSourceRanges: ['10.0.0.0/8'], externalIPs: ['192.0.2.10'], loadBalancerClass: 'example.com/lb',
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP', appProtocol: 'http' }, { name: 'dns', port: 53, targetPort: 5353, protocol: 'UDP', nodePort: 31053 }],
    },
  };

  /**
   * [resource to read back, name, kubectl args]. `create …` sends protobuf; `run` and `expose`
   * (kubectl 1.32) send JSON: they are compared all the same, and the rich Pod they make is
   * sent again as protobuf by `kubectl debug --copy-to` below.
   */
  const commands: [string, string, string[]][] = [
    ['deployment', 'multi', ['create', 'deployment', 'multi', '--image=nginx:1.27', '--image=busybox:1.36', '--replicas=3']],
    ['deployment', 'web', ['create', 'deployment', 'web', '--image=nginx:1.27', '--port=8080', '--replicas=0']],
    ['service', 'cip', ['create', 'service', 'clusterip', 'cip', '--tcp=80:8080', '--tcp=443:8443']],
    ['service', 'headless', ['create', 'service', 'clusterip', 'headless', '--clusterip=None', '--tcp=5432']],
    ['service', 'np', ['create', 'service', 'nodeport', 'np', '--tcp=8080:80', '--node-port=30123']],
    ['service', 'lb', ['create', 'service', 'loadbalancer', 'lb', '--tcp=80:8080', '--tcp=5353:53']],
    ['service', 'ext', ['create', 'service', 'externalname', 'ext', '--external-name=db.example.com', '--tcp=5432']],
    ['configmap', 'app', ['create', 'configmap', 'app', '--from-literal=mode=prod', '--from-literal=greeting=hello world', `--from-file=app.conf=${join(dir, 'app.conf')}`, `--from-file=${join(dir, 'blob.bin')}`]],
    ['configmap', 'envs', ['create', 'configmap', 'envs', `--from-env-file=${join(dir, 'app.env')}`]],
    ['secret', 'creds', ['create', 'secret', 'generic', 'creds', '--from-literal=user=admin', '--from-literal=pass=s3cr=t', `--from-file=blob=${join(dir, 'blob.bin')}`, '--type=example.com/creds']],
    ['secret', 'regcred', ['create', 'secret', 'docker-registry', 'regcred', '--docker-server=registry.example.com', '--docker-username=u', '--docker-password=p', '--docker-email=u@example.com']],
    ['serviceaccount', 'robot', ['create', 'serviceaccount', 'robot']],
    ['namespace', 'pbk-two', ['create', 'namespace', 'pbk-two']],
    ['pod', 'runner', ['run', 'runner', '--image=busybox:1.36', '--port=8080', '--env=A=1', '--env=B=two words', '--labels=app=runner,tier=batch', '--annotations=note=hi',
      '--image-pull-policy=IfNotPresent', '--restart=Never', '--command', '--', 'sh', '-c', 'sleep 3600']],
    ['pod', 'rich', ['run', 'rich', '--image=nginx:1.27', '--labels=app=x', '--restart=OnFailure', `--overrides=${JSON.stringify(pod)}`]],
    ['service', 'exposed', ['expose', 'deployment', 'web', '--name=exposed', '--port=80', '--target-port=8080', '--type=NodePort', '--protocol=TCP',
      '--external-ip=192.0.2.7', '--session-affinity=ClientIP', '--labels=exposed=yes']],
    ['service', 'rich-svc', ['expose', 'pod', 'rich', '--name=rich-svc', '--port=80', '--type=LoadBalancer', `--overrides=${JSON.stringify(svc)}`]],
  ];

  it('stores every field kubectl set, from protobuf bodies', async () => {
    const problems: string[] = [];
    let protobufCreates = 0;
    for (const [resource, name, args] of commands) {
      const dash = args.indexOf('--');
      const at = dash < 0 ? args.length : dash;
      const want = JSON.parse(await k(...args.slice(0, at), '--dry-run=client', '-o', 'json', ...args.slice(at)));
      const before = seen.length;
      await k(...args);
      const posts = seen.slice(before).filter((s) => s.method === 'POST');
      assert.equal(posts.length, 1, `kubectl ${args.join(' ')}: ${JSON.stringify(posts)}`);
      if (args[0] === 'create') { assert.equal(posts[0]!.contentType, PROTOBUF, `kubectl ${args.join(' ')}`); protobufCreates++; }
      const got = JSON.parse(await k('get', resource, name, '-o', 'json'));
      for (const m of missing(want, got, '', [])) problems.push(`${resource}/${name} ${m}`);
    }
    assert.deepEqual(problems, []);
    assert.equal(protobufCreates, 13);
  });

  it('kubectl debug --copy-to sends a whole Pod spec as protobuf: the copy holds every field of the original', async () => {
    const before = seen.length;
    await k('debug', 'rich', '--copy-to=rich-copy', '--image=busybox:1.36', '--container=dbg', '--keep-liveness', '--keep-readiness', '--keep-startup');
    const posts = seen.slice(before).filter((s) => s.method === 'POST');
    assert.deepEqual(posts.map((p) => p.contentType), [PROTOBUF]);
    const orig = JSON.parse(await k('get', 'pod', 'rich', '-o', 'json'));
    const copy = JSON.parse(await k('get', 'pod', 'rich-copy', '-o', 'json'));
    assert.deepEqual(copy.spec.containers.map((c: any) => c.name), ['main', 'dbg']);
    const { containers, nodeName: _copiedToNoNode, ...rest } = orig.spec;
    const problems = missing({ spec: { ...rest, containers: containers.slice(0, 1) } }, { spec: { ...copy.spec, containers: copy.spec.containers.slice(0, 1) } }, '', []);
    assert.deepEqual(problems, []);
  });
});
