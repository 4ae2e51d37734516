/**
 * @module images/cli
 * `svcplane image-run <program> [args…]` (the process a built-in image runs inside its pod) and
 * `svcplane image load|list` (a user's own images, like `kind load docker-image`).
 */
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { imageRunArgv, DEFAULT_IMAGE_HOME, listUserImages, loadUserImage } from './catalog.js';
import { runAgnhost } from './programs/agnhost.js';
import { runBootcamp } from './programs/bootcamp.js';
import { runNginx } from './programs/nginx.js';

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
    .action((prog: string, args: string[] = []) => {
      switch (prog) {
        case 'bootcamp': {
          runBootcamp(/^\d+$/.test(args[0] ?? '') ? args[0] : '1');
          return;
        }
        case 'nginx': runNginx(); return;
        case 'agnhost': runAgnhost(args); return;
        case 'pause': process.on('SIGTERM', () => process.exit(0)); setInterval(() => undefined, 1 << 30); return;
        case 'coredns': {
          // CoreDNS's flags (-conf Corefile) do not apply: svcplane's DNS server reads the cluster from the API.
          const argv = [...imageRunArgv('x').slice(0, -2), 'dns', '--in-cluster', '--listen', '0.0.0.0:53', '--health', '0.0.0.0:8080', '--ready', '0.0.0.0:8181', '--metrics', '0.0.0.0:9153'];
          const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
          for (const s of ['SIGTERM', 'SIGINT'] as const) process.on(s, () => child.kill(s));
          child.on('exit', (code, sig) => process.exit(code ?? (sig ? 143 : 1)));
          return;
        }
        default:
          process.stderr.write(`image-run: unknown program "${prog}"\n`);
          process.exit(127);
      }
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
