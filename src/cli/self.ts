/**
 * @module cli/self
 * How svcplane starts its own components (API server, node agents, proxies, pod images) as
 * child processes: the compiled CLI when built (fast start), else the TypeScript sources via tsx.
 */
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of the svcplane checkout (the folder holding package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(fileURLToPath(import.meta.url).includes(`${'/dist/'}`) ? ['..'] : []));

/** argv prefix that runs `svcplane`: [node, entry] or [node, --import, tsx, entry]. */
export function selfCommand(): string[] {
  const built = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (existsSync(built) && process.env.SVCPLANE_FROM_SOURCE !== '1') return [process.execPath, built];
  return [process.execPath, '--import', 'tsx', join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
}
