/**
 * @module apiserver/openapi-v2
 * /openapi/v2 in the protobuf form client-go asks for (gnostic's openapi_v2.Document, the
 * media type below): the document of api/openapi.ts's openapiV2() — swagger, info, and empty
 * paths and definitions — written with the few protobuf fields it needs.
 */
import { openapiV2 } from '../api/openapi.js';

/** What client-go asks for (the '@' form) and the type kube-apiserver answers with ('.'; Go's mime parser rejects '@'). */
export const OPENAPI_V2_PROTOBUF_ACCEPT = ['application/com.github.proto-openapi.spec.v2@v1.0+protobuf', 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf'];
export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf';

// openapi_v2.Document fields (gnostic OpenAPIv2.proto): swagger = 1, info = 2, paths = 8, definitions = 9;
// Info: title = 1, version = 2.
const DOC_SWAGGER = 1;
const DOC_INFO = 2;
const DOC_PATHS = 8;
const DOC_DEFINITIONS = 9;
const INFO_TITLE = 1;
const INFO_VERSION = 2;
const WIRE_LEN = 2;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return out;
}

/** One length-delimited field (string or embedded message). */
function field(num: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([...varint((num << 3) | WIRE_LEN), ...varint(bytes.length)]), bytes]);
}

let cached: Buffer | undefined;

export function openapiV2Protobuf(): Buffer {
  if (cached) return cached;
  const doc = openapiV2();
  const info = Buffer.concat([field(INFO_TITLE, Buffer.from(doc.info.title)), field(INFO_VERSION, Buffer.from(doc.info.version))]);
  cached = Buffer.concat([
    field(DOC_SWAGGER, Buffer.from(doc.swagger)), field(DOC_INFO, info),
    field(DOC_PATHS, Buffer.alloc(0)), field(DOC_DEFINITIONS, Buffer.alloc(0)),
  ]);
  return cached;
}
