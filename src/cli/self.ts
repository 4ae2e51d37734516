/**
 * @module cli/self
 * How svcplane starts its own components (API server, node agents, proxies, pod images) as
 * child processes: as plain JavaScript, never through tsx when avoidable (tsx costs each process
 * about a second of CPU and 40 MB, and `svcplane up` starts a dozen at once). In order:
 *   1. dist/bundle (buildBundle, run by the set-up after tsc) when no source file is newer: each
 *      command's modules and packages in a few files, which a process loads in half the CPU time
 *      of the ~200 files of dist/src (kubelet 0.50 → 0.26 CPU-s, API server 0.39 → 0.21);
 *   2. dist/ (tsc -p tsconfig.build.json) when built and no source file is newer than its output;
 *   3. else a per-file transpile of src/ into node_modules/.cache/svcplane/ (esbuild, the
 *      compiler tsx itself uses; only files newer than their output are redone, a few
 *      milliseconds each), so a checkout being edited still starts components quickly;
 *   4. else the TypeScript sources through tsx.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve, sep } from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { COMPONENT_CLIS } from './components.js';

/** Where the transpiled copy of src/ lives, inside node_modules so packages resolve from it. */
const CACHE_REL = join('node_modules', '.cache', 'svcplane');
/** Touched by every complete refresh, dated when it began (bin/svcplane compares sources with it). */
const STAMP = '.fresh';

/** Root of the svcplane checkout (the folder holding package.json), from src/, dist/src/ or the cache. */
export const PROJECT_ROOT = (() => {
  const here = dirname(fileURLToPath(import.meta.url));
  const cached = here.indexOf(`${sep}${CACHE_REL}${sep}`);
  if (cached >= 0) return here.slice(0, cached);
  return resolve(here, '..', '..', ...(here.includes(`${sep}dist${sep}`) ? ['..'] : []));
})();

/** How long a verdict on dist/ holds: a supervisor restarting components re-checks after a rebuild. */
const CHECK_TTL_MS = 5000;
let distVerdict: { at: number; current: boolean } | undefined;
let cacheVerdict: { at: number; ok: boolean } | undefined;

/** Source files that are compiled (tests and declarations are not), relative to the root. */
function sources(root: string, rel = 'src', out: string[] = []): string[] {
  for (const e of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = join(rel, e.name);
    if (e.isDirectory()) sources(root, r, out);
    else if ((e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) || e.name.endsWith('.json')) out.push(r);
  }
  return out;
}

const outputOf = (rel: string) => rel.replace(/\.ts$/, '.js');
const mtime = (p: string) => { try { return statSync(p).mtimeMs; } catch { return -1; } };

/**
 * Is dist/ built and at least as new as every source file? A stale build would run old code, so
 * any source newer than its .js (or without one) rules it out. About 200 stat calls.
 */
export function distCurrent(root = PROJECT_ROOT): boolean {
  if (root === PROJECT_ROOT && distVerdict && Date.now() - distVerdict.at < CHECK_TTL_MS) return distVerdict.current;
  let current = existsSync(join(root, 'dist', 'src', 'cli', 'main.js'));
  if (current) {
    for (const rel of sources(root)) {
      if (rel.endsWith('.json')) continue;
      if (mtime(join(root, 'dist', outputOf(rel))) < mtime(join(root, rel))) { current = false; break; }
    }
  }
  if (root === PROJECT_ROOT) distVerdict = { at: Date.now(), current };
  return current;
}

/**
 * Bring the transpiled cache up to date (files newer than their output only; each written to a
 * temporary name and renamed, so concurrent callers never see half a file). false when esbuild
 * is not installed or a file does not transpile.
 */
