#!/usr/bin/env node
/**
 * @module cli/main
 * The `svcplane` command. Each component registers its own subcommands (src/<component>/cli.ts).
 */
import { Command } from 'commander';

const COMPONENT_CLIS = [
  '../cluster/cli.js',
  '../apiserver/cli.js',
  '../controllers/cli.js',
  '../scheduler/cli.js',
  '../kubelet/cli.js',
  '../images/cli.js',
  '../proxy/cli.js',
  '../dns/cli.js',
  '../store/cli.js',
  './demo.js',
];

/**
 * Commands that run as long-lived processes load only their own module: the kube-dns pods run
 * `svcplane image-run coredns` (which serves `svcplane dns` in process), and importing every
 * component (stores, native modules, gRPC) would add tens of megabytes of resident memory to each.
 * A cluster's components load only theirs too: `svcplane up` starts a dozen node processes at once,
 * and on a small machine the time to Ready is mostly their module loading.
 */
const STANDALONE: Record<string, string> = {
  dns: '../dns/cli.js',
  'image-run': '../images/cli.js',
  apiserver: '../apiserver/cli.js',
  'controller-manager': '../controllers/cli.js',
  scheduler: '../scheduler/cli.js',
  kubelet: '../kubelet/cli.js',
  proxy: '../proxy/cli.js',
  ...Object.fromEntries(['up', 'down', 'status', 'list', 'get', 'exec', 'logs', 'kubeconfig', 'supervise', 'relay', 'speaker', 'outside', 'apiserver-lb']
    .map((cmd) => [cmd, '../cluster/cli.js'])),
};

async function main(): Promise<void> {
  const program = new Command('svcplane')
    .description('Kubernetes Service networking, for real, on one Linux machine')
    .version('0.1.0')
    .showHelpAfterError();
  const only = STANDALONE[process.argv[2] ?? ''];
  for (const m of only ? [only] : COMPONENT_CLIS) {
    try {
      const mod = (await import(m)) as { register?: (p: Command) => void };
      mod.register?.(program);
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes(m.replace(/^\.+\//, '').replace(/\.js$/, ''))) continue;
      throw e;
    }
  }
  await program.parseAsync(process.argv);
}

main().catch((e: Error) => {
  process.stderr.write(`error: ${e.message}\n`);
  process.exit(1);
});
