/**
 * @module controllers/shared/hash
 * Object hashes as pkg/controller/controller_utils.go ComputeHash: FNV-1a 32 over the object
 * (svcplane hashes canonical JSON, upstream hashes a spew dump), plus the collision count,
 * printed in decimal and mapped through the "safe" alphabet of apimachinery's rand package
 * (no vowels, no look-alikes), giving names such as myapp-fdb95659d.
 */

/** k8s.io/apimachinery/pkg/util/rand: alphanums without vowels and 0/1/3. */
export const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv32a(data: string | Buffer, seed = FNV_OFFSET): number {
  const bytes = typeof data === 'string' ? Buffer.from(data) : data;
  let h = seed >>> 0;
  for (let i = 0; i < bytes.length; i++) {
    h ^= bytes[i]!;
    h = Math.imul(h, FNV_PRIME) >>> 0;
  }
  return h >>> 0;
}

/** rand.SafeEncodeString: each character of s → SAFE_ALPHABET[charCode % 27]. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += SAFE_ALPHABET[s.charCodeAt(i) % SAFE_ALPHABET.length];
  return out;
}

/** JSON with sorted keys, so equal objects hash equally whatever their key order. */
export function canonicalJSON(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v) ?? 'null';
  if (Array.isArray(v)) return `[${v.map(canonicalJSON).join(',')}]`;
  const keys = Object.keys(v as object).filter((k) => (v as any)[k] !== undefined).sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJSON((v as any)[k])}`).join(',')}}`;
}

/**
 * Drop nulls, empty objects and empty arrays, recursively: Go's zero values. Upstream compares
 * and hashes Go structs, where `resources: {}` or `creationTimestamp: null` (which kubectl
 * rollout undo sends back) are the same as absent.
 */
export function pruneEmpty(v: unknown): unknown {
  if (Array.isArray(v)) {
    const a = v.map(pruneEmpty).filter((x) => x !== undefined);
    return a.length ? a : undefined;
  }
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) { const p = pruneEmpty(x); if (p !== undefined) o[k] = p; }
    return Object.keys(o).length ? o : undefined;
  }
  return v === null ? undefined : v;
}

/** ComputeHash(template, collisionCount). */
export function computeHash(obj: unknown, collisionCount?: number): string {
  let h = fnv32a(canonicalJSON(pruneEmpty(obj) ?? {}));
  if (collisionCount !== undefined && collisionCount !== null) {
    // Upstream appends the count's little-endian bytes to the hasher input.
    const b = Buffer.alloc(4);
    b.writeUInt32LE(collisionCount >>> 0);
    h = fnv32a(b, h);
  }
  return safeEncodeString(String(h));
}

/** A random suffix from the safe alphabet (generateName style). */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SAFE_ALPHABET[Math.floor(Math.random() * SAFE_ALPHABET.length)];
  return s;
}