export function refreshCache(root = PROJECT_ROOT): boolean {
  if (root === PROJECT_ROOT && cacheVerdict && Date.now() - cacheVerdict.at < CHECK_TTL_MS) return cacheVerdict.ok;
  let ok = true;
  const started = new Date();
  try {
    let esbuild: typeof import('esbuild') | undefined;
    for (const rel of sources(root)) {
      const src = join(root, rel);
      const out = join(root, CACHE_REL, outputOf(rel));
      if (mtime(out) >= mtime(src)) continue;
      esbuild ??= createRequire(join(root, 'package.json'))('esbuild') as typeof import('esbuild');
      const text = readFileSync(src, 'utf8');
      const code = rel.endsWith('.json') ? text : esbuild.transformSync(text, {
        loader: 'ts', format: 'esm', target: 'node20', sourcefile: src, sourcemap: 'inline',
        // Node 20 takes `with { type: 'json' }`; esbuild would drop it for a node20 target.
        supported: { 'import-attributes': true },
      }).code;
      mkdirSync(dirname(out), { recursive: true });
      const tmp = `${out}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      renameSync(tmp, out);
    }
    // For bin/svcplane: the cache is current for every source not modified since this refresh began.
    const stamp = join(root, CACHE_REL, 'src', STAMP);
    writeFileSync(stamp, '');
    utimesSync(stamp, started, started);
  } catch {
    ok = false;
  }
  if (root === PROJECT_ROOT) cacheVerdict = { at: Date.now(), ok };
  return ok;
}

/** The bundle's folder; entries keep their place under src/ (main.ts imports '../kubelet/cli.js'). */
const BUNDLE_REL = join('dist', 'bundle');
/** Entries of the bundle, relative to src/ without extension. */
const BUNDLE_ENTRIES = ['cli/main', 'images/run', ...COMPONENT_CLIS.map((m) => join('cli', m).replace(/\.js$/, ''))];
/**
 * Packages left in node_modules: native ones, and those that read files beside their own code
 * when loaded (etcd3 its .proto files).
 */
const BUNDLE_EXTERNAL = ['better-sqlite3', 'etcd3'];
let bundleVerdict: { at: number; current: boolean } | undefined;

/**
 * Build dist/bundle from the sources with esbuild: one file per entry plus shared chunks
 * (dist/bundle/chunks, as deep under the root as dist/src/<dir>, so PROJECT_ROOT holds). The
 * stamp is dated when the build began: a source saved during it makes the bundle stale.
 */
export function buildBundle(root = PROJECT_ROOT): void {
  const esbuild = createRequire(join(root, 'package.json'))('esbuild') as typeof import('esbuild');
  const started = new Date();
  const out = join(root, BUNDLE_REL);
  rmSync(out, { recursive: true, force: true });
  esbuild.buildSync({
    entryPoints: BUNDLE_ENTRIES.map((e) => join(root, 'src', `${e}.ts`)),
    outbase: join(root, 'src'), outdir: out, chunkNames: 'chunks/[name]-[hash]',
    bundle: true, splitting: true, format: 'esm', platform: 'node', target: 'node20', logLevel: 'error',
    external: BUNDLE_EXTERNAL,
    supported: { 'import-attributes': true },
    // CommonJS packages inside an ES module bundle still call require().
    banner: { js: "import { createRequire as __svcplaneRequire } from 'node:module'; const require = __svcplaneRequire(import.meta.url);" },
  });
  const stamp = join(out, STAMP);
  writeFileSync(stamp, '');
  utimesSync(stamp, started, started);
}

/** Is dist/bundle built after every source file was last changed? */
export function bundleCurrent(root = PROJECT_ROOT): boolean {
  if (root === PROJECT_ROOT && bundleVerdict && Date.now() - bundleVerdict.at < CHECK_TTL_MS) return bundleVerdict.current;
  const built = mtime(join(root, BUNDLE_REL, STAMP));
  const current = built > 0 && existsSync(join(root, BUNDLE_REL, 'cli', 'main.js')) && sources(root).every((rel) => mtime(join(root, rel)) <= built);
  if (root === PROJECT_ROOT) bundleVerdict = { at: Date.now(), current };
  return current;
}

/**
 * The runnable JavaScript for src/<rel>.ts (e.g. 'cli/main'), or undefined when only tsx can run
 * it (SVCPLANE_FROM_SOURCE=1 asks for that).
 */
export function compiledEntry(rel: string): string | undefined {
  if (process.env.SVCPLANE_FROM_SOURCE === '1') return undefined;
  if (BUNDLE_ENTRIES.includes(rel) && bundleCurrent()) return join(PROJECT_ROOT, BUNDLE_REL, `${rel}.js`);
  if (distCurrent()) return join(PROJECT_ROOT, 'dist', 'src', `${rel}.js`);
  if (refreshCache()) return join(PROJECT_ROOT, CACHE_REL, 'src', `${rel}.js`);
  return undefined;
}

/** argv prefix that runs `svcplane`: [node, entry] or [node, --import, tsx, entry]. */
export function selfCommand(): string[] {
  const built = compiledEntry('cli/main');
  if (built) return [process.execPath, built];
  // tsx pinned by absolute URL: a bare `--import tsx` resolves from the working directory,
  // which inside a pod is /.
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'src', 'cli', 'main.ts')];
}
