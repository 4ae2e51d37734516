/**
 * @module apiserver/protobuf
 * Request bodies in Kubernetes' protobuf encoding, which stock kubectl uses for imperative
 * commands (`create deployment`, `create service …`, `expose`, `run`, `create namespace`,
 * `create configmap`) and does not retry as JSON. The envelope is the magic `k8s\0` followed by
 * a runtime.Unknown {typeMeta, raw, contentEncoding, contentType}; `raw` is the object in
 * protobuf. A small wire decoder driven by field tables (numbers as in the upstream
 * generated.proto messages) turns it into the JSON object the rest of the server handles.
 * Fields not in the tables are skipped.
 */
import { HttpError } from './errors.js';

type FieldType = 'string' | 'int' | 'bool' | 'bytes' | 'intstr' | 'time' | 'quantity' | `msg:${string}` | `map:${'string' | 'quantity' | 'bytes'}`;
interface Field { name: string; type: FieldType; repeated?: boolean }
type Schema = Record<number, Field>;

const f = (name: string, type: FieldType, repeated = false): Field => ({ name, type, repeated });

const SCHEMAS: Record<string, Schema> = {
  Unknown: { 1: f('typeMeta', 'msg:TypeMeta'), 2: f('raw', 'bytes'), 3: f('contentEncoding', 'string'), 4: f('contentType', 'string') },
  TypeMeta: { 1: f('apiVersion', 'string'), 2: f('kind', 'string') },
  ObjectMeta: {
    1: f('name', 'string'), 2: f('generateName', 'string'), 3: f('namespace', 'string'), 5: f('uid', 'string'), 6: f('resourceVersion', 'string'),
    7: f('generation', 'int'), 8: f('creationTimestamp', 'time'), 11: f('labels', 'map:string'), 12: f('annotations', 'map:string'),
    13: f('ownerReferences', 'msg:OwnerReference', true), 14: f('finalizers', 'string', true),
  },
  OwnerReference: { 1: f('kind', 'string'), 3: f('name', 'string'), 4: f('uid', 'string'), 5: f('apiVersion', 'string'), 6: f('controller', 'bool'), 7: f('blockOwnerDeletion', 'bool') },
  LabelSelector: { 1: f('matchLabels', 'map:string'), 2: f('matchExpressions', 'msg:LabelSelectorRequirement', true) },
  LabelSelectorRequirement: { 1: f('key', 'string'), 2: f('operator', 'string'), 3: f('values', 'string', true) },
  Deployment: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('spec', 'msg:DeploymentSpec') },
  DeploymentSpec: {
    1: f('replicas', 'int'), 2: f('selector', 'msg:LabelSelector'), 3: f('template', 'msg:PodTemplateSpec'), 4: f('strategy', 'msg:DeploymentStrategy'),
    5: f('minReadySeconds', 'int'), 6: f('revisionHistoryLimit', 'int'), 7: f('paused', 'bool'), 9: f('progressDeadlineSeconds', 'int'),
  },
  DeploymentStrategy: { 1: f('type', 'string'), 2: f('rollingUpdate', 'msg:RollingUpdateDeployment') },
  RollingUpdateDeployment: { 1: f('maxUnavailable', 'intstr'), 2: f('maxSurge', 'intstr') },
  PodTemplateSpec: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('spec', 'msg:PodSpec') },
  Pod: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('spec', 'msg:PodSpec') },
  PodSpec: {
    2: f('containers', 'msg:Container', true), 3: f('restartPolicy', 'string'), 4: f('terminationGracePeriodSeconds', 'int'), 6: f('dnsPolicy', 'string'),
    7: f('nodeSelector', 'map:string'), 8: f('serviceAccountName', 'string'), 10: f('nodeName', 'string'), 11: f('hostNetwork', 'bool'),
    16: f('hostname', 'string'), 17: f('subdomain', 'string'), 20: f('initContainers', 'msg:Container', true),
  },
  Container: {
    1: f('name', 'string'), 2: f('image', 'string'), 3: f('command', 'string', true), 4: f('args', 'string', true), 5: f('workingDir', 'string'),
    6: f('ports', 'msg:ContainerPort', true), 7: f('env', 'msg:EnvVar', true), 8: f('resources', 'msg:ResourceRequirements'),
    13: f('terminationMessagePath', 'string'), 14: f('imagePullPolicy', 'string'), 16: f('stdin', 'bool'), 17: f('stdinOnce', 'bool'), 18: f('tty', 'bool'),
    20: f('terminationMessagePolicy', 'string'),
  },
  ContainerPort: { 1: f('name', 'string'), 2: f('hostPort', 'int'), 3: f('containerPort', 'int'), 4: f('protocol', 'string'), 5: f('hostIP', 'string') },
  EnvVar: { 1: f('name', 'string'), 2: f('value', 'string') },
  ResourceRequirements: { 1: f('limits', 'map:quantity'), 2: f('requests', 'map:quantity') },
  Service: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('spec', 'msg:ServiceSpec') },
  ServiceSpec: {
    1: f('ports', 'msg:ServicePort', true), 2: f('selector', 'map:string'), 3: f('clusterIP', 'string'), 4: f('type', 'string'), 5: f('externalIPs', 'string', true),
    7: f('sessionAffinity', 'string'), 8: f('loadBalancerIP', 'string'), 9: f('loadBalancerSourceRanges', 'string', true), 10: f('externalName', 'string'),
    11: f('externalTrafficPolicy', 'string'), 12: f('healthCheckNodePort', 'int'), 13: f('publishNotReadyAddresses', 'bool'),
    18: f('clusterIPs', 'string', true), 19: f('ipFamilies', 'string', true), 20: f('allocateLoadBalancerNodePorts', 'bool'), 21: f('loadBalancerClass', 'string'),
    22: f('internalTrafficPolicy', 'string'), 23: f('ipFamilyPolicy', 'string'),
  },
  ServicePort: { 1: f('name', 'string'), 2: f('protocol', 'string'), 3: f('port', 'int'), 4: f('targetPort', 'intstr'), 5: f('nodePort', 'int'), 6: f('appProtocol', 'string') },
  IntOrString: { 1: f('type', 'int'), 2: f('intVal', 'int'), 3: f('strVal', 'string') },
  Time: { 1: f('seconds', 'int'), 2: f('nanos', 'int') },
  Quantity: { 1: f('string', 'string') },
  Namespace: { 1: f('metadata', 'msg:ObjectMeta') },
  ConfigMap: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('data', 'map:string'), 4: f('immutable', 'bool') },
  Secret: { 1: f('metadata', 'msg:ObjectMeta'), 2: f('data', 'map:bytes'), 3: f('type', 'string'), 4: f('stringData', 'map:string') },
  ServiceAccount: { 1: f('metadata', 'msg:ObjectMeta') },
  MapEntry: { 1: f('key', 'string'), 2: f('value', 'bytes') },
};

