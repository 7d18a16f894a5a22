/**
 * Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`), which
 * kubectl's typed clients send for updates such as `kubectl certificate approve`: the `k8s\0`
 * envelope around `runtime.Unknown`, and the CertificateSigningRequest message with the ObjectMeta
 * fields the strategies read, converted to the JSON shape the rest of the server uses. Responses
 * stay JSON, which every client accepts. Bounded and strict: a malformed body is a BAD_REQUEST.
 */
import { TlsbootError } from '../base/errors.ts';
import type { JsonObject } from './registry.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function bad(message: string): TlsbootError {
  return new TlsbootError('BAD_REQUEST', 'PROTOBUF', `malformed protobuf body: ${message}`);
}

interface Field {
  readonly no: number;
  readonly wire: number;
  readonly varint: bigint;
  readonly bytes: Buffer;
}

function* fields(buf: Buffer): Generator<Field> {
  let pos = 0;
  const varint = (): bigint => {
    let result = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (pos >= buf.length) throw bad('truncated varint');
      const b = buf[pos++] as number;
      result |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) return result;
    }
    throw bad('varint too long');
  };
  while (pos < buf.length) {
    const key = Number(varint());
    const no = key >>> 3;
    const wire = key & 7;
    if (wire === 0) yield { no, wire, varint: varint(), bytes: Buffer.alloc(0) };
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw bad('length runs past the end');
      yield { no, wire, varint: 0n, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 1 || wire === 5) {
      const size = wire === 1 ? 8 : 4;
      if (pos + size > buf.length) throw bad('truncated fixed field');
      pos += size;
    } else throw bad(`unsupported wire type ${wire}`);
  }
}

const str = (f: Field) => f.bytes.toString('utf8');

function time(buf: Buffer): string {
  let seconds = 0n;
  for (const f of fields(buf)) if (f.no === 1) seconds = BigInt.asIntN(64, f.varint);
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stringMapEntry(buf: Buffer): [string, string] {
  let k = '';
  let v = '';
  for (const f of fields(buf)) {
    if (f.no === 1) k = str(f);
    if (f.no === 2) v = str(f);
  }
  return [k, v];
}

function objectMeta(buf: Buffer): JsonObject {
  const meta: JsonObject = {};
  const labels: Record<string, string> = {};
  const annotations: Record<string, string> = {};
  const finalizers: string[] = [];
  for (const f of fields(buf)) {
    if (f.no === 1) meta.name = str(f);
    else if (f.no === 2) meta.generateName = str(f);
    else if (f.no === 3) meta.namespace = str(f);
    else if (f.no === 5) meta.uid = str(f);
    else if (f.no === 6) meta.resourceVersion = str(f);
    else if (f.no === 8) meta.creationTimestamp = time(f.bytes);
    else if (f.no === 11) labels[stringMapEntry(f.bytes)[0]] = stringMapEntry(f.bytes)[1];
    else if (f.no === 12) annotations[stringMapEntry(f.bytes)[0]] = stringMapEntry(f.bytes)[1];
    else if (f.no === 14) finalizers.push(str(f));
  }
  if (Object.keys(labels).length > 0) meta.labels = labels;
  if (Object.keys(annotations).length > 0) meta.annotations = annotations;
  if (finalizers.length > 0) meta.finalizers = finalizers;
  return meta;
}

function csrSpec(buf: Buffer): JsonObject {
  const spec: JsonObject = {};
  const usages: string[] = [];
  const groups: string[] = [];
  const extra: Record<string, string[]> = {};
  for (const f of fields(buf)) {
    if (f.no === 1) spec.request = f.bytes.toString('base64');
    else if (f.no === 2) spec.username = str(f);
    else if (f.no === 3) spec.uid = str(f);
    else if (f.no === 4) groups.push(str(f));
    else if (f.no === 5) usages.push(str(f));
    else if (f.no === 6) {
      let key = '';
      const items: string[] = [];
      for (const e of fields(f.bytes)) {
        if (e.no === 1) key = str(e);
        if (e.no === 2) for (const i of fields(e.bytes)) if (i.no === 1) items.push(str(i));
      }
      extra[key] = items;
    } else if (f.no === 7) spec.signerName = str(f);
    else if (f.no === 8) spec.expirationSeconds = Number(BigInt.asIntN(32, f.varint));
  }
  spec.usages = usages;
  spec.groups = groups;
  if (Object.keys(extra).length > 0) spec.extra = extra;
  return spec;
}

function csrStatus(buf: Buffer): JsonObject {
  const conditions: JsonObject[] = [];
  const status: JsonObject = {};
  for (const f of fields(buf)) {
    if (f.no === 1) {
      const c: JsonObject = {};
      for (const g of fields(f.bytes)) {
        if (g.no === 1) c.type = str(g);
        else if (g.no === 2) c.reason = str(g);
        else if (g.no === 3) c.message = str(g);
        else if (g.no === 4) c.lastUpdateTime = time(g.bytes);
        else if (g.no === 5) c.lastTransitionTime = time(g.bytes);
        else if (g.no === 6) c.status = str(g);
      }
      conditions.push(c);
    } else if (f.no === 2) status.certificate = f.bytes.toString('base64');
  }
  if (conditions.length > 0) status.conditions = conditions;
  return status;
}

/** Decodes an enveloped CertificateSigningRequest; other kinds are refused as unsupported. */
export function decodeKubernetesProtobuf(body: Buffer): JsonObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw bad('missing the k8s envelope');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer | undefined;
  for (const f of fields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of fields(f.bytes)) {
        if (t.no === 1) apiVersion = str(t);
        if (t.no === 2) kind = str(t);
      }
    } else if (f.no === 2) raw = f.bytes;
    else if (f.no === 3 && f.bytes.length > 0) throw bad('content encodings are not supported');
  }
  if (kind !== 'CertificateSigningRequest' || !raw) {
    throw new TlsbootError(
      'UNSUPPORTED_MEDIA_TYPE',
      'MEDIA_TYPE',
      `protobuf bodies are accepted for CertificateSigningRequest only, not ${kind || 'this object'}; send JSON`,
    );
  }
  const obj: JsonObject = { apiVersion, kind };
  for (const f of fields(raw)) {
    if (f.no === 1) obj.metadata = objectMeta(f.bytes);
    else if (f.no === 2) obj.spec = csrSpec(f.bytes);
    else if (f.no === 3) obj.status = csrStatus(f.bytes);
  }
  return obj;
}
