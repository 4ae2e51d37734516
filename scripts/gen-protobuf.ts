/**
 * Build-time generator of the protobuf field tables (src/apiserver/protobuf-messages.ts).
 * Field numbers and wire types come from upstream's generated.proto files; JSON names, inline
 * embedding and what Go's encoder does with zero values (pointer or omitempty) come from the
 * struct tags of the Go types the .proto files were generated from. Only the messages
 * reachable from the kinds svcplane serves (and the Scale, Eviction and TokenRequest subresources) are kept.
 *
 * Run: node --import tsx scripts/gen-protobuf.ts <k8s.io/api checkout> <k8s.io/apimachinery checkout> [label]
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { RESOURCES } from '../src/api/registry.js';

const [apiDir, machineryDir, label = ''] = process.argv.slice(2);
if (!apiDir || !machineryDir) { console.error('usage: gen-protobuf.ts <k8s.io/api dir> <k8s.io/apimachinery dir> [label]'); process.exit(2); }
const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'apiserver', 'protobuf-messages.ts');

/** Short package name → [Go package dir, proto package]. */
const PACKAGES: Record<string, [string, string]> = {
  core: [path.join(apiDir, 'core/v1'), 'k8s.io.api.core.v1'],
  apps: [path.join(apiDir, 'apps/v1'), 'k8s.io.api.apps.v1'],
  discovery: [path.join(apiDir, 'discovery/v1'), 'k8s.io.api.discovery.v1'],
  coordination: [path.join(apiDir, 'coordination/v1'), 'k8s.io.api.coordination.v1'],
  policy: [path.join(apiDir, 'policy/v1'), 'k8s.io.api.policy.v1'],
  autoscaling: [path.join(apiDir, 'autoscaling/v1'), 'k8s.io.api.autoscaling.v1'],
  authentication: [path.join(apiDir, 'authentication/v1'), 'k8s.io.api.authentication.v1'],
  meta: [path.join(machineryDir, 'pkg/apis/meta/v1'), 'k8s.io.apimachinery.pkg.apis.meta.v1'],
};
/** Messages whose JSON form is not their fields: decoded by hand in protobuf.ts. */
const SPECIAL: Record<string, string> = {
  'k8s.io.apimachinery.pkg.apis.meta.v1.Time': 'time',
  'k8s.io.apimachinery.pkg.apis.meta.v1.MicroTime': 'microtime',
  'k8s.io.apimachinery.pkg.apis.meta.v1.FieldsV1': 'raw',
  'k8s.io.apimachinery.pkg.runtime.RawExtension': 'raw',
  'k8s.io.apimachinery.pkg.api.resource.Quantity': 'quantity',
  'k8s.io.apimachinery.pkg.util.intstr.IntOrString': 'intstr',
};
/**
 * Fields left out of the tables (skipped when decoding, as unknown fields are): TokenRequest's
 * attestations (alpha, only for tokens bound to webhook configurations, which svcplane does not
 * serve) are a map of a []string alias protobuf wraps in a message with no Go struct.
 */
const SKIP_FIELDS = new Set(['authentication.TokenRequestSpec.attestations']);
const SCALARS = new Set(['string', 'int32', 'int64', 'bool', 'bytes']);
/** apiVersion/kind → message, besides the served kinds. */
const EXTRA_KINDS: Record<string, string> = { 'autoscaling/v1/Scale': 'autoscaling.Scale', 'authentication.k8s.io/v1/TokenRequest': 'authentication.TokenRequest', 'policy/v1/Eviction': 'policy.Eviction', 'v1/DeleteOptions': 'meta.DeleteOptions', 'meta.k8s.io/v1/DeleteOptions': 'meta.DeleteOptions' };
const GROUP_PACKAGE: Record<string, string> = { '': 'core', apps: 'apps', 'discovery.k8s.io': 'discovery', 'coordination.k8s.io': 'coordination' };

interface ProtoField { name: string; num: number; type: string; mode: '' | 'rep' | 'map' }
interface GoField { json: string; inline: boolean; keepZero: boolean }

/** message name → fields, from one generated.proto. */
function parseProto(file: string): Map<string, ProtoField[]> {
  const out = new Map<string, ProtoField[]>();
  const text = readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '');
  for (const m of text.matchAll(/^message (\w+) \{([^}]*)\}/gm)) {
    const fields: ProtoField[] = [];
    for (const f of m[2]!.matchAll(/^\s*(?:(optional|repeated) ([\w.]+)|map<string, ([\w.]+)>) (\w+) = (\d+);/gm)) {
      fields.push({ name: f[4]!, num: Number(f[5]), type: f[2] ?? f[3]!, mode: f[3] ? 'map' : f[1] === 'repeated' ? 'rep' : '' });
    }
    out.set(m[1]!, fields);
  }
  return out;
}

