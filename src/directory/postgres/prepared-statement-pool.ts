import { createHash } from 'node:crypto';
import type { PostgresPool, PostgresPoolClient } from 'kysely';
import type pg from 'pg';
import { markHeldFailure, unmarkHeld } from '../held-statements.ts';

/** Statement texts that get a server-side name at most; the rest run unnamed. */
const MAX_NAMED = 256;

/** A text is named on its second use: one-off statements (migrations, rare filters) are never kept. */
const USES_BEFORE_NAMING = 2;

/** SQLSTATE 0A000, raised as "cached plan must not change result type" when a table changed under a named statement. */
export const CACHED_PLAN_CHANGED = '0A000';

/**
 * Which statement texts run as named prepared statements. Unnamed statements are parsed and
 * planned on every execution, which costs more than executing the indexed queries of the SCIM
 * path; a named statement is parsed once per connection and its plan is cached by the server.
 * The number of names is bounded (each is kept by every pooled connection for its lifetime);
 * filters compile to many texts, and those beyond the bound simply stay unnamed.
 */
export class StatementNames {
  readonly #uses = new Map<string, number>();
  readonly #names = new Map<string, string>();
  /** Texts whose named form failed: they run unnamed from then on. */
  readonly #refused = new Set<string>();

  nameOf(text: string): string | undefined {
    const named = this.#names.get(text);
    if (named !== undefined || this.#refused.has(text) || this.#names.size >= MAX_NAMED) return named;
    const uses = (this.#uses.get(text) ?? 0) + 1;
    if (uses < USES_BEFORE_NAMING) {
      // Bounded like the names: counting every distinct text would grow without end.
      if (this.#uses.size < MAX_NAMED * 16) this.#uses.set(text, uses);
      return undefined;
    }
    this.#uses.delete(text);
    const name = `rc_${createHash('sha1').update(text).digest('hex')}`;
    this.#names.set(text, name);
    return name;
  }

  refuse(text: string): void {
    this.#names.delete(text);
    this.#refused.add(text);
  }
}

/**
 * Text as a quoted SQL literal, as pg's escapeLiteral writes it (quotes doubled; with a
 * backslash, an E'' literal with backslashes doubled, right whatever
 * standard_conforming_strings says), with native replaces instead of its loop per character:
 * an audited write inlines a few hundred characters of payload.
 */
function quoted(text: string): string {
  return text.includes('\\') ? ` E'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'` : `'${text.replaceAll("'", "''")}'`;
}

/**
 * A bound value as an SQL literal, for a statement sent as a simple query. Every value is a
 * quoted literal of the text `pg` would have sent as the parameter, so PostgreSQL types it
 * from its context exactly as it types an untyped parameter (and a negative number never
 * meets a minus sign before it as `--`, a comment).
 */
function literal(value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (typeof value) {
    case 'string':
      return quoted(value);
    case 'boolean':
    case 'bigint':
      return quoted(String(value));
    case 'number':
      if (Number.isFinite(value)) return quoted(String(value));
      break;
    default:
      // decode() needs no backslash, whatever standard_conforming_strings says.
      if (value instanceof Uint8Array) return `decode('${Buffer.from(value).toString('hex')}', 'hex')`;
  }
  throw new TypeError(`a statement held for commit cannot carry a ${typeof value} value`);
}

/** A statement with its $n placeholders replaced by literals (Kysely binds every value, so the text holds no other $n). */
function inline(text: string, values: ReadonlyArray<unknown>): string {
  return values.length === 0 ? text : text.replace(/\$(\d+)/g, (_, n: string) => literal(values[Number(n) - 1]));
}

/** The last result of a simple query (`pg` answers one holding several statements with an array). */
async function lastOf(client: pg.PoolClient, text: string): Promise<pg.QueryResult> {
  const results = (await client.query(text)) as unknown as pg.QueryResult | pg.QueryResult[];
  return Array.isArray(results) ? results[results.length - 1]! : results;
}

const NO_ROWS = { command: 'HELD', rowCount: null, rows: [], fields: [], oid: 0 } as unknown as pg.QueryResult;

/** A statement waiting to go out before the transaction's next one: the unsent BEGIN, a savepoint's, or an ahead() one. */
interface Waiting {
  text: string;
  ahead: boolean;
  /** The name of the savepoint this statement creates. */
  savepoint?: string;
  /** When it was made, in the connection's count of statements (see `savepoints`). */
  made: number;
}

/** SAVEPOINT, RELEASE [SAVEPOINT] and ROLLBACK TO [SAVEPOINT], with the savepoint's name as PostgreSQL folds it. */
const SAVEPOINT_STATEMENT = /^(savepoint|release|rollback\s+to)\s+(?:savepoint\s+)?("(?:[^"]|"")+"|[A-Za-z_][\w$]*)\s*;?\s*$/i;

function savepointStatement(text: string): { verb: 'savepoint' | 'release' | 'rollback to'; name: string } | undefined {
  const match = SAVEPOINT_STATEMENT.exec(text);
  if (!match) return undefined;
  const verb = match[1]!.toLowerCase().replace(/\s+/, ' ') as 'savepoint' | 'release' | 'rollback to';
  const name = match[2]!.startsWith('"') ? match[2]!.slice(1, -1).replaceAll('""', '"') : match[2]!.toLowerCase();
  return { verb, name };
}

/**
 * Kysely's PostgresPool over a `pg` pool whose clients run frequent statements as named
 * prepared statements (see StatementNames). Values are always bound; only the statement text,
 * which never contains request data, decides the name.
 *
 * Round trips are what a write pays most for here, so a transaction's BEGIN is held and sent
 * with its first statement, and inside a transaction a statement marked atCommit() is held and
 * sent with the COMMIT, each pair as one simple query with the values as escaped literals (a
 * first statement with a value that has no literal form goes out after its own BEGIN). A SCIM
 * write's audit record then costs no round trip of its own. A statement marked ahead() is held
 * too, but only until the transaction's next statement, which it goes out before (in its own
 * round trip, so that a failure is known to be the held statement's or the next one's); a POST,
 * whose insert is held so, takes one round trip in all. A held statement that fails makes
 * PostgreSQL skip the COMMIT; the caller's rollback follows.
 *
 * Savepoints (the writes that share a transaction, see GroupCommit) wait like the BEGIN, and so
 * do RELEASEs: a batch of writes that run no statement of their own (POSTs) goes out whole with
 * its COMMIT. A ROLLBACK TO drops the held and waiting statements made since its savepoint, as
 * PostgreSQL undoes the ones it ran. A failure that ahead statements made before the innermost
 * open savepoint may have caused is tagged as escaping it (a rollback to it would not undo the
 * cause, and the write that made them has been told nothing yet): the transaction must end.
 */
export function preparedStatementPool(pool: pg.Pool, names = new StatementNames()): PostgresPool {
  return {
    async connect(): Promise<PostgresPoolClient> {
      const client = await pool.connect();
      let inTransaction = false;
      /** True while the BEGIN has not been sent: it waits at the head of `waiting`. */
      let beginWaits = false;
      /** Statements to send before the transaction's next one, in order. */
      let waiting: Waiting[] = [];
      /** Statements held for the COMMIT (atCommit). */
      let held: string[] = [];
      /** The open savepoints, innermost last, each with how many statements were held when it was made, and when. */
      let savepoints: { name: string; held: number; made: number }[] = [];
      let made = 0;
      const wait = (text: string, ahead: boolean, savepoint?: string) => {
        made += 1;
        waiting.push({ text, ahead, made, ...(savepoint === undefined ? {} : { savepoint }) });
      };
      const run = async (text: string, values: ReadonlyArray<unknown>): Promise<pg.QueryResult> => {
        const name = names.nameOf(text);
        if (name === undefined) return client.query(text, [...values]);
        try {
          return await client.query({ name, text, values: [...values] });
        } catch (error) {
          // A migration by another instance changed a table this statement reads. The error may have
          // aborted a transaction, so it is not retried here: the text runs unnamed from now on, and
          // the dialect reports the error as transient so that a write is re-run.
          if ((error as { code?: unknown }).code === CACHED_PLAN_CHANGED) names.refuse(text);
          throw error;
        }
      };
      /** Sends what waits, then `statements`, as one simple query; a failure is tagged as the ahead statements' when it carried any. */
      const send = async (statements: string[]): Promise<pg.QueryResult> => {
        const carriesAhead = waiting.some((w) => w.ahead);
        const innermost = savepoints.at(-1);
        const escapes = innermost !== undefined && waiting.some((w) => w.ahead && w.made < innermost.made);
        const texts = [...waiting.map((w) => w.text), ...statements];
        waiting = [];
        beginWaits = false;
        try {
          return await lastOf(client, texts.join(';\n'));
        } catch (error) {
          throw carriesAhead ? markHeldFailure(error, escapes) : error;
        }
      };
      const openSavepoint = (name: string) => savepoints.map((s) => s.name).lastIndexOf(name);
      const onSavepoint = (verb: 'savepoint' | 'release' | 'rollback to', name: string, text: string): pg.QueryResult => {
        if (verb === 'savepoint') {
          wait(text, false, name);
          savepoints.push({ name, held: held.length, made });
          return NO_ROWS;
        }
        const at = openSavepoint(name);
        if (verb === 'rollback to') {
          if (at >= 0) {
            held = held.slice(0, savepoints[at]!.held);
            savepoints = savepoints.slice(0, at + 1);
          }
          // What waits since the savepoint is undone unsent; if the savepoint itself waits, it stays.
          const unsent = waiting.map((w) => w.savepoint).lastIndexOf(name);
          // Sent, the savepoint went after every statement still waiting.
          if (unsent >= 0 || at >= 0) waiting = waiting.slice(0, unsent + 1);
          wait(text, false);
          return NO_ROWS;
        }
        // What was held since the savepoint is kept.
        wait(text, false);
        if (at >= 0) savepoints = savepoints.slice(0, at);
        return NO_ROWS;
      };
      const query = async (text: string, values: ReadonlyArray<unknown>): Promise<pg.QueryResult> => {
        const marked = unmarkHeld(text);
        if (marked !== undefined) {
          if (!inTransaction) return run(marked.text, values);
          if (!marked.ahead) {
            held.push(inline(marked.text, values));
            return NO_ROWS;
          }
          try {
            wait(inline(marked.text, values), true);
            return NO_ROWS;
          } catch (error) {
            // A value with no literal form: the statement simply runs now.
            if (!(error instanceof TypeError)) throw error;
            text = marked.text;
          }
        }
        if (text === 'begin' || text.startsWith('start transaction')) {
          inTransaction = true;
          beginWaits = true;
          waiting = [];
          wait(text, false);
          return NO_ROWS;
        }
        if (text === 'commit' || text === 'rollback') {
          const nothingRan = beginWaits && (text === 'rollback' || (held.length === 0 && !waiting.some((w) => w.ahead)));
          const toCommit = held;
          held = [];
          savepoints = [];
          inTransaction = false;
          // A transaction that ran nothing has nothing to commit or roll back.
          if (nothingRan) {
            waiting = [];
            beginWaits = false;
            return NO_ROWS;
          }
          if (text === 'commit') return send([...toCommit, 'commit']);
          waiting = [];
          return run(text, values);
        }
        const control = inTransaction && values.length === 0 ? savepointStatement(text) : undefined;
        if (control) return onSavepoint(control.verb, control.name, text);
        if (waiting.some((w) => w.ahead)) await send([]);
        if (waiting.length > 0) {
          let inlined: string | undefined;
          try {
            inlined = inline(text, values);
          } catch (error) {
            // A value with no literal form: the statement goes bound, after what waits.
            if (!(error instanceof TypeError)) throw error;
          }
          if (inlined !== undefined) return send([inlined]);
          await send([]);
        }
        return run(text, values);
      };
      return {
        query: query as unknown as PostgresPoolClient['query'],
        release: () => {
          held = [];
          waiting = [];
          savepoints = [];
          beginWaits = false;
          inTransaction = false;
          client.release();
        },
      };
    },
    end: () => pool.end(),
  };
}
