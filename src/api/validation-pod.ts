/**
 * @module api/validation-pod
 * ValidatePodSpec and ValidatePodTemplateSpec (pkg/apis/core/validation): containers, ports,
 * env, probes, restart/DNS policies, volumes' names. Covers what svcplane's pods use; fields it
 * does not run (security contexts, resources beyond syntax, affinity) pass unchecked.
 */
import type { KubeObject } from './types.js';
import { validateDNS1123Label, validatePortName, validatePortNum, validateDNS1123Subdomain } from './names.js';
import { type FieldError, Invalid, Required, Forbidden, NotSupported, Duplicate, child, idx, nonNegative } from './validation-field.js';
import { validateObjectMeta, validateObjectMetaUpdate, validateLabels, validateAnnotations, nameIsDNSSubdomain } from './validation-meta.js';
import { validatePortNumOrName } from './validation-service.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const RESTART_POLICIES = ['Always', 'OnFailure', 'Never'];
const DNS_POLICIES = ['ClusterFirstWithHostNet', 'ClusterFirst', 'Default', 'None'];
const PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'];
const PROTOCOLS = ['SCTP', 'TCP', 'UDP'];
const TERMINATION_MESSAGE_POLICIES = ['File', 'FallbackToLogsOnError'];
const HTTP_SCHEMES = ['HTTP', 'HTTPS'];
const HANDLER_KINDS = ['exec', 'httpGet', 'tcpSocket', 'grpc'];
/** RelaxedEnvironmentVariableValidation (on in 1.32): printable ASCII except '='. */
const ENV_NAME_MSG = "a valid environment variable name must consist only of printable ASCII characters other than '='";

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]) : [];
}

function validateHandler(h: Obj, path: string, isProbe: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const kinds = HANDLER_KINDS.filter((k) => h[k] !== undefined && h[k] !== null && (isProbe || k !== 'grpc'));
  if (kinds.length === 0) return [Required(path, 'must specify a handler type')];
  for (const k of kinds.slice(1)) errs.push(Forbidden(child(path, k), 'may not specify more than 1 handler type'));
  const k = kinds[0]!;
  const p = child(path, k);
  if (k === 'exec' && arr(h.exec.command).length === 0) errs.push(Required(child(p, 'command'), ''));
  if (k === 'httpGet') {
    if (!h.httpGet.path) errs.push(Required(child(p, 'path'), ''));
    errs.push(...validatePortNumOrName(h.httpGet.port, child(p, 'port')));
    if (h.httpGet.scheme && !HTTP_SCHEMES.includes(h.httpGet.scheme)) errs.push(NotSupported(child(p, 'scheme'), h.httpGet.scheme, HTTP_SCHEMES));
  }
  if (k === 'tcpSocket') errs.push(...validatePortNumOrName(h.tcpSocket.port, child(p, 'port')));
  if (k === 'grpc') for (const m of validatePortNum(h.grpc.port)) errs.push(Invalid(child(p, 'port'), h.grpc.port, m));
  return errs;
}

function validateProbe(pr: unknown, path: string, successMustBeOne: boolean): FieldError[] {
  if (!pr || typeof pr !== 'object') return [];
  const p = pr as Obj;
  const errs: FieldError[] = [];
  errs.push(...validateHandler(p, path, true));
  for (const f of ['initialDelaySeconds', 'timeoutSeconds', 'periodSeconds', 'successThreshold', 'failureThreshold', 'terminationGracePeriodSeconds']) {
    errs.push(...nonNegative(child(path, f), p[f]));
  }
  if (successMustBeOne && p.successThreshold !== undefined && p.successThreshold !== 1) errs.push(Invalid(child(path, 'successThreshold'), p.successThreshold, 'must be 1'));
  return errs;
}

