/**
 * The embedded Store on `node:sqlite`: one table of current objects, one of change events (the
 * watch history), one row for the current and compacted revisions. Each write is one IMMEDIATE
 * transaction in WAL mode with synchronous=FULL, so an acknowledged write survives kill -9 and
 * power loss. Watchers are registered and served their history in the same synchronous step, so
 * no event falls between history and live delivery; a watcher that falls too far behind is ended
 * with GONE rather than buffered without bound.
 */
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import { ConflictError, NotFoundError, TlsbootError } from '../base/errors.ts';
import type { ListResult, ObjectKey, Store, StoredObject, WatchEvent, WatchEventType, WatchOptions } from './types.ts';

export interface SqliteStoreOptions {
  /** A file path, or ':memory:'. */
  readonly path: string;
  /** Revisions of history kept for watchers; older ones are compacted automatically. */
  readonly historyRevisions?: number;
  /** Events a slow watcher may have queued before it is ended with GONE. */
  readonly maxWatchBacklog?: number;
}

interface Subscriber {
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly queue: WatchEvent[];
  wake: (() => void) | undefined;
  failed: TlsbootError | undefined;
  ended: boolean;
}

function gone(from: number, compacted: number): TlsbootError {
  return new TlsbootError('GONE', 'STORE_COMPACTED', `too old resource version: ${from} (${compacted})`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function decode(body: string): StoredObject {
  const parsed: unknown = JSON.parse(body);
  if (!isRecord(parsed) || !isRecord(parsed.metadata) || typeof parsed.metadata.name !== 'string') {
    throw new TlsbootError('INTERNAL', 'STORE_CORRUPT', 'a stored object is not a valid object');
  }
  return parsed as StoredObject;
}

function checkKey(key: ObjectKey, object: StoredObject): void {
  if (object.metadata.name !== key.name) {
    throw new TlsbootError('INVALID', 'STORE_KEY', `object name "${object.metadata.name}" does not match key name "${key.name}"`, {
      field: 'metadata.name',
    });
  }
  const ns = object.metadata.namespace ?? '';
  if (ns !== key.namespace) {
    throw new TlsbootError('INVALID', 'STORE_KEY', `object namespace "${ns}" does not match key namespace "${key.namespace}"`, {
      field: 'metadata.namespace',
    });
  }
}

function label(key: ObjectKey): string {
  return key.namespace === '' ? `${key.resource} "${key.name}"` : `${key.resource} "${key.namespace}/${key.name}"`;
}

export class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly subscribers = new Set<Subscriber>();
  private readonly historyRevisions: number;
  private readonly maxBacklog: number;
  private closed = false;
  private rev: number;
  private compacted: number;
  private readonly stmt: {
    get: StatementSync;
    list: StatementSync;
    listNs: StatementSync;
    insert: StatementSync;
    update: StatementSync;
    remove: StatementSync;
    event: StatementSync;
    setMeta: StatementSync;
    history: StatementSync;
    compact: StatementSync;
  };

  constructor(options: SqliteStoreOptions) {
    this.historyRevisions = options.historyRevisions ?? 100_000;
    this.maxBacklog = options.maxWatchBacklog ?? 10_000;
    this.db = new DatabaseSync(options.path);
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = FULL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS events (
        rev INTEGER PRIMARY KEY, type TEXT NOT NULL,
        resource TEXT NOT NULL, namespace TEXT NOT NULL, body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
    `);
    const metaValue = (key: string): number => {
      const row = this.db.prepare('SELECT value FROM meta WHERE key = ?').get(key);
      return isRecord(row) && typeof row.value === 'number' ? row.value : 0;
    };
    this.rev = metaValue('revision');
    this.compacted = metaValue('compacted');
    this.stmt = {
      get: this.db.prepare('SELECT body FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      list: this.db.prepare('SELECT body FROM objects WHERE resource = ? ORDER BY namespace, name'),
      listNs: this.db.prepare('SELECT body FROM objects WHERE resource = ? AND namespace = ? ORDER BY name'),
      insert: this.db.prepare('INSERT INTO objects (resource, namespace, name, rv, body) VALUES (?, ?, ?, ?, ?)'),
      update: this.db.prepare('UPDATE objects SET rv = ?, body = ? WHERE resource = ? AND namespace = ? AND name = ?'),
      remove: this.db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      event: this.db.prepare('INSERT INTO events (rev, type, resource, namespace, body) VALUES (?, ?, ?, ?, ?)'),
      setMeta: this.db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      history: this.db.prepare('SELECT rev, type, namespace, body FROM events WHERE resource = ? AND rev > ? AND rev <= ? ORDER BY rev'),
      compact: this.db.prepare('DELETE FROM events WHERE rev <= ?'),
    };
  }

  private assertOpen(): void {
    if (this.closed) throw new TlsbootError('UNAVAILABLE', 'STORE_CLOSED', 'the store is closed');
  }

  private read(key: ObjectKey): StoredObject | undefined {
    const row = this.stmt.get.get(key.resource, key.namespace, key.name);
    return isRecord(row) && typeof row.body === 'string' ? decode(row.body) : undefined;
  }

  /** Runs one write transaction and publishes its event after the commit. */
  private write(key: ObjectKey, type: WatchEventType, apply: (rev: number) => StoredObject): StoredObject {
    this.assertOpen();
    this.db.exec('BEGIN IMMEDIATE');
    let stored: StoredObject;
    const rev = this.rev + 1;
    try {
      stored = apply(rev);
      this.stmt.event.run(rev, type, key.resource, key.namespace, JSON.stringify(stored));
      this.stmt.setMeta.run(rev, 'revision');
      if (rev - this.compacted > this.historyRevisions * 2) {
        const upTo = rev - this.historyRevisions;
        this.stmt.compact.run(upTo);
        this.stmt.setMeta.run(upTo, 'compacted');
        this.compacted = upTo;
      }
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
    this.rev = rev;
    this.publish({ type, object: stored, revision: rev }, key);
    return structuredClone(stored);
  }

  private publish(event: WatchEvent, key: ObjectKey): void {
    for (const s of this.subscribers) {
      if (s.resource !== key.resource || (s.namespace !== undefined && s.namespace !== key.namespace) || s.failed) continue;
      if (s.queue.length >= this.maxBacklog) {
        s.failed = new TlsbootError('GONE', 'WATCH_TOO_SLOW', 'the watcher fell too far behind; re-list and watch again');
      } else {
        s.queue.push({ type: event.type, object: structuredClone(event.object), revision: event.revision });
      }
      s.wake?.();
    }
  }

  async get(key: ObjectKey): Promise<StoredObject> {
    this.assertOpen();
    const obj = this.read(key);
    if (!obj) throw new NotFoundError('STORE_NOT_FOUND', `${label(key)} not found`);
    return obj;
  }

  async list(resource: string, options: { readonly namespace?: string } = {}): Promise<ListResult> {
    this.assertOpen();
    const rows = options.namespace === undefined ? this.stmt.list.all(resource) : this.stmt.listNs.all(resource, options.namespace);
    const items = rows
      .map((r) => (isRecord(r) && typeof r.body === 'string' ? decode(r.body) : undefined))
      .filter((o): o is StoredObject => o !== undefined);
    return { items, revision: this.rev };
  }

  async create(key: ObjectKey, object: StoredObject): Promise<StoredObject> {
    checkKey(key, object);
    return this.write(key, 'ADDED', (rev) => {
      if (this.read(key)) throw new TlsbootError('ALREADY_EXISTS', 'STORE_EXISTS', `${label(key)} already exists`);
      const stored: StoredObject = structuredClone(object);
      stored.metadata.resourceVersion = String(rev);
      this.stmt.insert.run(key.resource, key.namespace, key.name, rev, JSON.stringify(stored));
      return stored;
    });
  }

  async update(key: ObjectKey, object: StoredObject, options: { readonly expectedResourceVersion: string }): Promise<StoredObject> {
    checkKey(key, object);
    return this.write(key, 'MODIFIED', (rev) => {
      const current = this.read(key);
      if (!current) throw new NotFoundError('STORE_NOT_FOUND', `${label(key)} not found`);
      if (current.metadata.resourceVersion !== options.expectedResourceVersion) {
        throw new ConflictError(
          'STORE_CONFLICT',
          `${label(key)} was modified (resourceVersion ${current.metadata.resourceVersion ?? ''}, expected ${options.expectedResourceVersion})`,
        );
      }
      const stored: StoredObject = structuredClone(object);
      stored.metadata.resourceVersion = String(rev);
      this.stmt.update.run(rev, JSON.stringify(stored), key.resource, key.namespace, key.name);
      return stored;
    });
  }

  async delete(key: ObjectKey, options: { readonly expectedResourceVersion?: string } = {}): Promise<StoredObject> {
    return this.write(key, 'DELETED', (rev) => {
      const current = this.read(key);
      if (!current) throw new NotFoundError('STORE_NOT_FOUND', `${label(key)} not found`);
      if (options.expectedResourceVersion !== undefined && current.metadata.resourceVersion !== options.expectedResourceVersion) {
        throw new ConflictError(
          'STORE_CONFLICT',
          `${label(key)} was modified (resourceVersion ${current.metadata.resourceVersion ?? ''}, expected ${options.expectedResourceVersion})`,
        );
      }
      this.stmt.remove.run(key.resource, key.namespace, key.name);
      current.metadata.resourceVersion = String(rev);
      return current;
    });
  }

  watch(resource: string, options: WatchOptions): AsyncIterable<WatchEvent> {
    this.assertOpen();
    if (options.fromRevision < this.compacted) throw gone(options.fromRevision, this.compacted);
    // Registering and reading history in one synchronous step: every write after this point
    // lands in the queue, every write before it is in the history, none in both.
    const sub: Subscriber = { resource, namespace: options.namespace, queue: [], wake: undefined, failed: undefined, ended: false };
    this.subscribers.add(sub);
    const history = this.stmt.history.all(resource, options.fromRevision, this.rev);
    for (const row of history) {
      if (!isRecord(row) || typeof row.body !== 'string' || typeof row.rev !== 'number') continue;
      if (options.namespace !== undefined && row.namespace !== options.namespace) continue;
      sub.queue.push({ type: row.type as WatchEventType, object: decode(row.body), revision: row.rev });
    }
    return this.consume(sub, options.signal);
  }

  private async *consume(sub: Subscriber, signal: AbortSignal): AsyncGenerator<WatchEvent> {
    const onAbort = () => sub.wake?.();
    signal.addEventListener('abort', onAbort);
    try {
      for (;;) {
        if (signal.aborted || sub.ended) return;
        const next = sub.queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (sub.failed) throw sub.failed;
        await new Promise<void>((resolve) => {
          sub.wake = resolve;
        });
        sub.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.subscribers.delete(sub);
    }
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    const upTo = Math.min(revision, this.rev);
    if (upTo <= this.compacted) return;
    this.db.exec('BEGIN IMMEDIATE');
    try {
      this.stmt.compact.run(upTo);
      this.stmt.setMeta.run(upTo, 'compacted');
      this.db.exec('COMMIT');
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
    this.compacted = upTo;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subscribers) {
      s.ended = true;
      s.wake?.();
    }
    this.subscribers.clear();
    this.db.close();
  }
}

export function openSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}
