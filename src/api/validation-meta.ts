/**
 * @module api/validation-meta
 * ObjectMeta, labels, annotations, label selectors and IPs (apimachinery ValidateObjectMeta,
 * ValidateLabels, ValidateAnnotations, metav1validation.ValidateLabelSelector, validation.IsValidIP).
 */
import type { ObjectMeta } from './types.js';
import {
  validateDNS1123Label, validateDNS1123Subdomain, validateDNS1035Label, validateQualifiedName, validateLabelValue,
} from './names.js';
import { type FieldError, GoRepr, Invalid, Required, Forbidden, TooLong, NotSupported, child, idx, IMMUTABLE_MSG } from './validation-field.js';

export type NameCheck = (name: string, prefix: boolean) => string[];

/** Name checks; `prefix` is for generateName, where a trailing '-' is fine (a suffix follows). */
const withPrefix = (f: (s: string) => string[]): NameCheck => (name, prefix) => {
  if (prefix) name = maskTrailingDash(name);
  return f(name);
};

function maskTrailingDash(s: string): string {
  return s.length > 1 && s.endsWith('-') ? `${s.slice(0, -2)}a` : s;
}

export const nameIsDNSSubdomain = withPrefix(validateDNS1123Subdomain);
export const nameIsDNSLabel = withPrefix(validateDNS1123Label);
export const nameIsDNS1035Label = withPrefix(validateDNS1035Label);

/** Path segment names that cannot be stored (ValidatePathSegmentName). */
export function pathSegmentName(name: string, prefix: boolean): string[] {
  if (!prefix && (name === '.' || name === '..')) return [`may not be '${name}'`];
  for (const bad of ['/', '%']) if (name.includes(bad)) return [`may not contain '${bad}'`];
  return [];
}

const TOTAL_ANNOTATION_SIZE = 256 * 1024;

export function validateLabels(labels: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!labels || typeof labels !== 'object') return errs;
  for (const k of Object.keys(labels).sort()) {
    for (const m of validateQualifiedName(k)) errs.push(Invalid(path, k, m));
    const v = (labels as Record<string, unknown>)[k];
    for (const m of validateLabelValue(String(v ?? ''))) errs.push(Invalid(path, v, m));
  }
  return errs;
}

export function validateAnnotations(ann: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!ann || typeof ann !== 'object') return errs;
  let size = 0;
  for (const k of Object.keys(ann).sort()) {
    for (const m of validateQualifiedName(k.toLowerCase())) errs.push(Invalid(path, k, m));
    size += k.length + String((ann as Record<string, unknown>)[k] ?? '').length;
  }
  if (size > TOTAL_ANNOTATION_SIZE) errs.push(TooLong(path, TOTAL_ANNOTATION_SIZE));
  return errs;
}

/** ValidateObjectMeta for create. */
export function validateObjectMeta(meta: ObjectMeta | undefined, namespaced: boolean, nameFn: NameCheck, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const errs: FieldError[] = [];
  if (m.generateName) {
    for (const msg of nameFn(m.generateName, true)) errs.push(Invalid(child(path, 'generateName'), m.generateName, msg));
  }
  if (!m.name) {
    // kube-apiserver fills the name from generateName before validating; callers may validate either side of that
    if (!m.generateName) errs.push(Required(child(path, 'name'), 'name or generateName is required'));
  } else {
    for (const msg of nameFn(m.name, false)) errs.push(Invalid(child(path, 'name'), m.name, msg));
  }
  if (namespaced) {
    if (!m.namespace) errs.push(Required(child(path, 'namespace'), ''));
    else for (const msg of validateDNS1123Label(m.namespace)) errs.push(Invalid(child(path, 'namespace'), m.namespace, msg));
  } else if (m.namespace) {
    errs.push(Forbidden(child(path, 'namespace'), 'not allowed on this type'));
  }
  if (typeof m.generation === 'number' && m.generation < 0) errs.push(Invalid(child(path, 'generation'), m.generation, 'must be greater than or equal to 0'));
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  (m.ownerReferences ?? []).forEach((r, i) => {
    const p = idx(child(path, 'ownerReferences'), i);
    if (!r.apiVersion) errs.push(Invalid(child(p, 'apiVersion'), r.apiVersion ?? '', 'version must not be empty'));
    if (!r.kind) errs.push(Invalid(child(p, 'kind'), r.kind ?? '', 'kind must not be empty'));
    if (!r.name) errs.push(Invalid(child(p, 'name'), r.name ?? '', 'name must not be empty'));
    if (!r.uid) errs.push(Invalid(child(p, 'uid'), r.uid ?? '', 'uid must not be empty'));
  });
  const controllers = (m.ownerReferences ?? []).filter((r) => r.controller === true);
  if (controllers.length > 1) {
    errs.push(Invalid(child(path, 'ownerReferences'), new GoRepr(`[]v1.OwnerReference{…}`), `Only one reference can have Controller set to true. Found "true" in references for ${controllers.map((r) => `${r.kind}/${r.name}`).join(' and ')}`));
  }
  (m.finalizers ?? []).forEach((f) => {
    for (const msg of validateQualifiedName(f)) errs.push(Invalid(child(path, 'finalizers'), f, msg));
  });
  return errs;
}

