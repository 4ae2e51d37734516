/**
 * @module kubelet/env
 * A container's environment as the kubelet builds it: Service links for the Services of the
 * pod's namespace (docker-links style: MYAPP_SERVICE_HOST, MYAPP_PORT_38080_TCP_ADDR, …) plus the
 * master Service's KUBERNETES_* ones, then the container's envFrom and env (value, fieldRef,
 * configMapKeyRef, secretKeyRef) with $(VAR) expansion.
 */
import { fieldValue, resourceFieldValue } from './volumes.js';
import type { ConfigMap, Container, Pod, Secret, Service } from '../api/types.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const MASTER_SERVICE_DEFAULT = { host: '10.96.0.1', port: 443 };

export interface EnvSources {
  /** Services in the pod's namespace (and the master Service in default), at container start. */
  services(namespace: string): Service[];
  configMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<Secret | undefined>;
}

export interface EnvContext {
  /** The node's allocatable resources: resourceFieldRef limits default to them. */
  allocatable?: Record<string, string>;
  podIP: string;
  hostIP: string;
  nodeName: string;
  hostname: string;
  apiserverSocket?: string;
}

function envName(svc: string): string {
  return svc.toUpperCase().replace(/-/g, '_');
}

/** The env vars one Service contributes (kubelet's makeEnvironmentVariables / envvars.FromServices). */
export function serviceEnv(svc: Service): Record<string, string> {
  const ip = svc.spec?.clusterIP;
  if (!ip || ip === 'None') return {};
  const name = envName(svc.metadata?.name ?? '');
  const ports = svc.spec?.ports ?? [];
  const out: Record<string, string> = { [`${name}_SERVICE_HOST`]: ip };
  if (!ports.length) return out;
  out[`${name}_SERVICE_PORT`] = String(ports[0]!.port);
  for (const p of ports) if (p.name) out[`${name}_SERVICE_PORT_${envName(p.name)}`] = String(p.port);
  const first = ports[0]!;
  out[`${name}_PORT`] = `${(first.protocol ?? 'TCP').toLowerCase()}://${ip}:${first.port}`;
  for (const p of ports) {
    const proto = p.protocol ?? 'TCP';
    const pre = `${name}_PORT_${p.port}_${proto}`;
    out[pre] = `${proto.toLowerCase()}://${ip}:${p.port}`;
    out[`${pre}_PROTO`] = proto.toLowerCase();
    out[`${pre}_PORT`] = String(p.port);
    out[`${pre}_ADDR`] = ip;
  }
  return out;
}

/** Expand $(VAR) references ($$ escapes), as Kubernetes does for env values, command and args. */
export function expand(s: string, env: Record<string, string>): string {
  return s.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (all, name: string | undefined) => {
    if (all === '$$') return '$';
    return name !== undefined && name in env ? env[name]! : all;
  });
}

export async function containerEnv(pod: Pod, c: Container, ctx: EnvContext, src: EnvSources): Promise<Record<string, string>> {
  const ns = pod.metadata?.namespace ?? 'default';
  const env: Record<string, string> = { PATH: DEFAULT_PATH, HOSTNAME: ctx.hostname };
  // Service links: the namespace's Services if enabled, the master Service always.
  if (pod.spec?.enableServiceLinks !== false) for (const s of src.services(ns)) Object.assign(env, serviceEnv(s));
  const master = src.services('default').find((s) => s.metadata?.name === 'kubernetes');
  Object.assign(env, master ? serviceEnv(master) : serviceEnv({ metadata: { name: 'kubernetes' }, spec: { clusterIP: MASTER_SERVICE_DEFAULT.host, ports: [{ name: 'https', port: MASTER_SERVICE_DEFAULT.port, protocol: 'TCP' }] } }));
  if (ctx.apiserverSocket) env.SVCPLANE_APISERVER_SOCKET = ctx.apiserverSocket;
  for (const from of c.envFrom ?? []) {
    const prefix = from.prefix ?? '';
    if (from.configMapRef?.name) {
      const cm = await src.configMap(ns, from.configMapRef.name);
      if (!cm && !from.configMapRef.optional) throw new Error(`configmap "${from.configMapRef.name}" not found`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env[prefix + k] = v;
    }
    if (from.secretRef?.name) {
      const s = await src.secret(ns, from.secretRef.name);
      if (!s && !from.secretRef.optional) throw new Error(`secret "${from.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(s?.data ?? {})) env[prefix + k] = Buffer.from(v, 'base64').toString();
      for (const [k, v] of Object.entries(s?.stringData ?? {})) env[prefix + k] = v;
    }
  }
  for (const e of c.env ?? []) {
    if (e.value !== undefined) { env[e.name] = expand(e.value, env); continue; }
    const vf = e.valueFrom;
    if (!vf) { env[e.name] = ''; continue; }
    if (vf.fieldRef) env[e.name] = fieldValue(pod, vf.fieldRef.fieldPath, ctx);
    else if (vf.configMapKeyRef) {
      const cm = await src.configMap(ns, vf.configMapKeyRef.name ?? '');
      const v = cm?.data?.[vf.configMapKeyRef.key];
      if (v === undefined && !vf.configMapKeyRef.optional) {
        throw new Error(cm ? `couldn't find key ${vf.configMapKeyRef.key} in ConfigMap ${ns}/${vf.configMapKeyRef.name}` : `configmap "${vf.configMapKeyRef.name}" not found`);
      }
      if (v !== undefined) env[e.name] = v;
    } else if (vf.secretKeyRef) {
      const s = await src.secret(ns, vf.secretKeyRef.name ?? '');
      const raw = s?.data?.[vf.secretKeyRef.key];
      const v = raw !== undefined ? Buffer.from(raw, 'base64').toString() : s?.stringData?.[vf.secretKeyRef.key];
      if (v === undefined && !vf.secretKeyRef.optional) throw new Error(s ? `couldn't find key ${vf.secretKeyRef.key} in Secret ${ns}/${vf.secretKeyRef.name}` : `secret "${vf.secretKeyRef.name}" not found`);
      if (v !== undefined) env[e.name] = v;
    } else if (vf.resourceFieldRef) {
      const r = vf.resourceFieldRef;
      env[e.name] = resourceFieldValue(pod, r.containerName || c.name, r.resource, r.divisor, ctx.allocatable ?? {});
    }
  }
  return env;
}