const KIND_SCHEMA: Record<string, string> = {
  Deployment: 'Deployment', Service: 'Service', Pod: 'Pod', Namespace: 'Namespace', ConfigMap: 'ConfigMap', Secret: 'Secret', ServiceAccount: 'ServiceAccount',
};

class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}
  get done(): boolean { return this.pos >= this.buf.length; }
  varint(): bigint {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (this.pos >= this.buf.length) throw new Error('truncated varint');
      const b = this.buf[this.pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
    }
  }
  bytes(): Buffer {
    const n = Number(this.varint());
    if (this.pos + n > this.buf.length) throw new Error('truncated field');
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  skip(wire: number): void {
    if (wire === 0) this.varint();
    else if (wire === 1) this.pos += 8;
    else if (wire === 2) this.bytes();
    else if (wire === 5) this.pos += 4;
    else throw new Error(`unsupported wire type ${wire}`);
  }
}

function signed(v: bigint): number {
  // int32/int64 fields are plain varints (two's complement for negatives).
  return Number(BigInt.asIntN(64, v));
}

export function decodeMessage(schemaName: string, buf: Buffer): Record<string, unknown> {
  const schema = SCHEMAS[schemaName];
  if (!schema) throw new Error(`no schema ${schemaName}`);
  const r = new Reader(buf);
  const out: Record<string, any> = {};
  while (!r.done) {
    const tag = Number(r.varint());
    const num = tag >>> 3;
    const wire = tag & 7;
    const fd = schema[num];
    if (!fd) { r.skip(wire); continue; }
    let v: unknown;
    if (fd.type === 'int') v = signed(r.varint());
    else if (fd.type === 'bool') v = r.varint() !== 0n;
    else if (fd.type === 'string') {
      v = r.bytes().toString('utf8');
      // Go writes every non-pointer string, empty ones too; JSON (omitempty) leaves them out.
      if (v === '' && !fd.repeated) continue;
    } else if (fd.type === 'bytes') v = r.bytes();
    else if (fd.type === 'intstr') {
      const m = decodeMessage('IntOrString', r.bytes());
      v = m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
    } else if (fd.type === 'time') {
      const m = decodeMessage('Time', r.bytes());
      v = m.seconds !== undefined ? new Date(Number(m.seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') : null;
    } else if (fd.type.startsWith('map:')) {
      const e = decodeMessage('MapEntry', r.bytes());
      const raw = e.value as Buffer | undefined;
      const valType = fd.type.slice(4);
      const value = !raw ? '' : valType === 'quantity' ? String(decodeMessage('Quantity', raw).string ?? '') : valType === 'bytes' ? raw.toString('base64') : raw.toString('utf8');
      (out[fd.name] ??= {})[String(e.key ?? '')] = value;
      continue;
    } else {
      v = decodeMessage(fd.type.slice(4), r.bytes());
    }
    if (fd.repeated) (out[fd.name] ??= []).push(v);
    else out[fd.name] = v;
  }
  return out;
}

export const PROTOBUF_MAGIC = Buffer.from('k8s\0', 'latin1');

/** Decode a `application/vnd.kubernetes.protobuf` request body into a JSON object. */
export function decodeProtobufObject(buf: Buffer): Record<string, unknown> {
  if (buf.length < 4 || !buf.subarray(0, 4).equals(PROTOBUF_MAGIC)) {
    throw new HttpError(400, 'BadRequest', 'the body is not a Kubernetes protobuf envelope (missing k8s\\0 magic)');
  }
  let env: Record<string, any>;
  try { env = decodeMessage('Unknown', buf.subarray(4)); } catch (e) { throw new HttpError(400, 'BadRequest', `malformed protobuf body: ${(e as Error).message}`); }
  const kind = env.typeMeta?.kind as string | undefined;
  const apiVersion = env.typeMeta?.apiVersion as string | undefined;
  const schema = kind ? KIND_SCHEMA[kind] : undefined;
  if (!schema) {
    throw new HttpError(415, 'UnsupportedMediaType', `protobuf request bodies for kind ${kind ?? '(none)'} are not supported; send JSON or YAML (kubectl apply -f)`);
  }
  try {
    const obj = decodeMessage(schema, env.raw ?? Buffer.alloc(0));
    return { apiVersion, kind, ...obj };
  } catch (e) {
    throw new HttpError(400, 'BadRequest', `malformed protobuf ${kind}: ${(e as Error).message}`);
  }
}
