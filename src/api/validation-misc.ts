/**
 * @module api/validation-misc
 * Endpoints, EndpointSlice (pkg/apis/discovery/validation), Namespace, ConfigMap, Secret, Lease,
 * Node, Event, ServiceAccount: the checks that matter for what svcplane stores.
 */
import type { KubeObject } from './types.js';
import { validateDNS1123Label, validateDNS1123Subdomain, validateConfigMapKey, validatePortNum, validateQualifiedName } from './names.js';
import { type FieldError, Invalid, Required, NotSupported, Duplicate, TooMany, TooLong, child, idx, key, nonNegative, IMMUTABLE_MSG } from './validation-field.js';
import { validateObjectMeta, nameIsDNSSubdomain, nameIsDNSLabel, validateIP, validateNonSpecialIP, isIPv4, isIPv6, validateCIDR } from './validation-meta.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const ADDRESS_TYPES = ['FQDN', 'IPv4', 'IPv6'];
const MAX_SLICE_ENDPOINTS = 1000;
const MAX_SLICE_ADDRESSES = 100;
const MAX_SLICE_PORTS = 20000;
const MAX_DATA_SIZE = 1024 * 1024;

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

// ---- Endpoints ----

function validateEpAddress(a: Obj, path: string): FieldError[] {
  const errs = validateIP(child(path, 'ip'), a.ip ?? '');
  if (!errs.length) errs.push(...validateNonSpecialIP(child(path, 'ip'), a.ip));
  if (a.hostname) for (const m of validateDNS1123Label(a.hostname)) errs.push(Invalid(child(path, 'hostname'), a.hostname, m));
  if (a.nodeName) for (const m of validateDNS1123Subdomain(a.nodeName)) errs.push(Invalid(child(path, 'nodeName'), a.nodeName, m));
  return errs;
}

function validatePortCommon(p: Obj, requireName: boolean, path: string): FieldError[] {
  const errs: FieldError[] = [];
  if (requireName && !p.name) errs.push(Required(child(path, 'name'), ''));
  else if (p.name) for (const m of validateDNS1123Label(p.name)) errs.push(Invalid(child(path, 'name'), p.name, m));
  for (const m of validatePortNum(p.port ?? 0)) errs.push(Invalid(child(path, 'port'), p.port ?? 0, m));
  if (!p.protocol) errs.push(Required(child(path, 'protocol'), ''));
  else if (!PROTOCOLS.includes(p.protocol)) errs.push(NotSupported(child(path, 'protocol'), p.protocol, PROTOCOLS));
  if (p.appProtocol) for (const m of validateQualifiedName(p.appProtocol)) errs.push(Invalid(child(path, 'appProtocol'), p.appProtocol, m));
  return errs;
}

export function validateEndpoints(ep: KubeObject): FieldError[] {
  const errs = validateObjectMeta(ep.metadata, true, nameIsDNSSubdomain);
  arr(ep.subsets).forEach((ss, i) => {
    const sp = idx('subsets', i);
    if (arr(ss.addresses).length === 0 && arr(ss.notReadyAddresses).length === 0) {
      errs.push(Required(sp, 'must specify `addresses` or `notReadyAddresses`'));
    }
    arr(ss.addresses).forEach((a, j) => errs.push(...validateEpAddress(a, idx(child(sp, 'addresses'), j))));
    arr(ss.notReadyAddresses).forEach((a, j) => errs.push(...validateEpAddress(a, idx(child(sp, 'notReadyAddresses'), j))));
    const names = new Set<string>();
    const ports = arr(ss.ports);
    ports.forEach((p, j) => {
      const pp = idx(child(sp, 'ports'), j);
      errs.push(...validatePortCommon(p, ports.length > 1, pp));
      if (p.name) {
        if (names.has(p.name)) errs.push(Duplicate(child(pp, 'name'), p.name));
        names.add(p.name);
      }
    });
  });
  return errs;
}

// ---- EndpointSlice ----

