/**
 * @module api/validation-apps
 * apps/v1 Deployment, ReplicaSet, StatefulSet (pkg/apis/apps/validation), on defaulted objects.
 */
import type { KubeObject } from './types.js';
import { type FieldError, Invalid, Required, Forbidden, NotSupported, child, nonNegative, goIntOrString, goLabelSelector, goStringMap, GoRepr, goQuote, IMMUTABLE_MSG } from './validation-field.js';
import { validateObjectMeta, validateObjectMetaUpdate, validateLabelSelector, nameIsDNSSubdomain } from './validation-meta.js';
import { validatePodTemplateSpec, canon } from './validation-pod.js';
import { labelSelectorFromObject, matchLabels } from './selectors.js';
import { validateDNS1123Label } from './names.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PERCENT_FMT = '[0-9]+%';
const PERCENT_MSG = `a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '${PERCENT_FMT}')`;

function isEmptySelector(sel: Obj): boolean {
  return Object.keys(sel.matchLabels ?? {}).length === 0 && (sel.matchExpressions ?? []).length === 0;
}

/** Selector required, non-empty, well-formed; the template's labels must match it. */
function validateSelectorAndTemplate(spec: Obj, kindWord: string, templateRestartAlways: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const sel = spec.selector;
  if (!sel) {
    errs.push(Required('spec.selector', ''));
  } else {
    errs.push(...validateLabelSelector(sel, 'spec.selector'));
    if (isEmptySelector(sel)) errs.push(Invalid('spec.selector', goLabelSelector(sel), `empty selector is invalid for ${kindWord}`));
  }
  let reqs = null;
  try { reqs = labelSelectorFromObject(sel); } catch { errs.push(Invalid('spec.selector', goLabelSelector(sel), 'invalid label selector')); }
  const tpl: Obj | undefined = spec.template;
  if (!tpl) {
    errs.push(Required('spec.template', ''));
    return errs;
  }
  if (reqs && reqs.length > 0 && !matchLabels(reqs, tpl.metadata?.labels)) {
    errs.push(Invalid('spec.template.metadata.labels', new GoRepr(goStringMap(tpl.metadata?.labels), tpl.metadata?.labels ?? null), '`selector` does not match template `labels`'));
  }
  errs.push(...validatePodTemplateSpec(tpl, 'spec.template'));
  if (templateRestartAlways && tpl.spec?.restartPolicy !== 'Always') {
    errs.push(NotSupported('spec.template.spec.restartPolicy', tpl.spec?.restartPolicy ?? '', ['Always']));
  }
  if (tpl.spec?.activeDeadlineSeconds !== undefined && tpl.spec?.activeDeadlineSeconds !== null) {
    errs.push(Forbidden('spec.template.spec.activeDeadlineSeconds', `activeDeadlineSeconds in ${kindWord === 'statefulset' ? 'StatefulSet' : 'ReplicaSet'} is not Supported`));
  }
  return errs;
}

function validatePositiveIntOrPercent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string') return /^[0-9]+%$/.test(v) ? [] : [Invalid(path, goIntOrString(v), PERCENT_MSG)];
  if (typeof v === 'number') return v < 0 ? [Invalid(path, v, 'must be greater than or equal to 0')] : [];
  return [];
}

function notMoreThan100Percent(v: unknown, path: string): FieldError[] {
  if (typeof v === 'string' && /^[0-9]+%$/.test(v) && Number(v.slice(0, -1)) > 100) return [Invalid(path, goIntOrString(v), 'must not be greater than 100%')];
  return [];
}

function isZero(v: unknown): boolean {
  return v === 0 || v === '0%' || v === '0';
}