function validateContainer(c: Obj, path: string, names: Set<string>, portNames: Set<string>, isInit: boolean, volumes: Set<string>): FieldError[] {
  const errs: FieldError[] = [];
  if (!c.name) errs.push(Required(child(path, 'name'), ''));
  else {
    for (const m of validateDNS1123Label(c.name)) errs.push(Invalid(child(path, 'name'), c.name, m));
    if (names.has(c.name)) errs.push(Duplicate(child(path, 'name'), c.name));
    names.add(c.name);
  }
  if (!c.image || String(c.image).trim() === '') errs.push(Required(child(path, 'image'), ''));
  else if (String(c.image).trim() !== c.image) errs.push(Invalid(child(path, 'image'), c.image, 'must not have leading or trailing whitespace'));
  if (!c.imagePullPolicy) errs.push(Required(child(path, 'imagePullPolicy'), ''));
  else if (!PULL_POLICIES.includes(c.imagePullPolicy)) errs.push(NotSupported(child(path, 'imagePullPolicy'), c.imagePullPolicy, PULL_POLICIES));
  if (c.terminationMessagePolicy && !TERMINATION_MESSAGE_POLICIES.includes(c.terminationMessagePolicy)) {
    errs.push(NotSupported(child(path, 'terminationMessagePolicy'), c.terminationMessagePolicy, TERMINATION_MESSAGE_POLICIES));
  }
  arr(c.ports).forEach((port, i) => {
    const pp = idx(child(path, 'ports'), i);
    if (port.name) {
      const msgs = validatePortName(port.name);
      for (const m of msgs) errs.push(Invalid(child(pp, 'name'), port.name, m));
      if (!msgs.length) {
        if (portNames.has(port.name)) errs.push(Duplicate(child(pp, 'name'), port.name));
        else portNames.add(port.name);
      }
    }
    if (!port.containerPort) errs.push(Required(child(pp, 'containerPort'), ''));
    else for (const m of validatePortNum(port.containerPort)) errs.push(Invalid(child(pp, 'containerPort'), port.containerPort, m));
    if (port.hostPort) for (const m of validatePortNum(port.hostPort)) errs.push(Invalid(child(pp, 'hostPort'), port.hostPort, m));
    if (!port.protocol) errs.push(Required(child(pp, 'protocol'), ''));
    else if (!PROTOCOLS.includes(port.protocol)) errs.push(NotSupported(child(pp, 'protocol'), port.protocol, PROTOCOLS));
  });
  arr(c.env).forEach((e, i) => {
    const ep = idx(child(path, 'env'), i);
    if (!e.name) errs.push(Required(child(ep, 'name'), ''));
    else if (!/^[\x20-\x3c\x3e-\x7e]+$/.test(e.name)) errs.push(Invalid(child(ep, 'name'), e.name, ENV_NAME_MSG));
    if (e.valueFrom) {
      const srcs = ['fieldRef', 'resourceFieldRef', 'configMapKeyRef', 'secretKeyRef'].filter((k) => e.valueFrom[k]);
      if (e.value) errs.push(Invalid(child(ep, 'valueFrom'), '', 'may not be specified when `value` is not empty'));
      if (srcs.length === 0) errs.push(Invalid(child(ep, 'valueFrom'), '', 'must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`'));
      else if (srcs.length > 1) errs.push(Invalid(child(ep, 'valueFrom'), '', 'may not have more than one field specified at a time'));
    }
  });
  arr(c.volumeMounts).forEach((m, i) => {
    const mp = idx(child(path, 'volumeMounts'), i);
    if (!m.name) errs.push(Required(child(mp, 'name'), ''));
    else if (!volumes.has(m.name)) errs.push(NotSupported(child(mp, 'name'), m.name, []));
    if (!m.mountPath) errs.push(Required(child(mp, 'mountPath'), ''));
  });
  if (!isInit || c.restartPolicy === 'Always') {
    errs.push(...validateProbe(c.livenessProbe, child(path, 'livenessProbe'), true));
    errs.push(...validateProbe(c.readinessProbe, child(path, 'readinessProbe'), false));
    errs.push(...validateProbe(c.startupProbe, child(path, 'startupProbe'), true));
  } else {
    for (const f of ['livenessProbe', 'readinessProbe', 'startupProbe']) if (c[f]) errs.push(Forbidden(child(path, f), 'may not be set for init containers without restartPolicy=Always'));
  }
  if (c.lifecycle) {
    for (const h of ['postStart', 'preStop']) if (c.lifecycle[h]) errs.push(...validateHandler(c.lifecycle[h], child(path, 'lifecycle', h), false));
  }
  return errs;
}

