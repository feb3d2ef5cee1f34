import { Kysely, PostgresDialect, sql, type RawBuilder, type SqlBool } from 'kysely';
import pg from 'pg';
import type { DialectSql, JsonTarget } from '../dialect-sql.ts';
import { CACHED_PLAN_CHANGED, preparedStatementPool } from './prepared-statement-pool.ts';

const POOL_SIZE = 10;
const CONNECT_TIMEOUT_MS = 10_000;

/** A pooled PostgreSQL store; several Rolecall instances may share the database. */
export async function openPostgres(url: string): Promise<{ db: Kysely<any>; close(): Promise<void> }> {
  // A bounded wait for a connection: with the server down, requests fail instead of queueing forever.
  const pool = new pg.Pool({ connectionString: url, max: POOL_SIZE, connectionTimeoutMillis: CONNECT_TIMEOUT_MS });
  // An idle pooled connection that breaks (server restart, network cut) is dropped by the pool and
  // replaced on next use; without a listener its 'error' event would crash the process.
  pool.on('error', () => {});
  // Fail at open, with the server's message, rather than on the first SCIM request.
  const client = await pool.connect().catch(async (error: unknown) => {
    await pool.end();
    throw new Error(`cannot connect to the PostgreSQL store: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  });
  client.release();
  const db = new Kysely<any>({ dialect: new PostgresDialect({ pool: preparedStatementPool(pool) }) });
  return { db, close: () => db.destroy() };
}

/** PostgreSQL addresses JSON as a jsonb expression. */
interface PostgresJson {
  expr: RawBuilder<unknown>;
}

const asJson = (target: JsonTarget) => (target as unknown as PostgresJson).expr;
const toTarget = (expr: RawBuilder<unknown>) => ({ expr }) as unknown as JsonTarget;

const SERIALIZATION_FAILURE = '40001';
const DEADLOCK_DETECTED = '40P01';
const LOCK_NOT_AVAILABLE = '55P03';
const UNIQUE_VIOLATION = '23505';

export const postgresSql: DialectSql = {
  name: 'postgres',
  jsonColumn: (column) => toTarget(column),
  // The key path is one bound text[] parameter.
  jsonChild: (target, keys) => toTarget(sql`(${asJson(target)} #> CAST(${[...keys]} AS text[]))`),
  jsonText: (target) => sql`(${asJson(target)} #>> '{}')`,
  jsonNumber: (target) => {
    const expr = asJson(target);
    return sql`(CASE WHEN jsonb_typeof(${expr}) = 'number' THEN CAST(${expr} #>> '{}' AS numeric) END)`;
  },
  jsonIsBoolean: (target, value) => sql<SqlBool>`COALESCE(${asJson(target)} = ${value ? sql`'true'::jsonb` : sql`'false'::jsonb`}, FALSE)`,
  jsonPresent: (target) => {
    const expr = asJson(target);
    return sql<SqlBool>`(CASE jsonb_typeof(${expr})
      WHEN 'string' THEN (${expr} #>> '{}') <> ''
      WHEN 'array' THEN jsonb_array_length(${expr}) > 0
      WHEN 'object' THEN ${expr} <> '{}'::jsonb
      WHEN 'number' THEN TRUE
      WHEN 'boolean' THEN TRUE
      ELSE FALSE END)`;
  },
  jsonAnyElement: (target, alias, predicate) => {
    const expr = asJson(target);
    const element = toTarget(sql.ref(`${alias}.value`));
    // jsonb_array_elements raises on a non-array; such a value simply has no elements.
    return sql<SqlBool>`EXISTS (SELECT 1 FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${expr}) = 'array' THEN ${expr} ELSE '[]'::jsonb END) AS ${sql.id(alias)}(value) WHERE ${predicate(element)})`;
  },
  jsonFirstElement: (target) => toTarget(sql`(${asJson(target)} -> 0)`),
  jsonFindElement: (target, alias, where, select) => {
    const expr = asJson(target);
    const element = toTarget(sql.ref(`${alias}.value`));
    return sql`(SELECT ${select(element)} FROM jsonb_array_elements(CASE WHEN jsonb_typeof(${expr}) = 'array' THEN ${expr} ELSE '[]'::jsonb END) WITH ORDINALITY AS ${sql.id(alias)}(value, position) WHERE ${where(element)} ORDER BY ${sql.ref(`${alias}.position`)} LIMIT 1)`;
  },
  jsonPairs: (first, second, orderBy) => sql`COALESCE(json_agg(json_build_array(${first}, ${second}) ORDER BY ${sql.join(orderBy)}), '[]'::json)`,
  // Columns are COLLATE "C" (code-point order, like SQLite); lower() needs the database's
  // default collation to fold non-ASCII letters.
  lower: (text) => sql`lower(CAST(${text} AS text) COLLATE "default")`,
  binary: (text) => sql`(${text}) COLLATE "C"`,
  like: (text, pattern) => sql<SqlBool>`(${text} LIKE ${pattern} ESCAPE '\\')`,
  bool: (value) => value,
  rowLock: true,
  keptCounts: true,
  writableWith: true,
  parseJson: (value) => (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>,
  jsonAsText: (column) => sql<string>`(${column})::text`,
  uniqueViolation: (error) => {
    const { code, constraint } = error as { code?: unknown; constraint?: unknown };
    return code === UNIQUE_VIOLATION ? String(constraint ?? '') : undefined;
  },
  isTransient: (error) => {
    const code = (error as { code?: unknown }).code;
    return code === SERIALIZATION_FAILURE || code === DEADLOCK_DETECTED || code === LOCK_NOT_AVAILABLE || code === CACHED_PLAN_CHANGED;
  },
};
