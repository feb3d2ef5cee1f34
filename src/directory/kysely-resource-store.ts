import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { RequestChange, RequestContext } from '../domain/directory-change.ts';
import type { DirectoryWriter, ResourceStore } from '../scim/resource-store.ts';
import type { ChangeSink, Database } from './database.ts';
import { dialectSql, type DialectSql } from './dialect-sql.ts';
import { KyselyDirectoryReader } from './kysely-directory-reader.ts';
import { KyselyDirectoryWriter } from './kysely-directory-writer.ts';
import { ListQueryTemplates } from './list-query-templates.ts';
import { ReadCache, sqliteDataVersion } from './read-cache.ts';
import { GroupCommit } from './sqlite/group-commit.ts';

/** Attempts of one write when PostgreSQL reports a deadlock or serialization failure. */
const MAX_ATTEMPTS = 5;

/** The sum of the kept counts' `changes` (see the 0003 directory migration): grows with every insert and delete. */
async function keptChanges(db: Kysely<any>): Promise<string> {
  const row = await db.selectFrom('resource_counts').select((eb) => eb.fn.sum('changes').as('changes')).executeTakeFirst();
  return String(row?.changes ?? 0);
}

/** What one write returned, and the changes it made (handed to the sinks before commit). */
interface Written {
  value: unknown;
  changes: readonly RequestChange[];
}

/**
 * The SCIM directory on SQLite or PostgreSQL. Each write is one transaction holding the directory
 * change and whatever the change sinks (outbox, audit) record for it; on SQLite, writes that
 * queue up meanwhile share a transaction, each in its own savepoint (GroupCommit).
 */
export class KyselyResourceStore extends KyselyDirectoryReader implements ResourceStore {
  readonly #database: Database;
  readonly #sinks: readonly ChangeSink[];
  readonly #groupCommit: GroupCommit<Written> | undefined;
  /** Bumped by every commit of this store: with SQLite's data_version (other connections' commits), the data's version. */
  #epoch = 0;

  constructor(database: Database, sinks: ChangeSink[]) {
    // SQLite: any commit moves the version. PostgreSQL: the kept counts' `changes` move on every
    // insert and delete by any process, not on updates (so the cache serves unfiltered results only).
    super(database.db, dialectSql(database.dialect), false, database.dialect === 'sqlite'
      ? new ReadCache(async () => `${this.#epoch}:${await sqliteDataVersion(database.db)}`)
      : new ReadCache(() => keptChanges(database.db), false), new ListQueryTemplates());
    this.#database = database;
    this.#sinks = [...sinks];
    this.#groupCommit = database.dialect === 'sqlite'
      ? new GroupCommit<Written>(database.db, this.d.isTransient, {
        beforeCommit: (tx, written) => this.#beforeCommit(tx, written.flatMap((w) => w.changes)),
        afterCommit: () => this.#committed(),
      })
      : undefined;
  }

  /**
   * Runs `fn` in one transaction. A transient failure (deadlock, serialization failure, lock
   * timeout, SQLite busy) rolls back and re-runs the whole of `fn` after a short randomised
   * pause, so `fn` must only act through the writer. Do not call write() from inside `fn`: on
   * SQLite the single connection is held by the outer transaction.
   */
  async write<T>(context: RequestContext, fn: (writer: DirectoryWriter) => Promise<T>, status?: number): Promise<T> {
    const d: DialectSql = this.d;
    const run = async (tx: Kysely<any>): Promise<Written> => {
      const writer = new KyselyDirectoryWriter(tx, d, context, this.#sinks, status);
      return { value: await fn(writer), changes: writer.changes };
    };
    const written = this.#groupCommit ? await this.#groupCommit.submit(run) : await this.#writeAlone(run);
    if (written.changes.length > 0) context.changed = true;
    return written.value as T;
  }

  async #writeAlone(run: (tx: Kysely<any>) => Promise<Written>): Promise<Written> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        const written = await this.#database.db.transaction().execute(async (tx) => {
          const result = await run(tx);
          await this.#beforeCommit(tx, result.changes);
          return result;
        });
        this.#committed();
        return written;
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !this.d.isTransient(error)) throw error;
        await sleep(Math.random() * 20 * attempt);
      }
    }
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
