/**
 * @module controllers/shared/owners
 * ownerReferences helpers: the controller reference every workload object carries, and the
 * lookups that resolve a dependent back to its owner.
 */
import type { MetaObject, OwnerReference } from '../../api/types.js';

export function controllerRefOf(obj: MetaObject): OwnerReference | undefined {
  return obj.metadata?.ownerReferences?.find((r) => r.controller);
}

/** metav1.NewControllerRef: controller + blockOwnerDeletion, so foreground deletion waits. */
export function newControllerRef(owner: MetaObject, apiVersion: string, kind: string): OwnerReference {
  return {
    apiVersion, kind, name: owner.metadata!.name!, uid: owner.metadata!.uid!,
    controller: true, blockOwnerDeletion: true,
  };
}

/** Is `obj` controlled by the owner with this uid? */
export function isControlledBy(obj: MetaObject, ownerUid: string | undefined): boolean {
  return !!ownerUid && controllerRefOf(obj)?.uid === ownerUid;
}
