/**
 * @module controllers/manager
 * The controller-manager: builds the selected loops over one set of shared informers and runs
 * them while this process holds the kube-system/kube-controller-manager Lease (or always,
 * without leader election). Losing the lease stops every loop, so two managers never act at
 * the same time.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Client } from '../client/rest.js';
import { EventRecorder } from '../client/events.js';
import { LeaderElector } from '../client/leader.js';
import { DEFAULT_OPTIONS, type Controller, type ControllerContext, type ControllerOptions } from './shared/controller.js';
import { SharedInformers } from './shared/informers.js';
import { log } from './shared/log.js';
import { metrics } from './shared/metrics.js';
import { startHealthServer, type HealthServer } from './shared/health.js';
import { DeploymentController } from './deployment/controller.js';
import { ReplicaSetController } from './replicaset/controller.js';
import { StatefulSetController } from './statefulset/controller.js';
import { EndpointsController } from './endpoints/controller.js';
import { EndpointSliceController } from './endpointslice/controller.js';
import { EndpointSliceMirroringController } from './endpointslicemirroring/controller.js';
import { LoadBalancerController } from './loadbalancer/controller.js';
import { NodeLifecycleController } from './nodelifecycle/controller.js';
import { NamespaceController } from './namespace/controller.js';
import { GarbageCollector } from './garbagecollector/controller.js';
import { ServiceAccountsController } from './serviceaccount/controller.js';
import { RootCACertPublisher } from './rootcacertpublisher/controller.js';

export const COMPONENT = 'kube-controller-manager';
export const LEASE_NAMESPACE = 'kube-system';
export const LEASE_NAME = 'kube-controller-manager';

/** --controllers names, as kube-controller-manager spells them where one exists. */
export const CONTROLLERS: Record<string, (ctx: ControllerContext) => Controller> = {
  deployment: (c) => new DeploymentController(c),
  replicaset: (c) => new ReplicaSetController(c),
  statefulset: (c) => new StatefulSetController(c),
  endpoints: (c) => new EndpointsController(c),
  endpointslice: (c) => new EndpointSliceController(c),
  endpointslicemirroring: (c) => new EndpointSliceMirroringController(c),
  'service-lb': (c) => new LoadBalancerController(c),
  nodelifecycle: (c) => new NodeLifecycleController(c),
  namespace: (c) => new NamespaceController(c),
  garbagecollector: (c) => new GarbageCollector(c),
  serviceaccount: (c) => new ServiceAccountsController(c),
  'root-ca-cert-publisher': (c) => new RootCACertPublisher(c, c.opts.rootCA ?? ''),
};

export interface ControllerManagerOptions extends Partial<ControllerOptions> {
  /** Run only while holding the Lease (default true). */
  leaderElect?: boolean;
  identity?: string;
  /** "*" (all), names, and "-name" to disable, as --controllers. */
  controllers?: string[];
  leaseDurationSec?: number;
  renewMs?: number;
  retryMs?: number;
  /** /healthz + /metrics port; 0 = off, -1 = any free port. */
  port?: number;
}

export interface ControllerManager {
  stop(): Promise<void>;
  isLeader(): boolean;
  /** The loops of the current leadership term (empty when not leading). */
  running(): Controller[];
  healthPort?: number;
}

export function selectControllers(spec: string[] | undefined): string[] {
  const names = Object.keys(CONTROLLERS);
  const items = (spec?.length ? spec : ['*']).flatMap((s) => s.split(',')).map((s) => s.trim()).filter(Boolean);
  const all = items.includes('*');
  const out = names.filter((n) => (all ? !items.includes(`-${n}`) : items.includes(n)));
  const unknown = items.filter((i) => i !== '*' && !names.includes(i.replace(/^-/, '')));
  if (unknown.length) throw new Error(`--controllers: unknown controller(s) ${unknown.join(', ')}; known: ${names.join(', ')}`);
  return out;
}

export async function startControllerManager(client: Client, o: ControllerManagerOptions = {}): Promise<ControllerManager> {
  const opts: ControllerOptions = { ...DEFAULT_OPTIONS, ...Object.fromEntries(Object.entries(o).filter(([k, v]) => v !== undefined && k in DEFAULT_OPTIONS)) } as ControllerOptions;
  const names = selectControllers(o.controllers);
  const identity = o.identity ?? `${hostname()}_${randomBytes(8).toString('hex')}`;
  let term: { informers: SharedInformers; loops: Controller[] } | undefined;
  let stopped = false;

  const startTerm = async () => {
    const informers = new SharedInformers(client);
    const ctx: ControllerContext = { client, informers, recorder: new EventRecorder(client, 'controllermanager', identity.split('_')[0]), opts };
    const loops = names.map((n) => CONTROLLERS[n]!(ctx));
    term = { informers, loops };
    await informers.start();
    if (term?.informers !== informers || stopped) { informers.stop(); return; }
    for (const l of loops) l.start();
    log('info', COMPONENT, 'controllers started', { controllers: names, identity });
  };
  const stopTerm = () => {
    if (!term) return;
    for (const l of term.loops) l.stop();
    term.informers.stop();
    term = undefined;
    log('info', COMPONENT, 'controllers stopped', { identity });
  };

  let elector: LeaderElector | undefined;
  if (o.leaderElect ?? true) {
    elector = new LeaderElector({
      client, namespace: LEASE_NAMESPACE, name: LEASE_NAME, identity,
      leaseDurationSec: o.leaseDurationSec ?? 15, renewMs: o.renewMs ?? 2000, retryMs: o.retryMs ?? 2000,
      onStartedLeading: () => { metrics.leader.set({ name: LEASE_NAME }, 1); log('info', COMPONENT, 'became leader', { identity }); void startTerm(); },
      onStoppedLeading: () => { metrics.leader.set({ name: LEASE_NAME }, 0); log(stopped ? 'info' : 'warn', COMPONENT, stopped ? 'stopped leading' : 'lost leadership', { identity }); stopTerm(); },
    });
    elector.start();
  } else {
    await startTerm();
  }
  const health: HealthServer | undefined = await startHealthServer(o.port ?? 0);
  return {
    healthPort: health?.port,
    isLeader: () => (elector ? elector.isLeader() : true),
    running: () => term?.loops ?? [],
    stop: async () => {
      stopped = true;
      elector?.stop();
      stopTerm();
      await health?.close();
    },
  };
}
