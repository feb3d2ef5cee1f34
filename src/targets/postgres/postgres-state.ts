import type { ActualAccount } from '../../provisioning/target.ts';

/** The slice of a `pg` client or pool this module uses. */
export interface PgQueryable {
  query<R extends Record<string, unknown>>(text: string, values?: unknown[]): Promise<{ rows: R[] }>;
}

interface AccountRow extends Record<string, unknown> {
  login: string;
  can_login: boolean;
  managed: boolean;
  roles: string[];
  sessions: number;
}

/**
 * One row per login role: can it log in (`rolcanlogin`), does it carry the marker, which roles it is
 * a direct member of (pg_auth_members, marker excluded) and how many sessions it has open.
 * Only memberships OF the login are read: the PostgreSQL 16 creator self-membership (the
 * provisioner as a member of the role it created, targets.md) is never reported, so drift repair
 * cannot revoke it.
 */
const ACCOUNT_SELECT = `
  SELECT r.rolname AS login,
         r.rolcanlogin AS can_login,
         EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                  WHERE m.member = r.oid AND g.rolname = $1) AS managed,
         COALESCE((SELECT array_agg(g.rolname::text) FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                    WHERE m.member = r.oid AND g.rolname <> $1), '{}') AS roles,
         COALESCE(s.n, 0)::int AS sessions
    FROM pg_roles r
    -- pg_stat_activity is read once per query, not once per role.
    LEFT JOIN (SELECT usename, count(*) AS n FROM pg_stat_activity GROUP BY usename) s ON s.usename = r.rolname`;

const toAccount = (row: AccountRow): ActualAccount => ({
  login: row.login,
  exists: true,
  managed: row.managed,
  canLogin: row.can_login,
  roles: [...row.roles].sort(),
  sessions: row.sessions,
});

const absentAccount = (login: string): ActualAccount => ({ login, exists: false, managed: false, canLogin: false, roles: [], sessions: 0 });

/** The accounts of these logins in one query; every login asked for is in the map (absent ones as such). */
export async function readAccounts(db: PgQueryable, marker: string, logins: string[]): Promise<Map<string, ActualAccount>> {
  const unique = [...new Set(logins)];
  const { rows } = await db.query<AccountRow>(`${ACCOUNT_SELECT} WHERE r.rolname = ANY($2::text[])`, [marker, unique]);
  const found = new Map(rows.map((row) => [row.login, toAccount(row)]));
  return new Map(unique.map((login) => [login, found.get(login) ?? absentAccount(login)]));
}

/** Every role that is a direct member of the marker role (locked ones included). */
export async function readManagedAccounts(db: PgQueryable, marker: string): Promise<ActualAccount[]> {
  const { rows } = await db.query<AccountRow>(
    `${ACCOUNT_SELECT} WHERE EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                                      WHERE m.member = r.oid AND g.rolname = $1)`,
    [marker],
  );
  return rows.map(toAccount).sort((a, b) => (a.login < b.login ? -1 : a.login > b.login ? 1 : 0));
}

export async function readExistingRoles(db: PgQueryable, roles: string[]): Promise<string[]> {
  const { rows } = await db.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1::text[])', [roles]);
  return rows.map((row) => row.rolname).sort();
}

export async function countSessions(db: PgQueryable, login: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()', [login]);
  return rows[0]?.n ?? 0;
}

/**
 * Databases whose objects a drop must reassign: every database the provisioner may connect to.
 * Template databases are left out on purpose: a session in template1 makes every concurrent
 * CREATE DATABASE fail ("source database is being accessed by other users"); a role owning
 * objects there still blocks DROP ROLE (2BP01), which falls back to locking and is reported.
 */
export async function readConnectableDatabases(db: PgQueryable): Promise<string[]> {
  const { rows } = await db.query<{ datname: string }>(
    `SELECT datname FROM pg_database
      WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
      ORDER BY datname`,
  );
  return rows.map((row) => row.datname);
}

export async function databaseExists(db: PgQueryable, database: string): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
  return rows.length > 0;
}

export interface ProvisionerPrivileges extends Record<string, unknown> {
  superuser: boolean;
  createrole: boolean;
  signal_backend: boolean;
}

/** What the connected provisioning role may do: CREATEROLE and pg_signal_backend membership (targets.md). */
export async function readProvisionerPrivileges(db: PgQueryable): Promise<ProvisionerPrivileges> {
  const { rows } = await db.query<ProvisionerPrivileges>(
    `SELECT rolsuper AS superuser, rolcreaterole AS createrole,
            pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AS signal_backend
       FROM pg_roles WHERE rolname = current_user`,
  );
  const row = rows[0];
  if (!row) throw new Error('the provisioning role is not in pg_roles');
  return row;
}