/** struct name → protobuf field number → JSON facts, from a Go package's sources. */
function parseGo(dir: string): Map<string, Map<string, GoField>> {
  const out = new Map<string, Map<string, GoField>>();
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.go') || /_test\.go$|^zz_generated|generated\.pb\.go$|swagger_doc/.test(f)) continue;
    const text = readFileSync(path.join(dir, f), 'utf8');
    for (const m of text.matchAll(/^type (\w+) struct \{\n([\s\S]*?)^\}/gm)) {
      const fields = new Map<string, GoField>();
      for (const line of m[2]!.split('\n')) {
        const fm = /^\t(?:(\w+)\s+)?(\S+)\s+`([^`]*)`/.exec(line);
        if (!fm) continue;
        const tags = fm[3]!;
        const pb = /protobuf:"\w+,(\d+),/.exec(tags)?.[1];
        if (!pb) continue;
        const json = /json:"([^"]*)"/.exec(tags)?.[1] ?? '';
        const [jsonName = '', ...opts] = json.split(',');
        const embedded = !fm[1];
        fields.set(pb, {
          json: jsonName,
          inline: (embedded && jsonName === '') || opts.includes('inline'),
          // Go writes a non-pointer scalar even when zero; JSON leaves it out under omitempty.
          keepZero: fm[2]!.startsWith('*') || !opts.includes('omitempty'),
        });
      }
      out.set(m[1]!, fields);
    }
  }
  return out;
}

const protos = new Map<string, Map<string, ProtoField[]>>();
const gos = new Map<string, Map<string, Map<string, GoField>>>();
const byProtoPackage = new Map<string, string>();
for (const [short, [dir, pkg]] of Object.entries(PACKAGES)) {
  protos.set(short, parseProto(path.join(dir, 'generated.proto')));
  gos.set(short, parseGo(dir));
  byProtoPackage.set(pkg, short);
}

/** A .proto type reference (local or fully qualified) → a field type of the tables. */
function resolve(short: string, t: string): string {
  if (SCALARS.has(t)) return t;
  const full = t.startsWith('.') ? t.slice(1) : `${PACKAGES[short]![1]}.${t}`;
  if (SPECIAL[full]) return SPECIAL[full];
  const i = full.lastIndexOf('.');
  const pkg = byProtoPackage.get(full.slice(0, i));
  if (!pkg) throw new Error(`no package for ${t}`);
  return `${pkg}.${full.slice(i + 1)}`;
}

const kinds: Record<string, string> = { ...EXTRA_KINDS };
for (const r of RESOURCES) {
  const pkg = GROUP_PACKAGE[r.group];
  if (!pkg) throw new Error(`no package for group ${r.group}`);
  kinds[`${r.group ? `${r.group}/` : ''}${r.version}/${r.kind}`] = `${pkg}.${r.kind}`;
}

type Row = [string, string, string, string];
const tables = new Map<string, Map<number, Row>>();
const queue = [...new Set(Object.values(kinds))];
while (queue.length) {
  const name = queue.shift()!;
  if (tables.has(name)) continue;
  const [short, msg] = name.split('.') as [string, string];
  const fields = protos.get(short)?.get(msg);
  if (!fields) throw new Error(`no message ${name}`);
  const go = gos.get(short)!.get(msg);
  if (!go) throw new Error(`no Go struct ${name}`);
  const rows = new Map<number, Row>();
  for (const f of fields) {
    if (SKIP_FIELDS.has(`${name}.${f.name}`)) continue;
    const g = go.get(String(f.num));
    if (!g) throw new Error(`${name}.${f.name}: no Go field`);
    const type = resolve(short, f.type);
    if (type.includes('.')) queue.push(type);
    const flags = [g.inline ? 'inline' : '', g.keepZero && !g.inline ? 'keep' : ''].filter(Boolean).join(',');
    rows.set(f.num, [g.json, type, f.mode, flags]);
  }
  tables.set(name, rows);
}

const lines = [
  '/**',
  ' * @module apiserver/protobuf-messages',
  ` * Generated by scripts/gen-protobuf.ts${label ? ` from ${label}` : ''}; do not edit.`,
  ' * Per message: field number → [JSON name, type, \'\' | \'rep\' | \'map\' (map<string, type>), flags].',
  ' * Flags: keep = a zero value is kept (a pointer, or a field without omitempty); inline = the',
  ' * message\'s fields belong to the enclosing JSON object (a Go embedded struct).',
  ' */',
  'export type FieldRow = readonly [json: string, type: string, mode: \'\' | \'rep\' | \'map\', flags: string];',
  '',
  '/** apiVersion/kind → message. */',
  `export const KINDS: Record<string, string> = ${JSON.stringify(Object.fromEntries(Object.entries(kinds).sort()), null, 2).replace(/"/g, '\'')};`,
  '',
  'export const MESSAGES: Record<string, Record<number, FieldRow>> = {',
];
for (const name of [...tables.keys()].sort()) {
  const rows = [...tables.get(name)!].sort((a, b) => a[0] - b[0]).map(([n, r]) => `${n}: ${JSON.stringify(r).replace(/"/g, '\'')}`);
  lines.push(`  '${name}': { ${rows.join(', ')} },`);
}
lines.push('};', '');
writeFileSync(OUT, lines.join('\n'));
console.log(`${tables.size} messages, ${[...tables.values()].reduce((n, t) => n + t.size, 0)} fields → ${OUT}`);
