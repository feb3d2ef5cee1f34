import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { Database, SqlDialect } from '../../src/directory/database.ts';
import { auditMigrations } from '../../src/audit/audit-migrations.ts';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';

/** A migrated audit store: SQLite in a temp folder or a scratch PostgreSQL database. */
export interface AuditStore {
  database: Database;
  /** Another Kysely instance (own connections) on the same database: a second Rolecall process. */
  second(): Database;
  cleanup(): Promise<void>;
}

export async function migrateAudit(database: Database): Promise<void> {
  const migrations = auditMigrations(database.dialect);
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const { error } = await new Migrator({ db: database.db, provider }).migrateToLatest();
  if (error) throw error;
}

function wrap(db: Kysely<any>, dialect: SqlDialect): Database {
  return { db, dialect, close: () => db.destroy() };
}

function tracked(database: Database, open: () => Database, finish: () => Promise<void> | void): AuditStore {
  const extra: Database[] = [];
  return {
    database,
    second: () => {
      const d = open();
      extra.push(d);
      return d;
    },
    cleanup: async () => {
      for (const d of [database, ...extra]) await d.close();
      await finish();
    },
  };
}

export async function sqliteAuditStore(): Promise<AuditStore> {
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-audit-'));
  const file = join(dir, 'audit.db');
  const open = () => {
    const sqlite = new BetterSqlite3(file);
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('busy_timeout = 5000');
    return wrap(new Kysely({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite');
  };
  const database = open();
  await migrateAudit(database);
  return tracked(database, open, () => rmSync(dir, { recursive: true, force: true }));
}

/** undefined when PostgreSQL is unreachable: the test is then skipped loudly (failed under CI). */
export async function postgresAuditStore(t: TestContext, poolSize = 8): Promise<AuditStore | undefined> {
  if (!(await needPostgres(t))) return undefined;
  const scratch = await scratchPostgresDatabase('rolecall_audit');
  const open = () =>
    wrap(new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: scratch.url, max: poolSize }) }) }), 'postgres');
  const database = open();
  await migrateAudit(database);
  return tracked(database, open, scratch.drop);
}

/** Runs `body` as one subtest per dialect, each on a fresh store. */
export async function eachAuditStore(t: TestContext, body: (store: AuditStore, t: TestContext) => Promise<void>): Promise<void> {
  await t.test('sqlite', async (t) => {
    const store = await sqliteAuditStore();
    try {
      await body(store, t);
    } finally {
      await store.cleanup();
    }
  });
  await t.test('postgres', async (t) => {
    const store = await postgresAuditStore(t);
    if (!store) return;
    try {
      await body(store, t);
    } finally {
      await store.cleanup();
    }
  });
}
