/**
 * @module cli/self
 * How svcplane starts its own components (API server, node agents, proxies, pod images) as
 * child processes: the compiled CLI when built (fast start), else the TypeScript sources via tsx.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Root of the svcplane checkout (the folder holding package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(fileURLToPath(import.meta.url).includes(`${'/dist/'}`) ? ['..'] : []));

/** argv prefix that runs `svcplane`: [node, entry] or [node, --import, tsx, entry]. */
export function selfCommand(): string[] {
  const built = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (existsSync(built) && process.env.SVCPLANE_FROM_SOURCE !== '1') return [process.execPath, built];
  // tsx pinned by absolute URL: a bare `--import tsx` resolves from the working directory,
  // which inside a pod is /.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
}
