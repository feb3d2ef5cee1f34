import mysql from 'mysql2';
import { RolecallError } from '../../domain/errors.ts';
import { sql, type SqlStatement } from '../sql-statement.ts';

export type MysqlFlavor = 'mariadb' | 'mysql';

/** Longest user or role name: MariaDB 128 characters (error 1470, targets.md [seen]); MySQL 8: 32 [docs]. */
export const MAX_NAME_CHARS: Record<MysqlFlavor, number> = { mariadb: 128, mysql: 32 };

/**
 * Every login gets a role named `rc$<login>`: it holds the login's mapped roles (MariaDB allows ONE
 * default role, targets.md [seen]) and carries the marker role, so the claim "Rolecall manages this
 * login" exists before the user does (account statements are not transactional: a crash between
 * CREATE USER and a later GRANT must not leave an account that looks unmanaged).
 */
export const PER_USER_ROLE_PREFIX = 'rc$';
export const perUserRole = (login: string) => `${PER_USER_ROLE_PREFIX}${login}`;

/** Longest login: the per-user role `rc$<login>` must fit the name limit too. */
export const maxLoginChars = (flavor: MysqlFlavor) => MAX_NAME_CHARS[flavor] - PER_USER_ROLE_PREFIX.length;

/**
 * mysql.user / mysql.global_priv store names as utf8mb3 (checked on MariaDB 10.11: `User char(128)
 * ... CHARSET=utf8mb3`): characters outside the Basic Multilingual Plane cannot be stored.
 */
export const storableCodePoint = (codePoint: string) => (codePoint.codePointAt(0) ?? 0) <= 0xffff;

/** Refuses a name the server would reject or mangle, before any (non-transactional) statement runs. */
export function checkName(name: string, limit: number): string {
  const codePoints = [...name];
  if (codePoints.length === 0) throw new RolecallError('reject', 'empty account or role name');
  if (codePoints.length > limit) throw new RolecallError('reject', `name longer than ${limit} characters: ${name}`);
  if (!codePoints.every(storableCodePoint)) throw new RolecallError('reject', `name with characters outside utf8mb3 cannot be stored: ${name}`);
  return name;
}

/** Identifier in backticks, embedded backticks doubled (mysql2 `escapeId`; `true` = never split on dots). */
export const quoteIdentifier = (name: string) => mysql.escapeId(name, true);

/**
 * String literal (mysql2 `escape`: quotes and backslashes escaped with a backslash). Correct only
 * while the session does not run with NO_BACKSLASH_ESCAPES; MysqlTarget removes that mode from
 * every connection it opens.
 */
export const quoteString = (value: string) => mysql.escape(value);

/** The account Rolecall manages for a login: any host. */
export const account = (login: string) => `${quoteString(login)}@'%'`;

/** The cannot-log-in credentials each server uses for its own system accounts, so a new account never accepts an empty password. */
const NO_PASSWORD: Record<MysqlFlavor, string> = {
  // MariaDB 10.4+ installs root@localhost as `mysql_native_password USING 'invalid' OR unix_socket`.
  mariadb: "IDENTIFIED VIA mysql_native_password USING 'invalid'",
  // MySQL 8 creates mysql.session and mysql.sys with this hash that no password produces.
  mysql: "IDENTIFIED WITH caching_sha2_password AS '$A$005$THISISACOMBINATIONOFINVALIDSALTANDPASSWORDTHATMUSTNEVERBRBEUSED'",
};

/** Statement builders for one flavor; every name goes through quoteIdentifier or quoteString. */
export function mysqlSql(flavor: MysqlFlavor) {
  const limit = MAX_NAME_CHARS[flavor];
  // MariaDB names roles as identifiers; MySQL 8 roles are accounts ('r' = 'r'@'%') written as strings.
  const role = (name: string) => (flavor === 'mariadb' ? quoteIdentifier(checkName(name, limit)) : quoteString(checkName(name, limit)));
  const user = (login: string) => account(checkName(login, maxLoginChars(flavor)));
  return {
    createRole: (name: string) => sql(`CREATE ROLE IF NOT EXISTS ${role(name)}`),
    dropRole: (name: string) => sql(`DROP ROLE IF EXISTS ${role(name)}`),
    /** Without a credential CREATE USER accepts an empty password (seen on MariaDB 10.11); authentication is configured outside Rolecall. */
    createUser: (login: string) => sql(`CREATE USER IF NOT EXISTS ${user(login)} ${NO_PASSWORD[flavor]}`),
    /** Fails (1396) when the account exists: for a batch planned against "absent", which must not adopt an account. */
    createUserStrict: (login: string) => sql(`CREATE USER ${user(login)} ${NO_PASSWORD[flavor]}`),
    dropUser: (login: string) => sql(`DROP USER IF EXISTS ${user(login)}`),
    grantToRole: (granted: string, grantee: string) => sql(`GRANT ${role(granted)} TO ${role(grantee)}`),
    revokeFromRole: (granted: string, grantee: string) => sql(`REVOKE ${role(granted)} FROM ${role(grantee)}`),
    grantToUser: (granted: string, login: string) => sql(`GRANT ${role(granted)} TO ${user(login)}`),
    revokeFromUser: (granted: string, login: string) => sql(`REVOKE ${role(granted)} FROM ${user(login)}`),
    /** MariaDB: the per-user role is THE default role; MySQL 8: every granted role is a default. */
    setDefaultRole: (login: string) =>
      flavor === 'mariadb'
        ? sql(`SET DEFAULT ROLE ${role(perUserRole(login))} FOR ${user(login)}`)
        : sql(`SET DEFAULT ROLE ALL TO ${user(login)}`),
    setLocked: (login: string, locked: boolean) => sql(`ALTER USER ${user(login)} ACCOUNT ${locked ? 'LOCK' : 'UNLOCK'}`),
    /** Ids come from information_schema.PROCESSLIST; `format` writes the number (values bound client-side). */
    killConnection: (id: number) => sql(mysql.format('KILL CONNECTION ?', [id])),
  } satisfies Record<string, (...args: never[]) => SqlStatement>;
}

export type MysqlStatements = ReturnType<typeof mysqlSql>;
