import { setTimeout as sleep } from 'node:timers/promises';
import type { Kysely } from 'kysely';
import type { RequestContext } from '../domain/directory-change.ts';
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

/**
 * The SCIM directory on SQLite or PostgreSQL. Each write is one transaction holding the directory
 * change and whatever the change sinks (outbox, audit) record for it; on SQLite, writes that
 * queue up meanwhile share a transaction, each in its own savepoint (GroupCommit).
 */
export class KyselyResourceStore extends KyselyDirectoryReader implements ResourceStore {
  readonly #database: Database;
  readonly #sinks: readonly ChangeSink[];
  readonly #groupCommit: GroupCommit | undefined;
  /** Bumped by every commit of this store: with SQLite's data_version (other connections' commits), the data's version. */
  #epoch = 0;

  constructor(database: Database, sinks: ChangeSink[]) {
    super(database.db, dialectSql(database.dialect), false, database.dialect === 'sqlite'
      ? new ReadCache(async () => `${this.#epoch}:${await sqliteDataVersion(database.db)}`)
      : undefined, new ListQueryTemplates());
    this.#database = database;
    this.#sinks = [...sinks];
    this.#groupCommit = database.dialect === 'sqlite' ? new GroupCommit(database.db, this.d.isTransient, () => this.#committed()) : undefined;
  }

  /**
   * Runs `fn` in one transaction. A transient failure (deadlock, serialization failure, lock
   * timeout, SQLite busy) rolls back and re-runs the whole of `fn` after a short randomised
   * pause, so `fn` must only act through the writer. Do not call write() from inside `fn`: on
   * SQLite the single connection is held by the outer transaction.
   */
  async write<T>(context: RequestContext, fn: (writer: DirectoryWriter) => Promise<T>): Promise<T> {
    const d: DialectSql = this.d;
    const run = (tx: Kysely<any>) => fn(new KyselyDirectoryWriter(tx, d, context, this.#sinks));
    if (this.#groupCommit) return this.#groupCommit.submit(run);
    for (let attempt = 1; ; attempt += 1) {
      try {
        const result = await this.#database.db.transaction().execute(run);
        this.#committed();
        return result;
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !d.isTransient(error)) throw error;
        await sleep(Math.random() * 20 * attempt);
      }
    }
  }

  #committed(): void {
    this.#epoch += 1;
    for (const sink of this.#sinks) sink.afterCommit?.();
  }
}
