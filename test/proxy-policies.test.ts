/**
 * Service policies through the service proxy on a real cluster, one `svcplane up` per mode
 * (nftables, iptables, userspace), real curl / UDP traffic from nodes, pods and the outside
 * client host (172.18.0.100):
 * - sessionAffinity ClientIP sticks to one pod, while without it several pods answer;
 * - externalTrafficPolicy Local: the client's address reaches the pod (kernel modes), other
 *   nodes do not answer, and healthCheckNodePort answers 200 / 503 with kube-proxy's body;
 * - hairpin: a pod reaching its own one-replica Service lands on itself;
 * - UDP through a ClusterIP (agnhost netexec's UDP server);
 * - a Service whose pods are all gone is refused at once, and traffic returns after scaling up;
 * - deleting a pod moves traffic to the others within seconds;
 * - a backend that refuses: userspace retries past it, the kernel modes cannot.
 * Switching modes on a running cluster (no stale rules) is in proxy-modes.test.ts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isRoot, startCluster, type TestCluster } from './lib/harness.js';

const skip = !isRoot() && 'needs root (network namespaces)';
const CLIENT_IP = '172.18.0.100';
const NODES = ['control-plane', 'worker', 'worker2'] as const;

/** agnhost netexec pods: HTTP /hostname, /clientip on 8080, UDP hostname/echo on 8081. */
function netexec(name: string, replicas: number): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
spec:
  replicas: ${replicas}
  selector:
    matchLabels: {app: ${name}}
  template:
    metadata:
      labels: {app: ${name}}
    spec:
      containers:
      - name: netexec
        image: registry.k8s.io/e2e-test-images/agnhost:2.47
        args: [netexec, --http-port=8080, --udp-port=8081]
