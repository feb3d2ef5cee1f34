import { Migrator, sql, type Kysely, type Migration, type MigrationProvider } from 'kysely';
import type { Database, MigrationSet, SqlDialect } from './database.ts';
import { openPostgres } from './postgres/postgres-dialect.ts';
import { openSqlite } from './sqlite/sqlite-dialect.ts';

export interface OpenDatabaseOptions {
  /** 'sqlite' (the default embedded store) or a postgres:// / postgresql:// URL. */
  store: string;
  /** Folder of the embedded store; unused for PostgreSQL. */
  dataDir: string;
  migrations: MigrationSet[];
  /**
   * Embedded store only: take the data folder for this process alone (a server; the default).
   * CLI tools pass false to work beside a running server.
   */
  exclusive?: boolean;
}

/** Arbitrary constant naming Rolecall's migration lock among the database's advisory locks. */
const MIGRATION_LOCK_KEY = 727_001;

function dialectOf(store: string): SqlDialect {
  if (store === '' || store === 'sqlite') return 'sqlite';
  if (/^postgres(ql)?:\/\//i.test(store)) return 'postgres';
  throw new Error(`unknown store "${store}": use "sqlite" or a postgres:// URL`);
}

/** Every module's migrations in one list; Kysely applies them in name order. */
function provider(sets: MigrationSet[], dialect: SqlDialect): MigrationProvider {
  return {
    async getMigrations() {
      const all: Record<string, Migration> = {};
      for (const set of sets) {
        for (const [name, migration] of Object.entries(set(dialect))) {
          if (all[name]) throw new Error(`two migrations are named ${name}`);
          all[name] = migration;
        }
      }
      return all;
    },
  };
}

async function migrate(db: Kysely<any>, sets: MigrationSet[], dialect: SqlDialect): Promise<void> {
  // Modules number their migrations in separate ranges, so a module added later may bring names
  // that sort before ones already applied: allowed, they run in name order among the pending.
  const run = async (conn: Kysely<any>) => {
    const { error, results } = await new Migrator({ db: conn, provider: provider(sets, dialect), allowUnorderedMigrations: true }).migrateToLatest();
    if (error) {
      const failed = results?.find((r) => r.status === 'Error')?.migrationName;
      throw new Error(`migration ${failed ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    }
  };
  if (dialect === 'sqlite') return run(db);
  // Instances starting together: Kysely locks around applying migrations, but creates its own
  // bookkeeping tables before that; one session-level advisory lock covers both steps.
  await db.connection().execute(async (conn) => {
    await sql`SELECT pg_advisory_lock(${MIGRATION_LOCK_KEY})`.execute(conn);
    try {
      await run(conn);
    } finally {
      await sql`SELECT pg_advisory_unlock(${MIGRATION_LOCK_KEY})`.execute(conn);
    }
  });
}

/**
 * Opens the store named by `options.store` and brings its schema up to date. The embedded
 * SQLite store lives in `<dataDir>/rolecall.sqlite` and is owned by one process at a time.
 */
export async function openDatabase(options: OpenDatabaseOptions): Promise<Database> {
  const dialect = dialectOf(options.store);
  if (dialect === 'sqlite' && !options.dataDir) throw new Error('the embedded SQLite store needs a data folder (dataDir)');
  const opened = dialect === 'sqlite' ? await openSqlite(options.dataDir, options.exclusive ?? true) : await openPostgres(options.store);
  try {
    await migrate(opened.db, options.migrations, dialect);
  } catch (error) {
    await opened.close();
    throw error;
  }
  return { db: opened.db, dialect, close: () => opened.close() };
}
