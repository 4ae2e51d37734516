/**
 * @module cli/self
 * How svcplane starts its own components (API server, node agents, proxies, pod images) as
 * child processes: the compiled CLI when it is built and current (fast start), else the
 * TypeScript sources via tsx.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** Root of the svcplane checkout (the folder holding package.json). */
export const PROJECT_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', ...(fileURLToPath(import.meta.url).includes(`${'/dist/'}`) ? ['..'] : []));

/** How long a verdict on dist/ holds: a supervisor restarting components re-checks after a rebuild. */
const DIST_CHECK_TTL_MS = 5000;
let distVerdict: { at: number; current: boolean } | undefined;

/**
 * Is dist/ (tsc -p tsconfig.build.json) built and at least as new as every source file?
 * A stale build would run yesterday's code, so any source file newer than its .js (or without
 * one) sends every component through tsx instead. About 200 stat calls: a few milliseconds.
 */
export function distCurrent(root = PROJECT_ROOT): boolean {
  if (root === PROJECT_ROOT && distVerdict && Date.now() - distVerdict.at < DIST_CHECK_TTL_MS) return distVerdict.current;
  const check = (): boolean => {
    if (!existsSync(join(root, 'dist', 'src', 'cli', 'main.js'))) return false;
    const walk = (rel: string): boolean => {
      for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
        const r = join(rel, e.name);
        if (e.isDirectory()) { if (!walk(r)) return false; continue; }
        if (!e.name.endsWith('.ts') || e.name.endsWith('.test.ts') || e.name.endsWith('.d.ts')) continue;
        try {
          if (statSync(join(root, 'dist', r.replace(/\.ts$/, '.js'))).mtimeMs < statSync(join(root, r)).mtimeMs) return false;
        } catch { return false; }
      }
      return true;
    };
    return walk('src');
  };
  const current = check();
  if (root === PROJECT_ROOT) distVerdict = { at: Date.now(), current };
  return current;
}

/** argv prefix that runs `svcplane`: [node, entry] or [node, --import, tsx, entry]. */
export function selfCommand(): string[] {
  const built = join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js');
  if (process.env.SVCPLANE_FROM_SOURCE !== '1' && distCurrent()) return [process.execPath, built];
  // tsx pinned by absolute URL: a bare `--import tsx` resolves from the working directory,
  // which inside a pod is /.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
}
