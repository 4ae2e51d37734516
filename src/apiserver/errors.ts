/**
 * @module apiserver/errors
 * metav1.Status errors exactly as kube-apiserver sends them; kubectl prints
 * `Error from server (NotFound): services "x" not found` from these.
 */
import type { ResourceInfo } from '../api/registry.js';

export interface StatusCause { reason?: string; message?: string; field?: string }

export class HttpError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly details?: Record<string, unknown>,
    /** ListMeta of the Status (an expired continue token carries a fresh one here). */
    readonly listMeta: Record<string, unknown> = {}) {
    super(message);
  }

  status(): Record<string, unknown> {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: this.listMeta, status: 'Failure',
      message: this.message, reason: this.reason, ...(this.details ? { details: this.details } : {}), code: this.code,
    };
  }
}

/** "services" or "deployments.apps" — how errors name a resource. */
export function qualifiedResource(info: ResourceInfo): string {
  return info.group ? `${info.resource}.${info.group}` : info.resource;
}

function details(info: ResourceInfo, name: string | undefined): Record<string, unknown> {
  return { ...(name ? { name } : {}), ...(info.group ? { group: info.group } : {}), kind: info.resource };
}

export const notFound = (info: ResourceInfo, name: string) =>
  new HttpError(404, 'NotFound', `${qualifiedResource(info)} "${name}" not found`, details(info, name));

export const alreadyExists = (info: ResourceInfo, name: string) =>
  new HttpError(409, 'AlreadyExists', `${qualifiedResource(info)} "${name}" already exists`, details(info, name));

export const conflict = (info: ResourceInfo, name: string) =>
  new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${qualifiedResource(info)} "${name}": the object has been modified; please apply your changes to the latest version and try again`, details(info, name));

export const badRequest = (msg: string) => new HttpError(400, 'BadRequest', msg);

export const gone = (msg: string) => new HttpError(410, 'Expired', msg);

export const methodNotAllowed = (msg = 'the server does not allow this method on the requested resource') => new HttpError(405, 'MethodNotAllowed', msg);

export const unavailable = (msg: string) => new HttpError(503, 'ServiceUnavailable', msg);

export function invalid(info: ResourceInfo, name: string, message: string, causes: StatusCause[]): HttpError {
  return new HttpError(422, 'Invalid', message, { ...details(info, name), kind: info.kind, causes });
}

export function namespaceNotFound(ns: string): HttpError {
  return new HttpError(404, 'NotFound', `namespaces "${ns}" not found`, { name: ns, kind: 'namespaces' });
}

export function forbidden(info: ResourceInfo, name: string, why: string): HttpError {
  return new HttpError(403, 'Forbidden', `${qualifiedResource(info)} "${name}" is forbidden: ${why}`, details(info, name));
}

export function forbiddenTerminating(info: ResourceInfo, name: string, ns: string): HttpError {
  return new HttpError(403, 'Forbidden', `${qualifiedResource(info)} "${name}" is forbidden: unable to create new content in namespace ${ns} because it is being terminated`,
    { ...details(info, name), causes: [{ reason: 'NamespaceTerminating', message: `namespace ${ns} is being terminated`, field: 'metadata.namespace' }] });
}
