/**
 * @module store/cli
 * `svcplane store export | import | migrate | status`: a cluster's state as a stream of JSON
 * lines (see migrate.ts), and moving a cluster between SQLite and etcd without losing an object
 * or an allocation. The store is found from the cluster (`--name`, its cluster.json) or given
 * directly (`--store sqlite --data-dir D`, `--store etcd --etcd-servers URLs`).
 */
import { createReadStream, createWriteStream, existsSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import type { Store } from './types.js';

interface Target {
  store: Store;
  describe: string;
  /** The local etcd members' base port, when they were started for this command. */
  etcdBasePort?: number;
  close(): Promise<void>;
}

interface TargetOpts {
  name: string;
  dataDir?: string;
  store?: 'sqlite' | 'etcd' | 'memory';
  etcdServers?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
}

const clusterMod = () => import('../cluster/config.js');

/** Open the store named by the flags, or the cluster's (starting its local etcd members while stopped). */
async function openTarget(o: TargetOpts, backend?: 'sqlite' | 'etcd'): Promise<Target> {
  const { createStore } = await import('./index.js');
  const tls = o.etcdCafile || o.etcdCertfile || o.etcdKeyfile ? { ca: o.etcdCafile, cert: o.etcdCertfile, key: o.etcdKeyfile } : undefined;
  if (o.store && o.store !== 'memory' && (o.store === 'etcd' ? o.etcdServers : o.dataDir) && !backend) {
    const store = await createStore({ backend: o.store, path: o.dataDir, etcdServers: o.etcdServers?.split(','), etcdTls: tls, compactIntervalMs: 0 });
    return { store, describe: o.store === 'etcd' ? `etcd at ${o.etcdServers}` : `sqlite ${join(o.dataDir!, 'state.db')}`, close: () => store.close() };
  }
  const { requireConfig, paths, etcdEndpoints, runsLocalEtcd } = await clusterMod();
  const c = requireConfig(o.name, o.dataDir);
  const kind = backend ?? c.store;
  const running = await clusterRunning(c.dataDir);
  if (kind === 'sqlite') {
    if (running) throw new Error(`cluster "${c.name}" is running and its API server holds ${paths(c.dataDir).db}; stop it first: svcplane down --name ${c.name}`);
    const store = await createStore({ backend: 'sqlite', path: paths(c.dataDir).db, compactIntervalMs: 0 });
    return { store, describe: `sqlite ${paths(c.dataDir).db}`, close: () => store.close() };
  }
  if (kind !== 'etcd') throw new Error(`cluster "${c.name}" uses the ${kind} store, which keeps nothing to export`);
  const local = backend === 'etcd' && c.store !== 'etcd' ? true : runsLocalEtcd(c);
  let cluster: import('./etcd-cluster.js').EtcdCluster | undefined;
  let endpoints = backend === 'etcd' && c.store !== 'etcd' ? [] : etcdEndpoints(c);
  if (local && !running) {
    // A stopped cluster's local members are started for the time of the command.
    const { EtcdCluster, freePortBase, findEtcd } = await import('./etcd-cluster.js');
    if (!findEtcd()) throw new Error('etcd is not installed; install it with: apt-get install -y etcd-server');
    const { LOCAL_ETCD_MEMBERS, LOCAL_ETCD_NAME } = await clusterMod();
    c.etcdBasePort ??= await freePortBase(2 * LOCAL_ETCD_MEMBERS, 20_000, 30_000);
    cluster = new EtcdCluster({ dataDir: paths(c.dataDir).etcd, basePort: c.etcdBasePort, members: LOCAL_ETCD_MEMBERS, name: LOCAL_ETCD_NAME });
    await cluster.start();
    endpoints = cluster.endpoints;
  }
  const store = await createStore({ backend: 'etcd', etcdServers: endpoints, etcdTls: c.etcdTls, compactIntervalMs: 0 });
  return {
    store, describe: `etcd at ${endpoints.join(',')}`, etcdBasePort: cluster ? c.etcdBasePort : undefined,
    close: async () => { await store.close(); await cluster?.stop(); },
  };
}

async function clusterRunning(dataDir: string): Promise<boolean> {
  const { paths } = await clusterMod();
  const { readFileSync } = await import('node:fs');
  const f = paths(dataDir).supervisorPid;
  if (!existsSync(f)) return false;
  try { process.kill(Number(readFileSync(f, 'utf8').trim()), 0); return true; } catch { return false; }
}

function targetOptions(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'cluster name', 'svcplane')
    .option('--data-dir <dir>', 'the cluster\'s data directory (default /var/lib/svcplane/<name>); with --store sqlite, where state.db is')
    .option('--store <backend>', 'read/write this store directly instead of the cluster\'s: sqlite (with --data-dir) or etcd (with --etcd-servers)')
    .option('--etcd-servers <urls>', 'etcd client URLs, comma-separated')
    .option('--etcd-cafile <file>').option('--etcd-certfile <file>').option('--etcd-keyfile <file>');
}

