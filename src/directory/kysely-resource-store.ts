import type { Kysely } from 'kysely';
import type { RequestChange, RequestContext } from '../domain/directory-change.ts';
import type { DirectoryWriter, ResourceKind, ResourceStore } from '../scim/resource-store.ts';
import type { ChangeSink, Database } from './database.ts';
import { dialectSql, type DialectSql } from './dialect-sql.ts';
import { KyselyDirectoryReader } from './kysely-directory-reader.ts';
import { KyselyDirectoryWriter } from './kysely-directory-writer.ts';
import { ListQueryTemplates } from './list-query-templates.ts';
import { ReadCache, sqliteDataVersion } from './read-cache.ts';
import { GroupCommit } from './group-commit.ts';

/**
 * PostgreSQL: batches of writes begun and not committed at once (GroupCommit). A COMMIT waits
 * for its WAL flush, milliseconds on some disks; meanwhile the next batch runs. Well under the
 * pool's connections, which reads need too.
 */
const POSTGRES_BATCHES_IN_FLIGHT = 4;

/** SQLite: one cache for every tenant, versioned by any commit, this process's or another's. */
function sqliteCache(epoch: () => number, db: Kysely<any>): () => ReadCache {
  const cache = new ReadCache(async () => `${epoch()}:${await sqliteDataVersion(db)}`);
  return () => cache;
}

/** Tenants and kinds whose caches PostgreSQL keeps at once; past that they start over. */
const MAX_POSTGRES_CACHES = 256;

/**
 * PostgreSQL: one cache per tenant and kind, versioned by that tenant's kept counts' `changes`
 * (see the 0003 directory migration), which move with every insert and delete by any process
 * but not with updates: such a cache serves unfiltered results only (ReadCache.seesUpdates).
 */
function postgresCaches(db: Kysely<any>): (tenantId: string, kind: ResourceKind) => ReadCache {
  const caches = new Map<string, ReadCache>();
  return (tenantId, kind) => {
    const scope = `${kind}\u0000${tenantId}`;
    let cache = caches.get(scope);
    if (!cache) {
      if (caches.size >= MAX_POSTGRES_CACHES) caches.clear();
      cache = new ReadCache(async () => {
        const row = await db.selectFrom('resource_counts').select((eb) => eb.fn.sum('changes').as('changes'))
          .where('tenant_id', '=', tenantId).where('kind', '=', kind).executeTakeFirst();
        return String(row?.changes ?? 0);
      }, false);
      caches.set(scope, cache);
    }
    return cache;
  };
}

/** What one write returned, and the changes it made (handed to the sinks before commit). */
interface Written {
  value: unknown;
  changes: readonly RequestChange[];
}

/**
 * The SCIM directory on SQLite or PostgreSQL. Each write runs in a transaction holding the
 * directory change and whatever the change sinks (outbox, audit) record for it; writes that
 * queue up meanwhile share a transaction, each in its own savepoint (GroupCommit).
 */
export class KyselyResourceStore extends KyselyDirectoryReader implements ResourceStore {
  readonly #database: Database;
  readonly #sinks: readonly ChangeSink[];
  readonly #groupCommit: GroupCommit<Written>;
  /** Bumped by every commit of this store: with SQLite's data_version (other connections' commits), the data's version. */
  #epoch = 0;

  constructor(database: Database, sinks: ChangeSink[]) {
    super(database.db, dialectSql(database.dialect), false, database.dialect === 'sqlite'
      ? sqliteCache(() => this.#epoch, database.db)
      : postgresCaches(database.db), new ListQueryTemplates());
    this.#database = database;
    this.#sinks = [...sinks];
    this.#groupCommit = new GroupCommit<Written>(database.db, this.d.isTransient, {
      beforeCommit: (tx, written) => this.#beforeCommit(tx, written.flatMap((w) => w.changes)),
      afterCommit: () => this.#committed(),
    }, { maxInFlight: database.dialect === 'postgres' ? POSTGRES_BATCHES_IN_FLIGHT : 1 });
  }

  /**
   * Runs `fn` in one transaction. A transient failure (deadlock, serialization failure, lock
   * timeout, SQLite busy) rolls back and re-runs the whole of `fn` after a short randomised
   * pause, so `fn` must only act through the writer. Do not call write() from inside `fn`: it
   * would wait for the commit of the very batch that runs `fn`.
   */
  async write<T>(context: RequestContext, fn: (writer: DirectoryWriter) => Promise<T>, status?: number): Promise<T> {
    const d: DialectSql = this.d;
    let writer: KyselyDirectoryWriter | undefined;
    const run = async (tx: Kysely<any>): Promise<Written> => {
      writer = new KyselyDirectoryWriter(tx, d, context, this.#sinks, status);
      return { value: await fn(writer), changes: writer.changes };
    };
    // A held insert's failure may surface only with the COMMIT (see KyselyDirectoryWriter.failure).
    const written = await this.#groupCommit.submit(run)
      .catch((error: unknown) => { throw writer ? writer.failure(error) : error; });
    if (written.changes.length > 0) context.changed = true;
    return written.value as T;
  }

  async #beforeCommit(tx: Kysely<any>, changes: readonly RequestChange[]): Promise<void> {
    if (changes.length === 0) return;
    for (const sink of this.#sinks) await sink.beforeCommit?.(tx, this.#database.dialect, changes);
  }

  #committed(): void {
    this.#epoch += 1;
    for (const sink of this.#sinks) sink.afterCommit?.();
  }
}
