import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql, type RawBuilder, type SqlBool, type SqliteDatabase, type SqliteStatement } from 'kysely';
import type { DialectSql, JsonTarget } from '../dialect-sql.ts';
import { startBackgroundCheckpoint } from './background-checkpoint.ts';

export const SQLITE_FILE = 'rolecall.sqlite';
/** Informational only: names the owning pid in errors. The lock itself is SQLite's (see takeOwnership). */
export const SQLITE_PID_FILE = 'rolecall.lock';

/** Statements kept prepared per connection; filters produce varied SQL, so the cache is bounded. */
const STATEMENT_CACHE_SIZE = 256;
const BUSY_TIMEOUT_MS = 5000;
/** WAL pages (4 KiB) after which the writing connection checkpoints itself, should the background thread fall behind. */
const BACKSTOP_CHECKPOINT_PAGES = 10_000;

/** Kysely's bound LIMIT and OFFSET parameters, as it writes them. */
const BARE_LIMIT = /\b(limit|offset) \?/g;

/**
 * The statement text as prepared: LIMIT and OFFSET parameters become `cast(? as integer)`.
 * Since 3.45 SQLite reads a bare `LIMIT ?` parameter's value while planning and marks the
 * statement for re-planning whenever that parameter is bound again (sqlite3ExprIsInteger sets
 * its expmask), so every run of a cached statement with one was parsed and planned anew: 25-40
 * us for a SCIM list query here. A cast is not a bare parameter; the value stays bound. Kysely
 * puts values in parameters, never in the text, so the pattern only meets its own keywords.
 */
export function planStableSql(text: string): string {
  return text.replace(BARE_LIMIT, '$1 cast(? as integer)');
}

/**
 * better-sqlite3 behind Kysely's SqliteDatabase slice, reusing prepared statements. Kysely calls
 * prepare() for every query and runs queries one at a time on its single connection, so a cached
 * statement is never in use twice at once.
 */
function cachingDatabase(db: BetterSqlite3.Database, onClose: () => void): SqliteDatabase {
  const cache = new Map<string, SqliteStatement>();
  return {
    prepare(text: string): SqliteStatement {
      let statement = cache.get(text);
      if (statement) {
        // Re-insert to keep the Map in least-recently-used order.
        cache.delete(text);
      } else {
        statement = db.prepare(planStableSql(text)) as unknown as SqliteStatement;
        if (cache.size >= STATEMENT_CACHE_SIZE) cache.delete(cache.keys().next().value as string);
      }
      cache.set(text, statement);
      return statement;
    },
    close() {
      cache.clear();
      // Lets the planner keep statistics current for the next start (SQLite's advice for closing).
      db.pragma('optimize');
      db.close();
      onClose();
    },
  };
}

function ownerHint(dataDir: string): string {
  try {
    const pid = readFileSync(join(dataDir, SQLITE_PID_FILE), 'utf8').trim();
    return pid ? ` (pid ${pid} according to ${SQLITE_PID_FILE})` : '';
  } catch {
    return '';
  }
}

/** SQLite database file whose exclusive lock marks the server that owns the data folder. */
export const SQLITE_OWNER_FILE = 'rolecall.owner';

/**
 * Takes ownership of a data folder: `locking_mode=EXCLUSIVE` plus one `BEGIN EXCLUSIVE` on a
 * dedicated owner database makes SQLite take its OS-level (fcntl) write lock and keep it until
 * the connection closes. The kernel drops that lock when the process dies, even by SIGKILL, so
 * there is never a stale lock to clean up and pid reuse cannot fool it; a second server gets
 * SQLITE_BUSY at once and is refused with a clear error. The lock sits on its own file, not on
 * rolecall.sqlite, so CLI tools can still open the store beside a running server (WAL is safe
 * across processes) and, say, a revoked token is refused at once.
 */
