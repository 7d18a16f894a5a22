/**
 * The wire to etcd: the subset of etcd's v3 gRPC API the etcd backend uses (KV Range, Put,
 * DeleteRange, Txn, Compact; the Watch stream), spoken with @grpc/grpc-js over mutual TLS. The
 * message definitions are written here from etcd's documented field numbers (api/etcdserverpb
 * rpc.proto, api/mvccpb kv.proto) rather than copied, as protobufjs JSON; only the fields we send
 * or read are declared, which protobuf's wire format allows. Every unary call carries a deadline,
 * and every gRPC failure becomes an EtcdCallError that says which endpoint and why, never what
 * was sent. Decoded messages are plain objects read through the guards below, so nothing of the
 * wire reaches the store untyped.
 */

import { isIP } from 'node:net';
import { checkServerIdentity } from 'node:tls';
import { type CallOptions, Client, type ClientDuplexStream, credentials, Metadata, type ServiceError, status } from '@grpc/grpc-js';
import protobuf from 'protobufjs';

const KEY_VALUE = {
  fields: {
    key: { type: 'bytes', id: 1 },
    createRevision: { type: 'int64', id: 2 },
    modRevision: { type: 'int64', id: 3 },
    version: { type: 'int64', id: 4 },
    value: { type: 'bytes', id: 5 },
  },
};

