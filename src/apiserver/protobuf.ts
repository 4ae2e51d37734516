/**
 * @module apiserver/protobuf
 * Request bodies in Kubernetes' protobuf envelope (`k8s\0` + runtime.Unknown), which stock
 * kubectl uses for imperative commands (create deployment/service, expose, run). Decoding the
 * typed protobuf payloads is not implemented yet: such requests get a 415 that says so.
 */
import { HttpError } from './errors.js';

export function decodeProtobufObject(buf: Buffer): never {
  const magic = buf.subarray(0, 4).toString('latin1');
  const detail = magic === 'k8s\0' ? 'Kubernetes protobuf request bodies are not supported yet' : 'the body is not a Kubernetes protobuf envelope';
  throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (${detail}; use kubectl apply -f with YAML)`);
}