function validateDeploymentStrategy(st: Obj | undefined): FieldError[] {
  const s = st ?? {};
  const errs: FieldError[] = [];
  switch (s.type) {
    case 'Recreate':
      if (s.rollingUpdate) errs.push(Forbidden('spec.strategy.rollingUpdate', "may not be specified when strategy `type` is 'Recreate'"));
      break;
    case 'RollingUpdate': {
      const ru = s.rollingUpdate;
      if (!ru) { errs.push(Required('spec.strategy.rollingUpdate', 'this should be defaulted and never be nil')); break; }
      const p = 'spec.strategy.rollingUpdate';
      errs.push(...validatePositiveIntOrPercent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      errs.push(...validatePositiveIntOrPercent(ru.maxSurge, child(p, 'maxSurge')));
      if (isZero(ru.maxSurge) && isZero(ru.maxUnavailable)) {
        errs.push(Invalid(child(p, 'maxUnavailable'), goIntOrString(ru.maxUnavailable), 'may not be 0 when `maxSurge` is 0'));
      }
      errs.push(...notMoreThan100Percent(ru.maxUnavailable, child(p, 'maxUnavailable')));
      break;
    }
    default: {
      const ru = s.rollingUpdate ? '(*apps.RollingUpdateDeployment)(…)' : '(*apps.RollingUpdateDeployment)(nil)';
      errs.push(NotSupported('spec.strategy', new GoRepr(`apps.DeploymentStrategy{Type:${goQuote(String(s.type ?? ''))}, RollingUpdate:${ru}}`, s), ['Recreate', 'RollingUpdate']));
    }
  }
  return errs;
}

export function validateDeployment(d: KubeObject): FieldError[] {
  const errs = validateObjectMeta(d.metadata, true, nameIsDNSSubdomain);
  const spec: Obj = (d.spec as Obj) ?? {};
  errs.push(...nonNegative('spec.replicas', spec.replicas));
  errs.push(...validateSelectorAndTemplate(spec, 'deployment', true));
  errs.push(...validateDeploymentStrategy(spec.strategy));
  errs.push(...nonNegative('spec.minReadySeconds', spec.minReadySeconds));
  errs.push(...nonNegative('spec.revisionHistoryLimit', spec.revisionHistoryLimit));
  if (typeof spec.progressDeadlineSeconds === 'number') {
    errs.push(...nonNegative('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds));
    if (spec.progressDeadlineSeconds <= (spec.minReadySeconds ?? 0)) {
      errs.push(Invalid('spec.progressDeadlineSeconds', spec.progressDeadlineSeconds, 'must be greater than minReadySeconds'));
    }
  }
  return errs;
}

export function validateReplicaSet(rs: KubeObject): FieldError[] {
  const errs = validateObjectMeta(rs.metadata, true, nameIsDNSSubdomain);
  const spec: Obj = (rs.spec as Obj) ?? {};
  errs.push(...nonNegative('spec.replicas', spec.replicas));
  errs.push(...nonNegative('spec.minReadySeconds', spec.minReadySeconds));
  errs.push(...validateSelectorAndTemplate(spec, 'deployment', true));
  return errs;
}

const POD_MANAGEMENT = ['OrderedReady', 'Parallel'];
const RETENTION = ['Retain', 'Delete'];

export function validateStatefulSet(s: KubeObject): FieldError[] {
  const errs = validateObjectMeta(s.metadata, true, nameIsDNSSubdomain);
  const spec: Obj = (s.spec as Obj) ?? {};
  if (!POD_MANAGEMENT.includes(spec.podManagementPolicy)) {
    if (!spec.podManagementPolicy) errs.push(Required('spec.podManagementPolicy', ''));
    else errs.push(Invalid('spec.podManagementPolicy', spec.podManagementPolicy, "must be 'OrderedReady' or 'Parallel'"));
  }
  const us: Obj = spec.updateStrategy ?? {};
  switch (us.type) {
    case '': case undefined:
      errs.push(Required('spec.updateStrategy', ''));
      break;
    case 'OnDelete':
      if (us.rollingUpdate) errs.push(Invalid('spec.updateStrategy.rollingUpdate', new GoRepr('apps.RollingUpdateStatefulSetStrategy{…}', us.rollingUpdate), "only allowed for updateStrategy 'RollingUpdate'"));
      break;
    case 'RollingUpdate':
      if (us.rollingUpdate) errs.push(...nonNegative('spec.updateStrategy.rollingUpdate.partition', us.rollingUpdate.partition));
      break;
    default:
      errs.push(Invalid('spec.updateStrategy', new GoRepr(`apps.StatefulSetUpdateStrategy{Type:${goQuote(String(us.type))}, RollingUpdate:(*apps.RollingUpdateStatefulSetStrategy)(nil)}`, us), "must be 'RollingUpdate' or 'OnDelete'"));
  }
  const ret: Obj | undefined = spec.persistentVolumeClaimRetentionPolicy;
  if (ret) {
    for (const f of ['whenDeleted', 'whenScaled']) {
      if (!RETENTION.includes(ret[f])) errs.push(NotSupported(child('spec.persistentVolumeClaimRetentionPolicy', f), ret[f] ?? '', RETENTION));
    }
  }
  errs.push(...nonNegative('spec.replicas', spec.replicas));
  errs.push(...nonNegative('spec.minReadySeconds', spec.minReadySeconds));
  if (spec.ordinals?.start !== undefined) errs.push(...nonNegative('spec.ordinals.start', spec.ordinals.start));
  if (spec.serviceName) for (const m of validateDNS1123Label(spec.serviceName)) errs.push(Invalid('spec.serviceName', spec.serviceName, m));
  errs.push(...validateSelectorAndTemplate(spec, 'statefulset', true));
  return errs;
}

function selectorImmutable(spec: Obj, old: Obj): FieldError[] {
  if (JSON.stringify(canon(spec.selector ?? null)) === JSON.stringify(canon(old.selector ?? null))) return [];
  return [Invalid('spec.selector', goLabelSelector(spec.selector), IMMUTABLE_MSG)];
}

export function validateDeploymentUpdate(d: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateObjectMetaUpdate(d.metadata, old.metadata);
  errs.push(...selectorImmutable((d.spec as Obj) ?? {}, (old.spec as Obj) ?? {}));
  errs.push(...validateDeployment(d).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

export function validateReplicaSetUpdate(rs: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateObjectMetaUpdate(rs.metadata, old.metadata);
  errs.push(...selectorImmutable((rs.spec as Obj) ?? {}, (old.spec as Obj) ?? {}));
  errs.push(...validateReplicaSet(rs).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}

/** The spec fields a StatefulSet update may change. */
const STS_MUTABLE = ['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds'];

export function validateStatefulSetUpdate(s: KubeObject, old: KubeObject): FieldError[] {
  const errs = validateObjectMetaUpdate(s.metadata, old.metadata);
  const strip = (spec: Obj | undefined) => {
    const c: Obj = { ...(spec ?? {}) };
    for (const f of STS_MUTABLE) delete c[f];
    return JSON.stringify(canon(c));
  };
  if (strip(s.spec as Obj) !== strip(old.spec as Obj)) {
    errs.push(Forbidden('spec', "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"));
  }
  errs.push(...validateStatefulSet(s).filter((e) => !e.field.startsWith('metadata.')));
  return errs;
}
