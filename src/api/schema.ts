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

function resolve(s: Schema | undefined): Schema | undefined {
  let cur = s;
  for (let i = 0; cur && i < 8; i++) {
    if (typeof cur.$ref === 'string') { cur = schemaByName(cur.$ref.slice(REF_PREFIX.length)); continue; }
    const allOf = cur.allOf as Schema[] | undefined;
    if (Array.isArray(allOf) && allOf.length > 0) { cur = allOf[0]; continue; }
    return cur;
  }
  return cur;
}

function walk(v: unknown, s: Schema | undefined, path: string, out: string[]): void {
  const schema = resolve(s);
  if (!schema || schema['x-kubernetes-preserve-unknown-fields'] || schema['x-kubernetes-int-or-string'] || schema.format === 'int-or-string') return;
  if (Array.isArray(v)) {
    const items = schema.items as Schema | undefined;
    if (items) v.forEach((x, i) => walk(x, items, `${path}[${i}]`, out));
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const props = schema.properties as Record<string, Schema> | undefined;
  if (props) {
    for (const [k, x] of Object.entries(v)) {
      if (!Object.prototype.hasOwnProperty.call(props, k)) out.push(`${path}.${k}`);
      else walk(x, props[k], `${path}.${k}`, out);
    }
    return;
  }
  const additional = schema.additionalProperties as Schema | undefined;
  if (additional && typeof additional === 'object') {
    for (const [k, x] of Object.entries(v)) walk(x, additional, `${path}.${k}`, out);
  }
  // An object schema without properties (FieldsV1, RawExtension) takes anything.
}

/** Fields of obj the resource's schema does not declare, e.g. ['.spec.portz']. */
export function unknownFields(obj: KubeObject, info: ResourceInfo): string[] {
  const root = schemaByName(typeNameFor(info.group, info.version, info.kind));
  if (!root) return [];
  const out: string[] = [];
  walk(obj, root, '', out);
  return out;
}

/** kube-apiserver's wording for one unknown field path. */
export function unknownFieldMessage(path: string): string {
  return `unknown field "${path.replace(/^\./, '')}"`;
}