const DEFINITIONS = {
  nested: {
    mvccpb: {
      nested: {
        KeyValue: KEY_VALUE,
        Event: {
          fields: {
            type: { type: 'EventType', id: 1 },
            kv: { type: 'KeyValue', id: 2 },
            prevKv: { type: 'KeyValue', id: 3 },
          },
          nested: { EventType: { values: { PUT: 0, DELETE: 1 } } },
        },
      },
    },
    etcdserverpb: {
      nested: {
        ResponseHeader: { fields: { revision: { type: 'int64', id: 3 } } },
        RangeRequest: {
          fields: {
            key: { type: 'bytes', id: 1 },
            rangeEnd: { type: 'bytes', id: 2 },
            limit: { type: 'int64', id: 3 },
            revision: { type: 'int64', id: 4 },
            serializable: { type: 'bool', id: 7 },
            keysOnly: { type: 'bool', id: 8 },
            countOnly: { type: 'bool', id: 9 },
          },
        },
        RangeResponse: {
          fields: {
            header: { type: 'ResponseHeader', id: 1 },
            kvs: { rule: 'repeated', type: 'mvccpb.KeyValue', id: 2 },
            more: { type: 'bool', id: 3 },
            count: { type: 'int64', id: 4 },
          },
        },
        PutRequest: { fields: { key: { type: 'bytes', id: 1 }, value: { type: 'bytes', id: 2 } } },
        PutResponse: { fields: { header: { type: 'ResponseHeader', id: 1 } } },
        DeleteRangeRequest: { fields: { key: { type: 'bytes', id: 1 }, prevKv: { type: 'bool', id: 3 } } },
        DeleteRangeResponse: {
          fields: {
            header: { type: 'ResponseHeader', id: 1 },
            deleted: { type: 'int64', id: 2 },
            prevKvs: { rule: 'repeated', type: 'mvccpb.KeyValue', id: 3 },
          },
        },
        RequestOp: {
          oneofs: { request: { oneof: ['requestRange', 'requestPut', 'requestDeleteRange'] } },
          fields: {
            requestRange: { type: 'RangeRequest', id: 1 },
            requestPut: { type: 'PutRequest', id: 2 },
            requestDeleteRange: { type: 'DeleteRangeRequest', id: 3 },
          },
        },
        ResponseOp: {
          oneofs: { response: { oneof: ['responseRange', 'responsePut', 'responseDeleteRange'] } },
          fields: {
            responseRange: { type: 'RangeResponse', id: 1 },
            responsePut: { type: 'PutResponse', id: 2 },
            responseDeleteRange: { type: 'DeleteRangeResponse', id: 3 },
          },
        },
        Compare: {
          oneofs: { targetUnion: { oneof: ['version', 'createRevision', 'modRevision'] } },
          fields: {
            result: { type: 'int32', id: 1 },
            target: { type: 'int32', id: 2 },
            key: { type: 'bytes', id: 3 },
            version: { type: 'int64', id: 4 },
            createRevision: { type: 'int64', id: 5 },
            modRevision: { type: 'int64', id: 6 },
          },
        },
        TxnRequest: {
          fields: {
            compare: { rule: 'repeated', type: 'Compare', id: 1 },
            success: { rule: 'repeated', type: 'RequestOp', id: 2 },
            failure: { rule: 'repeated', type: 'RequestOp', id: 3 },
          },
        },
        TxnResponse: {
          fields: {
            header: { type: 'ResponseHeader', id: 1 },
            succeeded: { type: 'bool', id: 2 },
            responses: { rule: 'repeated', type: 'ResponseOp', id: 3 },
          },
        },
        CompactionRequest: { fields: { revision: { type: 'int64', id: 1 }, physical: { type: 'bool', id: 2 } } },
        CompactionResponse: { fields: { header: { type: 'ResponseHeader', id: 1 } } },
        WatchRequest: {
          oneofs: { requestUnion: { oneof: ['createRequest', 'cancelRequest'] } },
          fields: {
            createRequest: { type: 'WatchCreateRequest', id: 1 },
            cancelRequest: { type: 'WatchCancelRequest', id: 2 },
          },
        },
        WatchCreateRequest: {
          fields: {
            key: { type: 'bytes', id: 1 },
            rangeEnd: { type: 'bytes', id: 2 },
            startRevision: { type: 'int64', id: 3 },
            prevKv: { type: 'bool', id: 6 },
          },
        },
        WatchCancelRequest: { fields: { watchId: { type: 'int64', id: 1 } } },
        WatchResponse: {
          fields: {
            header: { type: 'ResponseHeader', id: 1 },
            watchId: { type: 'int64', id: 2 },
            created: { type: 'bool', id: 3 },
            canceled: { type: 'bool', id: 4 },
            compactRevision: { type: 'int64', id: 5 },
            cancelReason: { type: 'string', id: 6 },
            events: { rule: 'repeated', type: 'mvccpb.Event', id: 11 },
          },
        },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(DEFINITIONS);

/** Compare.result and Compare.target values (rpc.proto's CompareResult and CompareTarget). */
export const CMP = { EQUAL: 0, GREATER: 1, LESS: 2 } as const;
export const TARGET = { VERSION: 0, CREATE: 1, MOD: 2 } as const;
export const EVENT_PUT = 0;
export const EVENT_DELETE = 1;

/** A decoded message: read it with the guards below. */
export type Msg = Readonly<Record<string, unknown>>;

function codec(name: string): { encode: (value: Msg) => Buffer; decode: (data: Buffer) => Msg } {
  const type = root.lookupType(name);
  return {
    encode: (value) => {
      const bytes = type.encode(type.fromObject(value)).finish();
      return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    },
    decode: (data) => {
      const decoded: Msg = type.toObject(type.decode(data), { longs: Number, enums: Number, defaults: true });
      return decoded;
    },
  };
}

export function int(m: Msg | undefined, name: string): number {
  const v = m?.[name];
  return typeof v === 'number' ? v : 0;
}

export function bool(m: Msg | undefined, name: string): boolean {
  return m?.[name] === true;
}

export function bytes(m: Msg | undefined, name: string): Buffer {
  const v = m?.[name];
  return v instanceof Uint8Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : Buffer.alloc(0);
}

export function text(m: Msg | undefined, name: string): string {
  const v = m?.[name];
  return typeof v === 'string' ? v : '';
}

function isMsg(v: unknown): v is Msg {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

export function msg(m: Msg | undefined, name: string): Msg | undefined {
  const v = m?.[name];
  return isMsg(v) ? v : undefined;
}

export function msgs(m: Msg | undefined, name: string): Msg[] {
  const v = m?.[name];
  return Array.isArray(v) ? v.filter(isMsg) : [];
}

export function headerRevision(m: Msg): number {
  return int(msg(m, 'header'), 'revision');
}

/** A gRPC failure, with etcd's own message (`details`) and the endpoint it came from. */
export class EtcdCallError extends Error {
  readonly grpcCode: number;
  readonly details: string;
  constructor(endpoint: string, method: string, error: ServiceError) {
    super(`etcd ${method} at ${endpoint} failed: ${error.details || status[error.code] || 'unknown error'}`);
    this.name = 'EtcdCallError';
    this.grpcCode = error.code;
    this.details = error.details;
  }
  /** Whether etcd refused a revision it no longer keeps (mvcc.ErrCompacted). */
  get compacted(): boolean {
    return this.grpcCode === status.OUT_OF_RANGE && this.details.includes('compacted');
  }
  /** Whether the revision asked for is not reached yet (mvcc.ErrFutureRev). */
  get future(): boolean {
    return this.grpcCode === status.OUT_OF_RANGE && this.details.includes('future');
  }
}

export interface EtcdTls {
  /** PEM of the CA that signed the members' serving certificates (pki/etcd/ca.crt). */
  readonly ca: Buffer;
  /** PEM of the client certificate and its key (pki/apiserver-etcd-client.{crt,key}). */
  readonly cert: Buffer;
  readonly key: Buffer;
}

export type UnaryMethod = 'Range' | 'Put' | 'DeleteRange' | 'Txn' | 'Compact';

const UNARY: Readonly<Record<UnaryMethod, { path: string; request: ReturnType<typeof codec>; response: ReturnType<typeof codec> }>> = {
  Range: { path: '/etcdserverpb.KV/Range', request: codec('etcdserverpb.RangeRequest'), response: codec('etcdserverpb.RangeResponse') },
  Put: { path: '/etcdserverpb.KV/Put', request: codec('etcdserverpb.PutRequest'), response: codec('etcdserverpb.PutResponse') },
  DeleteRange: {
    path: '/etcdserverpb.KV/DeleteRange',
    request: codec('etcdserverpb.DeleteRangeRequest'),
    response: codec('etcdserverpb.DeleteRangeResponse'),
  },
  Txn: { path: '/etcdserverpb.KV/Txn', request: codec('etcdserverpb.TxnRequest'), response: codec('etcdserverpb.TxnResponse') },
  Compact: {
    path: '/etcdserverpb.KV/Compact',
    request: codec('etcdserverpb.CompactionRequest'),
    response: codec('etcdserverpb.CompactionResponse'),
  },
};
const WATCH_REQUEST = codec('etcdserverpb.WatchRequest');
const WATCH_RESPONSE = codec('etcdserverpb.WatchResponse');

export type WatchStream = ClientDuplexStream<Msg, Msg>;

function hostOf(endpoint: string): string {
  return endpoint.slice(0, endpoint.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
}

/** The member's certificate must name the endpoint's host (etcd's server certificates carry their IPs). */
function credentialsFor(endpoint: string, tls: EtcdTls) {
  const host = hostOf(endpoint);
  return credentials.createSsl(tls.ca, tls.key, tls.cert, {
    checkServerIdentity: (_name, cert) => checkServerIdentity(host, cert),
  });
}

/**
 * Node refuses an IP address as TLS server name (SNI), which grpc-js would send for an IP
 * endpoint; such a connection sends no meaningful name and is still verified against the IP above.
 */
function nameOverride(endpoint: string): Record<string, string> {
  return isIP(hostOf(endpoint)) === 0 ? {} : { 'grpc.ssl_target_name_override': 'etcd' };
}

/** Whether a failed call may go to another member: see EtcdRpc.call. */
function retriable(method: UnaryMethod, error: ServiceError): boolean {
  if (error.code !== status.UNAVAILABLE) return false;
  if (method === 'Range') return true;
  return error.details.includes('No connection established') || error.details.includes('no leader');
}

/**
 * One gRPC channel per endpoint; calls go to the current one and move on to the next after a
 * failure that says the member is away, so a client given every member survives losing some.
 */
export class EtcdRpc {
  private readonly clients: Array<{ endpoint: string; client: Client }>;
  private readonly timeoutMs: number;
  private current = 0;

  constructor(endpoints: readonly string[], tls: EtcdTls, timeoutMs: number) {
    this.timeoutMs = timeoutMs;
    this.clients = endpoints.map((endpoint) => ({
      endpoint,
      client: new Client(endpoint, credentialsFor(endpoint, tls), {
        ...nameOverride(endpoint),
        // A restarted member is found again within a second or two, not grpc's default two minutes.
        'grpc.initial_reconnect_backoff_ms': 100,
        'grpc.max_reconnect_backoff_ms': 1000,
        // A member that vanished without closing its connection is noticed by keepalive.
        'grpc.keepalive_time_ms': 10_000,
        'grpc.keepalive_timeout_ms': 5_000,
        'grpc.max_receive_message_length': -1,
      }),
    }));
  }

  private pick(): { endpoint: string; client: Client } {
    const c = this.clients[this.current % this.clients.length];
    if (!c) throw new Error('etcd client has no endpoints');
    return c;
  }

  private failed(client: Client, error: ServiceError): void {
    if (error.code === status.UNAVAILABLE || error.code === status.DEADLINE_EXCEEDED) {
      if (this.pick().client === client) this.current++;
    }
  }

  /**
   * One unary call, moved on to the next member while the one tried was away in a way that says
   * the request never reached etcd's log (as clientv3's retry policy): no connection to it, or
   * no leader behind it. A read is retried after any UNAVAILABLE, since reading twice is harmless;
   * a write that may have been sent is not, and fails for the caller to decide.
   */
  call(method: UnaryMethod, request: Msg): Promise<Msg> {
    return this.attempt(method, request, this.clients.length);
  }

  private attempt(method: UnaryMethod, request: Msg, attempts: number): Promise<Msg> {
    const { path, request: req, response: res } = UNARY[method];
    const { endpoint, client } = this.pick();
    const options: CallOptions = { deadline: Date.now() + this.timeoutMs };
    return new Promise((resolve, reject) => {
      client.makeUnaryRequest(path, req.encode, res.decode, request, new Metadata(), options, (error, value) => {
        if (!error) return resolve(value ?? {});
        this.failed(client, error);
        if (attempts > 1 && retriable(method, error)) resolve(this.attempt(method, request, attempts - 1));
        else reject(new EtcdCallError(endpoint, method, error));
      });
    });
  }

  /**
   * Opens a Watch stream. `hasleader` makes a member that lost its leader end the stream
   * instead of going quiet, so the watcher reconnects to one that still hears writes.
   */
  watch(onError: (error: EtcdCallError) => void): WatchStream {
    const { endpoint, client } = this.pick();
    const metadata = new Metadata();
    metadata.set('hasleader', 'true');
    const stream = client.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', WATCH_REQUEST.encode, WATCH_RESPONSE.decode, metadata, {});
    stream.on('error', (error: ServiceError) => {
      this.failed(client, error);
      onError(new EtcdCallError(endpoint, 'Watch', error));
    });
    return stream;
  }

  close(): void {
    for (const { client } of this.clients) client.close();
  }
}