export function validateEndpointSlice(es: KubeObject): FieldError[] {
  const errs = validateObjectMeta(es.metadata, true, nameIsDNSSubdomain);
  const at = es.addressType as string | undefined;
  if (!at) errs.push(Required('addressType', ''));
  else if (!ADDRESS_TYPES.includes(at)) errs.push(NotSupported('addressType', at, ADDRESS_TYPES));
  const eps = arr(es.endpoints);
  if (eps.length > MAX_SLICE_ENDPOINTS) {
    errs.push(TooMany('endpoints', eps.length, MAX_SLICE_ENDPOINTS));
  } else {
    eps.forEach((e, i) => {
      const p = idx('endpoints', i);
      const addrs: string[] = Array.isArray(e.addresses) ? e.addresses : [];
      const ap = child(p, 'addresses');
      if (addrs.length === 0) errs.push(Required(ap, 'must contain at least 1 address'));
      else if (addrs.length > MAX_SLICE_ADDRESSES) errs.push(TooMany(ap, addrs.length, MAX_SLICE_ADDRESSES));
      addrs.forEach((a, j) => {
        const aj = idx(ap, j);
        if (at === 'IPv4') {
          if (!isIPv4(a)) errs.push(Invalid(aj, a, 'must be a valid IPv4 address'));
          else errs.push(...validateNonSpecialIP(aj, a));
        } else if (at === 'IPv6') {
          if (!isIPv6(a)) errs.push(Invalid(aj, a, 'must be a valid IPv6 address'));
          else errs.push(...validateNonSpecialIP(aj, a));
        } else if (at === 'FQDN') {
          for (const m of validateDNS1123Subdomain(a)) errs.push(Invalid(aj, a, m));
        }
      });
      if (e.nodeName) for (const m of validateDNS1123Subdomain(e.nodeName)) errs.push(Invalid(child(p, 'nodeName'), e.nodeName, m));
      if (e.hostname) for (const m of validateDNS1123Label(e.hostname)) errs.push(Invalid(child(p, 'hostname'), e.hostname, m));
      if (e.deprecatedTopology) for (const k of Object.keys(e.deprecatedTopology)) for (const m of validateQualifiedName(k)) errs.push(Invalid(child(p, 'deprecatedTopology'), k, m));
    });
  }
  const ports = arr(es.ports);
  if (ports.length > MAX_SLICE_PORTS) {
    errs.push(TooMany('ports', ports.length, MAX_SLICE_PORTS));
  } else {
    const names = new Set<string>();
    ports.forEach((p, i) => {
      const pp = idx('ports', i);
      const name: string = p.name ?? '';
      if (name !== '') for (const m of validateDNS1123Label(name)) errs.push(Invalid(child(pp, 'name'), name, m));
      if (names.has(name)) errs.push(Duplicate(child(pp, 'name'), name));
      names.add(name);
      if (!p.protocol) errs.push(Required(child(pp, 'protocol'), ''));
      else if (!PROTOCOLS.includes(p.protocol)) errs.push(NotSupported(child(pp, 'protocol'), p.protocol, PROTOCOLS));
      if (p.port !== undefined && p.port !== null) for (const m of validatePortNum(p.port)) errs.push(Invalid(child(pp, 'port'), p.port, m));
      if (p.appProtocol) for (const m of validateQualifiedName(p.appProtocol)) errs.push(Invalid(child(pp, 'appProtocol'), p.appProtocol, m));
    });
  }
  return errs;
}

export function validateEndpointSliceUpdate(es: KubeObject, old: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  if (es.addressType !== old.addressType) errs.push(Invalid('addressType', es.addressType ?? '', IMMUTABLE_MSG));
  return errs;
}

// ---- Namespace, ConfigMap, Secret, ServiceAccount ----

