/**
 * @module client/events
 * Records core/v1 Events about objects, as client-go's EventRecorder: identical events
 * (same object, type, reason, message) are aggregated into one Event whose count and
 * lastTimestamp grow, so `kubectl describe` shows "(x3 over 2m)" instead of three rows.
 */
import { randomBytes } from 'node:crypto';
import type { MetaObject } from '../api/types.js';
import { groupVersion, res, resourceForKind } from '../api/registry.js';
import type { Client } from './rest.js';

interface Recorded { name: string; namespace: string; count: number; first: string }

const MAX_CACHE = 4096;

export class EventRecorder {
  private readonly seen = new Map<string, Recorded>();

  constructor(private readonly client: Client, readonly component: string, readonly host?: string) {}

  /** Fire-and-forget: event recording must never fail the caller. */
  event(obj: MetaObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    void this.record(obj, type, reason, message).catch(() => { /* best effort, as upstream */ });
  }

  async record(obj: MetaObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const md = obj.metadata ?? {};
    const namespace = md.namespace || 'default';
    const info = obj.apiVersion && obj.kind ? resourceForKind(obj.apiVersion, obj.kind) : undefined;
    const involved = {
      kind: obj.kind, namespace: md.namespace, name: md.name, uid: md.uid,
      apiVersion: obj.apiVersion ?? (info ? groupVersion(info) : undefined), resourceVersion: md.resourceVersion,
    };
    const key = [md.uid, type, reason, message].join('\x00');
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    const prev = this.seen.get(key);
    const r = res('events');
    if (prev) {
      prev.count++;
      await this.client.patch(r, prev.namespace, prev.name, { count: prev.count, lastTimestamp: now }, 'merge');
      return;
    }
    const name = `${md.name}.${randomBytes(8).toString('hex')}`;
    await this.client.create(r, namespace, {
      apiVersion: 'v1', kind: 'Event',
      metadata: { name, namespace },
      involvedObject: involved, reason, message, type,
      source: { component: this.component, host: this.host },
      firstTimestamp: now, lastTimestamp: now, count: 1,
      eventTime: null, reportingComponent: this.component, reportingInstance: this.host ?? '',
    });
    if (this.seen.size >= MAX_CACHE) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, { name, namespace, count: 1, first: now });
  }
}
