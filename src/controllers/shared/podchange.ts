/** @module controllers/shared/podchange — does a pod update change what endpoints show? (podEndpointsChanged) */
import type { Pod } from '../../api/types.js';
import { isPodReady, podIPs } from './pods.js';

export function podChangeMatters(o: Pod, p: Pod): boolean {
  if (o.metadata?.resourceVersion === p.metadata?.resourceVersion) return false; // resync
  return JSON.stringify(o.metadata?.labels ?? {}) !== JSON.stringify(p.metadata?.labels ?? {})
    || !!o.metadata?.deletionTimestamp !== !!p.metadata?.deletionTimestamp
    || isPodReady(o) !== isPodReady(p)
    || podIPs(o).join() !== podIPs(p).join()
    || o.spec?.nodeName !== p.spec?.nodeName
    || o.spec?.hostname !== p.spec?.hostname || o.spec?.subdomain !== p.spec?.subdomain
    || o.status?.phase !== p.status?.phase;
}
