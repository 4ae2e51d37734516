/**
 * The Pod spec on containers, as a user meets it: volumes whose files a container reads with
 * `kubectl exec` (configMap with items and modes, secret, emptyDir shared by two containers and a
 * Memory one, downwardAPI labels and resource limits, projected service account token with its
 * audience, hostPath on the node, subPath), a ConfigMap change reaching a running pod, a pod whose
 * ConfigMap does not exist waiting in ContainerCreating with a FailedMount event until it does;
 * an init container preparing a file, lifecycle hooks, hostPort reaching the pod from its node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isRoot, startCluster, type TestCluster } from './lib/harness.js';

let c: TestCluster;

function apply(...items: object[]): void {
  const r = c.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  assert.equal(r.code, 0, r.err);
}
const sh = (pod: string, script: string, container?: string) => c.k('exec', pod, ...(container ? ['-c', container] : []), '--', 'sh', '-c', script);
const jwtPayload = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString()) as { aud: string[]; exp: number; iat: number };

describe('pod spec', { skip: !isRoot() && 'needs root', concurrency: false }, () => {
  before(async () => {
    c = await startCluster({ runtime: 'containerd', workers: 1 });
    apply(
      { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { 'app.properties': 'color=blue\n', 'log.level': 'debug' } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'app-secret' }, stringData: { password: 's3cr3t' } },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'vols', labels: { app: 'vols', tier: 'web' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [
            {
              name: 'main', image: 'busybox', command: ['sleep', '100000'], resources: { limits: { cpu: '500m', memory: '64Mi' } },
              volumeMounts: [
                { name: 'config', mountPath: '/etc/config' },
                { name: 'items', mountPath: '/etc/items' },
                { name: 'secret', mountPath: '/etc/secret' },
                { name: 'scratch', mountPath: '/scratch' },
                { name: 'mem', mountPath: '/mem' },
                { name: 'podinfo', mountPath: '/etc/podinfo' },
                { name: 'token', mountPath: '/var/run/secrets/tokens' },
                { name: 'node-dir', mountPath: '/node' },
                { name: 'config', mountPath: '/etc/app.properties', subPath: 'app.properties' },
              ],
            },
            { name: 'side', image: 'busybox', command: ['sh', '-c', 'echo from-side > /shared/hello; sleep 100000'], volumeMounts: [{ name: 'scratch', mountPath: '/shared' }] },
          ],
          volumes: [
            { name: 'config', configMap: { name: 'app-config' } },
            { name: 'items', configMap: { name: 'app-config', items: [{ key: 'log.level', path: 'conf/level', mode: 0o400 }], defaultMode: 0o440 } },
            { name: 'secret', secret: { secretName: 'app-secret', defaultMode: 0o400 } },
            { name: 'scratch', emptyDir: {} },
            { name: 'mem', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
            {
              name: 'podinfo', downwardAPI: {
                items: [
                  { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
                  { path: 'cpu_limit', resourceFieldRef: { containerName: 'main', resource: 'limits.cpu', divisor: '1m' } },
                  { path: 'mem_limit', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' } },
                ],
              },
            },
            { name: 'token', projected: { sources: [{ serviceAccountToken: { audience: 'vault', expirationSeconds: 7200, path: 'vault-token' } }, { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } }] } },
            { name: 'node-dir', hostPath: { path: '/var/local/svp-test', type: 'DirectoryOrCreate' } },
          ],
        },
      },
    );
    await c.podsReady('app=vols', 1);
  }, { timeout: 240_000 });
  after(async () => { await c?.destroy(); });

  it('configMap, secret and downwardAPI files with their modes; emptyDirs shared and in memory; a token for its audience', { timeout: 60_000 }, async () => {
    assert.equal(sh('vols', 'cat /etc/config/app.properties'), 'color=blue\n');
    assert.equal(sh('vols', 'cat /etc/config/log.level'), 'debug');
    // The AtomicWriter layout a container sees: ..data and links through it.
    assert.match(sh('vols', 'ls -a /etc/config'), /\.\.data/);
    assert.equal(sh('vols', 'readlink /etc/config/log.level').trim(), '..data/log.level');
    // items: only the key asked for, at its path, with its mode.
    assert.equal(sh('vols', 'cat /etc/items/conf/level'), 'debug');
    assert.equal(sh('vols', 'ls /etc/items').trim(), 'conf');
    assert.equal(sh('vols', 'stat -L -c %a /etc/items/conf/level').trim(), '400');
    assert.equal(sh('vols', 'cat /etc/secret/password'), 's3cr3t');
    assert.equal(sh('vols', 'stat -L -c %a /etc/secret/password').trim(), '400');
    // Read-only, as the kubelet mounts these kinds.
    assert.match(c.kubectl(['exec', 'vols', '--', 'sh', '-c', 'echo x > /etc/config/new 2>&1; echo rc=$?']).out, /Read-only file system[\s\S]*rc=1|rc=1/);
    // subPath: one file of the volume.
    assert.equal(sh('vols', 'cat /etc/app.properties'), 'color=blue\n');
    // emptyDir: what the sidecar wrote, the main container reads; the Memory one is a tmpfs of its size.
    await c.eventually('the sidecar wrote the shared file', () => c.kubectl(['exec', 'vols', '--', 'cat', '/scratch/hello']).out === 'from-side\n');
    const mem = sh('vols', 'grep " /mem " /proc/mounts');
    assert.match(mem, /^tmpfs \/mem tmpfs .*size=8192k/);
    // downwardAPI: labels as key="value" lines, the limits in the divisor's units.
    assert.equal(sh('vols', 'cat /etc/podinfo/labels'), 'app="vols"\ntier="web"');
    assert.equal(sh('vols', 'cat /etc/podinfo/cpu_limit'), '500');
    assert.equal(sh('vols', 'cat /etc/podinfo/mem_limit'), '64');
    // The projected token is the pod's service account's, for the audience asked, with that lifetime.
    const tok = jwtPayload(sh('vols', 'cat /var/run/secrets/tokens/vault-token'));
    assert.deepEqual(tok.aud, ['vault']);
    assert.equal(tok.exp - tok.iat, 7200);
    // The default service account mount is there too; kube-root-ca.crt (published in every
    // namespace) holds the same CA.
    assert.equal(sh('vols', 'cat /var/run/secrets/kubernetes.io/serviceaccount/namespace'), 'default');
    assert.match(sh('vols', 'cat /var/run/secrets/tokens/ca.crt'), /^-----BEGIN CERTIFICATE-----/);
    assert.equal(sh('vols', 'cat /var/run/secrets/tokens/ca.crt'), sh('vols', 'cat /var/run/secrets/kubernetes.io/serviceaccount/ca.crt'));
    // hostPath: a folder of the node's own, shared by the pods of that node, not the machine's /var/local.
    sh('vols', 'echo on-node > /node/f');
    assert.equal(sh('vols', 'cat /node/f'), 'on-node\n');
  });

  it('a ConfigMap change reaches the running pod\'s files', { timeout: 90_000 }, async () => {
    apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config' }, data: { 'app.properties': 'color=green\n', 'log.level': 'info' } });
    await c.eventually('the new content in /etc/config', () => c.kubectl(['exec', 'vols', '--', 'cat', '/etc/config/app.properties']).out === 'color=green\n', 60_000, 1000);
    assert.equal(sh('vols', 'cat /etc/config/log.level'), 'info');
    // A subPath mount keeps the file it was given (as on Kubernetes).
    assert.equal(sh('vols', 'cat /etc/app.properties'), 'color=blue\n');
  });

  it('a missing ConfigMap: ContainerCreating with FailedMount naming the volume, then running once it exists', { timeout: 120_000 }, async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'waits', labels: { app: 'waits' } },
      spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '100000'], volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }] }], volumes: [{ name: 'cfg', configMap: { name: 'later' } }] },
    });
    const ev = await c.eventually('a FailedMount event', () => {
      const items = JSON.parse(c.k('get', 'events', '--field-selector', 'involvedObject.name=waits,reason=FailedMount', '-o', 'json')).items as { message: string }[];
      return items[0];
    });
    assert.equal(ev.message, 'MountVolume.SetUp failed for volume "cfg" : configmap "later" not found');
    const pod = JSON.parse(c.k('get', 'pod', 'waits', '-o', 'json'));
    assert.equal(pod.status.phase, 'Pending');
    assert.equal(pod.status.containerStatuses?.[0]?.state?.waiting?.reason, 'ContainerCreating');
    apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'later' }, data: { k: 'v' } });
    await c.podsReady('app=waits', 1);
    assert.equal(c.k('exec', 'waits', '--', 'cat', '/cfg/k'), 'v');
  });

  it('an init container prepares a file in an emptyDir before the app starts; kubectl shows Init:0/1 meanwhile', { timeout: 120_000 }, async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'prepared', labels: { app: 'prepared' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        initContainers: [{ name: 'prepare', image: 'busybox', command: ['sh', '-c', 'sleep 4; echo prepared > /work/ready'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
        containers: [{ name: 'app', image: 'busybox', command: ['sh', '-c', 'cat /work/ready && sleep 100000'], volumeMounts: [{ name: 'work', mountPath: '/work' }] }],
        volumes: [{ name: 'work', emptyDir: {} }],
      },
    });
    await c.eventually('STATUS Init:0/1', () => c.k('get', 'pod', 'prepared', '--no-headers').split(/\s+/)[2] === 'Init:0/1', 30_000, 200);
    const initializing = JSON.parse(c.k('get', 'pod', 'prepared', '-o', 'json'));
    assert.equal(initializing.status.conditions.find((x: { type: string }) => x.type === 'Initialized').status, 'False');
    await c.podsReady('app=prepared', 1);
    assert.equal(c.k('logs', 'prepared', '-c', 'app'), 'prepared\n');
    const pod = JSON.parse(c.k('get', 'pod', 'prepared', '-o', 'json'));
    assert.equal(pod.status.initContainerStatuses[0].state.terminated.reason, 'Completed');
    assert.equal(c.k('get', 'pod', 'prepared', '--no-headers').split(/\s+/)[2], 'Running');
  });

  it('lifecycle hooks: postStart runs before the container counts as started; preStop holds the deletion within the grace period', { timeout: 120_000 }, async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hooks', labels: { app: 'hooks' } },
      spec: {
        terminationGracePeriodSeconds: 30,
        containers: [{
          // It exits on SIGTERM (a bare sleep as PID 1 would ignore it and use the whole grace period).
          name: 'c', image: 'busybox', command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 1; done'],
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'echo started > /tmp/post'] } }, preStop: { exec: { command: ['sh', '-c', 'sleep 4'] } } },
        }],
      },
    });
    await c.podsReady('app=hooks', 1);
    assert.equal(c.k('exec', 'hooks', '--', 'cat', '/tmp/post'), 'started\n');
    // The pod is Terminating while its preStop sleeps (not gone at once), then it goes.
    const t0 = Date.now();
    const del = c.kubectl(['delete', 'pod', 'hooks', '--wait=true', '--timeout=60s']);
    assert.equal(del.code, 0, del.err);
    const took = Date.now() - t0;
    assert.ok(took >= 4000, `deleted after ${took} ms: the preStop hook (sleep 4) did not hold it`);
    assert.ok(took < 30_000, `deleted after ${took} ms: the container did not stop after its hook`);
  });

  it('hostPort: the node\'s address and its 127.0.0.1 reach the pod; a second pod wanting the port elsewhere is not placed there', { timeout: 120_000 }, async () => {
    const worker = `${c.name}-worker`;
    const pod = (name: string) => ({
      apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } },
      spec: { terminationGracePeriodSeconds: 1, nodeSelector: { 'kubernetes.io/hostname': worker }, containers: [{ name: 'web', image: 'nginx', ports: [{ containerPort: 80, hostPort: 8080 }] }] },
    });
    apply(pod('hp1'));
    await c.podsReady('app=hp1', 1);
    const nodeIP = JSON.parse(c.k('get', 'node', worker, '-o', 'json')).status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address as string;
    await c.eventually('the node\'s 127.0.0.1:8080 answers', () => c.curl(worker, 'http://127.0.0.1:8080/').out.includes('Welcome to nginx'), 30_000);
    assert.match(c.curl(`${c.name}-control-plane`, `http://${nodeIP}:8080/`).out, /Welcome to nginx/);
    apply(pod('hp2'));
    const ev = await c.eventually('FailedScheduling for hp2', () => {
      const items = JSON.parse(c.k('get', 'events', '--field-selector', 'involvedObject.name=hp2,reason=FailedScheduling', '-o', 'json')).items as { message: string }[];
      return items[0];
    });
    assert.match(ev.message, /^0\/2 nodes are available: .*1 node\(s\) didn't have free ports for the requested pod ports/);
    assert.equal(JSON.parse(c.k('get', 'pod', 'hp2', '-o', 'json')).spec.nodeName, undefined);
  });

  it('securityContext: user, group, fsGroup, a read-only root, capabilities; runAsNonRoot refuses a root image', { timeout: 120_000 }, async () => {
    apply(
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'sec', labels: { app: 'sec' } },
        spec: {
          terminationGracePeriodSeconds: 1,
          securityContext: { runAsUser: 1000, runAsGroup: 3000, fsGroup: 2000 },
          containers: [{
            name: 'c', image: 'busybox', command: ['sleep', '100000'],
            securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'], add: ['NET_BIND_SERVICE'] } },
          }],
        },
      },
      {
        apiVersion: 'v1', kind: 'Pod', metadata: { name: 'nonroot', labels: { app: 'nonroot' } },
        spec: { terminationGracePeriodSeconds: 1, securityContext: { runAsNonRoot: true }, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '100000'] }] },
      },
    );
    await c.podsReady('app=sec', 1);
    assert.equal(sh('sec', 'id -u').trim(), '1000');
    assert.equal(sh('sec', 'id -g').trim(), '3000');
    // The container's process: fsGroup among its groups.
    assert.match(sh('sec', 'cat /proc/1/status'), /^Groups:\s+.*\b2000\b/m);
    assert.match(c.kubectl(['exec', 'sec', '--', 'sh', '-c', 'touch /made-here 2>&1; echo rc=$?']).out, /Read-only file system[\s\S]*rc=1/);
    // The container's process: bounding set NET_BIND_SERVICE (bit 10) and nothing else; no new privileges.
    const status = sh('sec', 'cat /proc/1/status');
    assert.match(status, /^CapBnd:\s+0000000000000400$/m);
    assert.match(status, /^NoNewPrivs:\s+1$/m);
    const waiting = await c.eventually('nonroot refused', () => {
      const w = JSON.parse(c.k('get', 'pod', 'nonroot', '-o', 'json')).status?.containerStatuses?.[0]?.state?.waiting;
      return w?.reason === 'CreateContainerConfigError' && w;
    });
    assert.match(waiting.message, /^container has runAsNonRoot and image will run as root \(pod: "nonroot_default\([0-9a-f-]+\)", container: c\)$/);
  });

  it('a hostNetwork pod: the node\'s address as its IP and the node\'s name as its hostname', { timeout: 120_000 }, async () => {
    const worker = `${c.name}-worker`;
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'hostnet', labels: { app: 'hostnet' } },
      spec: { terminationGracePeriodSeconds: 1, hostNetwork: true, nodeSelector: { 'kubernetes.io/hostname': worker }, containers: [{ name: 'c', image: 'busybox', command: ['sleep', '100000'] }] },
    });
    const [pod] = await c.podsReady('app=hostnet', 1);
    const nodeIP = JSON.parse(c.k('get', 'node', worker, '-o', 'json')).status.addresses.find((a: { type: string }) => a.type === 'InternalIP').address as string;
    assert.equal(pod.status.podIP, nodeIP);
    assert.equal(c.k('exec', 'hostnet', '--', 'hostname').trim(), worker);
    assert.match(c.k('exec', 'hostnet', '--', 'ip', '-4', 'addr'), new RegExp(`inet ${nodeIP.replace(/\./g, '\\.')}/`));
  });

  it('a gRPC readiness probe asks the health service: Ready while SERVING, unready once NOT_SERVING', { timeout: 120_000 }, async () => {
    apply({
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'grpc', labels: { app: 'grpc' } },
      spec: {
        terminationGracePeriodSeconds: 1,
        containers: [{
          name: 'c', image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['grpc-health-checking', '--port', '5000', '--http-port', '8080'],
          readinessProbe: { grpc: { port: 5000 }, periodSeconds: 1, failureThreshold: 1 },
        }],
      },
    });
    await c.podsReady('app=grpc', 1);
    sh('grpc', 'curl -s http://127.0.0.1:8080/make-not-serving');
    const ev = await c.eventually('the probe failing', () => {
      const items = JSON.parse(c.k('get', 'events', '--field-selector', 'involvedObject.name=grpc,reason=Unhealthy', '-o', 'json')).items as { message: string }[];
      return items.find((e) => e.message.includes('NOT_SERVING'));
    });
    assert.equal(ev.message, 'Readiness probe failed: service unhealthy (responded with "NOT_SERVING")');
    await c.eventually('the pod unready', () => JSON.parse(c.k('get', 'pod', 'grpc', '-o', 'json')).status.conditions.find((x: { type: string }) => x.type === 'Ready').status === 'False');
  });
});
