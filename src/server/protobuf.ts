import { BadRequestError, UnsupportedMediaTypeError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';

const MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]);

function bad(message: string): BadRequestError {
  return new BadRequestError('PROTOBUF', `malformed protobuf body: ${message}`);
}

interface Field {
  readonly no: number;
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
    const wire = key & 7;
    const no = key >>> 3;
    if (wire === 0) yield { no, varint: varint(), bytes: Buffer.alloc(0) };
    else if (wire === 2) {
      const len = Number(varint());
      if (pos + len > buf.length) throw bad('length runs past the end');
      yield { no, varint: 0n, bytes: buf.subarray(pos, pos + len) };
      pos += len;
    } else if (wire === 1 || wire === 5) {
      pos += wire === 1 ? 8 : 4;
      if (pos > buf.length) throw bad('truncated fixed field');
    } else throw bad(`unsupported wire type ${wire}`);
  }
}

/** A field's JSON name and type; `[]` marks repeated, `map:` a map entry, `msg:` a message. */
type FieldType =
  | 'string'
  | 'bytes'
  | 'int'
  | 'bool'
  | 'time'
  | `msg:${string}`
  | `[]${string}`
  | 'map:string'
  | 'map:bytes'
  | `map:msg:${string}`;
type Schema = Record<number, readonly [string, FieldType]>;

const SCHEMAS: Record<string, Schema> = {
  ObjectMeta: {
    1: ['name', 'string'],
    2: ['generateName', 'string'],
    3: ['namespace', 'string'],
    5: ['uid', 'string'],
    6: ['resourceVersion', 'string'],
    8: ['creationTimestamp', 'time'],
    11: ['labels', 'map:string'],
    12: ['annotations', 'map:string'],
    14: ['finalizers', '[]string'],
  },
  CertificateSigningRequest: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:CSRSpec'], 3: ['status', 'msg:CSRStatus'] },
  CSRSpec: {
    1: ['request', 'bytes'],
    2: ['username', 'string'],
    3: ['uid', 'string'],
    4: ['groups', '[]string'],
    5: ['usages', '[]string'],
    6: ['extra', 'map:msg:ExtraValue'],
    7: ['signerName', 'string'],
    8: ['expirationSeconds', 'int'],
  },
  ExtraValue: { 1: ['items', '[]string'] },
  CSRStatus: { 1: ['conditions', '[]msg:CSRCondition'], 2: ['certificate', 'bytes'] },
  CSRCondition: {
    1: ['type', 'string'],
    2: ['reason', 'string'],
    3: ['message', 'string'],
    4: ['lastUpdateTime', 'time'],
    5: ['lastTransitionTime', 'time'],
    6: ['status', 'string'],
  },
  Secret: {
    1: ['metadata', 'msg:ObjectMeta'],
    2: ['data', 'map:bytes'],
    3: ['type', 'string'],
    4: ['stringData', 'map:string'],
    5: ['immutable', 'bool'],
  },
  ConfigMap: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['data', 'map:string'], 3: ['binaryData', 'map:bytes'], 4: ['immutable', 'bool'] },
  SelfSubjectAccessReview: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:SelfSARSpec'] },
  SelfSARSpec: { 1: ['resourceAttributes', 'msg:ResourceAttributes'], 2: ['nonResourceAttributes', 'msg:NonResourceAttributes'] },
  SubjectAccessReview: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:SARSpec'] },
  LocalSubjectAccessReview: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:SARSpec'] },
  SelfSubjectRulesReview: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:SelfSRRSpec'] },
  SelfSRRSpec: { 1: ['namespace', 'string'] },
  SelfSubjectReview: { 1: ['metadata', 'msg:ObjectMeta'] },
  SARSpec: {
    1: ['resourceAttributes', 'msg:ResourceAttributes'],
    2: ['nonResourceAttributes', 'msg:NonResourceAttributes'],
    3: ['user', 'string'],
    4: ['groups', '[]string'],
    5: ['extra', 'map:msg:ExtraValue'],
    6: ['uid', 'string'],
  },
  ResourceAttributes: {
    1: ['namespace', 'string'],
    2: ['verb', 'string'],
    3: ['group', 'string'],
    4: ['version', 'string'],
    5: ['resource', 'string'],
    6: ['subresource', 'string'],
    7: ['name', 'string'],
  },
  NonResourceAttributes: { 1: ['path', 'string'], 2: ['verb', 'string'] },
  ClusterRole: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['rules', '[]msg:PolicyRule'] },
  Role: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['rules', '[]msg:PolicyRule'] },
  PolicyRule: {
    1: ['verbs', '[]string'],
    2: ['apiGroups', '[]string'],
    3: ['resources', '[]string'],
    4: ['resourceNames', '[]string'],
    5: ['nonResourceURLs', '[]string'],
  },
  ClusterRoleBinding: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['subjects', '[]msg:Subject'], 3: ['roleRef', 'msg:RoleRef'] },
  RoleBinding: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['subjects', '[]msg:Subject'], 3: ['roleRef', 'msg:RoleRef'] },
  Subject: { 1: ['kind', 'string'], 2: ['apiGroup', 'string'], 3: ['name', 'string'], 4: ['namespace', 'string'] },
  RoleRef: { 1: ['apiGroup', 'string'], 2: ['kind', 'string'], 3: ['name', 'string'] },
  Lease: { 1: ['metadata', 'msg:ObjectMeta'], 2: ['spec', 'msg:LeaseSpec'] },
  LeaseSpec: {
    1: ['holderIdentity', 'string'],
    2: ['leaseDurationSeconds', 'int'],
    3: ['acquireTime', 'time'],
    4: ['renewTime', 'time'],
    5: ['leaseTransitions', 'int'],
  },
};

