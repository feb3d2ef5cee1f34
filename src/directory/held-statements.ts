import { CompiledQuery } from 'kysely';

/**
 * Marks a statement the store may hold back until its transaction commits, and send together
 * with the COMMIT in one round trip (PostgreSQL, see prepared-statement-pool.ts). The statement
 * still runs inside the transaction, so it commits or rolls back with it, and its failure fails
 * the commit; it must return nothing the caller reads. Elsewhere (SQLite, or outside a
 * transaction) the mark is a comment and the statement runs at once.
 */
const AT_COMMIT_MARK = '/* rolecall:at-commit */ ';

/**
 * Marks a statement held like an atCommit() one, but never overtaken: it runs before any later
 * statement of its transaction (in a round trip of its own ahead of it, or with the COMMIT), so
 * later statements see its effect. A write whose only statement it is takes one round trip.
 */
const AHEAD_MARK = '/* rolecall:ahead */ ';

export function atCommit(query: CompiledQuery): CompiledQuery {
  return CompiledQuery.raw(AT_COMMIT_MARK + query.sql, [...query.parameters]);
}

export function ahead(query: CompiledQuery): CompiledQuery {
  return CompiledQuery.raw(AHEAD_MARK + query.sql, [...query.parameters]);
}

/** The statement text without its mark, and which mark it carried; undefined when it carries none. */
export function unmarkHeld(text: string): { text: string; ahead: boolean } | undefined {
  if (text.startsWith(AT_COMMIT_MARK)) return { text: text.slice(AT_COMMIT_MARK.length), ahead: false };
  if (text.startsWith(AHEAD_MARK)) return { text: text.slice(AHEAD_MARK.length), ahead: true };
  return undefined;
}

const HELD_FAILURE = Symbol('rolecall.heldFailure');
const ESCAPES_SAVEPOINT = Symbol('rolecall.escapesSavepoint');

/**
 * Tags an error raised by a round trip that carried ahead() statements (it may be theirs, not
 * the caller's statement's); `escapes` when some of them were made before the innermost open
 * savepoint, so that rolling back to it may not undo the cause.
 */
export function markHeldFailure(error: unknown, escapes = false): unknown {
  if (typeof error === 'object' && error !== null) {
    Object.defineProperty(error, HELD_FAILURE, { value: true });
    if (escapes) Object.defineProperty(error, ESCAPES_SAVEPOINT, { value: true });
  }
  return error;
}

export function escapesSavepoint(error: unknown): boolean {
  return typeof error === 'object' && error !== null && ESCAPES_SAVEPOINT in error;
}

export function isHeldFailure(error: unknown): boolean {
  return typeof error === 'object' && error !== null && HELD_FAILURE in error;
}
