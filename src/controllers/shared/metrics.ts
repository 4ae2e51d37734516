/**
 * @module controllers/shared/metrics
 * Prometheus metrics of the controller-manager and scheduler (prom-client, one registry per
 * process so the /metrics endpoint shows only ours).
 */
import client from 'prom-client';

export const registry = new client.Registry();

export const metrics = {
  syncDuration: new client.Histogram({
    name: 'svcplane_controller_sync_duration_seconds', help: 'Time of one sync of one key',
    labelNames: ['controller'], buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry],
  }),
  syncErrors: new client.Counter({
    name: 'svcplane_controller_sync_errors_total', help: 'Syncs that failed and were retried',
    labelNames: ['controller'], registers: [registry],
  }),
  sliceWrites: new client.Counter({
    name: 'svcplane_endpointslice_writes_total', help: 'EndpointSlice creates/updates/deletes',
    labelNames: ['controller', 'op'], registers: [registry],
  }),
  leader: new client.Gauge({
    name: 'svcplane_leader_election_master_status', help: '1 while this process holds the lease',
    labelNames: ['name'], registers: [registry],
  }),
  scheduled: new client.Counter({
    name: 'svcplane_scheduler_schedule_attempts_total', help: 'Scheduling attempts by result',
    labelNames: ['result'], registers: [registry],
  }),
};
