import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
  type Dialect,
} from 'kysely';
import type { SqlDialect } from '../../src/directory/database.ts';

/** A Kysely instance that compiles a dialect's SQL without a connection (Kysely's documented way). */
export function offlineCompiler(dialect: SqlDialect): Kysely<any> {
  const pg = dialect === 'postgres';
  const d: Dialect = {
    createAdapter: () => (pg ? new PostgresAdapter() : new SqliteAdapter()),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => (pg ? new PostgresIntrospector(db) : new SqliteIntrospector(db)),
    createQueryCompiler: () => (pg ? new PostgresQueryCompiler() : new SqliteQueryCompiler()),
  };
  return new Kysely<any>({ dialect: d });
}
