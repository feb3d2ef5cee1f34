import { RolecallError } from '../../domain/errors.ts';
import { sql, type SqlStatement } from '../sql-statement.ts';

/** PostgreSQL silently truncates identifiers longer than this many bytes (targets.md [seen]). */
export const POSTGRES_MAX_IDENTIFIER_BYTES = 63;

/**
 * Quotes an identifier the way `quote_ident` / `format('%I')` do for names that need quoting:
 * double quotes around it, embedded double quotes doubled. Always quotes, so case and characters
 * such as `@` and `.` survive (`alice.smith@contoso.com` is a syntax error unquoted, targets.md).
 * Refuses names the server would silently truncate or cannot store, instead of touching a
 * different role than the one named.
 */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new RolecallError('reject', 'empty PostgreSQL identifier');
  if (name.includes('\u0000')) throw new RolecallError('reject', 'PostgreSQL identifiers cannot contain NUL');
  if (Buffer.byteLength(name, 'utf8') > POSTGRES_MAX_IDENTIFIER_BYTES) {
    throw new RolecallError('reject', `PostgreSQL identifier longer than ${POSTGRES_MAX_IDENTIFIER_BYTES} bytes would be truncated: ${name}`);
  }
  return `"${name.replaceAll('"', '""')}"`;
}

const q = quoteIdent;

/** Statement builders; every identifier goes through quoteIdent, every value is bound. */
export const postgresSql = {
  /** Marker and graveyard roles, and mapped group roles: never able to log in. */
  createGroupRole: (role: string) => sql(`CREATE ROLE ${q(role)} NOLOGIN`),
  /** The login carries the marker from the statement that creates it (PostgreSQL role DDL is transactional). */
  createLogin: (login: string, marker: string) => sql(`CREATE ROLE ${q(login)} LOGIN IN ROLE ${q(marker)}`),
  grant: (role: string, login: string) => sql(`GRANT ${q(role)} TO ${q(login)}`),
  revoke: (role: string, login: string) => sql(`REVOKE ${q(role)} FROM ${q(login)}`),
  setLogin: (login: string, canLogin: boolean) => sql(`ALTER ROLE ${q(login)} ${canLogin ? 'LOGIN' : 'NOLOGIN'}`),
  /** Plain form: the waiting form always takes ~100 ms (targets.md); the caller polls pg_stat_activity. */
  terminateSessions: (login: string) =>
    sql('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [login]),
  /** A CREATEROLE provisioner needs membership in a role to REASSIGN/DROP OWNED BY it (targets.md [seen]). */
  joinRole: (role: string) => sql(`GRANT ${q(role)} TO CURRENT_USER`),
  leaveRole: (role: string) => sql(`REVOKE ${q(role)} FROM CURRENT_USER`),
  reassignOwned: (login: string, graveyard: string) => sql(`REASSIGN OWNED BY ${q(login)} TO ${q(graveyard)}`),
  dropOwned: (login: string) => sql(`DROP OWNED BY ${q(login)}`),
  dropRole: (login: string) => sql(`DROP ROLE IF EXISTS ${q(login)}`),
} satisfies Record<string, (...args: never[]) => SqlStatement>;

/** How statements run on another database's connection appear in step results and plans. */
export const inDatabase = (database: string, text: string) => `/* in database ${quoteIdent(database)} */ ${text}`;
export const inEveryDatabase = (text: string) => `/* in every database */ ${text}`;
