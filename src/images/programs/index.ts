/**
 * @module images/programs
 * Dispatch of the built-in images' programs (bootcamp, nginx, agnhost, pause, coredns).
 */

export const PROGRAMS = ['bootcamp', 'nginx', 'agnhost', 'pause', 'coredns'] as const;

export async function runImageProgram(prog: string, args: string[]): Promise<void> {
  switch (prog) {
    case 'bootcamp': {
      const { runBootcamp } = await import('./bootcamp.js');
      runBootcamp(/^\d+$/.test(args[0] ?? '') ? args[0] : '1');
      return;
    }
    case 'nginx': (await import('./nginx.js')).runNginx(); return;
    case 'agnhost': (await import('./agnhost.js')).runAgnhost(args); return;
    case 'pause': process.on('SIGTERM', () => process.exit(0)); setInterval(() => undefined, 1 << 30); return;
    case 'coredns': {
      // CoreDNS's flags (-conf Corefile) do not apply: svcplane's DNS server reads the cluster from the API.
      // svcplane dns flags in the container's args (--upstream, --zone, …) are passed on and win
      // over these defaults; CoreDNS's own single-dash flags (-conf) are dropped. The server runs in
      // this process: a second node process per DNS pod would double its memory.
      const passed = args.filter((a, i) => a.startsWith('--') || (i > 0 && args[i - 1]!.startsWith('--') && !a.startsWith('-')));
      const argv = ['dns', '--in-cluster', '--listen', '0.0.0.0:53', '--health', '0.0.0.0:8080', '--ready', '0.0.0.0:8181', '--metrics', '0.0.0.0:9153', ...passed];
      const [{ Command }, { register }] = await Promise.all([import('commander'), import('../../dns/cli.js')]);
      const program = new Command('svcplane');
      register(program);
      await program.parseAsync(argv, { from: 'user' });
      return;
    }
    default:
      process.stderr.write(`image-run: unknown program "${prog}" (known: ${PROGRAMS.join(', ')})\n`);
      process.exit(127);
  }
}