function takeOwnership(dataDir: string): BetterSqlite3.Database {
  const owner = new BetterSqlite3(join(dataDir, SQLITE_OWNER_FILE));
  try {
    owner.pragma('busy_timeout = 0');
    owner.pragma('locking_mode = EXCLUSIVE');
    owner.pragma('journal_mode = MEMORY');
    owner.exec('BEGIN EXCLUSIVE; COMMIT');
    return owner;
  } catch (error) {
    owner.close();
    if ((error as { code?: string }).code?.startsWith('SQLITE_BUSY')) {
      throw new Error(`data folder ${dataDir} is in use by another Rolecall process${ownerHint(dataDir)}; stop it or choose another --data-dir`, {
        cause: error,
      });
    }
    throw error;
  }
}

/**
 * Opens `<dataDir>/rolecall.sqlite`; with `exclusive` (a server), owned by this process alone.
 *
 * Durability: WAL with synchronous=NORMAL. A commit is written to the WAL file before the call
 * returns, so once acknowledged it survives a killed process (the data is in the kernel's page
 * cache); only an OS crash or power loss before the next checkpoint's fsync may lose the last
 * commits, and never corrupts the database. FULL would fsync every commit for that last case.
 */
export async function openSqlite(dataDir: string, exclusive = true): Promise<{ db: Kysely<any>; close(): Promise<void> }> {
  mkdirSync(dataDir, { recursive: true });
  const owner = exclusive ? takeOwnership(dataDir) : undefined;
  const file = join(dataDir, SQLITE_FILE);
  const raw = new BetterSqlite3(file);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  raw.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  raw.pragma('foreign_keys = ON');
  // LIKE must be case-sensitive: case-insensitive attributes are lower-cased on both sides instead,
  // and a BINARY column can then still use its index for `sw`.
  raw.pragma('case_sensitive_like = ON');
  raw.function('rc_lower', { deterministic: true }, (value: unknown) => (typeof value === 'string' ? value.toLowerCase() : value));

  // The server checkpoints from a worker thread (see background-checkpoint.ts); its own connection
  // checkpoints only if the WAL grows past ~40 MB. Short-lived CLI connections keep SQLite's default.
  const checkpoint = owner ? startBackgroundCheckpoint(file) : undefined;
  if (owner) raw.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);

  const pidFile = join(dataDir, SQLITE_PID_FILE);
  if (owner) writeFileSync(pidFile, `${process.pid}\n`);
  const database = cachingDatabase(raw, () => {
    if (!owner) return;
    rmSync(pidFile, { force: true });
    owner.close();
  });
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database }) });
  return {
    db,
    // The checkpointing thread closes last, so the store's files are settled when this resolves.
    close: async () => {
      await db.destroy();
      await checkpoint?.stop();
    },
  };
}

/** SQLite addresses JSON as (document, JSON path text); the path may start at a json_each row. */
interface SqliteJson {
  doc: RawBuilder<unknown>;
  /** SQL yielding a path prefix such as `e1.fullkey`, or undefined for the document root `$`. */
  prefix: RawBuilder<unknown> | undefined;
  suffix: string;
}

const asJson = (target: JsonTarget) => target as unknown as SqliteJson;
const toTarget = (json: SqliteJson) => json as unknown as JsonTarget;

function pathOf({ prefix, suffix }: SqliteJson): RawBuilder<unknown> {
  if (!prefix) return sql`${suffix}`;
  return suffix === '' ? prefix : sql`(${prefix} || ${suffix})`;
}

/** `."key"`: quoted so that URNs (with `:` and `.`) are single keys. Keys come from schema definitions. */
function quoteKey(key: string): string {
  if (key.includes('"')) throw new Error(`JSON key ${JSON.stringify(key)} cannot be addressed`);
  return `."${key}"`;
}

