/**
 * The SQLite backend of the Store contract on `node:sqlite`: a table of current objects, a table
 * of change events (the watch history) and a meta table holding the current and compacted
 * revisions. Writes use group commit: those issued in the same turn of the event loop are applied
 * in one IMMEDIATE transaction, each inside its own SAVEPOINT so a refused write (CONFLICT,
 * NOT_FOUND, ...) undoes only itself. Syncing the WAL is the dominant cost of a write, so sharing
 * it is what makes concurrent writers fast; and it runs off the main thread: SQLite commits
 * without syncing (synchronous=NORMAL) and the store then fsyncs the WAL on libuv's thread pool,
 * so the event loop serves requests while the disk works, and the writes made meanwhile gather
 * into the next batch. Every promise settles, and watchers and readers see a write, only after
 * the fsync that made it durable (kill -9, power loss). The file
 * is opened with an exclusive lock because the revision counter and the watch notifier live in
 * this process: a second process writing the same file would fork the revision and its watchers
 * would miss events, so it is refused instead. Watches replay history from the events table page by page, then
 * switch to events the notifier queued since the watch registered; a watcher whose queue passes
 * its bound is ended with GONE. Compaction runs only when `compact` is called.
 *
 * It also owns the protection of its files at rest: the folder is kept 0700 and the database and
 * its side files 0600 whatever the umask (looser modes found are tightened and reported); every
 * body goes through the ValueTransformer (encryption.ts) in both tables; at open, values the
 * transformer calls stale are rewritten in place, and then the freed pages are scrubbed
 * (secure_delete, checkpoint, VACUUM) so no copy in clear or under an old key survives on disk.
 */
import { chmodSync, closeSync, openSync, statSync } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';
import { InternalError, InvalidError, isTlsbootError, type TlsbootError, UnavailableError } from '../base/errors.ts';
import { ensureDirectory, formatMode, restrictMode } from '../base/fs.ts';
import { deepFreeze } from '../base/json.ts';
import { IDENTITY_TRANSFORMER, type StoredValue, type ValueTransformer } from './encryption.ts';
import {
  alreadyExists,
  checkKey,
  checkObjectKey,
  checkRevision,
  checkTxn,
  compacted,
  conflict,
  decodeObject,
  describeKey,
  type Encoded,
  encodeObject,
  notFound,
  tooSlow,
} from './objects.ts';
import type {
  DeleteOptions,
  ListOptions,
  ListPage,
  ListPageJson,
  ListPageOptions,
  ListResult,
  ObjectKey,
  PageItem,
  PageStart,
  Store,
  StoredObject,
  TxnOp,
  UpdateOptions,
  WatchEvent,
  WatchEventType,
  WatchOptions,
} from './types.ts';

export interface SqliteStoreOptions {
  /** A file path, or ':memory:'. */
  readonly path: string;
  /** Live events a watcher may have waiting before it is ended with GONE. Default 10,000. */
  readonly maxWatchBacklog?: number;
  /** History events read per query while a watch replays; bounds its memory. Default 500. */
  readonly historyPageSize?: number;
  /** How long to wait for another process to release the file before failing with UNAVAILABLE. Default 5,000 ms. */
  readonly lockTimeoutMs?: number;
  /** What bodies become on disk (encryption at rest). Default: stored as they are. */
  readonly transformer?: ValueTransformer;
  /** Hears what an operator should know about the open (modes tightened, values rewritten); never secret material. */
  readonly report?: StoreReport;
  /** Makes the WAL durable (an fsync of `walPath` on the thread pool by default); tests hold or fail it. */
  readonly syncWal?: (walPath: string) => Promise<void>;
}

export type StoreReport = (level: 'info' | 'warn', message: string, details: Readonly<Record<string, string | number>>) => void;

const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
/** The database and every side file SQLite may create next to it. */
const SIDE_FILES = ['', '-wal', '-shm', '-journal'];

/** SQLITE_BUSY: another connection holds the lock. */
const SQLITE_BUSY = 5;

/** A live event: its JSON text, decoded once (frozen) by the first watcher that consumes it and shared with the rest. */
interface Pending {
  readonly type: WatchEventType;
  readonly revision: number;
  readonly body: string;
  object: StoredObject | undefined;
}

/**
 * What the store holds in memory of a current object: its revision, its value as persisted, and
 * its JSON once known (from the write, or from the first read). Reads then skip the transformer:
 * a bootstrap token's Secret is read on every request it authenticates, and decrypting it each
 * time was 5 % of the server's CPU in a join storm. Memory is not at rest; the file stays encrypted.
 */
interface Current {
  readonly rv: number;
  readonly value: StoredValue;
  body: string | undefined;
}

/** An encoded object and what is persisted for it (its body, transformed). */
interface Persisted extends Encoded {
  readonly value: StoredValue;
}

/** What a write stored (null for a delete), and the stored value it replaced (null for a create). */
interface Written extends Persisted {
  readonly prev: StoredValue | null;
  readonly current: Current | null;
}

/** One object change of a queued write. */
interface QueuedOp {
  readonly key: ObjectKey;
  readonly type: WatchEventType;
  /** Checks and applies the object change at `revision`; throws a contract error to refuse. */
  readonly change: (revision: number) => Written;
}

/** A write waiting for the next group commit: one op, or a transaction's, applied all or none. */
interface QueuedWrite {
  readonly ops: readonly QueuedOp[];
  readonly resolve: (objects: StoredObject[]) => void;
  readonly reject: (error: TlsbootError) => void;
}

/** A committed batch waiting for the fsync that makes it durable, then settled as a whole. */
interface CommittedBatch {
  readonly revision: number;
  readonly staged: ReadonlyMap<string, Current | null>;
  readonly applied: readonly AppliedWrite[];
  readonly refused: readonly { readonly write: QueuedWrite; readonly error: TlsbootError }[];
}

/**
 * Fsyncs one file through a handle kept open: one thread-pool task per sync instead of three.
 * Safe for the WAL because, with the exclusive lock, SQLite keeps that file (the same inode) for
 * the connection's whole life: checkpoints rewind or truncate it, never replace it.
 */
class FileSyncer {
  private handle: Promise<FileHandle> | undefined;

