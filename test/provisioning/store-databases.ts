import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import SqliteDatabase from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import pg from 'pg';
import type { Database, MigrationSet, SqlDialect } from '../../src/directory/database.ts';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { jobMigrations } from '../../src/provisioning/job-migrations.ts';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';

/**
 * Real store databases for the provisioning tests: SQLite in a temporary folder, PostgreSQL in a
 * scratch database, both migrated with the directory's and the provisioning module's migrations.
 */
export interface TestStore {
  database: Database;
  /** The SQLite file or PostgreSQL URL, for another process to open. */
  location: string;
  /** Another Kysely instance on the same database: a second Rolecall process. */
  second(): Database;
  cleanup(): Promise<void>;
}

export async function migrate(database: Database, sets: MigrationSet[]): Promise<void> {
  const migrations: Record<string, Migration> = Object.assign({}, ...sets.map((set) => set(database.dialect)));
  const provider: MigrationProvider = { getMigrations: async () => migrations };
  const { error } = await new Migrator({ db: database.db, provider, allowUnorderedMigrations: true }).migrateToLatest();
  if (error) throw error;
}

function wrap(db: Kysely<any>, dialect: SqlDialect): Database {
  return { db, dialect, close: () => db.destroy() };
}

/** Opens a store database by dialect and location (also used by a child process in the crash test). */
export function openStore(dialect: SqlDialect, location: string): Database {
  if (dialect === 'postgres') {
    return wrap(new Kysely({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: location, max: 8 }) }) }), 'postgres');
  }
  const sqlite = new SqliteDatabase(location);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('busy_timeout = 5000');
  return wrap(new Kysely({ dialect: new SqliteDialect({ database: sqlite }) }), 'sqlite');
}

export async function sqliteStore(): Promise<TestStore> {
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-provisioning-'));
  const file = join(dir, 'store.db');
  const open = () => openStore('sqlite', file);
  const database = open();
  await migrate(database, [directoryMigrations, jobMigrations]);
  const extra: Database[] = [];
  return {
    database,
    location: file,
    second: () => {
      const d = open();
      extra.push(d);
      return d;
    },
    cleanup: async () => {
      for (const d of [database, ...extra]) await d.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** undefined when PostgreSQL is unreachable (the test is then skipped loudly, or fails under CI). */
export async function postgresStore(t: TestContext): Promise<TestStore | undefined> {
  if (!(await needPostgres(t))) return undefined;
  const scratch = await scratchPostgresDatabase('rolecall_jobs');
  const open = () => openStore('postgres', scratch.url);
  const database = open();
  await migrate(database, [directoryMigrations, jobMigrations]);
  const extra: Database[] = [];
  return {
    database,
    location: scratch.url,
    second: () => {
      const d = open();
      extra.push(d);
      return d;
    },
    cleanup: async () => {
      for (const d of [database, ...extra]) await d.close();
      await scratch.drop();
    },
  };
}

/** Runs `body` once per store dialect, as subtests named after the dialect. */
export async function eachStore(t: TestContext, body: (store: TestStore, t: TestContext) => Promise<void>): Promise<void> {
  await t.test('sqlite', async (t) => {
    const store = await sqliteStore();
    try {
      await body(store, t);
    } finally {
      await store.cleanup();
    }
  });
  await t.test('postgres', async (t) => {
    const store = await postgresStore(t);
    if (!store) return;
    try {
      await body(store, t);
    } finally {
      await store.cleanup();
    }
  });
}
