/**
 * @module images/cli
 * `svcplane image-run <program> [args…]` (the process a built-in image runs inside its pod) and
 * `svcplane image build` (the built-in OCI images), `svcplane image registry` (serves them to a
 * node's containerd), `svcplane image load|ls|rm` (archives into every node's containerd, load.ts)
 * and `image load NAME --command` / `image list` (host-command images of the process runtime).
 * build, registry and load are imported when run: `image-run` stays lean.
 */
import type { Command } from 'commander';
import { DEFAULT_IMAGE_HOME, listUserImages, loadUserImage } from './catalog.js';
import { runImageProgram } from './programs/index.js';

function imageHome(dataDir?: string, cluster?: string): string {
  if (dataDir) return dataDir;
  if (cluster) return `/var/lib/svcplane/${cluster}`;
  return process.env.SVCPLANE_DATA_DIR ?? DEFAULT_IMAGE_HOME;
}

export function register(program: Command): void {
  program
    .command('image-run <program> [args...]')
    .description('run a built-in image\'s program (bootcamp, nginx, agnhost, coredns, pause) in the current namespaces')
    .allowUnknownOption(true)
    .helpOption(false)
    .action(async (prog: string, args: string[] = []) => {
      await runImageProgram(prog, args);
    });

  const image = program.command('image').description('images pods can use (built-in and loaded)');
  image
    .command('build')
    .description('build the built-in OCI images from Debian packages and svcplane\'s programs (only what changed)')
    .option('--cache <dir>', 'OCI layout to build into (default $SVCPLANE_IMAGE_CACHE or /var/lib/svcplane/images)')
    .option('-q, --quiet', 'print only the summary')
    .action(async (o: { cache?: string; quiet?: boolean }) => {
      const { buildImages } = await import('./build.js');
      const r = await buildImages({ cacheDir: o.cache, log: o.quiet ? undefined : (s) => process.stderr.write(`${s}\n`) });
      const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
      process.stdout.write(`layout ${r.layout} (${r.seconds} s)\n`);
      for (const l of Object.values(r.layers)) {
        process.stdout.write(`layer  ${l.name.padEnd(8)} ${mib(l.size).padStart(10)}  ${l.rebuilt ? `built in ${l.seconds} s` : 'up to date'}  ${l.digest.slice(0, 19)}\n`);
      }
      for (const [k, i] of Object.entries(r.images)) process.stdout.write(`image  ${k.padEnd(12)} ${mib(i.size).padStart(10)}  ${i.manifest.digest.slice(0, 19)}\n`);
      // What every new node starts with (the pause and coredns images unpacked), as kind's node image.
      const { ensureNodeRoot, PRELOADED } = await import('../cluster/node-image.js');
      const t = Date.now();
      const root = await ensureNodeRoot(r.layout);
      if (root) process.stdout.write(`node   root ${PRELOADED.join(', ')}  ${root} (${((Date.now() - t) / 1000).toFixed(1)} s)\n`);
    });
  image
    .command('registry')
    .description('serve the built-in images read-only over the OCI distribution API (a containerd registry mirror)')
    .option('--cache <dir>', 'OCI layout (default $SVCPLANE_IMAGE_CACHE or /var/lib/svcplane/images)')
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:0')
    .action(async (o: { cache?: string; listen: string }) => {
      const [{ startRegistry }, { imageCacheDir }] = await Promise.all([import('./registry.js'), import('./build.js')]);
      const at = o.listen.lastIndexOf(':');
      const r = await startRegistry({ cacheDir: o.cache ?? imageCacheDir(), host: o.listen.slice(0, at), port: Number(o.listen.slice(at + 1)) });
      // One line a parent can read to learn the port (0 picks a free one).
      process.stdout.write(`${JSON.stringify({ port: r.port })}\n`);
      const stop = () => { void r.close().then(() => process.exit(0)); };
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    });
  image
    .command('load <files...>')
    .description('import "docker save" tarballs or OCI archives (plain or gzipped) into the containerd of every node of a cluster, like kind load image-archive')
    .option('--name <cluster>', 'cluster name (default "svcplane")')
    .option('--data-dir <dir>', 'cluster data directory (default /var/lib/svcplane/<name>)')
    .option('--command <command>', 'process runtime only (being retired): the one NAME given runs this shell command (container args are $1…)')
    .option('--workdir <dir>', 'with --command: working directory')
    .action(async (files: string[], o: { command?: string; workdir?: string; dataDir?: string; name?: string }) => {
      if (o.command !== undefined) {
        if (files.length !== 1) throw new Error(`svcplane image load NAME --command: give exactly one image name (got ${files.length})`);
        const home = imageHome(o.dataDir, o.name);
        loadUserImage(home, files[0]!, o.command, o.workdir);
        process.stdout.write(`Image: "${files[0]}" loaded into ${home}\n`);
        return;
      }
      if (o.workdir !== undefined) throw new Error('--workdir goes with --command (host-command images of the process runtime)');
      const { loadImages } = await import('./load.js');
      await loadImages({ name: o.name, dataDir: o.dataDir, files, out: (l) => process.stdout.write(`${l}\n`) });
    });
  image
    .command('ls')
    .description('list the images on the nodes of a cluster (as the kubelet sees them through the CRI) and which nodes hold each')
    .option('--name <cluster>', 'cluster name (default "svcplane")')
    .option('--data-dir <dir>', 'cluster data directory (default /var/lib/svcplane/<name>)')
    .option('-o, --output <format>', 'table or json', 'table')
    .action(async (o: { dataDir?: string; name?: string; output: string }) => {
      if (o.output !== 'table' && o.output !== 'json') throw new Error(`--output ${JSON.stringify(o.output)}: use table or json`);
      const { listImages, imageTable } = await import('./load.js');
      const { rows, nodes } = await listImages({ name: o.name, dataDir: o.dataDir });
      process.stdout.write(o.output === 'json' ? `${JSON.stringify({ nodes, images: rows }, null, 2)}\n` : `${imageTable(rows, nodes)}\n`);
    });
  image
    .command('rm <images...>')
    .description('remove images (NAME[:TAG], NAME@DIGEST or image ID) from every node of a cluster')
    .option('--name <cluster>', 'cluster name (default "svcplane")')
    .option('--data-dir <dir>', 'cluster data directory (default /var/lib/svcplane/<name>)')
    .action(async (names: string[], o: { dataDir?: string; name?: string }) => {
      const { removeImages } = await import('./load.js');
      await removeImages({ name: o.name, dataDir: o.dataDir, names, out: (l) => process.stdout.write(`${l}\n`) });
    });
  image
    .command('list')
    .description('process runtime only (being retired): the host-command images of image load NAME --command')
    .option('--data-dir <dir>', 'cluster data dir')
    .option('--name <cluster>', 'cluster name')
    .action((o: { dataDir?: string; name?: string }) => {
      const home = imageHome(o.dataDir, o.name);
      for (const [n, i] of Object.entries(listUserImages(home))) process.stdout.write(`${n}\t${i.command}\n`);
    });
}
