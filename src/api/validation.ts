/**
 * @module api/validation
 * Create and update validation by kind, with kube-apiserver's field paths and wording. Run on the
 * object after defaulting (as kube-apiserver does). The API server renders the result as a 422
 * Status: message `<Kind> "<name>" is invalid: <fieldErrorString>, …`, causes {type, field, message}.
 */
import type { KubeObject } from './types.js';
import type { ResourceInfo } from './registry.js';
import { type FieldError, fieldErrorString } from './validation-field.js';
import { validateObjectMeta, validateObjectMetaUpdate, nameIsDNSSubdomain } from './validation-meta.js';
import { validateService, validateServiceUpdate, normalizeClusterIPsForUpdate, type ServiceContext } from './validation-service.js';
import { validatePod, validatePodUpdate } from './validation-pod.js';
import {
  validateDeployment, validateDeploymentUpdate, validateReplicaSet, validateReplicaSetUpdate, validateStatefulSet,
  validateStatefulSetUpdate,
} from './validation-apps.js';
import {
  validateEndpoints, validateEndpointSlice, validateEndpointSliceUpdate, validateNamespace, validateConfigMap, validateSecret,
  validateServiceAccount, validateLease, validateNode, validateEvent,
} from './validation-misc.js';

export type { FieldError, FieldErrorType } from './validation-field.js';
export { fieldErrorString } from './validation-field.js';
export type ValidationContext = ServiceContext;

/** Validation for create (also the second half of update). */
export function validateObject(obj: KubeObject, info: Pick<ResourceInfo, 'kind' | 'namespaced'>, ctx: ValidationContext = {}): FieldError[] {
  switch (info.kind) {
    case 'Service': return validateService(obj, ctx);
    case 'Pod': return validatePod(obj);
    case 'Deployment': return validateDeployment(obj);
    case 'ReplicaSet': return validateReplicaSet(obj);
    case 'StatefulSet': return validateStatefulSet(obj);
    case 'Endpoints': return validateEndpoints(obj);
    case 'EndpointSlice': return validateEndpointSlice(obj);
    case 'Namespace': return validateNamespace(obj);
    case 'ConfigMap': return validateConfigMap(obj);
    case 'Secret': return validateSecret(obj);
    case 'ServiceAccount': return validateServiceAccount(obj);
    case 'Lease': return validateLease(obj);
    case 'Node': return validateNode(obj);
    case 'Event': return validateEvent(obj);
    default: return validateObjectMeta(obj.metadata, info.namespaced, nameIsDNSSubdomain);
  }
}

/**
 * Validation for update: identity and immutable fields, then the create rules on the new object.
 * `obj` should already carry what the server copies from `old` (uid, creationTimestamp). For
 * Services, a clusterIP edit is normalised into clusterIPs first, as kube-apiserver's registry does.
 */
export function validateUpdate(obj: KubeObject, old: KubeObject, info: Pick<ResourceInfo, 'kind' | 'namespaced'>, ctx: ValidationContext = {}): FieldError[] {
  switch (info.kind) {
    case 'Service': {
      const o = structuredClone(obj);
      if (o.spec && old.spec) normalizeClusterIPsForUpdate(o.spec as Record<string, unknown>, old.spec as Record<string, unknown>);
      return validateServiceUpdate(o, old, ctx);
    }
    case 'Pod': return validatePodUpdate(obj, old);
    case 'Deployment': return validateDeploymentUpdate(obj, old);
    case 'ReplicaSet': return validateReplicaSetUpdate(obj, old);
    case 'StatefulSet': return validateStatefulSetUpdate(obj, old);
    case 'EndpointSlice': return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...validateEndpointSlice(obj).filter((e) => !e.field.startsWith('metadata.')), ...validateEndpointSliceUpdate(obj, old)];
    default:
      return [...validateObjectMetaUpdate(obj.metadata, old.metadata), ...validateObject(obj, info, ctx).filter((e) => !e.field.startsWith('metadata.'))];
  }
}

/**
 * The Status message kube-apiserver sends for a 422 (errors.NewInvalid): the group-qualified kind
 * (`Deployment.apps`, plain `Service` for core), the name, then the errors as an aggregate —
 * identical messages once, a single error bare, several in `[a, b]`.
 */
export function invalidMessage(kind: string, name: string, errs: FieldError[], group = ''): string {
  const parts = [...new Set(errs.map(fieldErrorString))];
  const body = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return `${group ? `${kind}.${group}` : kind} "${name}" is invalid: ${body}`;
}

/** Status causes for a 422, one per error, as kube-apiserver lists them. */
export function statusCauses(errs: FieldError[]): { reason: string; message: string; field: string }[] {
  return errs.map((e) => ({ reason: e.type, message: e.message, field: e.field }));
}