/** ValidateObjectMetaUpdate: identity fields may not change (values the server fills from the old object are skipped when absent). */
export function validateObjectMetaUpdate(meta: ObjectMeta | undefined, old: ObjectMeta | undefined, path = 'metadata'): FieldError[] {
  const m = meta ?? {};
  const o = old ?? {};
  const errs: FieldError[] = [];
  const immutable = (f: keyof ObjectMeta) => {
    const nv = m[f];
    if (nv === undefined || nv === null) return;
    if (JSON.stringify(nv) !== JSON.stringify(o[f] ?? '')) errs.push(Invalid(child(path, f), nv, IMMUTABLE_MSG));
  };
  immutable('name');
  immutable('namespace');
  immutable('uid');
  immutable('creationTimestamp');
  errs.push(...validateLabels(m.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(m.annotations, child(path, 'annotations')));
  return errs;
}

/** metav1validation.ValidateLabelSelector */
export function validateLabelSelector(sel: unknown, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (!sel || typeof sel !== 'object') return errs;
  const s = sel as { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] };
  (s.matchExpressions ?? []).forEach((e, i) => {
    const p = idx(child(path, 'matchExpressions'), i);
    switch (e.operator) {
      case 'In': case 'NotIn':
        if (!e.values || e.values.length === 0) errs.push(Required(child(p, 'values'), 'must be specified when `operator` is \'In\' or \'NotIn\''));
        break;
      case 'Exists': case 'DoesNotExist':
        if (e.values && e.values.length > 0) errs.push(Forbidden(child(p, 'values'), 'may not be specified when `operator` is \'Exists\' or \'DoesNotExist\''));
        break;
      default:
        errs.push(Invalid(child(p, 'operator'), e.operator, 'not a valid selector operator'));
    }
    for (const m of validateQualifiedName(e.key ?? '')) errs.push(Invalid(child(p, 'key'), e.key, m));
  });
  errs.push(...validateLabels(s.matchLabels, child(path, 'matchLabels')));
  return errs;
}

// ---- IP addresses ----

const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

export function isIPv4(s: string): boolean {
  return IPV4_RE.test(s);
}

export function isIPv6(s: string): boolean {
  if (!s.includes(':') || s.includes('%')) return false;
  let body = s;
  let groups = 8;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    if (!isIPv4(tail)) return false;
    body = s.slice(0, lastColon + 1) + '0';
    groups = 7;
  }
  const dbl = body.split('::');
  if (dbl.length > 2) return false;
  const hex = /^[0-9a-fA-F]{1,4}$/;
  const parts = (x: string) => (x === '' ? [] : x.split(':'));
  if (dbl.length === 2) {
    const a = parts(dbl[0]!);
    const b = parts(dbl[1]!);
    return [...a, ...b].every((p) => hex.test(p)) && a.length + b.length < groups;
  }
  const p = parts(body);
  return p.length === groups && p.every((x) => hex.test(x));
}

export function isIP(s: string): boolean {
  return isIPv4(s) || isIPv6(s);
}

export const IP_MSG = 'must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)';

export function validateIP(path: string, ip: string): FieldError[] {
  return isIP(ip) ? [] : [Invalid(path, ip, IP_MSG)];
}

/** ValidateNonSpecialIP: addresses that cannot be endpoints or external IPs. */
export function validateNonSpecialIP(path: string, ip: string): FieldError[] {
  if (ip === '0.0.0.0' || ip === '::' || /^0*:0*:0*:0*:0*:0*:0*:0*$/.test(ip)) return [Invalid(path, ip, 'may not be unspecified (0.0.0.0, ::)')];
  if (isIPv4(ip)) {
    const [a, b, c] = ip.split('.').map(Number) as [number, number, number];
    if (a === 127) return [Invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)')];
    if (a === 169 && b === 254) return [Invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)')];
    if (a === 224 && b === 0 && c === 0) return [Invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)')];
  } else {
    const l = ip.toLowerCase();
    if (l === '::1') return [Invalid(path, ip, 'may not be in the loopback range (127.0.0.0/8, ::1/128)')];
    if (/^fe[89ab]/.test(l)) return [Invalid(path, ip, 'may not be in the link-local range (169.254.0.0/16, fe80::/10)')];
    if (l.startsWith('ff02:')) return [Invalid(path, ip, 'may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)')];
  }
  return [];
}

/** IsValidCIDR */
export function validateCIDR(path: string, cidr: string): FieldError[] {
  const [ip, bits, extra] = cidr.split('/');
  const max = ip && isIPv4(ip) ? 32 : ip && isIPv6(ip) ? 128 : -1;
  const ok = extra === undefined && max > 0 && bits !== undefined && /^\d+$/.test(bits) && Number(bits) <= max;
  return ok ? [] : [Invalid(path, cidr, 'must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)')];
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function ipv4InCIDR(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/');
  if (!net || !isIPv4(ip) || !isIPv4(net)) return false;
  const b = Number(bits ?? 32);
  const size = 2 ** (32 - b);
  const base = Math.floor(ipv4ToInt(net) / size) * size;
  const v = ipv4ToInt(ip);
  return v >= base && v < base + size;
}

export { NotSupported };
