import type { RawBuilder, SqlBool } from 'kysely';
import type { SqlDialect } from './database.ts';
import { postgresSql } from './postgres/postgres-dialect.ts';
import { sqliteSql } from './sqlite/sqlite-dialect.ts';

/**
 * A place inside a JSON document, as the dialect addresses it (SQLite: document + JSON path
 * string; PostgreSQL: a jsonb expression). Opaque to shared code, which only passes it back.
 */
export interface JsonTarget {
  readonly __jsonTarget: unique symbol;
}

/**
 * The SQL that differs between the two stores. Everything else (tables, queries, filters) is
 * shared Kysely code that calls these fragments. Every fragment binds values as parameters; the
 * only identifiers it receives are constants of the shared code.
 */
export interface DialectSql {
  readonly name: SqlDialect;
  /** The JSON document held in a column (`r.data`). */
  jsonColumn(column: RawBuilder<unknown>): JsonTarget;
  /** The member `keys` (a path of object keys, bound as parameters) below `target`. */
  jsonChild(target: JsonTarget, keys: readonly string[]): JsonTarget;
  /** The value as text (strings unquoted), NULL when absent or JSON null. */
  jsonText(target: JsonTarget): RawBuilder<string | null>;
  /** The value when it is a JSON number, else NULL. */
  jsonNumber(target: JsonTarget): RawBuilder<number | null>;
  /** True when the value is the JSON boolean `value`; never NULL. */
  jsonIsBoolean(target: JsonTarget, value: boolean): RawBuilder<SqlBool>;
  /** RFC 7644 `pr`: present, not null, not "" and not an empty array/object; never NULL. */
  jsonPresent(target: JsonTarget): RawBuilder<SqlBool>;
  /**
   * EXISTS over the elements of the JSON array at `target`; `alias` is a fresh constant chosen
   * by the caller so nested scopes never collide.
   */
  jsonAnyElement(target: JsonTarget, alias: string, predicate: (element: JsonTarget) => RawBuilder<SqlBool>): RawBuilder<SqlBool>;
  /** The first element of the JSON array at `target` (NULL when it is no array or empty). */
  jsonFirstElement(target: JsonTarget): JsonTarget;
  /** Scalar subquery: `select` of the first element of the array at `target` satisfying `where`. */
  jsonFindElement(
    target: JsonTarget,
    alias: string,
    where: (element: JsonTarget) => RawBuilder<SqlBool>,
    select: (element: JsonTarget) => RawBuilder<unknown>,
  ): RawBuilder<unknown>;
  /**
   * Aggregate: a JSON array of `[first, second]` pairs over the rows, ordered by `orderBy`;
   * `[]` when there are none. Read back through parseJson.
   */
  jsonPairs(first: RawBuilder<unknown>, second: RawBuilder<unknown>, orderBy: RawBuilder<unknown>[]): RawBuilder<unknown>;
  /** Unicode lower-casing of a text expression (SQLite's built-in lower() is ASCII-only). */
  lower(text: RawBuilder<unknown>): RawBuilder<string>;
  /** Makes ordering comparisons and ORDER BY use code-point order, as SQLite's BINARY does. */
  binary(text: RawBuilder<unknown>): RawBuilder<string>;
  /** `LIKE pattern` with `\` as escape character, always case-sensitive. */
  like(text: RawBuilder<unknown>, pattern: string): RawBuilder<SqlBool>;
  /** A boolean as the driver binds it (better-sqlite3 rejects JS booleans). */
  bool(value: boolean): boolean | number;
  /** `FOR UPDATE` where the dialect has row locks; SQLite serialises whole transactions instead. */
  readonly rowLock: boolean;
  /**
   * Whether triggers keep each tenant's user and group counts in `resource_counts` (PostgreSQL,
   * where COUNT(*) of a large tenant costs tens of milliseconds per list page); the embedded
   * store counts and caches the total per data version instead (ReadCache).
   */
  readonly keptCounts: boolean;
  /** Whether a WITH may hold an INSERT whose rows the statement reads (PostgreSQL): one statement instead of two. */
  readonly writableWith: boolean;
  /** The JSON column as read from the driver (text on SQLite, parsed jsonb on PostgreSQL). */
  parseJson(value: unknown): Record<string, unknown>;
  /** A JSON column read as its text, so a reader may splice it without parsing (jsonb's output form on PostgreSQL). */
  jsonAsText(column: RawBuilder<unknown>): RawBuilder<string>;
  /** A unique or primary-key constraint violation; returns the constraint's name or column list. */
  uniqueViolation(error: unknown): string | undefined;
  /** Serialization failure, deadlock or busy: the whole transaction may be retried. */
  isTransient(error: unknown): boolean;
}

export function dialectSql(dialect: SqlDialect): DialectSql {
  return dialect === 'sqlite' ? sqliteSql : postgresSql;
}

/** Escapes LIKE wildcards so that a client's `%`, `_` and `\` match themselves. */
export function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}
