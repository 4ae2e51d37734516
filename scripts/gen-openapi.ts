/**
 * Build-time generator: reads the `kubernetes-types` declaration files (generated from the
 * upstream OpenAPI, with its doc comments) through the TypeScript compiler API and writes
 * OpenAPI v3 component schemas, named as upstream (io.k8s.api.core.v1.Service, ...), to
 * src/api/openapi-data/schemas.json. Patch metadata comes from src/api/patch-meta.ts.
 * Only the schemas reachable from the kinds svcplane serves are kept.
 *
 * Run: node --import tsx scripts/gen-openapi.ts
 */
import ts from 'typescript';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { PATCH_META, ATOMIC_TYPES } from '../src/api/patch-meta.js';
import { RESOURCES } from '../src/api/registry.js';
import * as clientModels from '@kubernetes/client-node';

const require = createRequire(import.meta.url);
const TYPES_DIR = path.dirname(require.resolve('kubernetes-types/package.json'));
const OUT = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'src', 'api', 'openapi-data', 'schemas.json');

/** kubernetes-types module → upstream schema name prefix. */
const MODULES: Record<string, string> = {
  'core/v1': 'io.k8s.api.core.v1',
  'apps/v1': 'io.k8s.api.apps.v1',
  'discovery/v1': 'io.k8s.api.discovery.v1',
  'coordination/v1': 'io.k8s.api.coordination.v1',
  'autoscaling/v1': 'io.k8s.api.autoscaling.v1',
  'policy/v1': 'io.k8s.api.policy.v1',
  'meta/v1': 'io.k8s.apimachinery.pkg.apis.meta.v1',
  'api/resource': 'io.k8s.apimachinery.pkg.api.resource',
  runtime: 'io.k8s.apimachinery.pkg.runtime',
};
/** Extra roots besides the served kinds and their lists. */
const EXTRA_ROOTS = ['io.k8s.apimachinery.pkg.apis.meta.v1.Status', 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions',
  'io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent', 'io.k8s.api.autoscaling.v1.Scale', 'io.k8s.api.policy.v1.Eviction'];

/** kubernetes-types inlines IntOrString as `number | string`; upstream names it (kubectl explain shows <IntOrString>). */
const INT_OR_STRING = 'io.k8s.apimachinery.pkg.util.intstr.IntOrString';

type Schema = Record<string, unknown>;
const schemas: Record<string, Schema> = {
  [INT_OR_STRING]: {
    description: 'IntOrString is a type that can hold an int32 or a string.  When used in JSON or YAML marshalling and unmarshalling, it produces or consumes the inner type.  This allows you to have, for example, a JSON field that can accept a name or number.',
    // No `type`: kubectl explain then names the type (<IntOrString>), as with upstream's document.
    format: 'int-or-string', 'x-kubernetes-int-or-string': true,
  },
};
/** Local name → full schema name, per module (imports resolve through their module). */
const localNames = new Map<string, Map<string, string>>();

function docOf(node: ts.Node): string {
  const docs = (node as unknown as { jsDoc?: ts.JSDoc[] }).jsDoc;
  if (!docs || docs.length === 0) return '';
  const c = docs[docs.length - 1].comment;
  return (typeof c === 'string' ? c : (c ?? []).map((x) => x.text).join('')).trim();
}

function refTo(name: string): Schema {
  return { $ref: `#/components/schemas/${name}` };
}

