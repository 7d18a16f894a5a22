/**
 * The protobuf form of `/openapi/v2` (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`),
 * which kubectl up to 1.26 requests and requires: client-go's OpenAPISchema() asks only for it and
 * falls back only to the equally protobuf `/swagger-2.0.0.pb-v1`, so a 406 would leave those
 * kubectls without validation. Encodes the subset of gnostic's openapi.v2.Document
 * (openapiv2/OpenAPIv2.proto) that openapi.ts emits: info, paths with operations, query
 * parameters, responses and vendor extensions, and definitions. Vendor extension values travel as
 * YAML text, of which JSON is a subset.
 */
import { InternalError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';

export const OPENAPI_V2_PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Fields of one message, appended in field-number order by the callers. */
class Message {
  private readonly parts: Buffer[] = [];
  bytes(no: number, body: Buffer): this {
    this.parts.push(varint((no << 3) | 2), varint(body.length), body);
    return this;
  }
  string(no: number, value: unknown): this {
    if (typeof value === 'string' && value !== '') this.bytes(no, Buffer.from(value, 'utf8'));
    return this;
  }
  strings(no: number, value: unknown): this {
    if (Array.isArray(value)) for (const v of value) if (typeof v === 'string') this.bytes(no, Buffer.from(v, 'utf8'));
    return this;
  }
  bool(no: number, value: unknown): this {
    if (value === true) this.parts.push(varint(no << 3), varint(1));
    return this;
  }
  int(no: number, value: unknown): this {
    if (typeof value === 'number' && Number.isSafeInteger(value) && value > 0) this.parts.push(varint(no << 3), varint(value));
    return this;
  }
  message(no: number, value: Message | undefined): this {
    if (value) this.bytes(no, value.encode());
    return this;
  }
  encode(): Buffer {
    return Buffer.concat(this.parts);
  }
}

function notEncodable(what: string): InternalError {
  return new InternalError('OPENAPI_PROTOBUF', `the OpenAPI v2 document has ${what}, which the protobuf writer does not encode`);
}

/** NamedAny entries for the `x-` keys of `obj` (Any.yaml = 2). */
function vendorExtensions(m: Message, no: number, obj: JsonObject): void {
  for (const [name, value] of Object.entries(obj)) {
    if (!name.startsWith('x-')) continue;
    m.message(no, new Message().string(1, name).message(2, new Message().string(2, JSON.stringify(value))));
  }
}

const SCHEMA_KEYS = new Set([
  '$ref',
  'format',
  'description',
  'default',
  'required',
  'additionalProperties',
  'type',
  'items',
  'properties',
  'uniqueItems',
]);

function schema(s: unknown): Message {
  if (!isObject(s)) throw notEncodable('a schema that is not an object');
  for (const key of Object.keys(s)) if (!SCHEMA_KEYS.has(key) && !key.startsWith('x-')) throw notEncodable(`schema keyword ${key}`);
  const m = new Message().string(1, s.$ref).string(2, s.format).string(4, s.description);
  if (s.default !== undefined) m.message(5, new Message().string(2, JSON.stringify(s.default)));
  m.bool(16, s.uniqueItems).strings(19, s.required);
  if (typeof s.additionalProperties === 'boolean') m.message(21, new Message().bool(2, s.additionalProperties));
  else if (s.additionalProperties !== undefined) m.message(21, new Message().message(1, schema(s.additionalProperties)));
  if (typeof s.type === 'string') m.message(22, new Message().string(1, s.type));
  if (s.items !== undefined) m.message(23, new Message().message(1, schema(s.items)));
  if (isObject(s.properties)) {
    const props = new Message();
    for (const [name, sub] of Object.entries(s.properties)) props.message(1, new Message().string(1, name).message(2, schema(sub)));
    m.message(25, props);
  }
  vendorExtensions(m, 31, s);
  return m;
}

function operation(op: unknown): Message {
  if (!isObject(op)) throw notEncodable('an operation that is not an object');
  const m = new Message();
  for (const p of Array.isArray(op.parameters) ? op.parameters : []) {
    if (!isObject(p) || p.in !== 'query') throw notEncodable('a parameter that is not in the query');
    // QueryParameterSubSchema: in = 2, description = 3, name = 4, type = 6, unique_items = 20.
    const query = new Message().string(2, p.in).string(3, p.description).string(4, p.name).string(6, p.type).bool(20, p.uniqueItems);
    // ParametersItem.parameter = 1 -> Parameter.non_body_parameter = 2 -> NonBodyParameter.query_parameter_sub_schema = 3.
    m.message(8, new Message().message(1, new Message().message(2, new Message().message(3, query))));
  }
  const responses = new Message();
  for (const [code, r] of Object.entries(isObject(op.responses) ? op.responses : {})) {
    const description = isObject(r) ? r.description : undefined;
    // NamedResponseValue { name, value: ResponseValue { response: Response { description } } }.
    responses.message(1, new Message().string(1, code).message(2, new Message().message(1, new Message().string(1, description))));
  }
  m.message(9, responses);
  vendorExtensions(m, 13, op);
  return m;
}

const PATH_METHODS: Readonly<Record<string, number>> = { get: 2, put: 3, post: 4, delete: 5, options: 6, head: 7, patch: 8 };

/** The gnostic protobuf of a v2 document built by openApiV2. */
export function encodeOpenApiV2(doc: JsonObject): Buffer {
  const info = isObject(doc.info) ? doc.info : {};
  const m = new Message().string(1, doc.swagger).message(2, new Message().string(1, info.title).string(2, info.version));
  const paths = new Message();
  for (const [path, item] of Object.entries(isObject(doc.paths) ? doc.paths : {})) {
    if (!isObject(item)) throw notEncodable('a path item that is not an object');
    const pathItem = new Message();
    for (const [method, no] of Object.entries(PATH_METHODS)) if (item[method] !== undefined) pathItem.message(no, operation(item[method]));
    paths.message(2, new Message().string(1, path).message(2, pathItem));
  }
  m.message(8, paths);
  const definitions = new Message();
  for (const [name, s] of Object.entries(isObject(doc.definitions) ? doc.definitions : {})) {
    definitions.message(1, new Message().string(1, name).message(2, schema(s)));
  }
  return m.message(9, definitions).encode();
}
