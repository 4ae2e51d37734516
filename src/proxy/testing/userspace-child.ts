/**
 * A userspace-mode proxier in its own process, for kernel tests: the listeners must live in
 * the node's namespace, so the test starts this with `ip netns exec <node>`. Protocol: one JSON
 * line per sync on stdin ({options} first, then {ports}); prints one JSON line per result.
 */
import { createInterface } from 'node:readline';
import { UserspaceProxier } from '../backends/userspace/proxier.js';
import type { BackendOptions, ServicePort } from '../types.js';

let p: UserspaceProxier | undefined;
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  const msg = JSON.parse(line) as { options?: BackendOptions; ports?: ServicePort[]; counters?: boolean };
  void (async () => {
    try {
      if (msg.options) { p = new UserspaceProxier(msg.options); console.log(JSON.stringify({ ok: true })); return; }
      if (msg.counters) { const c = await p!.counters(); console.log(JSON.stringify({ ok: true, services: [...c.services], endpoints: [...c.endpoints] })); return; }
      const st = await p!.sync({ ports: msg.ports! });
      console.log(JSON.stringify({ ok: true, st }));
    } catch (e) { console.log(JSON.stringify({ ok: false, error: String(e) })); }
  })();
});
rl.on('close', () => { void p?.cleanup().then(() => process.exit(0)); });