/** ValidatePodSpec */
export function validatePodSpec(spec: Obj | undefined, path: string): FieldError[] {
  const s = spec ?? {};
  const errs: FieldError[] = [];
  const volumes = new Set<string>();
  arr(s.volumes).forEach((v, i) => {
    const vp = idx(child(path, 'volumes'), i);
    if (!v.name) errs.push(Required(child(vp, 'name'), ''));
    else {
      for (const m of validateDNS1123Label(v.name)) errs.push(Invalid(child(vp, 'name'), v.name, m));
      if (volumes.has(v.name)) errs.push(Duplicate(child(vp, 'name'), v.name));
      volumes.add(v.name);
    }
  });
  const names = new Set<string>();
  const portNames = new Set<string>();
  if (arr(s.containers).length === 0) errs.push(Required(child(path, 'containers'), ''));
  arr(s.initContainers).forEach((c, i) => errs.push(...validateContainer(c, idx(child(path, 'initContainers'), i), names, portNames, true, volumes)));
  arr(s.containers).forEach((c, i) => errs.push(...validateContainer(c, idx(child(path, 'containers'), i), names, portNames, false, volumes)));

  if (!s.restartPolicy) errs.push(Required(child(path, 'restartPolicy'), ''));
  else if (!RESTART_POLICIES.includes(s.restartPolicy)) errs.push(NotSupported(child(path, 'restartPolicy'), s.restartPolicy, RESTART_POLICIES));
  if (!s.dnsPolicy) errs.push(Required(child(path, 'dnsPolicy'), ''));
  else if (!DNS_POLICIES.includes(s.dnsPolicy)) errs.push(NotSupported(child(path, 'dnsPolicy'), s.dnsPolicy, DNS_POLICIES));
  if (s.dnsPolicy === 'None' && !s.dnsConfig) errs.push(Required(child(path, 'dnsConfig'), 'must provide `dnsConfig` when `dnsPolicy` is None'));
  errs.push(...nonNegative(child(path, 'terminationGracePeriodSeconds'), s.terminationGracePeriodSeconds));
  if (typeof s.activeDeadlineSeconds === 'number' && s.activeDeadlineSeconds <= 0) {
    errs.push(Invalid(child(path, 'activeDeadlineSeconds'), s.activeDeadlineSeconds, 'must be between 1 and 2147483647, inclusive'));
  }
  if (s.nodeName) for (const m of validateDNS1123Subdomain(s.nodeName)) errs.push(Invalid(child(path, 'nodeName'), s.nodeName, m));
  if (s.serviceAccountName) for (const m of validateDNS1123Subdomain(s.serviceAccountName)) errs.push(Invalid(child(path, 'serviceAccountName'), s.serviceAccountName, m));
  if (s.hostname) for (const m of validateDNS1123Label(s.hostname)) errs.push(Invalid(child(path, 'hostname'), s.hostname, m));
  if (s.subdomain) for (const m of validateDNS1123Label(s.subdomain)) errs.push(Invalid(child(path, 'subdomain'), s.subdomain, m));
  if (s.nodeSelector) errs.push(...validateLabels(s.nodeSelector, child(path, 'nodeSelector')));
  return errs;
}

/** ValidatePodTemplateSpec: template labels/annotations and the pod spec. */
export function validatePodTemplateSpec(tpl: Obj | undefined, path: string): FieldError[] {
  if (!tpl) return [Required(path, '')];
  const errs: FieldError[] = [];
  errs.push(...validateLabels(tpl.metadata?.labels, child(path, 'labels')));
  errs.push(...validateAnnotations(tpl.metadata?.annotations, child(path, 'annotations')));
  errs.push(...validatePodSpec(tpl.spec, child(path, 'spec')));
  if (arr(tpl.spec?.ephemeralContainers).length > 0) errs.push(Forbidden(child(path, 'spec', 'ephemeralContainers'), 'ephemeral containers not allowed in pod template'));
  return errs;
}

export function validatePod(pod: KubeObject): FieldError[] {
  const errs = validateObjectMeta(pod.metadata, true, nameIsDNSSubdomain);
  errs.push(...validatePodSpec(pod.spec as Obj, 'spec'));
  return errs;
}

/** Fields of a Pod's spec an update may change (ValidatePodUpdate's allow-list). */
const POD_UPDATABLE = [
  '`spec.containers[*].image`',
  '`spec.initContainers[*].image`',
  '`spec.activeDeadlineSeconds`',
  '`spec.tolerations` (only additions to existing tolerations)',
  '`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
].join(',');

/** ValidatePodUpdate: only images, activeDeadlineSeconds, tolerations additions and scheduling gates may change. */
export function validatePodUpdate(pod: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateObjectMetaUpdate(pod.metadata, old.metadata);
  errs.push(...validatePodSpec(pod.spec as Obj, 'spec'));
  const strip = (spec: Obj | undefined): Obj => {
    const s = structuredClone(spec ?? {});
    for (const c of [...arr(s.containers), ...arr(s.initContainers)]) delete c.image;
    delete s.activeDeadlineSeconds;
    delete s.tolerations;
    delete s.schedulingGates;
    // nodeName is set through the binding subresource; the API server compares it itself.
    delete s.nodeName;
    return s;
  };
  if (JSON.stringify(canon(strip(pod.spec as Obj))) !== JSON.stringify(canon(strip(old.spec as Obj)))) {
    // upstream appends a go-cmp diff after the newline; the changed top-level fields stand in for it
    const a = canon(strip(old.spec as Obj)) as Obj;
    const b = canon(strip(pod.spec as Obj)) as Obj;
    const changed = [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((k) => JSON.stringify(a[k]) !== JSON.stringify(b[k]));
    errs.push(Forbidden('spec', `pod updates may not change fields other than ${POD_UPDATABLE}\n  core.PodSpec{ changed: ${changed.join(', ')} }`));
  }
  return errs;
}

/** JSON with sorted keys, for order-insensitive comparisons. */
export function canon(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canon);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const k of Object.keys(v).sort()) o[k] = canon((v as Record<string, unknown>)[k]);
    return o;
  }
  return v;
}
