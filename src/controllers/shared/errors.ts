/** @module controllers/shared/errors — API error predicates. */
import { ApiError } from '../../client/types.js';

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.code === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.code === 409;
export const isAlreadyExists = (e: unknown): boolean => e instanceof ApiError && e.code === 409 && e.reason === 'AlreadyExists';

/** Swallow 404 (the object is already gone, which is what we wanted). */
export async function ignoreNotFound<T>(p: Promise<T>): Promise<T | undefined> {
  try { return await p; } catch (e) { if (isNotFound(e)) return undefined; throw e; }
}
