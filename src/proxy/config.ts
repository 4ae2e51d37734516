/**
 * @module proxy/config
 * Informers → handlers, as kube-proxy's config/config.go: every Service / EndpointSlice event
 * goes to its tracker, and when the tracker says it mattered, to onChange (which only nudges
 * the runner). isSynced() turns true once both initial lists arrived: nothing may be programmed
 * before, or a restarting proxy would briefly reject every Service it had not listed yet.
 */
import type { EndpointSlice, Service } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import { Informer } from '../client/informer.js';
import type { EndpointsChangeTracker } from './endpoints-tracker.js';
import type { ServiceChangeTracker } from './service-tracker.js';

export interface ProxyConfig {
  start(): Promise<void>;
  isSynced(): boolean;
  stop(): void;
}

/** Informer-shaped source (the real Informer, or a fake in tests). */
export interface Source<T> {
  addHandlers(h: { add?(o: T): void; update?(a: T, b: T): void; delete?(o: T): void }): unknown;
  start(): Promise<void>;
  hasSynced(): boolean;
  stop(): void;
}

export function wireConfig(services: Source<Service>, slices: Source<EndpointSlice>, svcTracker: ServiceChangeTracker, epTracker: EndpointsChangeTracker, onChange: () => void): ProxyConfig {
  services.addHandlers({
    add: (s) => { if (svcTracker.onService(s)) onChange(); },
    update: (_a, b) => { if (svcTracker.onService(b)) onChange(); },
    delete: (s) => { if (svcTracker.onService(s, true)) onChange(); },
  });
  slices.addHandlers({
    add: (s) => { if (epTracker.onSlice(s)) onChange(); },
    update: (_a, b) => { if (epTracker.onSlice(b)) onChange(); },
    delete: (s) => { if (epTracker.onSlice(s, true)) onChange(); },
  });
  return {
    async start() { await Promise.all([services.start(), slices.start()]); },
    isSynced: () => services.hasSynced() && slices.hasSynced(),
    stop() { services.stop(); slices.stop(); },
  };
}

/** The informers of a real API server. */
export function informerConfig(client: Client, svcTracker: ServiceChangeTracker, epTracker: EndpointsChangeTracker, onChange: () => void): ProxyConfig {
  return wireConfig(
    new Informer<Service>(client, res('services')),
    new Informer<EndpointSlice>(client, res('endpointslices')),
    svcTracker, epTracker, onChange,
  );
}