function typeToSchema(t: ts.TypeNode, mod: string): Schema {
  switch (t.kind) {
    case ts.SyntaxKind.StringKeyword: return { type: 'string' };
    case ts.SyntaxKind.NumberKeyword: return { type: 'integer' };
    case ts.SyntaxKind.BooleanKeyword: return { type: 'boolean' };
    case ts.SyntaxKind.AnyKeyword:
    case ts.SyntaxKind.UnknownKeyword: return { type: 'object', 'x-kubernetes-preserve-unknown-fields': true };
    default: break;
  }
  if (ts.isLiteralTypeNode(t)) return { type: 'string' };
  if (ts.isParenthesizedTypeNode(t)) return typeToSchema(t.type, mod);
  if (ts.isUnionTypeNode(t)) {
    const kinds = new Set(t.types.map((x) => x.kind));
    if (kinds.has(ts.SyntaxKind.NumberKeyword) && kinds.has(ts.SyntaxKind.StringKeyword)) {
      return refTo(INT_OR_STRING);
    }
    return typeToSchema(t.types[0], mod);
  }
  if (ts.isArrayTypeNode(t)) return { type: 'array', items: itemSchema(t.elementType, mod) };
  if (ts.isTypeReferenceNode(t)) {
    const n = t.typeName.getText();
    if (n === 'Array' && t.typeArguments?.length) return { type: 'array', items: itemSchema(t.typeArguments[0], mod) };
    if (n === 'Record' && t.typeArguments?.length === 2) return { type: 'object', additionalProperties: itemSchema(t.typeArguments[1], mod) };
    const full = localNames.get(mod)?.get(n);
    if (!full) throw new Error(`${mod}: unresolved type ${n}`);
    return refTo(full);
  }
  if (ts.isTypeLiteralNode(t)) {
    const idx = t.members.find(ts.isIndexSignatureDeclaration);
    if (idx?.type) return { type: 'object', additionalProperties: itemSchema(idx.type, mod) };
    return { type: 'object' };
  }
  throw new Error(`${mod}: unsupported type ${ts.SyntaxKind[t.kind]} ${t.getText()}`);
}

/** Referenced structs as items/values carry default {} the way upstream's v3 documents do. */
function itemSchema(t: ts.TypeNode, mod: string): Schema {
  const s = typeToSchema(t, mod);
  return s.$ref ? { allOf: [s], default: {} } : s;
}

function fieldSchema(t: ts.TypeNode, mod: string, description: string): Schema {
  const s = typeToSchema(t, mod);
  const out: Schema = s.$ref ? { allOf: [s] } : { ...s };
  if (description) out.description = description;
  return out;
}

/**
 * Integer widths (int32/int64) and byte maps, which kubernetes-types' `number`/`string` lose:
 * taken from @kubernetes/client-node's models (generated from the same upstream OpenAPI), so
 * the API server's decoder can bound numbers as kube-apiserver's Go types do.
 */
function formatOf(schemaName: string, field: string): string | undefined {
  const parts = schemaName.split('.');
  const kind = parts[parts.length - 1]!; const ver = parts[parts.length - 2]!; const grp = parts[parts.length - 3]!;
  const up = (x: string) => x.charAt(0).toUpperCase() + x.slice(1);
  const models = clientModels as unknown as Record<string, { getAttributeTypeMap?: () => { baseName: string; format: string }[] } | undefined>;
  for (const cls of [`${up(ver)}${kind}`, `${up(grp)}${up(ver)}${kind}`]) {
    const m = models[cls];
    if (!m?.getAttributeTypeMap) continue;
    const f = m.getAttributeTypeMap().find((a) => a.baseName === field)?.format;
    return f === 'int32' || f === 'int64' || f === 'byte' ? f : undefined;
  }
  return undefined;
}

function withFormat(s: Schema, format: string | undefined): void {
  if (!format) return;
  if (s.type === 'integer') s.format = format;
  else if (s.type === 'array' && (s.items as Schema | undefined)?.type === 'integer') (s.items as Schema).format = format;
  else if (s.type === 'object' && (s.additionalProperties as Schema | undefined)?.type === 'string' && format === 'byte') (s.additionalProperties as Schema).format = format;
}

function literalOf(m: ts.PropertySignature | undefined): string | undefined {
  if (!m?.type || !ts.isLiteralTypeNode(m.type) || !ts.isStringLiteral(m.type.literal)) return undefined;
  return m.type.literal.text;
}

function loadModule(mod: string): ts.SourceFile {
  const file = path.join(TYPES_DIR, `${mod}.d.ts`);
  const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const names = new Map<string, string>();
  for (const st of sf.statements) {
    if ((ts.isInterfaceDeclaration(st) || ts.isTypeAliasDeclaration(st))) names.set(st.name.text, `${MODULES[mod]}.${st.name.text}`);
    if (ts.isImportDeclaration(st) && st.importClause?.namedBindings && ts.isNamedImports(st.importClause.namedBindings)) {
      const from = path.posix.normalize(path.posix.join(path.posix.dirname(mod), (st.moduleSpecifier as ts.StringLiteral).text));
      const prefix = MODULES[from];
      if (!prefix) throw new Error(`${mod}: import from unknown module ${from}`);
      for (const el of st.importClause.namedBindings.elements) names.set(el.name.text, `${prefix}.${el.name.text}`);
    }
  }
  localNames.set(mod, names);
  return sf;
}

