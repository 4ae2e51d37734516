/**
 * @module images/cli
 * `svcplane image-run <program> [args…]` (the process a built-in image runs inside its pod) and
 * `svcplane image load|list` (a user's own images, like `kind load docker-image`).
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
    .command('load <name>')
    .description('make NAME (e.g. my-custom-backend-image:v1) runnable by pods: its process is COMMAND run by sh -c inside the pod')
    .requiredOption('--command <command>', 'shell command the image runs (container args are passed as $1…)')
    .option('--workdir <dir>', 'working directory')
    .option('--data-dir <dir>', 'cluster data dir (default: --name\'s, else ~/.svcplane)')
    .option('--name <cluster>', 'cluster name')
    .action((name: string, o: { command: string; workdir?: string; dataDir?: string; name?: string }) => {
      const home = imageHome(o.dataDir, o.name);
      loadUserImage(home, name, o.command, o.workdir);
      process.stdout.write(`Image: "${name}" loaded into ${home}\n`);
    });
  image
    .command('list')
    .option('--data-dir <dir>', 'cluster data dir')
    .option('--name <cluster>', 'cluster name')
    .action((o: { dataDir?: string; name?: string }) => {
      const home = imageHome(o.dataDir, o.name);
      for (const [n, i] of Object.entries(listUserImages(home))) process.stdout.write(`${n}\t${i.command}\n`);
    });
}