  async sync(path: string): Promise<void> {
    this.handle ??= open(path, 'r');
    await (await this.handle).sync();
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = undefined;
    await (await handle?.catch(() => undefined))?.close();
  }
}

/** A write of the batch that applied, to be published and resolved once the batch committed. */
interface AppliedWrite {
  readonly write: QueuedWrite;
  readonly events: readonly { readonly key: ObjectKey; readonly event: Pending }[];
  readonly objects: StoredObject[];
}

interface Watcher {
  readonly resource: string;
  readonly namespace: string | undefined;
  readonly name: string | undefined;
  /** Live events at or below this revision are either in the replayed history or were not asked for. */
  readonly after: number;
  queue: Pending[];
  head: number;
  failure: TlsbootError | undefined;
  ended: boolean;
  wake: (() => void) | undefined;
  detach: () => void;
}

type Row = Record<string, SQLOutputValue>;

/** A key written since a snapshot's revision: its first write after it, and its last. */
interface Changed extends PageStart {
  readonly rev: number;
  readonly first: WatchEventType;
  last: WatchEventType;
}

function keyText(namespace: string, name: string): string {
  return `${namespace}\u0000${name}`;
}

/** A (resource, name) pair as one string; the length prefix keeps any two pairs apart whatever they contain. */
function pairKey(resource: string, name: string): string {
  return `${resource.length}:${resource}${name}`;
}

/** An object's key in the memory map. */
function fullKey(key: ObjectKey): string {
  return `${key.resource.length}:${key.resource}${pairKey(key.namespace, key.name)}`;
}

/** SQLite's BINARY order (UTF-8 bytes), which is the order of the list queries; `<` on strings is not, past the BMP. */
function compareText(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a), Buffer.from(b));
}

function compareKeys(a: PageStart, b: PageStart): number {
  return compareText(a.namespace, b.namespace) || compareText(a.name, b.name);
}

function isEventType(value: unknown): value is WatchEventType {
  return value === 'ADDED' || value === 'MODIFIED' || value === 'DELETED';
}

function text(row: Row | undefined, column: string): string {
  const value = row?.[column];
  if (typeof value !== 'string') throw new InternalError('STORE_CORRUPT', `stored column ${column} is not text`);
  return value;
}

function storedValue(row: Row | undefined, column: string): StoredValue {
  const value = row?.[column];
  if (typeof value !== 'string' && !(value instanceof Uint8Array))
    throw new InternalError('STORE_CORRUPT', `stored column ${column} is neither text nor bytes`);
  return value;
}

function integer(row: Row | undefined, column: string): number {
  const value = row?.[column];
  if (typeof value !== 'number') throw new InternalError('STORE_CORRUPT', `stored column ${column} is not an integer`);
  return value;
}

