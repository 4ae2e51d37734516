/**
 * @module api/schema
 * Unknown-field detection for fieldValidation=Strict|Warn, driven by the same generated OpenAPI
 * schemas kubectl reads. Paths are returned as '.spec.portz' / '.spec.ports[0].nmae'; the API
 * server words them as kube-apiserver does: `unknown field "spec.portz"`.
 */
import type { KubeObject } from './types.js';
import type { ResourceInfo } from './registry.js';
import { typeNameFor } from './patch-meta.js';
import { schemaByName } from './openapi.js';

type Schema = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';

const resolved = new WeakMap<Schema, Schema | undefined>();

/** Follow $ref and allOf to the schema that describes a value (memoised: schemas are fixed). */
function resolve(s: Schema | undefined): Schema | undefined {
  if (!s) return undefined;
  if (resolved.has(s)) return resolved.get(s);
  let cur: Schema | undefined = s;
  for (let i = 0; cur && i < 8; i++) {
    if (typeof cur.$ref === 'string') { cur = schemaByName(cur.$ref.slice(REF_PREFIX.length)); continue; }
    const allOf = cur.allOf as Schema[] | undefined;
    if (Array.isArray(allOf) && allOf.length > 0) { cur = allOf[0]; continue; }
    break;
  }
  resolved.set(s, cur);
  return cur;
}

/** The path of a field from its segments ('.spec', '.ports', '[0]', …), built only for unknown fields. */
function pathOf(segments: string[], last: string): string {
  return segments.join('') + last;
}

function walk(v: unknown, s: Schema | undefined, segments: string[], out: string[]): void {
  const schema = resolve(s);
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] || schema['x-kubernetes-int-or-string'] || schema.format === 'int-or-string') return;
  if (Array.isArray(v)) {
    const items = schema.items as Schema | undefined;
    if (!items) return;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (typeof x !== 'object' || x === null) continue;
      segments.push(`[${i}]`);
      walk(x, items, segments, out);
      segments.pop();
    }
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const props = schema.properties as Record<string, Schema> | undefined;
  if (props) {
    for (const k in v) {
      if (!Object.prototype.hasOwnProperty.call(props, k)) { out.push(pathOf(segments, `.${k}`)); continue; }
      const x = (v as Record<string, unknown>)[k];
      if (typeof x !== 'object' || x === null) continue;
      segments.push(`.${k}`);
      walk(x, props[k], segments, out);
      segments.pop();
    }
    return;
  }
  const additional = schema.additionalProperties as Schema | undefined;
  if (additional && typeof additional === 'object') {
    for (const k in v) {
      const x = (v as Record<string, unknown>)[k];
      if (typeof x !== 'object' || x === null) continue;
      segments.push(`.${k}`);
      walk(x, additional, segments, out);
      segments.pop();
    }
  }
  // An object schema without properties (FieldsV1, RawExtension) takes anything.
}

/** Fields of obj the resource's schema does not declare, e.g. ['.spec.portz']. */
export function unknownFields(obj: KubeObject, info: ResourceInfo): string[] {
  const root = schemaByName(typeNameFor(info.group, info.version, info.kind));
  if (!root) return [];
  const out: string[] = [];
  walk(obj, root, [], out);
  return out;
}

/** kube-apiserver's wording for one unknown field path. */
export function unknownFieldMessage(path: string): string {
  return `unknown field "${path.replace(/^\./, '')}"`;
}
