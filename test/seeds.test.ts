/**
 * The seed notes, end to end: their commands run with stock kubectl, curl and nslookup inside a
 * real svcplane cluster, asserting what the notes show.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EXAMPLES, isRoot, startCluster, type TestCluster } from './lib/harness.js';

const skip = !isRoot() && 'needs root (network namespaces)';
const ex = (f: string) => join(EXAMPLES, f);
const NODE_IPS = ['172.18.0.2', '172.18.0.3', '172.18.0.4'];

/** Columns of a kubectl table line. */
const cols = (line: string) => line.trim().split(/\s{2,}/);

describe('seed walkthrough', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  before(async () => {
    c = await startCluster({ scheduler: 'rr' });
    c.k('apply', '-f', ex('toolbox.yaml'));
  });
  after(async () => { await c?.destroy(); });

  describe('WEEK046: myapp behind a ClusterIP Service', () => {
    let clusterIP = '';
    let podIPs: string[] = [];
    let podNames: string[] = [];
    before(async () => {
      c.k('apply', '-f', ex('myapp-deployment.yaml'));
      c.k('apply', '-f', ex('myapp-service.yaml'));
      const pods = await c.podsReady('app=myapp', 3);
      podIPs = pods.map((p) => p.status.podIP).sort();
      podNames = pods.map((p) => p.metadata.name).sort();
      clusterIP = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    });

    it('kubectl get deploy myapp -o wide shows 3/3 with the notes\' columns', async () => {
      const out = await c.eventually('deployment available', () => {
        const o = c.k('get', 'deploy', 'myapp', '-o', 'wide');
        return cols(o.split('\n')[1]!)[1] === '3/3' ? o : undefined;
      });
      const [hdr, row] = out.trim().split('\n');
      assert.deepEqual(cols(hdr!), ['NAME', 'READY', 'UP-TO-DATE', 'AVAILABLE', 'AGE', 'CONTAINERS', 'IMAGES', 'SELECTOR']);
      const r = cols(row!);
      assert.deepEqual([r[0], r[1], r[2], r[3], r[5], r[6], r[7]], ['myapp', '3/3', '3', '3', 'myapp', 'jocatalin/kubernetes-bootcamp:v1', 'app=myapp']);
    });

    it('pods are named <deploy>-<hash>-<5 chars> and spread over the nodes', () => {
      for (const n of podNames) assert.match(n, /^myapp-[a-z0-9]{8,10}-[a-z0-9]{5}$/);
      const nodes = JSON.parse(c.k('get', 'pods', '-l', 'app=myapp', '-o', 'json')).items.map((p: any) => p.spec.nodeName);
      assert.equal(new Set(nodes).size, 3, `one pod per node: ${nodes}`);
      assert.equal(new Set(podIPs).size, 3);
    });

    it('kubectl get svc myapp -o wide', () => {
      const [hdr, row] = c.k('get', 'svc', 'myapp', '-o', 'wide').trim().split('\n');
      assert.deepEqual(cols(hdr!), ['NAME', 'TYPE', 'CLUSTER-IP', 'EXTERNAL-IP', 'PORT(S)', 'AGE', 'SELECTOR']);
      const r = cols(row!);
      assert.deepEqual([r[0], r[1], r[3], r[4], r[6]], ['myapp', 'ClusterIP', '<none>', '38080/TCP', 'app=myapp']);
      assert.match(r[2]!, /^10\.(9[6-9]|1[01][0-9])\.\d+\.\d+$/, 'cluster IP from 10.96.0.0/12');
    });

    it('kubectl describe svc myapp', async () => {
      const out = await c.eventually('3 endpoints in describe', () => {
        const o = c.k('describe', 'svc', 'myapp');
        return /Endpoints:\s+(\S+)/.exec(o)?.[1]?.split(',').length === 3 ? o : undefined;
      });
      const field = (name: string) => new RegExp(`^${name}:\\s+(.*)$`, 'm').exec(out)?.[1]?.trim();
      assert.equal(field('Name'), 'myapp');
      assert.equal(field('Namespace'), 'default');
      assert.equal(field('Selector'), 'app=myapp');
      assert.equal(field('Type'), 'ClusterIP');
      assert.equal(field('IP Family Policy'), 'SingleStack');
      assert.equal(field('IP Families'), 'IPv4');
      assert.equal(field('IP'), clusterIP);
      assert.equal(field('Port'), 'http  38080/TCP');
      assert.equal(field('TargetPort'), '8080/TCP');
      assert.deepEqual(field('Endpoints')!.split(',').sort(), podIPs.map((ip) => `${ip}:8080`).sort());
      assert.equal(field('Session Affinity'), 'None');
    });

    it('kubectl get endpoints myapp', () => {
      const [hdr, row] = c.k('get', 'endpoints', 'myapp').trim().split('\n');
      assert.deepEqual(cols(hdr!), ['NAME', 'ENDPOINTS', 'AGE']);
      assert.deepEqual(cols(row!)[1]!.split(',').sort(), podIPs.map((ip) => `${ip}:8080`).sort());
    });

    it('curl <cluster-ip>:38080 from a node: the replicas take turns', async () => {
      const once = (): string => {
        const r = c.curl('control-plane', `http://${clusterIP}:38080`);
        const m = /^Hello Kubernetes bootcamp! \| Running on: (\S+) \| v=1$/.exec(r.out.trim());
        assert.ok(m, `bootcamp line, got ${JSON.stringify(r)}`);
        return m[1]!;
      };
      // A change to the Service's endpoints rewrites its chain and restarts the round-robin
      // counter: once this node's rules have all three pods, three requests visit each once.
      const first = await c.eventually('three requests visit all three pods (rr)', () => {
        const seen = [once(), once(), once()];
        return [...new Set(seen)].sort().join() === [...podNames].sort().join() ? seen : undefined;
      }, 30_000);
      assert.deepEqual([once(), once(), once()], first, 'and then the same order again');
    });

    it('from a pod, by name through cluster DNS', async () => {
      await c.podsReady('app=toolbox', 1);
      const out = await c.eventually('curl myapp:38080 from toolbox', () => {
        const r = c.kubectl(['exec', 'toolbox', '--', 'curl', '-s', '-m', '5', 'myapp:38080']);
        return r.code === 0 && r.out.startsWith('Hello Kubernetes bootcamp!') ? r.out : undefined;
      }, 60_000, 1000);
      assert.match(out, /Running on: myapp-/);
      const ns = c.kubectl(['exec', 'toolbox', '--', 'nslookup', 'myapp']);
      assert.match(ns.out, new RegExp(`Name:\\s+myapp\\.default\\.svc\\.cluster\\.local\\s+Address:\\s+${clusterIP.replace(/\./g, '\\.')}`));
    });

    it('endpoints follow pod deletion', async () => {
      const victim = podNames[0]!;
      const victimIP = JSON.parse(c.k('get', 'pod', victim, '-o', 'json')).status.podIP;
      c.k('delete', 'pod', victim, '--wait=false');
      await c.eventually('deleted pod leaves the endpoints', () => !c.k('get', 'endpoints', 'myapp', '-o', 'jsonpath={.subsets[*].addresses[*].ip}').split(' ').includes(victimIP), 60_000);
      const pods = await c.podsReady('app=myapp', 3);
      const ips = pods.map((p) => p.status.podIP).sort();
      await c.eventually('replacement pod in endpoints', () => c.k('get', 'endpoints', 'myapp', '-o', 'jsonpath={.subsets[*].addresses[*].ip}').split(' ').sort().join() === ips.join(), 60_000);
      for (let i = 0; i < 6; i++) assert.doesNotMatch(c.curl('worker', `http://${clusterIP}:38080`).out, new RegExp(victim));
    });
  });

  describe('[筆記] Kubernetes Service: StatefulSet, headless, NodePort, ExternalName in dev', () => {
    before(async () => {
      c.k('apply', '-f', ex('dev-namespace.yaml'));
      c.k('apply', '-f', ex('stateful-nginx.yaml'));
      c.k('apply', '-f', ex('nginx-service-clusterip.yaml'));
      c.k('apply', '-f', ex('svc-nginx-headless.yaml'));
      await c.podsReady('app=nginx-pod', 3, 'dev', 120_000);
    });

    it('StatefulSet pods are stateful-nginx-0..2 and the ClusterIP Service lists them on :80', async () => {
      const pods = JSON.parse(c.k('get', 'pods', '-n', 'dev', '-o', 'json')).items;
      assert.deepEqual(pods.map((p: any) => p.metadata.name).sort(), ['stateful-nginx-0', 'stateful-nginx-1', 'stateful-nginx-2']);
      const [hdr] = c.k('get', 'pod', '-n', 'dev', '-o', 'wide').split('\n');
      assert.deepEqual(cols(hdr!), ['NAME', 'READY', 'STATUS', 'RESTARTS', 'AGE', 'IP', 'NODE', 'NOMINATED NODE', 'READINESS GATES']);
      const want = pods.map((p: any) => `${p.status.podIP}:80`).sort();
      await c.eventually('nginx-service endpoints', () => {
        const row = c.k('get', 'endpoints', '-n', 'dev', 'nginx-service').trim().split('\n')[1]!;
        return cols(row)[1]!.split(',').sort().join() === want.join();
      });
    });

    it('headless: kubectl get svc shows None, and each pod has its own DNS name', async () => {
      const row = c.k('get', 'svc', '-n', 'dev', 'svc-nginx').trim().split('\n')[1]!;
      assert.deepEqual(cols(row).slice(0, 5), ['svc-nginx', 'ClusterIP', 'None', '<none>', '80/TCP']);
      for (const i of [0, 1, 2]) {
        const ip = c.k('get', 'pod', '-n', 'dev', `stateful-nginx-${i}`, '-o', 'jsonpath={.status.podIP}');
        const out = await c.eventually(`nslookup stateful-nginx-${i}`, () => {
          const r = c.kubectl(['exec', 'toolbox', '--', 'nslookup', `stateful-nginx-${i}.svc-nginx.dev.svc.cluster.local`]);
          return r.code === 0 ? r.out : undefined;
        }, 30_000, 1000);
        assert.match(out, new RegExp(`Name:\\s+stateful-nginx-${i}\\.svc-nginx\\.dev\\.svc\\.cluster\\.local\\s+Address:\\s+${ip.replace(/\./g, '\\.')}`));
      }
      const svcIP = c.k('get', 'svc', '-n', 'dev', 'nginx-service', '-o', 'jsonpath={.spec.clusterIP}');
      assert.match(c.kubectl(['exec', 'toolbox', '--', 'nslookup', 'nginx-service.dev.svc.cluster.local']).out, new RegExp(`Address:\\s+${svcIP.replace(/\./g, '\\.')}`));
    });

    it('the NodePort manifest exactly as printed (tab indentation) is rejected by kubectl and changes nothing', () => {
      const before = c.k('get', 'svc', '-n', 'dev', 'svc-nginx', '-o', 'jsonpath={.spec.type}/{.metadata.resourceVersion}');
      const r = c.kubectl(['apply', '-f', ex('svc-nginx-nodeport-as-in-notes.yaml')]);
      assert.notEqual(r.code, 0);
      assert.match(r.err, /error converting YAML to JSON: yaml: line \d+: found (a tab character|character that cannot start any token)/);
      assert.equal(c.k('get', 'svc', '-n', 'dev', 'svc-nginx', '-o', 'jsonpath={.spec.type}/{.metadata.resourceVersion}'), before);
    });

    it('NodePort 30002: curl 127.0.0.1:30002 on a node and <node-ip>:30002 from outside give the nginx welcome page', async () => {
      c.k('delete', 'svc', '-n', 'dev', 'svc-nginx');
      c.k('apply', '-f', ex('svc-nginx-nodeport.yaml'));
      await c.eventually('node-local NodePort', () => c.curl('worker', 'http://127.0.0.1:30002').out.includes('<h1>Welcome to nginx!</h1>'), 30_000);
      for (const ip of NODE_IPS) assert.match(c.curl('client', `http://${ip}:30002`).out, /<title>Welcome to nginx!<\/title>/, `via ${ip}`);
    });

    it('ExternalName: svc-nginx → www.google.com is a CNAME, and the name fails fast offline', async () => {
      c.k('delete', 'svc', '-n', 'dev', 'svc-nginx');
      c.k('apply', '-f', ex('svc-nginx-externalname.yaml'));
      const out = await c.eventually('CNAME', () => {
        const r = c.kubectl(['exec', 'toolbox', '--', 'dig', '+noall', '+answer', 'svc-nginx.dev.svc.cluster.local']);
        return /CNAME\s+www\.google\.com\./.test(r.out) ? r.out : undefined;
      }, 30_000, 1000);
      assert.match(out, /^svc-nginx\.dev\.svc\.cluster\.local\.\s+30\s+IN\s+CNAME\s+www\.google\.com\.$/m);
      const t0 = Date.now();
      const r = c.kubectl(['exec', 'toolbox', '--', 'curl', '-s', '-m', '10', 'svc-nginx.dev.svc.cluster.local']);
      assert.notEqual(r.code, 0);
      assert.ok(Date.now() - t0 < 8000, 'fails quickly, does not hang');
    });

    it('an ExternalName to www.example.com resolves and curl from a pod reaches it', async () => {
      c.k('apply', '-f', ex('variants-example-externalname.yaml'));
      const out = await c.eventually('curl example-web.dev', () => {
        const r = c.kubectl(['exec', 'toolbox', '--', 'curl', '-s', '-m', '5', 'example-web.dev']);
        return r.code === 0 ? r.out : undefined;
      }, 30_000, 1000);
      assert.match(out, /<h1>Example Domain<\/h1>/);
    });
  });

  describe('Services without selectors: my-service + manual Endpoints 192.0.2.42:9376', () => {
    it('reaches the manual endpoint and is mirrored to an EndpointSlice', async () => {
      c.k('apply', '-f', ex('my-service-without-selector.yaml'));
      const out = await c.eventually('curl my-service', () => {
        const r = c.kubectl(['exec', 'toolbox', '--', 'curl', '-s', '-m', '5', 'my-service']);
        return r.code === 0 ? r.out : undefined;
      }, 30_000, 1000);
      assert.match(out, /Hello from the outside world at 192\.0\.2\.42:9376/);
      const slices = JSON.parse(c.k('get', 'endpointslices', '-l', 'kubernetes.io/service-name=my-service', '-o', 'json')).items;
      assert.equal(slices.length, 1);
      assert.equal(slices[0].metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslicemirroring-controller.k8s.io');
      assert.deepEqual(slices[0].endpoints.map((e: any) => e.addresses[0]), ['192.0.2.42']);
      // The endpoints controller removes a deleted Service's Endpoints (as upstream's does), so
      // the second object of the file may already be gone when kubectl gets to it.
      c.k('delete', '-f', ex('my-service-without-selector.yaml'), '--ignore-not-found');
    });
  });

  describe('Service note: frontend LoadBalancer + backend ClusterIP', () => {
    it('frontend-service gets an EXTERNAL-IP the outside client reaches; the unknown backend image says how to load it', async () => {
      for (const f of ['frontend-deployment.yaml', 'backend-deployment.yaml', 'frontend-service.yaml', 'backend-service.yaml']) c.k('apply', '-f', ex(f));
      const lbIP = await c.eventually('EXTERNAL-IP', () => {
        const row = c.k('get', 'svc', 'frontend-service').trim().split('\n')[1]!;
        const ip = cols(row)[3]!;
        return /^172\.18\.255\.(2[0-4]\d|250)$/.test(ip) ? ip : undefined;
      });
      await c.podsReady('app=frontend', 3);
      const page = await c.eventually('LB reachable from the client host', () => {
        const r = c.curl('client', `http://${lbIP}`);
        return r.out.includes('Welcome to nginx!') ? r.out : undefined;
      }, 30_000);
      assert.match(page, /<h1>Welcome to nginx!<\/h1>/);
      const status = await c.eventually('backend ErrImagePull', () => {
        const pods = JSON.parse(c.k('get', 'pods', '-l', 'app=backend', '-o', 'json')).items;
        const w = pods[0]?.status?.containerStatuses?.[0]?.state?.waiting;
        return w && /ErrImagePull|ImagePullBackOff/.test(w.reason) ? w : undefined;
      });
      assert.match(status.message, /my-custom-backend-image:v1/);
      assert.match(status.message, /svcplane image load/);
      const describe = c.k('describe', 'svc', 'backend-service');
      assert.match(describe, /^Endpoints:\s*$/m, 'no ready backend pods, no endpoints');
    });
  });

  describe('Service note: nginx-deploy + NodePort 32380, kubectl exec edits a page', () => {
    it('the edited page is served by that pod and shows up through the ClusterIP and every node\'s NodePort', async () => {
      c.k('apply', '-f', ex('nginx-service-deployment.yaml'));
      const pods = await c.podsReady('app=nginx-app', 3);
      const target = pods[0];
      const edit = c.kubectl(['exec', '-i', target.metadata.name, '--', '/bin/bash'], { input: 'echo "k8s-nodeXX" > /usr/share/nginx/html/index.html\nexit\n' });
      assert.equal(edit.code, 0, edit.err);
      assert.equal(c.curl('control-plane', `http://${target.status.podIP}`).out, 'k8s-nodeXX\n');
      for (const other of pods.slice(1)) assert.match(c.curl('control-plane', `http://${other.status.podIP}`).out, /Welcome to nginx!/);
      const clusterIP = c.k('get', 'svc', 'nginx-app', '-o', 'jsonpath={.spec.clusterIP}');
      // Each connection picks one of 3 endpoints at random: 6 tries miss the edited pod 9 % of the
      // time, so keep asking until both pages came back (40 tries miss it once in 10^7).
      const seen = new Set<string>();
      for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(c.curl('worker', `http://${clusterIP}:8080`).out.includes('k8s-nodeXX') ? 'edited' : 'stock');
      assert.deepEqual([...seen].sort(), ['edited', 'stock']);
      for (const ip of NODE_IPS) {
        const r = await c.eventually(`NodePort on ${ip}`, () => { const x = c.curl('client', `http://${ip}:32380`); return x.out ? x : undefined; }, 20_000);
        assert.match(r.out, /k8s-nodeXX|Welcome to nginx!/);
      }
    });

    it('ExternalName my-service.prod → my.database.example.com', async () => {
      c.k('apply', '-f', ex('prod-namespace.yaml'));
      c.k('apply', '-f', ex('my-service-externalname.yaml'));
      const out = await c.eventually('CNAME', () => {
        const r = c.kubectl(['exec', 'toolbox', '--', 'nslookup', 'my-service.prod.svc.cluster.local']);
        return /canonical name = my\.database\.example\.com/.test(r.out) ? r.out : undefined;
      }, 30_000, 1000);
      assert.match(out, /Address: 192\.0\.2\.42/);
    });
  });
});
