/**
 * @module cli/components
 * The modules that register `svcplane`'s subcommands, relative to src/cli (main.ts imports them;
 * the bundle in dist/bundle has one entry for each, see self.ts).
 */
export const COMPONENT_CLIS = [
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
export const STANDALONE: Record<string, string> = {
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