export function validateNamespace(ns: KubeObject): FieldError[] {
  const errs = validateObjectMeta(ns.metadata, false, nameIsDNSLabel);
  for (const f of (ns.spec as Obj | undefined)?.finalizers ?? []) {
    // standard finalizer names are plain ('kubernetes'); others must be qualified with a prefix
    if (f === 'kubernetes') continue;
    const msgs = validateQualifiedName(f);
    if (msgs.length) for (const m of msgs) errs.push(Invalid('spec.finalizers', f, m));
    else if (!f.includes('/')) errs.push(Invalid('spec.finalizers', f, 'name is neither a standard finalizer name nor is it fully qualified'));
  }
  return errs;
}

function validateDataKeys(o: KubeObject, fields: string[]): FieldError[] {
  const errs: FieldError[] = [];
  let size = 0;
  const seen = new Set<string>();
  for (const f of fields) {
    const data = (o as Obj)[f];
    if (!data || typeof data !== 'object') continue;
    for (const k of Object.keys(data).sort()) {
      for (const m of validateConfigMapKey(k)) errs.push(Invalid(key(f, k), k, m));
      if (seen.has(k)) errs.push(Invalid(key(f, k), k, `duplicate of key present in ${fields[0]}`));
      seen.add(k);
      size += String(data[k] ?? '').length;
    }
  }
  if (size > MAX_DATA_SIZE) errs.push(TooLong('', MAX_DATA_SIZE));
  return errs;
}

export function validateConfigMap(cm: KubeObject): FieldError[] {
  return [...validateObjectMeta(cm.metadata, true, nameIsDNSSubdomain), ...validateDataKeys(cm, ['data', 'binaryData'])];
}

export function validateSecret(s: KubeObject): FieldError[] {
  return [...validateObjectMeta(s.metadata, true, nameIsDNSSubdomain), ...validateDataKeys(s, ['data', 'stringData'])];
}

export function validateServiceAccount(sa: KubeObject): FieldError[] {
  return validateObjectMeta(sa.metadata, true, nameIsDNSSubdomain);
}

// ---- Lease, Node, Event ----

export function validateLease(l: KubeObject): FieldError[] {
  const errs = validateObjectMeta(l.metadata, true, nameIsDNSSubdomain);
  const spec: Obj = (l.spec as Obj) ?? {};
  if (spec.leaseDurationSeconds !== undefined && spec.leaseDurationSeconds !== null && spec.leaseDurationSeconds <= 0) {
    errs.push(Invalid('spec.leaseDurationSeconds', spec.leaseDurationSeconds, 'must be greater than 0'));
  }
  errs.push(...nonNegative('spec.leaseTransitions', spec.leaseTransitions));
  return errs;
}

export function validateNode(n: KubeObject): FieldError[] {
  const errs = validateObjectMeta(n.metadata, false, nameIsDNSSubdomain);
  const spec: Obj = (n.spec as Obj) ?? {};
  if (spec.podCIDR) errs.push(...validateCIDR('spec.podCIDR', spec.podCIDR));
  arr(spec.podCIDRs).forEach((c, i) => errs.push(...validateCIDR(idx('spec.podCIDRs', i), c as unknown as string)));
  arr((n.status as Obj | undefined)?.addresses).forEach((a, i) => {
    if (!a.type) errs.push(Required(child(idx('status.addresses', i), 'type'), ''));
  });
  return errs;
}

const CLUSTER_SCOPED_KINDS = new Set(['Node', 'Namespace', 'PersistentVolume', 'ClusterRole', 'ClusterRoleBinding', 'StorageClass']);

export function validateEvent(e: KubeObject): FieldError[] {
  // Events are named by their reporters ("<object>.<hex>"), so only the subdomain check applies.
  const errs = validateObjectMeta(e.metadata, true, nameIsDNSSubdomain);
  const io: Obj = (e.involvedObject as Obj) ?? {};
  const ns = e.metadata?.namespace ?? '';
  if (io.kind && CLUSTER_SCOPED_KINDS.has(io.kind)) {
    if (io.namespace && io.namespace !== 'default' && io.namespace !== '') {
      errs.push(Invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace'));
    }
  } else if (io.namespace && io.namespace !== ns) {
    errs.push(Invalid('involvedObject.namespace', io.namespace, 'does not match event.namespace'));
  }
  return errs;
}
