import type { Kysely, Migration } from 'kysely';
import type { RequestChange } from '../domain/directory-change.ts';

export type SqlDialect = 'sqlite' | 'postgres';

/** An open store database: one Kysely instance over SQLite (embedded) or PostgreSQL. */
export interface Database {
  readonly db: Kysely<any>;
  readonly dialect: SqlDialect;
  close(): Promise<void>;
}

/**
 * Each module owns its tables and contributes migrations. Names sort globally:
 * 0000-0099 directory and tenancy, 0100-0199 provisioning jobs, 0200-0299 audit.
 */
export type MigrationSet = (dialect: SqlDialect) => Record<string, Migration>;

/** Receives directory changes inside the writing transaction (outbox, audit). */
export interface ChangeSink {
  /** Each change as it is made, inside its write: what the sink reads sees the data the change was made against. */
  record?(tx: Kysely<any>, dialect: SqlDialect, change: RequestChange): Promise<void>;
  /**
   * The changes of every write of a transaction, in order, as the transaction's last statements
   * before COMMIT: on SQLite one call covers all the writes that share a commit (GroupCommit),
   * so a sink can write them together. A failure rolls the writes back.
   */
  beforeCommit?(tx: Kysely<any>, dialect: SqlDialect, changes: readonly RequestChange[]): Promise<void>;
  /** Called after each write transaction commits (whether or not it recorded a change). */
  afterCommit?(): void;
}
