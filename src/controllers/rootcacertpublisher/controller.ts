/**
 * @module controllers/rootcacertpublisher/controller
 * Root CA certificate publisher (pkg/controller/certificates/rootcacertpublisher): every active
 * namespace has ConfigMap "kube-root-ca.crt" holding the cluster's CA bundle (--root-ca-file),
 * which pods find through their projected kube-api-access volume to trust the API server at
 * kubernetes.default.svc. A namespace that appears gets it; a deleted or edited one is made
 * right again; nothing happens in a terminating namespace.
 */
import type { ConfigMap, Namespace } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { isAlreadyExists, isNotFound } from '../shared/errors.js';

export const CONTROLLER_NAME = 'root-ca-cert-publisher';
export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const DESCRIPTION = 'Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.';

export class RootCACertPublisher extends QueueController {
  private readonly nsInf;
  private readonly cmInf;

  constructor(ctx: ControllerContext, private readonly rootCA: string) {
    super(CONTROLLER_NAME, ctx);
    this.nsInf = ctx.informers.get<Namespace>('namespaces');
    this.cmInf = ctx.informers.get<ConfigMap>('configmaps');
    this.nsInf.addHandlers({ add: (n) => this.queue.add(n.metadata!.name!), update: (_o, n) => this.queue.add(n.metadata!.name!) });
    const mine = (cm: ConfigMap) => { if (cm.metadata?.name === ROOT_CA_CONFIGMAP) this.queue.add(cm.metadata.namespace!); };
    this.cmInf.addHandlers({ update: (_o, cm) => mine(cm), delete: mine });
  }

  protected async sync(ns: string): Promise<void> {
    if (!this.rootCA) return; // no CA given: nothing to publish
    const n = this.nsInf.get(ns);
    if (!n || n.metadata?.deletionTimestamp || n.status?.phase === 'Terminating') return;
    const cm = this.cmInf.get(`${ns}/${ROOT_CA_CONFIGMAP}`);
    const data = { 'ca.crt': this.rootCA };
    try {
      if (!cm) {
        await this.ctx.client.create(res('configmaps'), ns, {
          apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: ROOT_CA_CONFIGMAP, annotations: { 'kubernetes.io/description': DESCRIPTION } }, data,
        });
        return;
      }
      if (cm.data?.['ca.crt'] === this.rootCA && Object.keys(cm.data).length === 1 && cm.metadata?.annotations?.['kubernetes.io/description'] === DESCRIPTION) return;
      const fixed: ConfigMap = { ...cm, metadata: { ...cm.metadata, annotations: { ...(cm.metadata?.annotations ?? {}), 'kubernetes.io/description': DESCRIPTION } }, data };
      await this.ctx.client.update(res('configmaps'), ns, fixed as ConfigMap & { metadata: NonNullable<ConfigMap['metadata']> });
    } catch (e) {
      // Made meanwhile (the cache lags), gone with its namespace, or the namespace is terminating.
      if (isAlreadyExists(e) || isNotFound(e) || (e as { code?: number }).code === 403) return;
      throw e;
    }
  }
}