export const sqliteSql: DialectSql = {
  name: 'sqlite',
  jsonColumn: (column) => toTarget({ doc: column, prefix: undefined, suffix: '$' }),
  jsonChild: (target, keys) => {
    const json = asJson(target);
    return toTarget({ ...json, suffix: json.suffix + keys.map(quoteKey).join('') });
  },
  jsonText: (target) => {
    const json = asJson(target);
    return sql`json_extract(${json.doc}, ${pathOf(json)})`;
  },
  jsonNumber: (target) => {
    const json = asJson(target);
    const path = pathOf(json);
    return sql`(CASE WHEN json_type(${json.doc}, ${path}) IN ('integer', 'real') THEN json_extract(${json.doc}, ${path}) END)`;
  },
  jsonIsBoolean: (target, value) => {
    const json = asJson(target);
    return sql<SqlBool>`(json_type(${json.doc}, ${pathOf(json)}) IS ${value ? 'true' : 'false'})`;
  },
  jsonPresent: (target) => {
    const json = asJson(target);
    const path = pathOf(json);
    const type = sql`json_type(${json.doc}, ${path})`;
    return sql<SqlBool>`(CASE ${type}
      WHEN 'null' THEN 0
      WHEN 'text' THEN json_extract(${json.doc}, ${path}) <> ''
      WHEN 'array' THEN json_array_length(${json.doc}, ${path}) > 0
      WHEN 'object' THEN json_extract(${json.doc}, ${path}) <> '{}'
      ELSE ${type} IS NOT NULL END)`;
  },
  jsonAnyElement: (target, alias, predicate) => {
    const json = asJson(target);
    const path = pathOf(json);
    // Elements are addressed through the document by their full key, because json_each's `value`
    // of a string element is plain text that json_extract would reject as malformed JSON.
    const element = toTarget({ doc: json.doc, prefix: sql.ref(`${alias}.fullkey`), suffix: '' });
    return sql<SqlBool>`(json_type(${json.doc}, ${path}) = 'array' AND EXISTS (SELECT 1 FROM json_each(${json.doc}, ${path}) AS ${sql.id(alias)} WHERE ${predicate(element)}))`;
  },
  jsonFirstElement: (target) => {
    const json = asJson(target);
    return toTarget({ ...json, suffix: `${json.suffix}[0]` });
  },
  jsonFindElement: (target, alias, where, select) => {
    const json = asJson(target);
    const path = pathOf(json);
    const element = toTarget({ doc: json.doc, prefix: sql.ref(`${alias}.fullkey`), suffix: '' });
    return sql`(SELECT ${select(element)} FROM json_each(${json.doc}, ${path}) AS ${sql.id(alias)} WHERE json_type(${json.doc}, ${path}) = 'array' AND ${where(element)} ORDER BY ${sql.ref(`${alias}.key`)} LIMIT 1)`;
  },
  // ORDER BY inside an aggregate needs SQLite 3.44 (better-sqlite3 12 bundles 3.51).
  jsonPairs: (first, second, orderBy) => sql`json_group_array(json_array(${first}, ${second}) ORDER BY ${sql.join(orderBy)})`,
  lower: (text) => sql`rc_lower(${text})`,
  binary: (text) => sql`${text}`,
  like: (text, pattern) => sql<SqlBool>`(${text} LIKE ${pattern} ESCAPE '\\')`,
  bool: (value) => (value ? 1 : 0),
  rowLock: false,
  keptCounts: false,
  writableWith: false,
  parseJson: (value) => JSON.parse(value as string) as Record<string, unknown>,
  jsonAsText: (column) => sql<string>`${column}`,
  uniqueViolation: (error) => {
    const { code, message } = error as { code?: unknown; message?: unknown };
    if (code !== 'SQLITE_CONSTRAINT_UNIQUE' && code !== 'SQLITE_CONSTRAINT_PRIMARYKEY') return undefined;
    // "UNIQUE constraint failed: users.tenant_id, users.user_name_lc"
    return String(message).split(': ').at(-1);
  },
  isTransient: (error) => String((error as { code?: unknown }).code ?? '').startsWith('SQLITE_BUSY'),
};
