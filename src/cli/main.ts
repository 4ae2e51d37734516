#!/usr/bin/env node
/**
 * @module cli/main
 * The `svcplane` command. Each component registers its own subcommands (src/<component>/cli.ts).
 */
import { Command } from 'commander';
import { COMPONENT_CLIS, STANDALONE } from './components.js';

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
