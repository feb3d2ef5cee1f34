import { CompiledQuery } from 'kysely';

/**
 * Marks a statement the store may hold back until its transaction commits, and send together
 * with the COMMIT in one round trip (PostgreSQL, see prepared-statement-pool.ts). The statement
 * still runs inside the transaction, so it commits or rolls back with it, and its failure fails
 * the commit; it must return nothing the caller reads. Elsewhere (SQLite, or outside a
 * transaction) the mark is a comment and the statement runs at once.
 */
const AT_COMMIT_MARK = '/* rolecall:at-commit */ ';

export function atCommit(query: CompiledQuery): CompiledQuery {
  return CompiledQuery.raw(AT_COMMIT_MARK + query.sql, [...query.parameters]);
}

/** The statement text without its mark, or undefined when it carries none. */
export function unmarkAtCommit(text: string): string | undefined {
  return text.startsWith(AT_COMMIT_MARK) ? text.slice(AT_COMMIT_MARK.length) : undefined;
}