/** Kubernetes' valid range for a Timestamp, as Go's time.Time marshals it: 0001-01-01 to 9999-12-31. */
const MIN_SECONDS = -62_135_596_800n;
const MAX_SECONDS = 253_402_300_799n;

function time(buf: Buffer, field: string): string {
  let seconds = 0n;
  let nanos = 0n;
  for (const f of fields(buf)) {
    if (f.no === 1) seconds = BigInt.asIntN(64, f.varint);
    if (f.no === 2) nanos = BigInt.asIntN(32, f.varint);
  }
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS || nanos < 0n || nanos > 999_999_999n) {
    throw new BadRequestError('PROTOBUF_TIME', `${field}: the timestamp is outside 0001-01-01T00:00:00Z..9999-12-31T23:59:59Z`, {
      field,
    });
  }
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return nanos === 0n ? iso.replace(/\.\d{3}Z$/, 'Z') : iso.replace(/\.\d{3}Z$/, `.${String(nanos).padStart(9, '0').slice(0, 6)}Z`);
}

/** `path` is the field's JSON path, for errors. */
function scalar(type: FieldType, f: Field, path: string): unknown {
  switch (type) {
    case 'string':
      return f.bytes.toString('utf8');
    case 'bytes':
      return f.bytes.toString('base64');
    case 'int':
      return Number(BigInt.asIntN(64, f.varint));
    case 'bool':
      return f.varint !== 0n;
    case 'time':
      return time(f.bytes, path);
    default:
      return decodeMessage(type.slice(4), f.bytes, path);
  }
}

function decodeMessage(schemaName: string, buf: Buffer, path: string): JsonObject {
  const schema = SCHEMAS[schemaName];
  if (!schema) throw bad(`no schema for ${schemaName}`);
  const out: JsonObject = {};
  for (const f of fields(buf)) {
    const entry = schema[f.no];
    if (!entry) continue;
    const [name, type] = entry;
    const at = path === '' ? name : `${path}.${name}`;
    if (type.startsWith('[]')) {
      const list = (out[name] as unknown[] | undefined) ?? [];
      list.push(scalar(type.slice(2) as FieldType, f, `${at}[${list.length}]`));
      out[name] = list;
    } else if (type.startsWith('map:')) {
      let key = '';
      let value: unknown = '';
      const valueType = type.slice(4) as FieldType;
      for (const e of fields(f.bytes)) {
        if (e.no === 1) key = e.bytes.toString('utf8');
        if (e.no === 2) value = scalar(valueType, e, at);
      }
      const existing = out[name];
      const map = isObject(existing) ? existing : {};
      map[key] = valueType === 'msg:ExtraValue' ? (isObject(value) ? (value.items ?? []) : []) : value;
      out[name] = map;
    } else {
      out[name] = scalar(type, f, at);
    }
  }
  return out;
}

/** Decodes an enveloped object of a kind tlsboot serves. */
export function decodeKubernetesProtobuf(body: Buffer): JsonObject {
  if (body.length < 4 || !body.subarray(0, 4).equals(MAGIC)) throw bad('missing the k8s envelope');
  let apiVersion = '';
  let kind = '';
  let raw: Buffer | undefined;
  for (const f of fields(body.subarray(4))) {
    if (f.no === 1) {
      for (const t of fields(f.bytes)) {
        if (t.no === 1) apiVersion = t.bytes.toString('utf8');
        if (t.no === 2) kind = t.bytes.toString('utf8');
      }
    } else if (f.no === 2) raw = f.bytes;
    else if (f.no === 3 && f.bytes.length > 0) throw bad('content encodings are not supported');
  }
  if (!raw || !Object.hasOwn(SCHEMAS, kind) || kind.startsWith('CSR') || kind === 'ObjectMeta') {
    throw new UnsupportedMediaTypeError('MEDIA_TYPE', `protobuf bodies of kind ${kind || '(none)'} are not supported; send JSON`);
  }
  return { apiVersion, kind, ...decodeMessage(kind, raw, '') };
}