/** Storage failures (disk full, I/O error) become UNAVAILABLE; the contract's own errors pass through. */
function storageError(error: unknown): TlsbootError {
  if (isTlsbootError(error)) return error;
  return new UnavailableError('STORE_IO', `the store failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
}

function errorCode(error: unknown): string {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : 'error';
}

/** Tightens a loose path and reports it with the mode it had. */
function tighten(path: string, mode: number, report: StoreReport | undefined): void {
  const old = restrictMode(path, mode);
  if (old === undefined) return;
  report?.('warn', 'the store was readable by other users; its mode is tightened', {
    path,
    oldMode: formatMode(old),
    newMode: formatMode(mode),
  });
}

/**
 * The folder 0700 and the files 0600 before SQLite opens anything: SQLite creates the WAL with
 * the database file's mode, so creating the database 0600 here keeps its side files private too.
 */
function securePaths(path: string, report: StoreReport | undefined): void {
  const dir = dirname(resolve(path));
  const st = statSync(dir, { throwIfNoEntry: false });
  if (st === undefined) {
    ensureDirectory(dir, DIR_MODE);
    chmodSync(dir, DIR_MODE);
  } else if (st.isDirectory() && (st.mode & 0o1000) !== 0) {
    // A sticky directory (/tmp) is shared by design: tightening it would break the system, and leaving it open exposes the files.
    throw new InvalidError('STORE_DIRECTORY', `${dir} is a shared directory; keep the store in a directory of its own`, { field: path });
  } else {
    tighten(dir, DIR_MODE, report);
  }
  try {
    closeSync(openSync(path, 'wx', FILE_MODE));
    chmodSync(path, FILE_MODE);
  } catch (error) {
    if (errorCode(error) !== 'EEXIST') throw error;
  }
  for (const suffix of SIDE_FILES) tighten(`${path}${suffix}`, FILE_MODE, report);
}

/**
 * Files written before kept objects in a WITHOUT ROWID table, whose key B-tree then holds every
 * body too: each point read and write walked pages of bodies (profiled: B-tree seeks 15 % of the
 * server's CPU under load). An ordinary table keeps bodies in its own B-tree and the key in a
 * small index. Runs inside the open's transaction, so a crash leaves the old table whole.
 */
function moveObjectsToRowidTable(db: DatabaseSync): void {
  const table = db.prepare("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'objects'").get();
  if (!/WITHOUT\s+ROWID/i.test(String(table?.sql ?? ''))) return;
  db.exec(`
    CREATE TABLE objects_rowid (
      resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
      rv INTEGER NOT NULL, body TEXT NOT NULL,
      PRIMARY KEY (resource, namespace, name)
    );
    INSERT INTO objects_rowid (resource, namespace, name, rv, body) SELECT resource, namespace, name, rv, body FROM objects;
    DROP TABLE objects;
    ALTER TABLE objects_rowid RENAME TO objects;
  `);
}

function openDatabase(path: string, lockTimeoutMs: number, report: StoreReport | undefined): DatabaseSync {
  let db: DatabaseSync | undefined;
  try {
    if (path !== ':memory:') securePaths(path, report);
    db = new DatabaseSync(path, { timeout: lockTimeoutMs });
    // Freed pages are zeroed, so a deleted or rewritten secret leaves no copy in the file; temporary
    // tables and sorts stay in memory rather than in a temporary file outside the private folder.
    db.exec('PRAGMA secure_delete = ON');
    db.exec('PRAGMA temp_store = MEMORY');
    // locking_mode must precede the switch to WAL: then SQLite keeps the WAL index in private
    // memory instead of a shared-memory file, and the lock taken below is held until close.
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('PRAGMA journal_mode = WAL');
    // Commits write the WAL without syncing it; the store syncs it off the main thread (see syncWal).
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec('BEGIN EXCLUSIVE');
    db.exec(`
      CREATE TABLE IF NOT EXISTS objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
        rv INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      );
      CREATE TABLE IF NOT EXISTS events (
        rev INTEGER PRIMARY KEY, type TEXT NOT NULL,
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, body TEXT NOT NULL
      );
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
    `);
    // Files written before events had a name column stay readable: delivery decodes the body.
    const columns = db.prepare('PRAGMA table_info(events)').all();
    if (!columns.some((c) => c.name === 'name')) db.exec("ALTER TABLE events ADD COLUMN name TEXT NOT NULL DEFAULT ''");
    // The body a write replaced, as etcd's prev_kv: what a snapshot read at an earlier revision
    // returns for an object changed since. NULL in files written before; those answer GONE.
    if (!columns.some((c) => c.name === 'prev')) db.exec('ALTER TABLE events ADD COLUMN prev TEXT');
    db.exec('CREATE INDEX IF NOT EXISTS events_by_resource ON events (resource, rev)');
    // A watch of one name replays only its object's events (a kubelet watching its CSR).
    db.exec('CREATE INDEX IF NOT EXISTS events_by_name ON events (resource, name, rev)');
    moveObjectsToRowidTable(db);
    db.exec('COMMIT');
    if (path !== ':memory:') for (const suffix of SIDE_FILES) tighten(`${path}${suffix}`, FILE_MODE, report);
    return db;
  } catch (error) {
    if (isTlsbootError(error)) {
      if (db?.isOpen) db.close();
      throw error;
    }
    const busy = typeof error === 'object' && error !== null && 'errcode' in error && error.errcode === SQLITE_BUSY;
    if (db?.isOpen) db.close();
    if (busy) throw new UnavailableError('STORE_LOCKED', `${path} is in use by another process`, { cause: error });
    throw new UnavailableError(
      'STORE_OPEN',
      `cannot open the store at ${path}: ${error instanceof Error ? error.message : String(error)}`,
      {
        cause: error,
      },
    );
  }
}

class SqliteStore implements Store {
  private readonly db: DatabaseSync;
  private readonly watchers = new Set<Watcher>();
  /** Watchers of a whole resource, by resource; watchers of one object, by pairKey(resource, name). */
  private readonly collectionWatchers = new Map<string, Set<Watcher>>();
  private readonly objectWatchers = new Map<string, Set<Watcher>>();
  /**
   * Every current object's revision and persisted value, by fullKey: point reads and the checks of
   * writes are served from here instead of the B-tree (kube-apiserver serves them from its watch
   * cache). The exclusive lock means no one else changes the file under it.
   */
  private current = new Map<string, Current>();
  /** During a flush: what the batch's applied writes changed, seen by its later writes and moved into `current` once it commits. */
  private staged: Map<string, Current | null> | undefined;
  private readonly maxBacklog: number;
  private readonly pageSize: number;
  private readonly transformer: ValueTransformer;
  private closed = false;
  /** Writes waiting for the next group commit, in call order, which becomes revision order. */
  private queue: QueuedWrite[] = [];
  private flushTimer: NodeJS.Immediate | undefined;
  /**
   * Authoritative copies of meta: the exclusive lock means no one else can move them. `rev` is the
   * durable revision (what reads, watches and revision() see); `committedRev` may be ahead of it
   * by the batches whose fsync is still running.
   */
  private rev: number;
  private committedRev: number;
  /** The fsync loop running now (undefined when none); writes queued meanwhile wait for it. walPath is '' for an in-memory store: nothing to sync. */
  private syncing: Promise<void> | undefined;
  private readonly walPath: string;
  private readonly syncWal: (walPath: string) => Promise<void>;
  private readonly walSyncer = new FileSyncer();
  /** Set when an fsync failed: what was committed may not be on disk, so the store stops (PostgreSQL's lesson). */
  private failure: TlsbootError | undefined;
  private compactedRev: number;
  private readonly stmt: {
    readonly list: StatementSync;
    readonly listNamespace: StatementSync;
    readonly page: StatementSync;
    readonly pageNamespace: StatementSync;
    readonly count: StatementSync;
    readonly countNamespace: StatementSync;
    readonly changed: StatementSync;
    readonly changedNamespace: StatementSync;
    readonly prev: StatementSync;
    readonly insert: StatementSync;
    readonly update: StatementSync;
    readonly remove: StatementSync;
    readonly event: StatementSync;
    readonly setMeta: StatementSync;
    readonly history: StatementSync;
    readonly historyNamespace: StatementSync;
    readonly historyName: StatementSync;
    readonly historyNamespaceName: StatementSync;
    readonly compact: StatementSync;
    readonly begin: StatementSync;
    readonly commit: StatementSync;
    readonly rollback: StatementSync;
    readonly savepoint: StatementSync;
    readonly release: StatementSync;
    readonly rollbackTo: StatementSync;
    readonly rewriteObject: StatementSync;
    readonly rewriteEvent: StatementSync;
  };

  constructor(db: DatabaseSync, options: SqliteStoreOptions) {
    this.db = db;
    this.maxBacklog = options.maxWatchBacklog ?? 10_000;
    this.pageSize = options.historyPageSize ?? 500;
    this.transformer = options.transformer ?? IDENTITY_TRANSFORMER;
    const meta = db.prepare('SELECT value FROM meta WHERE key = ?');
    this.rev = integer(meta.get('revision'), 'value');
    this.committedRev = this.rev;
    this.walPath = options.path === ':memory:' ? '' : `${options.path}-wal`;
    this.syncWal = options.syncWal ?? ((walPath) => this.walSyncer.sync(walPath));
    this.compactedRev = integer(meta.get('compacted'), 'value');
    this.stmt = {
      list: db.prepare('SELECT namespace, name, body FROM objects WHERE resource = ? ORDER BY namespace, name'),
      listNamespace: db.prepare('SELECT namespace, name, body FROM objects WHERE resource = ? AND namespace = ? ORDER BY name'),
      // Keys only, from the primary-key index alone: the bodies come from memory (`current`).
      page: db.prepare(
        'SELECT namespace, name FROM objects WHERE resource = ? AND (namespace, name) > (?, ?) ORDER BY namespace, name LIMIT ?',
      ),
      pageNamespace: db.prepare(
        'SELECT namespace, name FROM objects WHERE resource = ? AND namespace = ? AND name > ? ORDER BY name LIMIT ?',
      ),
      count: db.prepare('SELECT COUNT(*) AS n FROM objects WHERE resource = ? AND (namespace, name) > (?, ?)'),
      countNamespace: db.prepare('SELECT COUNT(*) AS n FROM objects WHERE resource = ? AND namespace = ? AND name > ?'),
      changed: db.prepare('SELECT rev, type, namespace, name FROM events WHERE resource = ? AND rev > ? ORDER BY rev'),
      changedNamespace: db.prepare(
        'SELECT rev, type, namespace, name FROM events WHERE resource = ? AND namespace = ? AND rev > ? ORDER BY rev',
      ),
      prev: db.prepare('SELECT prev FROM events WHERE rev = ?'),
      insert: db.prepare('INSERT INTO objects (resource, namespace, name, rv, body) VALUES (?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE objects SET rv = ?, body = ? WHERE resource = ? AND namespace = ? AND name = ?'),
      remove: db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
      event: db.prepare('INSERT INTO events (rev, type, resource, namespace, name, body, prev) VALUES (?, ?, ?, ?, ?, ?, ?)'),
      setMeta: db.prepare('UPDATE meta SET value = ? WHERE key = ?'),
      history: db.prepare(
        'SELECT rev, type, namespace, name, body FROM events WHERE resource = ? AND rev > ? AND rev <= ? ORDER BY rev LIMIT ?',
      ),
      historyNamespace: db.prepare(
        'SELECT rev, type, namespace, name, body FROM events WHERE resource = ? AND namespace = ? AND rev > ? AND rev <= ? ORDER BY rev LIMIT ?',
      ),
      // Rows from before the name column have '' there: they are kept and judged by their body.
      historyName: db.prepare(
        "SELECT rev, type, namespace, name, body FROM events INDEXED BY events_by_name WHERE resource = ? AND (name = ? OR name = '') AND rev > ? AND rev <= ? ORDER BY rev LIMIT ?",
      ),
      historyNamespaceName: db.prepare(
        "SELECT rev, type, namespace, name, body FROM events INDEXED BY events_by_name WHERE resource = ? AND namespace = ? AND (name = ? OR name = '') AND rev > ? AND rev <= ? ORDER BY rev LIMIT ?",
      ),
      compact: db.prepare('DELETE FROM events WHERE rev <= ?'),
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT write'),
      release: db.prepare('RELEASE write'),
      rollbackTo: db.prepare('ROLLBACK TO write'),
      rewriteObject: db.prepare('UPDATE objects SET body = ? WHERE resource = ? AND namespace = ? AND name = ?'),
      rewriteEvent: db.prepare('UPDATE events SET name = ?, body = ?, prev = ? WHERE rev = ?'),
    };
    this.loadCurrent();
  }

  private loadCurrent(): void {
    const current = new Map<string, Current>();
    for (const row of this.db.prepare('SELECT resource, namespace, name, rv, body FROM objects').iterate()) {
      const key = { resource: text(row, 'resource'), namespace: text(row, 'namespace'), name: text(row, 'name') };
      current.set(fullKey(key), { rv: integer(row, 'rv'), value: storedValue(row, 'body'), body: undefined });
    }
    this.current = current;
  }

  /** The object's current state as the write being applied sees it: its batch's earlier writes included. */
  private lookup(key: ObjectKey): Current | undefined {
    const k = fullKey(key);
    if (this.staged?.has(k)) return this.staged.get(k) ?? undefined;
    return this.current.get(k);
  }

  private bodyOf(key: ObjectKey, current: Current): string {
    current.body ??= this.transformer.fromStorage(key, current.value);
    return current.body;
  }

  private decode(key: ObjectKey, value: StoredValue): StoredObject {
    return decodeObject(this.transformer.fromStorage(key, value));
  }

  private encode(key: ObjectKey, object: StoredObject, revision: number): Persisted {
    const encoded = encodeObject(object, revision);
    return { ...encoded, value: this.transformer.toStorage(key, encoded.body) };
  }

  /**
   * Rewrites, in one transaction, every value of the transformer's resources that it calls stale
   * (in clear, or under an old key), in both tables and without a new revision: the objects do not
   * change, only their form on disk. Then scrubs the file so the old forms are gone from it too:
   * secure_delete zeroed what the rewrite freed, VACUUM rebuilds every other page (older deletes
   * may have left copies in free space) and the TRUNCATE checkpoints empty the WAL.
   * @returns how many values were rewritten
   */
  rewriteStale(): number {
    const t = this.transformer;
    let count = 0;
    this.transaction(() => {
      for (const resource of t.resources) {
        for (const row of this.db.prepare('SELECT namespace, name, body FROM objects WHERE resource = ?').all(resource)) {
          const key = { resource, namespace: text(row, 'namespace'), name: text(row, 'name') };
          const value = storedValue(row, 'body');
          if (!t.isStale(key, value)) continue;
          this.stmt.rewriteObject.run(t.toStorage(key, t.fromStorage(key, value)), resource, key.namespace, key.name);
          count++;
        }
        for (const row of this.db.prepare('SELECT rev, namespace, name, body, prev FROM events WHERE resource = ?').all(resource)) {
          const legacy = text(row, 'name') === '';
          const value = storedValue(row, 'body');
          // The body a write replaced (for paged reads at an earlier revision) is a stored value too.
          const prev = row.prev === null || row.prev === undefined ? null : storedValue(row, 'prev');
          const key = { resource, namespace: text(row, 'namespace'), name: text(row, 'name') };
          if (!t.isStale(key, value) && (prev === null || !t.isStale(key, prev))) continue;
          const body = t.fromStorage(key, value);
          // Rows from before the name column get it now: the name is part of what the ciphertext is bound to.
          const named = legacy ? { ...key, name: decodeObject(body).metadata.name } : key;
          const prevValue = prev === null ? null : t.toStorage(named, t.fromStorage(key, prev));
          this.stmt.rewriteEvent.run(named.name, t.toStorage(named, body), prevValue, integer(row, 'rev'));
          count++;
        }
      }
    });
    if (count > 0) {
      this.loadCurrent();
      try {
        this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
        this.db.exec('VACUUM');
        this.db.exec('PRAGMA wal_checkpoint(TRUNCATE)');
      } catch (error) {
        throw storageError(error);
      }
    }
    return count;
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('STORE_CLOSED', 'the store is closed');
    if (this.failure) throw this.failure;
  }

  private transaction(apply: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      apply();
      this.db.exec('COMMIT');
    } catch (error) {
      // A failed COMMIT may already have rolled back; a second ROLLBACK would mask the cause.
      if (this.db.isTransaction) this.db.exec('ROLLBACK');
      throw storageError(error);
    }
  }

  /**
   * Queues one write for the next group commit. `change` runs inside the batch's transaction at
   * the revision the batch gives it (the next one, if every earlier write of the batch failed);
   * it may refuse, and returns what it stored.
   */
  private write(key: ObjectKey, type: WatchEventType, change: (revision: number) => Written): Promise<StoredObject> {
    return this.enqueue([{ key, type, change }]).then((objects) => objects[0] as StoredObject);
  }

  /** Queues ops that apply together or not at all, in one savepoint of the next group commit. */
  private enqueue(ops: readonly QueuedOp[]): Promise<StoredObject[]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ ops, resolve, reject });
      // setImmediate runs after the poll phase, so every request read from the network in this
      // turn of the loop has queued its write by then and they all share one commit.
      this.flushTimer ??= setImmediate(() => this.flush());
    });
  }

  /**
   * Commits every queued write in one transaction. Revisions are handed out gaplessly to the
   * writes that apply; watchers hear of them, in revision order, only after the COMMIT, so a
   * watcher never sees a write that a failed commit undid, and a failed COMMIT rejects the whole
   * batch because none of it is durable.
   */
  private flush(): void {
    if (this.flushTimer !== undefined) clearImmediate(this.flushTimer);
    this.flushTimer = undefined;
    // While the disk syncs the last batch, writes gather for the next: one commit and one fsync
    // for all of them when it is done (measured: committing each loop turn's writes at once made
    // many small commits, each rewriting the same WAL pages, and cost more than it saved). So a
    // batch is only ever checked against durable state.
    if (this.syncing !== undefined) return;
    const committed = this.commitQueued();
    if (committed === undefined) return;
    if (this.walPath === '') this.settle(committed);
    else this.syncing = this.syncAndSettle(committed);
  }

  /** Commits the queued writes in one transaction; undefined when there were none or the commit failed (then all are rejected). */
  private commitQueued(): CommittedBatch | undefined {
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return undefined;
    const applied: AppliedWrite[] = [];
    const refused: { readonly write: QueuedWrite; readonly error: TlsbootError }[] = [];
    let revision = this.committedRev;
    const staged = new Map<string, Current | null>();
    this.staged = staged;
    try {
      this.stmt.begin.run();
      for (const write of batch) {
        this.stmt.savepoint.run();
        try {
          let next = revision;
          const events: { key: ObjectKey; event: Pending }[] = [];
          const objects: StoredObject[] = [];
          const changed: [string, Current | null][] = [];
          for (const { key, type, change } of write.ops) {
            const { body, object, value, prev, current } = change(next + 1);
            this.stmt.event.run(next + 1, type, key.resource, key.namespace, key.name, value, prev);
            next++;
            changed.push([fullKey(key), current]);
            events.push({ key, event: { type, revision: next, body, object: undefined } });
            objects.push(object);
          }
          this.stmt.release.run();
          revision = next;
          // Only now, so a transaction refused half-way leaves nothing staged for the writes after it.
          for (const [k, current] of changed) staged.set(k, current);
          applied.push({ write, events, objects });
        } catch (error) {
          // Some storage errors (I/O, disk full) abort the whole transaction: nothing of the
          // batch survives, so the outer handler must fail every write.
          if (!this.db.isTransaction) throw error;
          this.stmt.rollbackTo.run();
          this.stmt.release.run();
          refused.push({ write, error: storageError(error) });
        }
      }
      if (applied.length > 0) this.stmt.setMeta.run(revision, 'revision');
      this.stmt.commit.run();
    } catch (error) {
      // A failed COMMIT may already have rolled back; a second ROLLBACK would mask the cause.
      if (this.db.isTransaction) {
        try {
          this.stmt.rollback.run();
        } catch {
          // The original error is the one to report.
        }
      }
      const failure = storageError(error);
      for (const write of batch) write.reject(failure);
      return undefined;
    } finally {
      this.staged = undefined;
    }
    this.committedRev = revision;
    return { revision, staged, applied, refused };
  }

  /**
   * Fsyncs the WAL and settles the batch it made durable, then commits and syncs the writes that
   * gathered meanwhile, until none wait.
   */
  private async syncAndSettle(first: CommittedBatch): Promise<void> {
    for (let batch: CommittedBatch | undefined = first; batch !== undefined; batch = this.commitQueued()) {
      try {
        await this.syncWal(this.walPath);
      } catch (error) {
        const failure = new UnavailableError(
          'STORE_SYNC',
          `the store could not make its writes durable: ${error instanceof Error ? error.message : String(error)}`,
          { cause: error },
        );
        // Committed but maybe not on disk: no caller may take these writes as done, and no later
        // write may build on them; every watch ends so that clients re-list from what is durable.
        this.failure = failure;
        for (const { write } of [...batch.applied, ...batch.refused]) write.reject(failure);
        for (const write of this.queue.splice(0)) write.reject(failure);
        for (const w of [...this.watchers]) this.fail(w, failure);
        break;
      }
      this.settle(batch);
    }
    this.syncing = undefined;
  }

  /** A durable batch: into memory, then to watchers, then to its callers, in revision order. */
  private settle(batch: CommittedBatch): void {
    for (const [k, current] of batch.staged) {
      if (current === null) this.current.delete(k);
      else this.current.set(k, current);
    }
    this.rev = batch.revision;
    for (const { events } of batch.applied) for (const { key, event } of events) this.publish(key, event);
    for (const { write, objects } of batch.applied) write.resolve(objects);
    for (const { write, error } of batch.refused) write.reject(error);
  }

  private publish(key: ObjectKey, event: Pending): void {
    const collection = this.collectionWatchers.get(key.resource);
    if (collection !== undefined) this.deliver(collection, key, event);
    const named = this.objectWatchers.get(pairKey(key.resource, key.name));
    if (named !== undefined) this.deliver(named, key, event);
  }

  private deliver(watchers: Set<Watcher>, key: ObjectKey, event: Pending): void {
    for (const w of watchers) {
      if ((w.namespace !== undefined && w.namespace !== key.namespace) || event.revision <= w.after) continue;
      if (w.queue.length - w.head >= this.maxBacklog) {
        this.fail(w, tooSlow(this.maxBacklog));
        continue;
      }
      w.queue.push(event);
      w.wake?.();
    }
  }

  /** Drops the watcher's queue at once, so a stalled consumer holds no memory while its GONE waits. */
  private fail(w: Watcher, error: TlsbootError): void {
    w.failure = error;
    w.queue = [];
    w.head = 0;
    this.unregister(w);
    w.wake?.();
  }

  private register(w: Watcher): void {
    this.watchers.add(w);
    const [index, key] = w.name === undefined ? [this.collectionWatchers, w.resource] : [this.objectWatchers, pairKey(w.resource, w.name)];
    let set = index.get(key);
    if (set === undefined) {
      set = new Set();
      index.set(key, set);
    }
    set.add(w);
  }

  private unregister(w: Watcher): void {
    this.watchers.delete(w);
    const [index, key] = w.name === undefined ? [this.collectionWatchers, w.resource] : [this.objectWatchers, pairKey(w.resource, w.name)];
    const set = index.get(key);
    if (set?.delete(w) && set.size === 0) index.delete(key);
  }

  private release(w: Watcher): void {
    w.ended = true;
    w.queue = [];
    w.head = 0;
    this.unregister(w);
    w.detach();
    w.wake?.();
  }

  async get(key: ObjectKey): Promise<StoredObject> {
    this.assertOpen();
    checkKey(key);
    const current = this.current.get(fullKey(key));
    if (current === undefined) throw notFound(key);
    return decodeObject(this.bodyOf(key, current));
  }

  async list(resource: string, options: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    if (this.committedRev !== this.rev) {
      // The table already holds writes whose fsync runs: read as of the durable revision instead.
      const page = await this.listPage(resource, { ...options, limit: Number.MAX_SAFE_INTEGER });
      return { items: page.items, revision: page.revision };
    }
    const rows = options.namespace === undefined ? this.stmt.list.all(resource) : this.stmt.listNamespace.all(resource, options.namespace);
    // Reads and writes are synchronous on this one connection, so no write lands between the
    // rows and the revision: they describe the same instant.
    const items = rows.map((row) =>
      this.decode({ resource, namespace: text(row, 'namespace'), name: text(row, 'name') }, storedValue(row, 'body')),
    );
    return { items, revision: this.rev };
  }

  async listPage(resource: string, options: ListPageOptions): Promise<ListPage> {
    const page = this.page(resource, options);
    return { ...page, items: page.items.map((item) => decodeObject(item.json)) };
  }

  async listPageJson(resource: string, options: ListPageOptions): Promise<ListPageJson> {
    return this.page(resource, options);
  }

  /**
   * A page's keys come from the primary-key index, and the JSON of every object not written since
   * `at` from memory: its row and its `current` entry are then the same write, durable (its
   * revision is at most `at`, which is at most the durable revision). Reading bodies from the
   * table instead was, with decoding them, most of a 50,000-object LIST's time.
   */
  private page(resource: string, options: ListPageOptions): ListPageJson {
    this.assertOpen();
    const { limit, namespace } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidError('STORE_LIMIT', `limit must be a positive integer, got ${String(limit)}`, { field: 'limit' });
    }
    if (options.name !== undefined && namespace === undefined)
      throw new InvalidError('STORE_NAME', 'a page of one name needs its namespace', { field: 'namespace' });
    const at = options.revision ?? this.rev;
    checkRevision(at, 'revision');
    if (at > this.rev)
      throw new InvalidError('STORE_REVISION', `revision ${at} is newer than the store (${this.rev})`, { field: 'revision' });
    if (at < this.compactedRev) throw compacted(at, this.compactedRev);
    // Everything below runs in one synchronous step, so no write lands between the queries.
    let start: PageStart = options.after ?? { namespace: '', name: '' };
    if (namespace !== undefined) {
      const order = compareText(start.namespace, namespace);
      if (order > 0) return { items: [], revision: at, more: false, ...(options.count ? { remaining: 0 } : {}) };
      if (order < 0) start = { namespace, name: '' };
    }
    if (options.name !== undefined && namespace !== undefined) {
      return this.pageOfOne(resource, { namespace, name: options.name }, start, at, options.count === true);
    }
    const changed = this.changedSince(resource, namespace, at);
    // Objects written since `at` show their state at `at`: the body their first later write
    // replaced, or nothing when that write created them. All others are read as they are now.
    const restored = [...changed.values()].filter((c) => c.first !== 'ADDED' && compareKeys(c, start) > 0).sort(compareKeys);
    const items: PageItem[] = [];
    let cursor = start;
    let rows: Row[] = [];
    let row = 0;
    let exhausted = false;
    let next = 0;
    const nextCurrent = (): Row | undefined => {
      for (;;) {
        if (row === rows.length) {
          if (exhausted) return undefined;
          rows =
            namespace === undefined
              ? this.stmt.page.all(resource, cursor.namespace, cursor.name, limit + 1)
              : this.stmt.pageNamespace.all(resource, namespace, cursor.name, limit + 1);
          row = 0;
          exhausted = rows.length < limit + 1;
          const last = rows.at(-1);
          if (last !== undefined) cursor = { namespace: text(last, 'namespace'), name: text(last, 'name') };
          if (rows.length === 0) return undefined;
        }
        const r = rows[row] as Row;
        if (!changed.has(keyText(text(r, 'namespace'), text(r, 'name')))) return r;
        row++;
      }
    };
    let lastKey: PageStart = start;
    let bytes = 0;
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    while (items.length < limit && bytes < maxBytes) {
      const current = nextCurrent();
      const old = restored[next];
      if (current === undefined && old === undefined) break;
      const currentKey = current && { namespace: text(current, 'namespace'), name: text(current, 'name') };
      if (currentKey !== undefined && (old === undefined || compareKeys(currentKey, old) < 0)) {
        const objectKey = { resource, ...currentKey };
        const held = this.current.get(fullKey(objectKey));
        if (held === undefined) throw new InternalError('STORE_CORRUPT', `${describeKey(objectKey)} is in the table but not in memory`);
        const json = this.bodyOf(objectKey, held);
        items.push({ ...currentKey, json });
        bytes += json.length;
        row++;
        lastKey = currentKey;
      } else if (old !== undefined) {
        const row = this.stmt.prev.get(old.rev);
        if (row?.prev === null || row?.prev === undefined) throw compacted(at, old.rev);
        const json = this.transformer.fromStorage({ resource, namespace: old.namespace, name: old.name }, storedValue(row, 'prev'));
        items.push({ namespace: old.namespace, name: old.name, json });
        bytes += json.length;
        next++;
        lastKey = old;
      }
    }
    const more = items.length > 0 && (nextCurrent() !== undefined || restored[next] !== undefined);
    if (!options.count) return { items, revision: at, more };
    if (!more) return { items, revision: at, more, remaining: 0 };
    // Counted at `at`: objects after the page now, less those written since, plus those restored.
    const now =
      namespace === undefined
        ? this.stmt.count.get(resource, lastKey.namespace, lastKey.name)
        : this.stmt.countNamespace.get(resource, namespace, lastKey.name);
    let remaining = integer(now, 'n');
    for (const c of changed.values()) {
      if (compareKeys(c, lastKey) <= 0) continue;
      if (c.last !== 'DELETED') remaining--;
      if (c.first !== 'ADDED') remaining++;
    }
    return { items, revision: at, more, remaining };
  }

  /** listPage of one key: its state at `at` (the body its first later write replaced, if any), from memory otherwise. */
  private pageOfOne(resource: string, key: PageStart, start: PageStart, at: number, count: boolean): ListPageJson {
    const none: ListPageJson = { items: [], revision: at, more: false, ...(count ? { remaining: 0 } : {}) };
    if (compareKeys(key, start) <= 0) return none;
    const objectKey = { resource, ...key };
    const since =
      at === this.committedRev ? undefined : this.changedSince(resource, key.namespace, at).get(keyText(key.namespace, key.name));
    if (since === undefined) {
      const current = this.current.get(fullKey(objectKey));
      return current === undefined ? none : { ...none, items: [{ ...key, json: this.bodyOf(objectKey, current) }] };
    }
    // Created after `at`: it did not exist then.
    if (since.first === 'ADDED') return none;
    const row = this.stmt.prev.get(since.rev);
    if (row?.prev === null || row?.prev === undefined) throw compacted(at, since.rev);
    return { ...none, items: [{ ...key, json: this.transformer.fromStorage(objectKey, storedValue(row, 'prev')) }] };
  }

  /** The keys written after `at`, each with its first and last write since then. */
  private changedSince(resource: string, namespace: string | undefined, at: number): Map<string, Changed> {
    const changed = new Map<string, Changed>();
    if (at === this.committedRev) return changed;
    const rows =
      namespace === undefined ? this.stmt.changed.iterate(resource, at) : this.stmt.changedNamespace.iterate(resource, namespace, at);
    for (const r of rows) {
      const type = r.type;
      if (!isEventType(type)) throw new InternalError('STORE_CORRUPT', 'a stored event has an unknown type');
      const name = text(r, 'name');
      // Events written before the name column existed cannot be matched to their objects.
      if (name === '') throw compacted(at, integer(r, 'rev'));
      const id = keyText(text(r, 'namespace'), name);
      const seen = changed.get(id);
      if (seen) seen.last = type;
      else changed.set(id, { namespace: text(r, 'namespace'), name, rev: integer(r, 'rev'), first: type, last: type });
    }
    return changed;
  }

  async create(key: ObjectKey, object: StoredObject): Promise<StoredObject> {
    this.assertOpen();
    checkObjectKey(key, object);
    return this.write(key, 'ADDED', (revision) => this.insert(key, object, revision));
  }

  async update(key: ObjectKey, object: StoredObject, options: UpdateOptions): Promise<StoredObject> {
    this.assertOpen();
    checkObjectKey(key, object);
    return this.write(key, 'MODIFIED', (revision) => this.replace(key, object, options.expectedResourceVersion, revision));
  }

  async txn(ops: readonly TxnOp[]): Promise<StoredObject[]> {
    this.assertOpen();
    checkTxn(ops);
    return this.enqueue(
      ops.map((op) =>
        op.op === 'create'
          ? { key: op.key, type: 'ADDED', change: (revision: number) => this.insert(op.key, op.object, revision) }
          : {
              key: op.key,
              type: 'MODIFIED',
              change: (revision: number) => this.replace(op.key, op.object, op.expectedResourceVersion, revision),
            },
      ),
    );
  }

  private insert(key: ObjectKey, object: StoredObject, revision: number): Written {
    if (this.lookup(key) !== undefined) throw alreadyExists(key);
    const written = this.encode(key, object, revision);
    this.stmt.insert.run(key.resource, key.namespace, key.name, revision, written.value);
    return { ...written, prev: null, current: { rv: revision, value: written.value, body: written.body } };
  }

  private replace(key: ObjectKey, object: StoredObject, expectedResourceVersion: string, revision: number): Written {
    const current = this.lookup(key);
    if (current === undefined) throw notFound(key);
    const stored = String(current.rv);
    if (stored !== expectedResourceVersion) throw conflict(key, stored, expectedResourceVersion);
    const written = this.encode(key, object, revision);
    this.stmt.update.run(revision, written.value, key.resource, key.namespace, key.name);
    return { ...written, prev: current.value, current: { rv: revision, value: written.value, body: written.body } };
  }

  async delete(key: ObjectKey, options: DeleteOptions = {}): Promise<StoredObject> {
    this.assertOpen();
    checkKey(key);
    return this.write(key, 'DELETED', (revision) => {
      const current = this.lookup(key);
      if (current === undefined) throw notFound(key);
      const stored = String(current.rv);
      if (options.expectedResourceVersion !== undefined && stored !== options.expectedResourceVersion) {
        throw conflict(key, stored, options.expectedResourceVersion);
      }
      this.stmt.remove.run(key.resource, key.namespace, key.name);
      // As etcd-backed Kubernetes reports it: the last state, at the revision that deleted it.
      return { ...this.encode(key, decodeObject(this.bodyOf(key, current)), revision), prev: current.value, current: null };
    });
  }

  watch(resource: string, options: WatchOptions): AsyncIterable<WatchEvent> {
    return this.stream(resource, options);
  }

  private async *stream(resource: string, options: WatchOptions): AsyncGenerator<WatchEvent> {
    const { signal, fromRevision } = options;
    if (signal.aborted) return;
    this.assertOpen();
    checkRevision(fromRevision, 'fromRevision');
    if (fromRevision < this.compactedRev) throw compacted(fromRevision, this.compactedRev);
    // The boundary between history and live delivery: every write up to `replayTo` is committed
    // and in the events table; every later one reaches the queue below, because registration and
    // this read happen in one synchronous step that no write can interleave with.
    const replayTo = this.rev;
    const w: Watcher = {
      resource,
      namespace: options.namespace,
      name: options.name,
      after: Math.max(fromRevision, replayTo),
      queue: [],
      head: 0,
      failure: undefined,
      ended: false,
      wake: undefined,
      detach: () => signal.removeEventListener('abort', onAbort),
    };
    const onAbort = () => this.release(w);
    signal.addEventListener('abort', onAbort, { once: true });
    this.register(w);
    try {
      let cursor = fromRevision;
      while (cursor < replayTo) {
        if (w.ended) return;
        if (w.failure) throw w.failure;
        // Between pages the consumer may have been slow enough for a compaction to pass it;
        // querying on would silently skip the dropped events.
        if (cursor < this.compactedRev) throw compacted(cursor, this.compactedRev);
        const rows = this.historyPage(w, cursor, replayTo);
        for (const row of rows) {
          const type = row.type;
          if (!isEventType(type)) throw new InternalError('STORE_CORRUPT', 'a stored event has an unknown type');
          cursor = integer(row, 'rev');
          if (w.ended) return;
          if (w.failure) throw w.failure;
          const key = { resource, namespace: text(row, 'namespace'), name: text(row, 'name') };
          // Rows from before the name column have '' there: only their body names them.
          if (w.name !== undefined && key.name !== '' && key.name !== w.name) continue;
          const object = this.decode(key, storedValue(row, 'body'));
          if (w.name !== undefined && object.metadata.name !== w.name) continue;
          yield { type, object: deepFreeze(object), revision: cursor };
        }
        if (rows.length < this.pageSize) break;
      }
      for (;;) {
        if (w.ended) return;
        if (w.failure) throw w.failure;
        const next = w.queue[w.head];
        if (next !== undefined) {
          w.head++;
          if (w.head === w.queue.length) {
            w.queue = [];
            w.head = 0;
          } else if (w.head >= 1024) {
            w.queue = w.queue.slice(w.head);
            w.head = 0;
          }
          next.object ??= deepFreeze(decodeObject(next.body));
          yield { type: next.type, object: next.object, revision: next.revision };
          continue;
        }
        await new Promise<void>((resolve) => {
          w.wake = resolve;
        });
        w.wake = undefined;
      }
    } finally {
      this.release(w);
    }
  }

  /**
   * A page of a watcher's history. A watch of one name reads its object's events through an index:
   * a kubelet watching its CSR from its create would otherwise have every other CSR's events since
   * turned into strings (profiled in a join storm: a few hundred 2 KB bodies per watch).
   */
  private historyPage(w: Watcher, cursor: number, replayTo: number): Row[] {
    const { resource, namespace, name } = w;
    if (name !== undefined) {
      return namespace === undefined
        ? this.stmt.historyName.all(resource, name, cursor, replayTo, this.pageSize)
        : this.stmt.historyNamespaceName.all(resource, namespace, name, cursor, replayTo, this.pageSize);
    }
    return namespace === undefined
      ? this.stmt.history.all(resource, cursor, replayTo, this.pageSize)
      : this.stmt.historyNamespace.all(resource, namespace, cursor, replayTo, this.pageSize);
  }

  async revision(): Promise<number> {
    this.assertOpen();
    return this.rev;
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    checkRevision(revision, 'revision');
    const upTo = Math.min(revision, this.rev);
    if (upTo <= this.compactedRev) return;
    this.transaction(() => {
      this.stmt.compact.run(upTo);
      this.stmt.setMeta.run(upTo, 'compacted');
    });
    this.compactedRev = upTo;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Writes already accepted are committed rather than dropped: their callers are still waiting.
    this.flush();
    this.closed = true;
    // Closing checkpoints and removes the WAL: its fsyncs finish first, and settle their writes.
    // Without one running the close stays synchronous, so a failed open frees the file at once.
    if (this.syncing !== undefined) await this.syncing;
    for (const w of [...this.watchers]) this.release(w);
    this.db.close();
    await this.walSyncer.close();
  }
}

/**
 * Opens (creating if needed) a store at `path`, or an in-memory one for ':memory:'. The process
 * holds the file exclusively until `close()`.
 *
 * @throws UNAVAILABLE (`STORE_LOCKED`) when another process has the file open, (`STORE_OPEN`) when it cannot be opened.
 * @example
 * const store = openSqliteStore({ path: join(dir, 'tlsboot.db') });
 * try { await store.create(key, object); } finally { await store.close(); }
 */
export function openSqliteStore(options: SqliteStoreOptions): Store {
  for (const [name, value] of [
    ['maxWatchBacklog', options.maxWatchBacklog],
    ['historyPageSize', options.historyPageSize],
  ] as const) {
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 1)) {
      throw new InvalidError('STORE_OPTION', `${name} must be a positive integer`, { field: name });
    }
  }
  const store = new SqliteStore(openDatabase(options.path, options.lockTimeoutMs ?? 5000, options.report), options);
  try {
    const rewritten = store.rewriteStale();
    if (rewritten > 0)
      options.report?.('info', 'stored values rewritten under the current encryption key', { path: options.path, rewritten });
  } catch (error) {
    void store.close();
    throw error;
  }
  return store;
}