function convert(mod: string, sf: ts.SourceFile): void {
  for (const st of sf.statements) {
    if (ts.isTypeAliasDeclaration(st)) {
      const name = `${MODULES[mod]}.${st.name.text}`;
      const description = docOf(st);
      let s: Schema;
      if (st.name.text === 'Time' || st.name.text === 'MicroTime') s = { type: 'string', format: 'date-time' };
      else if (st.name.text === 'Quantity') s = { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] };
      else s = typeToSchema(st.type, mod);
      schemas[name] = description ? { description, ...s } : s;
      continue;
    }
    if (!ts.isInterfaceDeclaration(st)) continue;
    const name = `${MODULES[mod]}.${st.name.text}`;
    const props: Record<string, Schema> = {};
    const required: string[] = [];
    const members = st.members.filter(ts.isPropertySignature);
    const meta = PATCH_META[name] ?? {};
    for (const m of members) {
      const field = m.name.getText().replace(/^["']|["']$/g, '');
      if (!m.type) continue;
      const s = fieldSchema(m.type, mod, docOf(m));
      withFormat(s, formatOf(name, field));
      const pm = meta[field];
      if (pm) {
        if (pm.listType) s['x-kubernetes-list-type'] = pm.listType;
        if (pm.listType === 'map' && pm.listMapKeys) s['x-kubernetes-list-map-keys'] = pm.listMapKeys;
        if (pm.mergeKey) s['x-kubernetes-patch-merge-key'] = pm.mergeKey;
        if (pm.strategy) s['x-kubernetes-patch-strategy'] = pm.strategy;
        if (pm.mapType) s['x-kubernetes-map-type'] = pm.mapType;
      }
      props[field] = s;
      if (!m.questionToken) required.push(field);
    }
    const s: Schema = { description: docOf(st), type: 'object', properties: props };
    if (members.length === 0) delete s.properties;
    if (required.length) s.required = required.sort();
    if (ATOMIC_TYPES.includes(name)) s['x-kubernetes-map-type'] = 'atomic';
    const kind = literalOf(members.find((m) => m.name.getText() === 'kind'));
    const apiVersion = literalOf(members.find((m) => m.name.getText() === 'apiVersion'));
    if (kind && apiVersion) {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      s['x-kubernetes-group-version-kind'] = [{ group, kind, version }];
    }
    schemas[name] = s;
  }
}

function refsOf(v: unknown, out: Set<string>): void {
  if (Array.isArray(v)) { for (const x of v) refsOf(x, out); return; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.add(x.replace('#/components/schemas/', ''));
      else refsOf(x, out);
    }
  }
}

const files = Object.keys(MODULES).map((m) => [m, loadModule(m)] as const);
for (const [m, sf] of files) convert(m, sf);
// WatchEvent's object is a RawExtension upstream; kubectl only needs it to exist.
const roots = new Set<string>(EXTRA_ROOTS);
for (const r of RESOURCES) {
  const prefix = r.group === '' ? 'io.k8s.api.core.v1' : `io.k8s.api.${r.group.replace(/\.k8s\.io$/, '')}.${r.version}`;
  roots.add(`${prefix}.${r.kind}`);
  if (schemas[`${prefix}.${r.listKind}`]) roots.add(`${prefix}.${r.listKind}`);
}
const keep = new Set<string>();
const queue = [...roots];
while (queue.length) {
  const n = queue.pop()!;
  if (keep.has(n)) continue;
  if (!schemas[n]) throw new Error(`missing schema ${n}`);
  keep.add(n);
  const refs = new Set<string>();
  refsOf(schemas[n], refs);
  queue.push(...refs);
}
const out: Record<string, Schema> = {};
for (const n of [...keep].sort()) out[n] = schemas[n];
mkdirSync(path.dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(out)}\n`);
console.log(JSON.stringify({ wrote: OUT, schemas: keep.size, bytes: JSON.stringify(out).length }));
