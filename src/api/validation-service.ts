/**
 * @module api/validation-service
 * ValidateService / ValidateServiceUpdate of pkg/apis/core/validation, on the v1 shape after
 * defaulting, plus the allocator range checks (nodePort, clusterIP) kube-apiserver reports as
 * field errors. Order of checks follows upstream so that multi-error messages read the same.
 */
import type { KubeObject } from './types.js';
import { validateDNS1123Label, validateDNS1123Subdomain, validatePortNum, validatePortName, validateQualifiedName } from './names.js';
import {
  type FieldError, GoRepr, Invalid, Required, Forbidden, NotSupported, Duplicate, child, idx, goQuote,
} from './validation-field.js';
import {
  validateObjectMeta, validateObjectMetaUpdate, validateLabels, nameIsDNS1035Label, validateIP, validateNonSpecialIP,
  validateCIDR, isIPv6, isIPv4, ipv4InCIDR,
} from './validation-meta.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ServiceContext { nodePortRange?: [number, number]; serviceCIDR?: string }

const SERVICE_TYPES = ['ClusterIP', 'ExternalName', 'LoadBalancer', 'NodePort'];
const AFFINITIES = ['ClientIP', 'None'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const TRAFFIC_POLICIES = ['Cluster', 'Local'];
const IP_FAMILIES = ['IPv4', 'IPv6'];
const IP_FAMILY_POLICIES = ['PreferDualStack', 'RequireDualStack', 'SingleStack'];
const MAX_CLIENT_IP_TIMEOUT = 86400;
const PREFER_CLOSE = 'PreferClose';

function isHeadless(spec: Obj): boolean {
  return Array.isArray(spec.clusterIPs) && spec.clusterIPs.length === 1 && spec.clusterIPs[0] === 'None';
}

function externallyAccessible(spec: Obj): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' ||
    (spec.type === 'ClusterIP' && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
}

/** core.ServicePort{Protocol, Port} as %#v: the key upstream reports for duplicate ports. */
function servicePortKey(protocol: string, port: number): GoRepr {
  return new GoRepr(`core.ServicePort{Name:"", Protocol:${goQuote(protocol)}, AppProtocol:(*string)(nil), Port:${port}, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}`, { protocol, port });
}

/** ValidatePortNumOrName for targetPort. */
export function validatePortNumOrName(v: unknown, path: string): FieldError[] {
  if (typeof v === 'number') return validatePortNum(v).map((m) => Invalid(path, v, m));
  if (typeof v === 'string') {
    if (/^\d+$/.test(v)) return validatePortNum(Number(v)).map((m) => Invalid(path, Number(v), m));
    return validatePortName(v).map((m) => Invalid(path, v, m));
  }
  return [];
}

function validateServicePort(sp: Obj, requireName: boolean, names: Set<string>, path: string): FieldError[] {
  const errs: FieldError[] = [];
  const name: string = sp.name ?? '';
  if (requireName && name === '') errs.push(Required(child(path, 'name'), ''));
  else if (name !== '') {
    for (const m of validateDNS1123Label(name)) errs.push(Invalid(child(path, 'name'), name, m));
    if (names.has(name)) errs.push(Duplicate(child(path, 'name'), name));
    else names.add(name);
  }
  for (const m of validatePortNum(sp.port ?? 0)) errs.push(Invalid(child(path, 'port'), sp.port ?? 0, m));
  if (!sp.protocol) errs.push(Required(child(path, 'protocol'), ''));
  else if (!PROTOCOLS.includes(sp.protocol)) errs.push(NotSupported(child(path, 'protocol'), sp.protocol, PROTOCOLS));
  errs.push(...validatePortNumOrName(sp.targetPort, child(path, 'targetPort')));
  if (sp.appProtocol !== undefined && sp.appProtocol !== null) {
    for (const m of validateQualifiedName(sp.appProtocol)) errs.push(Invalid(child(path, 'appProtocol'), sp.appProtocol, m));
  }
  return errs;
}

function validateClientIPAffinityConfig(cfg: Obj | undefined, path: string): FieldError[] {
  if (!cfg) return [Required(path, 'when session affinity type is ClientIP')];
  if (!cfg.clientIP) return [Required(child(path, 'clientIP'), 'when session affinity type is ClientIP')];
  const t = cfg.clientIP.timeoutSeconds;
  if (t === undefined || t === null) return [Required(child(path, 'clientIP', 'timeoutSeconds'), 'when session affinity type is ClientIP')];
  if (!(t > 0 && t <= MAX_CLIENT_IP_TIMEOUT)) {
    return [Invalid(child(path, 'clientIP', 'timeoutSeconds'), t, `must be greater than 0 and less than ${MAX_CLIENT_IP_TIMEOUT}`)];
  }
  return [];
}

function validateClusterIPsRelated(spec: Obj): FieldError[] {
  if (spec.type === 'ExternalName') return [];
  const errs: FieldError[] = [];
  const ipsPath = 'spec.clusterIPs';
  const ips: string[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
  let invalid = false;
  if (spec.clusterIP) {
    if (ips.length === 0) errs.push(Required(ipsPath, ''));
    else if (ips[0] !== spec.clusterIP) errs.push(Invalid(ipsPath, ips, 'first value must match `clusterIP`'));
  } else if (ips.length !== 0) {
    errs.push(Invalid(ipsPath, ips, 'must be empty when `clusterIP` is not specified'));
  }
  const fams: string[] = Array.isArray(spec.ipFamilies) ? spec.ipFamilies : [];
  const seen = new Set<string>();
  fams.forEach((f, i) => {
    if (!IP_FAMILIES.includes(f)) errs.push(NotSupported(idx('spec.ipFamilies', i), f, IP_FAMILIES));
    if (seen.has(f)) errs.push(Duplicate(idx('spec.ipFamilies', i), f));
    seen.add(f);
  });
  if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null && !IP_FAMILY_POLICIES.includes(spec.ipFamilyPolicy)) {
    errs.push(NotSupported('spec.ipFamilyPolicy', spec.ipFamilyPolicy, IP_FAMILY_POLICIES));
  }
  ips.forEach((ip, i) => {
    if (i === 0 && ip === 'None') {
      if (ips.length > 1) { invalid = true; errs.push(Invalid(ipsPath, ips, "'None' must be the first and only value")); }
      return;
    }
    const e = validateIP(idx(ipsPath, i), ip);
    if (e.length) invalid = true;
    errs.push(...e);
  });
  if (ips.length > 2) errs.push(Invalid(ipsPath, ips, 'may only hold up to 2 values'));
  if (invalid) return errs;
  if (ips.length > 1 && isIPv6(ips[0]!) === isIPv6(ips[1]!)) errs.push(Invalid(ipsPath, ips, 'may specify no more than one IP for each IP family'));
  if (!isHeadless(spec)) {
    ips.forEach((ip, i) => {
      if (i >= fams.length) return;
      if (fams[i] === 'IPv4' && isIPv6(ip)) errs.push(Invalid(idx(ipsPath, i), ip, `expected an IPv4 value as indicated by \`ipFamilies[${i}]\``));
      if (fams[i] === 'IPv6' && !isIPv6(ip)) errs.push(Invalid(idx(ipsPath, i), ip, `expected an IPv6 value as indicated by \`ipFamilies[${i}]\``));
    });
  }
  return errs;
}

/** ValidateService (create), on a defaulted v1 Service. */
export function validateService(svc: KubeObject, ctx: ServiceContext = {}): FieldError[] {
  const errs = validateObjectMeta(svc.metadata, true, nameIsDNS1035Label);
  const spec: Obj = (svc.spec as Obj) ?? {};
  const ports: Obj[] = Array.isArray(spec.ports) ? spec.ports : [];
  const headless = isHeadless(spec);

  if (ports.length === 0 && !headless && spec.type !== 'ExternalName') errs.push(Required('spec.ports', ''));
  switch (spec.type) {
    case 'LoadBalancer':
      if (headless) errs.push(Invalid('spec.clusterIPs[0]', spec.clusterIPs[0], "may not be set to 'None' for LoadBalancer services"));
      break;
    case 'NodePort':
      if (headless) errs.push(Invalid('spec.clusterIPs[0]', spec.clusterIPs[0], "may not be set to 'None' for NodePort services"));
      break;
    case 'ExternalName': {
      if (Array.isArray(spec.clusterIPs) && spec.clusterIPs.length > 0) errs.push(Forbidden('spec.clusterIPs', 'may not be set for ExternalName services'));
      if (Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0) errs.push(Forbidden('spec.ipFamilies', 'may not be set for ExternalName services'));
      if (spec.ipFamilyPolicy !== undefined && spec.ipFamilyPolicy !== null) errs.push(Forbidden('spec.ipFamilyPolicy', 'may not be set for ExternalName services'));
      // a trailing dot marks the CNAME fully qualified
      const cname = String(spec.externalName ?? '').replace(/\.$/, '');
      if (cname.length > 0) for (const m of validateDNS1123Subdomain(cname)) errs.push(Invalid('spec.externalName', cname, m));
      else errs.push(Required('spec.externalName', ''));
      break;
    }
  }

  const names = new Set<string>();
  ports.forEach((p, i) => errs.push(...validateServicePort(p, ports.length > 1, names, idx('spec.ports', i))));

  if (spec.selector !== undefined && spec.selector !== null) errs.push(...validateLabels(spec.selector, 'spec.selector'));

  if (!spec.sessionAffinity) errs.push(Required('spec.sessionAffinity', ''));
  else if (!AFFINITIES.includes(spec.sessionAffinity)) errs.push(NotSupported('spec.sessionAffinity', spec.sessionAffinity, AFFINITIES));
  if (spec.sessionAffinity === 'ClientIP') errs.push(...validateClientIPAffinityConfig(spec.sessionAffinityConfig, 'spec.sessionAffinityConfig'));
  else if (spec.sessionAffinity === 'None' && spec.sessionAffinityConfig) errs.push(Forbidden('spec.sessionAffinityConfig', 'must not be set when session affinity is None'));

  errs.push(...validateClusterIPsRelated(spec));

  (Array.isArray(spec.externalIPs) ? spec.externalIPs as string[] : []).forEach((ip, i) => {
    const e = validateIP(idx('spec.externalIPs', i), ip);
    errs.push(...(e.length ? e : validateNonSpecialIP(idx('spec.externalIPs', i), ip)));
  });

  if (!spec.type) errs.push(Required('spec.type', ''));
  else if (!SERVICE_TYPES.includes(spec.type)) errs.push(NotSupported('spec.type', spec.type, SERVICE_TYPES));

  if (spec.type === 'ClusterIP') {
    ports.forEach((p, i) => { if (p.nodePort) errs.push(Forbidden(child(idx('spec.ports', i), 'nodePort'), "may not be used when `type` is 'ClusterIP'")); });
  }
  const nodePorts = new Set<string>();
  ports.forEach((p, i) => {
    if (!p.nodePort) return;
    const k = `${p.protocol}/${p.nodePort}`;
    if (nodePorts.has(k)) errs.push(Duplicate(child(idx('spec.ports', i), 'nodePort'), p.nodePort));
    nodePorts.add(k);
  });
  const seenPorts = new Set<string>();
  ports.forEach((p, i) => {
    const k = `${p.protocol ?? ''}/${p.port ?? 0}`;
    if (seenPorts.has(k)) errs.push(Duplicate(idx('spec.ports', i), servicePortKey(p.protocol ?? '', p.port ?? 0)));
    seenPorts.add(k);
  });

  const ranges: string[] = Array.isArray(spec.loadBalancerSourceRanges) ? spec.loadBalancerSourceRanges : [];
  if (ranges.length > 0) {
    // upstream's path keeps the historical capitalisation
    const fp = 'spec.LoadBalancerSourceRanges';
    if (spec.type !== 'LoadBalancer') errs.push(Forbidden(fp, "may only be used when `type` is 'LoadBalancer'"));
    ranges.forEach((r, i) => errs.push(...validateCIDR(idx(fp, i), String(r).trim())));
  }
  if (spec.allocateLoadBalancerNodePorts !== undefined && spec.allocateLoadBalancerNodePorts !== null && spec.type !== 'LoadBalancer') {
    errs.push(Forbidden('spec.allocateLoadBalancerNodePorts', "may only be used when `type` is 'LoadBalancer'"));
  }
  if (spec.type === 'LoadBalancer' && (spec.allocateLoadBalancerNodePorts === undefined || spec.allocateLoadBalancerNodePorts === null)) {
    errs.push(Required('allocateLoadBalancerNodePorts', ''));
  }
  if (spec.loadBalancerClass !== undefined && spec.loadBalancerClass !== null) {
    if (spec.type !== 'LoadBalancer') errs.push(Forbidden('spec.loadBalancerClass', 'may only be used when `type` is \'LoadBalancer\''));
    else for (const m of validateQualifiedName(spec.loadBalancerClass)) errs.push(Invalid('spec.loadBalancerClass', spec.loadBalancerClass, m));
  }

  // external traffic policy
  if (!externallyAccessible(spec)) {
    if (spec.externalTrafficPolicy) errs.push(Invalid('spec.externalTrafficPolicy', spec.externalTrafficPolicy, 'may only be set for externally-accessible services'));
  } else if (!spec.externalTrafficPolicy) {
    errs.push(Required('spec.externalTrafficPolicy', ''));
  } else if (!TRAFFIC_POLICIES.includes(spec.externalTrafficPolicy)) {
    errs.push(NotSupported('spec.externalTrafficPolicy', spec.externalTrafficPolicy, TRAFFIC_POLICIES));
  }
  const needsHealthCheck = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
  if (!needsHealthCheck) {
    if (spec.healthCheckNodePort) errs.push(Invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
  } else if (spec.healthCheckNodePort) {
    for (const m of validatePortNum(spec.healthCheckNodePort)) errs.push(Invalid('spec.healthCheckNodePort', spec.healthCheckNodePort, m));
  }
  // (healthCheckNodePort is allocated by the API server when absent, so absence is not an error here)

  // internal traffic policy
  if (spec.internalTrafficPolicy === undefined || spec.internalTrafficPolicy === null) {
    if (['NodePort', 'LoadBalancer', 'ClusterIP'].includes(spec.type)) errs.push(Required('spec.internalTrafficPolicy', ''));
  } else if (!TRAFFIC_POLICIES.includes(spec.internalTrafficPolicy)) {
    errs.push(NotSupported('spec.internalTrafficPolicy', spec.internalTrafficPolicy, TRAFFIC_POLICIES));
  }
  if (spec.trafficDistribution !== undefined && spec.trafficDistribution !== null && spec.trafficDistribution !== PREFER_CLOSE) {
    errs.push(NotSupported('spec.trafficDistribution', spec.trafficDistribution, [PREFER_CLOSE]));
  }

  errs.push(...validateAllocations(spec, ctx));
  return errs;
}

/** The allocators' range checks for user-requested values, with their messages. */
function validateAllocations(spec: Obj, ctx: ServiceContext): FieldError[] {
  const errs: FieldError[] = [];
  if (ctx.nodePortRange && (spec.type === 'NodePort' || spec.type === 'LoadBalancer')) {
    const [lo, hi] = ctx.nodePortRange;
    (Array.isArray(spec.ports) ? spec.ports as Obj[] : []).forEach((p, i) => {
      if (p.nodePort && (p.nodePort < lo || p.nodePort > hi)) {
        errs.push(Invalid(child(idx('spec.ports', i), 'nodePort'), p.nodePort, `provided port is not in the valid range. The range of valid ports is ${lo}-${hi}`));
      }
    });
  }
  if (ctx.serviceCIDR && spec.type !== 'ExternalName') {
    const ips: string[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    for (const ip of ips) {
      if (ip === 'None' || !isIPv4(ip)) continue;
      if (!ipv4InCIDR(ip, ctx.serviceCIDR)) {
        errs.push(Invalid('spec.clusterIPs', ips, `failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is ${ctx.serviceCIDR}`));
      }
    }
  }
  return errs;
}

/**
 * The registry's normalizeClusterIPs on update: a user who changed only clusterIP gets clusterIPs
 * rewritten to match, so the immutability error below names clusterIPs as upstream does.
 */
export function normalizeClusterIPsForUpdate(spec: Obj, old: Obj): void {
  const same = JSON.stringify(spec.clusterIPs ?? []) === JSON.stringify(old.clusterIPs ?? []);
  if (same && spec.clusterIP !== old.clusterIP) {
    if (spec.clusterIP) spec.clusterIPs = [spec.clusterIP];
    else delete spec.clusterIPs;
  }
}

/** ValidateServiceUpdate: metadata, clusterIPs/ipFamilies immutability, healthCheckNodePort, then ValidateService. */
export function validateServiceUpdate(svc: KubeObject, old: KubeObject, ctx: ServiceContext = {}): FieldError[] {
  const errs = validateObjectMetaUpdate(svc.metadata, old.metadata);
  const spec: Obj = (svc.spec as Obj) ?? {};
  const ospec: Obj = (old.spec as Obj) ?? {};
  if (spec.type !== 'ExternalName' && ospec.type !== 'ExternalName' && !(isHeadless(spec) && isHeadless(ospec))) {
    const nips: string[] = spec.clusterIPs ?? [];
    const oips: string[] = ospec.clusterIPs ?? [];
    if (oips.length === nips.length) {
      oips.forEach((ip, i) => { if (ip !== nips[i]) errs.push(Invalid(idx('spec.clusterIPs', i), nips, 'may not change once set')); });
    } else if (oips.length > nips.length) {
      if (nips.length === 0) errs.push(Invalid('spec.clusterIPs[0]', nips, 'primary clusterIP can not be unset'));
      if (oips.length > 0 && nips.length > 0 && nips[0] !== oips[0]) errs.push(Invalid('spec.clusterIPs[0]', nips, 'may not change once set'));
      if (nips.length === 1 && spec.ipFamilyPolicy !== 'SingleStack') {
        errs.push(Invalid('spec.ipFamilyPolicy', spec.ipFamilyPolicy ?? null, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
      }
    } else if (oips.length > 0 && nips[0] !== oips[0]) {
      errs.push(Invalid('spec.clusterIPs[0]', nips, 'may not change once set'));
    }
    if (isHeadless(spec) === isHeadless(ospec) && !isHeadless(spec)) {
      const nf: string[] = spec.ipFamilies ?? [];
      const of: string[] = ospec.ipFamilies ?? [];
      if (nf.length === of.length) {
        of.forEach((f, i) => { if (f !== nf[i]) errs.push(Invalid('spec.ipFamilies[0]', nf, 'may not change once set')); });
      }
    }
  }
  const oldHC = ospec.type === 'LoadBalancer' && ospec.externalTrafficPolicy === 'Local';
  const newHC = spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
  if (oldHC && newHC && spec.healthCheckNodePort !== ospec.healthCheckNodePort) errs.push(Forbidden('spec.healthCheckNodePort', 'field is immutable'));
  errs.push(...validateService(svc, ctx).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}