---
`;
}

const MANIFESTS = netexec('web', 3) + netexec('solo', 1) + netexec('local', 1) + `apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: 8080}
  - {name: udp, port: 81, targetPort: 8081, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata:
  name: web-sticky
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  sessionAffinityConfig: {clientIP: {timeoutSeconds: 600}}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: solo
spec:
  selector: {app: solo}
  ports:
  - {name: http, port: 80, targetPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: local
spec:
  type: LoadBalancer
  externalTrafficPolicy: Local
  selector: {app: local}
  ports:
  - {name: http, port: 80, targetPort: 8080}
`;

/** SVCPLANE_TEST_PROXY_MODES=userspace,… runs only those modes. */
const MODES = (process.env.SVCPLANE_TEST_PROXY_MODES ?? 'nftables,iptables,userspace').split(',');

for (const mode of ['nftables', 'iptables', 'userspace'] as const) {
  if (!MODES.includes(mode)) continue;
  describe(`proxy policies (${mode})`, { skip, timeout: 600_000 }, () => {
    let c: TestCluster;
    const ip: Record<string, string> = {};
    let webPods: string[] = [];
    /** node name → its lan address */
    const nodeIP = new Map<string, string>();

    before(async () => {
      c = await startCluster({ proxyMode: mode });
      const r = c.kubectl(['apply', '-f', '-'], { input: MANIFESTS });
      assert.equal(r.code, 0, r.err);
      webPods = (await c.podsReady('app=web', 3)).map((p) => p.metadata.name).sort();
      await c.podsReady('app=solo', 1);
      await c.podsReady('app=local', 1);
      for (const svc of ['web', 'web-sticky', 'solo', 'local']) ip[svc] = c.k('get', 'svc', svc, '-o', 'jsonpath={.spec.clusterIP}');
      for (const n of JSON.parse(c.k('get', 'nodes', '-o', 'json')).items) {
        nodeIP.set(n.metadata.name, n.status.addresses.find((a: any) => a.type === 'InternalIP').address);
      }
      // Every node's proxy has programmed the Services.
      for (const node of NODES) await c.eventually(`web answers from ${node}`, () => webPods.includes(c.curl(node, `http://${ip.web}/hostname`).out), 60_000);
    });
    after(async () => { await c?.destroy(); });

    const hostnames = (host: string, url: string, n: number) => Array.from({ length: n }, () => c.curl(host, url).out);

    it('sessionAffinity ClientIP: one pod answers a client every time; without it several do', () => {
      const plain = hostnames('worker', `http://${ip.web}/hostname`, 20);
      assert.ok(plain.every((h) => webPods.includes(h)), `all answered: ${plain}`);
      assert.ok(new Set(plain).size >= 2, `several pods without affinity: ${plain}`);
      for (const host of ['worker', 'control-plane']) {
        const sticky = hostnames(host, `http://${ip['web-sticky']}/hostname`, 10);
        assert.ok(webPods.includes(sticky[0]!), `answered: ${sticky}`);
        assert.deepEqual(new Set(sticky), new Set([sticky[0]]), `${host} sticks to one pod: ${sticky}`);
      }
    });

    it('externalTrafficPolicy Local: client address kept, only the pod\'s node answers, health check 200/503', async () => {
      const svc = JSON.parse(c.k('get', 'svc', 'local', '-o', 'json'));
      const nodePort: number = svc.spec.ports[0].nodePort;
      const hcPort: number = svc.spec.healthCheckNodePort;
      assert.ok(hcPort > 0, 'healthCheckNodePort allocated');
      const pod = JSON.parse(c.k('get', 'pods', '-l', 'app=local', '-o', 'json')).items[0];
      const podNode: string = pod.spec.nodeName;
      const local = nodeIP.get(podNode)!;
      const others = [...nodeIP].filter(([n]) => n !== podNode).map(([, a]) => a);
      assert.equal(others.length, 2);

      const seen = c.curl('client', `http://${local}:${nodePort}/clientip`);
      assert.equal(seen.code, 0, seen.err);
      // The userspace proxy opens its own connection to the pod (README: no source IP kept).
      if (mode !== 'userspace') assert.match(seen.out, new RegExp(`^${CLIENT_IP.replace(/\./g, '\\.')}:\\d+$`), 'no SNAT for the outside client');
      for (const other of others) {
        const r = c.curl('client', `http://${other}:${nodePort}/clientip`, ['-m', '2']);
        assert.notEqual(r.code, 0, `${other} has no local endpoint and must not answer: ${r.out}`);
      }

      const health = (addr: string) => {
        const r = c.exec('client', ['curl', '-s', '-m', '5', '-w', '\n%{http_code}', `http://${addr}:${hcPort}/`]);
        const [body, code] = r.out.split('\n');
        return { code: Number(code), body: JSON.parse(body || '{}') };
      };
      await c.eventually('health check 200 on the pod\'s node', () => health(local).code === 200, 20_000);
      const ok = health(local);
      assert.deepEqual(ok.body, { service: { namespace: 'default', name: 'local' }, localEndpoints: 1, serviceProxyHealthy: true });
      for (const other of others) {
        const h = health(other);
        assert.equal(h.code, 503, `health check on ${other}`);
        assert.equal(h.body.localEndpoints, 0);
      }
    });

    it('LoadBalancer with externalTrafficPolicy Local: the outside client is routed to the pod\'s node, and the route follows the pod when it moves', async () => {
      const lb = await c.eventually('LB IP allocated', () => c.k('get', 'svc', 'local', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}') || undefined, 30_000);
      const live = () => JSON.parse(c.k('get', 'pods', '-l', 'app=local', '-o', 'json')).items.filter((p: any) => !p.metadata.deletionTimestamp);
      const ready = (p: any) => p.status?.conditions?.some((cd: any) => cd.type === 'Ready' && cd.status === 'True');
      const viaNode = (node: string) => new RegExp(`\\bvia ${nodeIP.get(node)!.replace(/\./g, '\\.')}\\b`);
      const route = () => c.exec('client', ['ip', 'route', 'show', `${lb}/32`]).out;
      const first = live()[0];
      const from: string = first.spec.nodeName;
      await c.eventually(`route to ${lb} via ${from} only`, () => viaNode(from).test(route()) && route().match(/\bvia /g)?.length === 1, 30_000);
      assert.equal(c.curl('client', `http://${lb}/hostname`).out, first.metadata.name);
      c.k('cordon', from);
      try {
        c.k('delete', 'pod', first.metadata.name, '--wait=false');
        const moved = await c.eventually('the replacement pod Ready on another node', () => live().find((p: any) => p.spec.nodeName && p.spec.nodeName !== from && ready(p)), 90_000);
        const to: string = moved.spec.nodeName;
        await c.eventually(`route to ${lb} moves from ${from} to ${to}`, () => { const r = route(); return viaNode(to).test(r) && !viaNode(from).test(r); }, 30_000);
        await c.eventually('the LB IP answers from the new pod', () => c.curl('client', `http://${lb}/hostname`, ['-m', '2']).out === moved.metadata.name, 30_000);
      } finally {
        c.k('uncordon', from);
      }
    });

    it('hairpin: the only pod of a Service reaches itself through it', () => {
      const pod = c.k('get', 'pods', '-l', 'app=solo', '-o', 'jsonpath={.items[0].metadata.name}');
      const r = c.kubectl(['exec', pod, '--', 'curl', '-s', '-m', '5', `http://${ip.solo}/hostname`]);
      assert.equal(r.out, pod, r.err);
    });

    it('UDP through a ClusterIP', () => {
      const names = Array.from({ length: 4 }, (_, i) => c.exec(NODES[i % 3]!, ['sh', '-c', `echo hostname | socat -T2 - UDP:${ip.web}:81`]).out.trim());
      assert.ok(names.every((n) => webPods.includes(n)), `UDP answers: ${names}`);
      const echo = c.exec('worker', ['sh', '-c', `echo 'echo over-udp' | socat -T2 - UDP:${ip.web}:81`]).out.trim();
      assert.equal(echo, 'over-udp');
    });

    it('a backend that refuses: userspace retries past it; the kernel modes cannot', async () => {
      const podIPs = JSON.parse(c.k('get', 'pods', '-l', 'app=web', '-o', 'json')).items.map((p: any) => p.status.podIP);
      // No selector: one live endpoint, and one on a port nothing listens on (refused).
      const r = c.kubectl(['apply', '-f', '-'], { input: `apiVersion: v1
kind: Service
metadata:
  name: half-dead
spec:
  ports:
  - {name: http, port: 80}
---
apiVersion: v1
kind: Endpoints
metadata:
  name: half-dead
subsets:
- addresses: [{ip: ${podIPs[0]}}]
  ports: [{name: http, port: 8080}]
- addresses: [{ip: ${podIPs[1]}}]
  ports: [{name: http, port: 9}]
` });
      assert.equal(r.code, 0, r.err);
      const vip = c.k('get', 'svc', 'half-dead', '-o', 'jsonpath={.spec.clusterIP}');
      await c.eventually('half-dead programmed', () => c.curl('worker', `http://${vip}/hostname`).out, 30_000);
      // Both endpoints are in place once a refusal (kernel modes) or 20 answers (userspace) are seen.
      const codes = Array.from({ length: 20 }, () => c.curl('worker', `http://${vip}/hostname`).code);
      if (mode === 'userspace') assert.deepEqual(codes, Array(20).fill(0), 'every request answered');
      else assert.ok(codes.includes(7), `some requests refused: ${codes}`);
    });

    it('deleting a pod moves its traffic to the others within seconds', async () => {
      const victim = webPods[0]!;
      c.k('delete', 'pod', victim, '--wait=false');
      const t0 = Date.now();
      await c.eventually('traffic away from the deleted pod', () => {
        const names = hostnames('worker', `http://${ip.web}/hostname`, 10);
        return names.every((n) => n && n !== victim) && names;
      }, 15_000, 100);
      assert.ok(Date.now() - t0 < 15_000);
      webPods = (await c.podsReady('app=web', 3)).map((p) => p.metadata.name).sort();
    });

    it('scaled to 0 the Service is refused at once; scaled back, it answers again', async () => {
      c.k('scale', 'deployment', 'web', '--replicas=0');
      // While the pods terminate, their endpoints may still serve (terminating, used when none is
      // ready, as Kubernetes does): wait until they are gone and the slice is empty.
      await c.eventually('web pods gone', () => c.k('get', 'pods', '-l', 'app=web', '-o', 'name').trim() === '', 60_000);
      await c.eventually('web slice empty', () => !/"addresses"/.test(c.k('get', 'endpointslices', '-l', 'kubernetes.io/service-name=web', '-o', 'json')), 30_000);
      for (const node of NODES) {
        // Each node's proxy learns of it on its own watch.
        await c.eventually(`${node}: refused once no pod is left`, () => c.curl(node, `http://${ip.web}/hostname`, ['-m', '2']).code === 7, 60_000);
        const t0 = Date.now();
        const r = c.curl(node, `http://${ip.web}/hostname`);
        assert.equal(r.code, 7, `${node}: connection refused (exit 7), not a timeout (28)`);
        assert.ok(Date.now() - t0 < 2000, `${node}: refused at once`);
      }
      c.k('scale', 'deployment', 'web', '--replicas=3');
      webPods = (await c.podsReady('app=web', 3)).map((p) => p.metadata.name).sort();
      for (const node of NODES) await c.eventually(`traffic back on ${node}`, () => webPods.includes(c.curl(node, `http://${ip.web}/hostname`).out), 30_000);
    });
  });
}