export function register(program: Command): void {
  const store = program.command('store').description('export, import and migrate a cluster\'s stored objects (SQLite ⇄ etcd)');

  targetOptions(store.command('export').description('write every stored object (and allocation) as JSON lines'))
    .option('-o, --output <file>', 'write to a file instead of stdout')
    .option('--prefix <key>', 'only keys under this prefix, e.g. /registry/services/', '')
    .action(async (o) => {
      const t = await openTarget(o);
      try {
        const { exportStore } = await import('./migrate.js');
        const out: NodeJS.WritableStream = o.output ? createWriteStream(o.output) : process.stdout;
        let n = 0;
        for await (const line of exportStore(t.store, o.prefix)) {
          n++;
          if (!out.write(line + '\n')) await new Promise<void>((r) => out.once('drain', () => r()));
        }
        if (o.output) await new Promise<void>((r) => out.end(() => r()));
        process.stderr.write(`exported ${n} keys from ${t.describe}${o.output ? ` to ${o.output}` : ''}\n`);
      } finally {
        await t.close();
      }
    });

  targetOptions(store.command('import').description('write the keys of an export (JSON lines) into a store'))
    .option('-f, --filename <file>', 'read this file ("-" or none: stdin)')
    .option('--overwrite', 'replace keys that exist with a different value')
    .action(async (o) => {
      const { importStore, readLines } = await import('./migrate.js');
      const input = o.filename && o.filename !== '-' ? createReadStream(o.filename) : process.stdin;
      const t = await openTarget(o);
      try {
        const r = await importStore(t.store, readLines(input), { overwrite: o.overwrite });
        process.stderr.write(`imported into ${t.describe}: ${r.created} created, ${r.updated} updated, ${r.unchanged} unchanged\n`);
      } finally {
        await t.close();
      }
    });

  store.command('migrate').description('move a stopped cluster\'s objects to another store (sqlite or etcd); svcplane up then resumes on it')
    .option('--name <name>', 'cluster name', 'svcplane')
    .option('--data-dir <dir>', 'the cluster\'s data directory')
    .requiredOption('--to <backend>', 'sqlite or etcd (a local 3-member etcd cluster in the data dir)')
    .action(async (o) => {
      const { requireConfig, saveConfig, paths } = await clusterMod();
      const c = requireConfig(o.name, o.dataDir);
      if (o.to !== 'sqlite' && o.to !== 'etcd') throw new Error(`--to ${o.to}: use sqlite or etcd`);
      if (c.store === o.to) throw new Error(`cluster "${c.name}" already keeps its objects in ${o.to}`);
      if (c.store === 'memory') throw new Error(`cluster "${c.name}" uses the memory store: nothing to migrate`);
      if (await clusterRunning(c.dataDir)) throw new Error(`cluster "${c.name}" is running; stop it first: svcplane down --name ${c.name}`);
      if (c.apiservers > 1 && o.to === 'sqlite') throw new Error(`cluster "${c.name}" runs ${c.apiservers} API servers; SQLite serves one`);
      // The destination starts empty: an older copy is kept aside, never merged.
      const p = paths(c.dataDir);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      const aside = o.to === 'sqlite' ? p.db : p.etcd;
      if (o.to === 'etcd' && c.etcdServers?.length) throw new Error(`cluster "${c.name}" names external etcd servers; use svcplane store export/import with --etcd-servers`);
      if (existsSync(aside)) renameSync(aside, `${aside}.${stamp}`);
      for (const ext of ['-wal', '-shm']) if (o.to === 'sqlite' && existsSync(p.db + ext)) renameSync(p.db + ext, `${p.db}.${stamp}${ext}`);
      const { exportStore, importStore } = await import('./migrate.js');
      const from = await openTarget({ name: c.name, dataDir: c.dataDir });
      let to: Target | undefined;
      try {
        to = await openTarget({ name: c.name, dataDir: c.dataDir }, o.to);
        const r = await importStore(to.store, exportStore(from.store));
        const next = { ...c, store: o.to as 'sqlite' | 'etcd' };
        if (to.etcdBasePort) next.etcdBasePort = to.etcdBasePort;
        saveConfig(next);
        process.stderr.write(`migrated cluster "${c.name}" from ${from.describe} to ${to.describe}: ${r.created} keys\n`
          + `the old store is kept as ${c.store === 'sqlite' ? p.db : p.etcd} (delete it when satisfied); resume with: svcplane up --name ${c.name}\n`);
      } finally {
        await from.close();
        await to?.close();
      }
    });
}
