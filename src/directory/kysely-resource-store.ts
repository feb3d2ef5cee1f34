import { setTimeout as sleep } from 'node:timers/promises';
import type { RequestContext } from '../domain/directory-change.ts';
import type { DirectoryWriter, ResourceStore } from '../scim/resource-store.ts';
import type { ChangeSink, Database } from './database.ts';
import { dialectSql, type DialectSql } from './dialect-sql.ts';
import { KyselyDirectoryReader } from './kysely-directory-reader.ts';
import { KyselyDirectoryWriter } from './kysely-directory-writer.ts';

/** Attempts of one write when PostgreSQL reports a deadlock or serialization failure. */
const MAX_ATTEMPTS = 5;

/**
 * The SCIM directory on SQLite or PostgreSQL. Each write is one transaction holding the directory
 * change and whatever the change sinks (outbox, audit) record for it.
 */
export class KyselyResourceStore extends KyselyDirectoryReader implements ResourceStore {
  readonly #database: Database;
  readonly #sinks: readonly ChangeSink[];

  constructor(database: Database, sinks: ChangeSink[]) {
    super(database.db, dialectSql(database.dialect));
    this.#database = database;
    this.#sinks = [...sinks];
  }

  /**
   * Runs `fn` in one transaction. A transient failure (deadlock, serialization failure, lock
   * timeout, SQLite busy) rolls back and re-runs the whole of `fn` after a short randomised
   * pause, so `fn` must only act through the writer. Do not call write() from inside `fn`: on
   * SQLite the single connection is held by the outer transaction.
   */
  async write<T>(context: RequestContext, fn: (writer: DirectoryWriter) => Promise<T>): Promise<T> {
    const d: DialectSql = this.d;
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.#database.db.transaction().execute((tx) => fn(new KyselyDirectoryWriter(tx, d, context, this.#sinks)));
      } catch (error) {
        if (attempt >= MAX_ATTEMPTS || !d.isTransient(error)) throw error;
        await sleep(Math.random() * 20 * attempt);
      }
    }
  }
}
