import type { ActualAccount } from '../../provisioning/target.ts';
import { PER_USER_ROLE_PREFIX, perUserRole, type MysqlFlavor } from './mysql-sql.ts';

/** The slice of a mysql2/promise pool or connection this module uses. */
export interface MysqlQueryable {
  query(sql: string, values?: unknown[]): Promise<[unknown, unknown]>;
}

const rowsOf = async <R>(db: MysqlQueryable, text: string, values: unknown[]): Promise<R[]> => (await db.query(text, values))[0] as R[];

/** Role grants of a login and of its per-user role, as stored (not yet judged effective). */
export interface LoginGrants {
  exists: boolean;
  locked: boolean;
  /** Roles granted straight to 'login'@'%' (normally only the per-user role). */
  direct: string[];
  /** Roles granted to the per-user role: the marker and the mapped roles. */
  viaPerUser: string[];
  /** The per-user role is active at login (MariaDB default_role; MySQL mysql.default_roles). */
  perUserRoleIsDefault: boolean;
}

/**
 * State queries per flavor (targets.md): MariaDB mysql.global_priv (account_locked, default_role)
 * and mysql.roles_mapping; MySQL 8 mysql.user.account_locked, mysql.role_edges, mysql.default_roles.
 * Admin-option rows are left out: they are the creator's ADMIN OPTION on roles it created
 * (MariaDB grants that automatically), not memberships.
 */
const QUERIES = {
  mariadb: {
    users: `SELECT User AS login, JSON_VALUE(Priv, '$.account_locked') AS locked, JSON_VALUE(Priv, '$.default_role') AS default_role
              FROM mysql.global_priv WHERE Host = '%' AND User IN (?)`,
    grants: `SELECT User AS grantee, Role AS role FROM mysql.roles_mapping
              WHERE Admin_option = 'N' AND ((Host = '%' AND User IN (?)) OR (Host = '' AND User IN (?)))`,
    claims: `SELECT User AS grantee FROM mysql.roles_mapping WHERE Admin_option = 'N' AND Host = '' AND Role = ?`,
    // The base table, not the mysql.user view: comparing the view's column with a parameter mixes collations (error 1267).
    roles: `SELECT User AS name FROM mysql.global_priv WHERE Host = '' AND JSON_EXTRACT(Priv, '$.is_role') = true AND User IN (?)`,
  },
  mysql: {
    users: `SELECT u.User AS login, u.account_locked AS locked,
                   (SELECT d.DEFAULT_ROLE_USER FROM mysql.default_roles d
                     WHERE d.USER = u.User AND d.HOST = u.Host AND d.DEFAULT_ROLE_USER = CONCAT('${PER_USER_ROLE_PREFIX}', u.User) AND d.DEFAULT_ROLE_HOST = '%') AS default_role
              FROM mysql.user u WHERE u.Host = '%' AND u.User IN (?)`,
    grants: `SELECT TO_USER AS grantee, FROM_USER AS role FROM mysql.role_edges
              WHERE WITH_ADMIN_OPTION = 'N' AND FROM_HOST = '%' AND TO_HOST = '%' AND (TO_USER IN (?) OR TO_USER IN (?))`,
    claims: `SELECT TO_USER AS grantee FROM mysql.role_edges WHERE WITH_ADMIN_OPTION = 'N' AND FROM_HOST = '%' AND TO_HOST = '%' AND FROM_USER = ?`,
    roles: `SELECT User AS name FROM mysql.user WHERE Host = '%' AND User IN (?)`,
  },
} as const;

const isTrue = (value: unknown) => value === true || value === 1 || value === '1' || value === 'true' || value === 'Y';

/** Logins per round of state queries: each is bound twice (login and per-user role). */
const LOGINS_PER_READ = 500;

export async function readGrants(db: MysqlQueryable, flavor: MysqlFlavor, login: string): Promise<LoginGrants> {
  return (await readGrantsOf(db, flavor, [login])).get(login)!;
}

/** readGrants() for many logins in two queries per 500; every login asked for is in the map. */
export async function readGrantsOf(db: MysqlQueryable, flavor: MysqlFlavor, logins: string[]): Promise<Map<string, LoginGrants>> {
  const q = QUERIES[flavor];
  const out = new Map<string, LoginGrants>();
  const unique = [...new Set(logins)];
  for (let i = 0; i < unique.length; i += LOGINS_PER_READ) {
    const part = unique.slice(i, i + LOGINS_PER_READ);
    // mysql2 expands each array into a bound list: IN ('a', 'b').
    const users = await rowsOf<{ login: string; locked: unknown; default_role: string | null }>(db, q.users, [part]);
    const grants = await rowsOf<{ grantee: string; role: string }>(db, q.grants, [part, part.map(perUserRole)]);
    const userOf = new Map(users.map((u) => [u.login, u]));
    const rolesOf = new Map<string, string[]>();
    for (const g of grants) rolesOf.set(g.grantee, [...(rolesOf.get(g.grantee) ?? []), g.role]);
    for (const login of part) {
      const user = userOf.get(login);
      const perUser = perUserRole(login);
      out.set(login, {
        exists: user !== undefined,
        locked: user !== undefined && isTrue(user.locked),
        direct: rolesOf.get(login) ?? [],
        viaPerUser: rolesOf.get(perUser) ?? [],
        perUserRoleIsDefault: user?.default_role === perUser,
      });
    }
  }
  return out;
}

export async function countSessions(db: MysqlQueryable, login: string): Promise<number> {
  return (await countSessionsOf(db, [login])).get(login) ?? 0;
}

/** Open sessions per login (logins without any are absent from the map). */
export async function countSessionsOf(db: MysqlQueryable, logins: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const unique = [...new Set(logins)];
  for (let i = 0; i < unique.length; i += LOGINS_PER_READ) {
    const rows = await rowsOf<{ login: string; n: number | string }>(
      db,
      'SELECT USER AS login, COUNT(*) AS n FROM information_schema.PROCESSLIST WHERE USER IN (?) AND ID <> CONNECTION_ID() GROUP BY USER',
      [unique.slice(i, i + LOGINS_PER_READ)],
    );
    for (const row of rows) out.set(row.login, Number(row.n));
  }
  return out;
}

/** Connection ids of a login's sessions (needs PROCESS to see other users' threads). */
export async function sessionIds(db: MysqlQueryable, login: string): Promise<number[]> {
  const rows = await rowsOf<{ id: number | string }>(db, 'SELECT ID AS id FROM information_schema.PROCESSLIST WHERE USER = ? AND ID <> CONNECTION_ID()', [login]);
  return rows.map((row) => Number(row.id));
}

/** Every login whose per-user role carries the marker: the logins Rolecall manages. */
export async function readClaimedLogins(db: MysqlQueryable, flavor: MysqlFlavor, marker: string): Promise<string[]> {
  const rows = await rowsOf<{ grantee: string }>(db, QUERIES[flavor].claims, [marker]);
  return rows.filter((row) => row.grantee.startsWith(PER_USER_ROLE_PREFIX)).map((row) => row.grantee.slice(PER_USER_ROLE_PREFIX.length));
}

export async function readExistingRoles(db: MysqlQueryable, flavor: MysqlFlavor, roles: string[]): Promise<string[]> {
  if (roles.length === 0) return [];
  // mysql2 expands the array into a bound list: IN ('a', 'b').
  const rows = await rowsOf<{ name: string }>(db, QUERIES[flavor].roles, [roles]);
  return [...new Set(rows.map((row) => row.name))].sort();
}

/**
 * The account as the planner sees it. Managed = the per-user role carries the marker. Roles held
 * through the per-user role count only while it is the default role: `default_role` survives
 * REVOKE and the login then silently has no role (targets.md [seen]); reporting them missing makes
 * the planner grant again, and every grant re-sets the default role.
 */
export function toActualAccount(login: string, grants: LoginGrants, marker: string, sessions: number): ActualAccount {
  const perUser = perUserRole(login);
  // A dropped user's sessions stay open on the server: they are reported so offboarding ends them.
  if (!grants.exists) return { login, exists: false, managed: false, canLogin: false, roles: [], sessions };
  const perUserRoleActive = grants.perUserRoleIsDefault && grants.direct.includes(perUser);
  const mapped = (list: string[]) => list.filter((r) => r !== marker && r !== perUser).sort();
  const roles = mapped([...new Set([...(perUserRoleActive ? grants.viaPerUser : []), ...grants.direct])]);
  return {
    login, exists: true, managed: grants.viaPerUser.includes(marker), canLogin: !grants.locked, roles, sessions,
    grantedVia: { direct: mapped(grants.direct), perUserRole: mapped(grants.viaPerUser), perUserRoleActive },
  };
}

export interface GrantedPrivileges {
  global: string[];
  onMysqlSchema: string[];
}

/** Privileges of the connected account: global ones and those on the `mysql` schema. */
export async function readProvisionerPrivileges(db: MysqlQueryable): Promise<GrantedPrivileges> {
  const [current] = await rowsOf<{ me: string }>(db, 'SELECT CURRENT_USER() AS me', []);
  const me = current?.me ?? '';
  const at = me.lastIndexOf('@');
  // information_schema spells grantees as 'user'@'host'.
  const grantee = `'${me.slice(0, at)}'@'${me.slice(at + 1)}'`;
  const global = await rowsOf<{ p: string }>(db, 'SELECT PRIVILEGE_TYPE AS p FROM information_schema.USER_PRIVILEGES WHERE GRANTEE = ?', [grantee]);
  const schema = await rowsOf<{ p: string }>(db, "SELECT PRIVILEGE_TYPE AS p FROM information_schema.SCHEMA_PRIVILEGES WHERE GRANTEE = ? AND TABLE_SCHEMA = 'mysql'", [grantee]);
  return { global: global.map((r) => r.p), onMysqlSchema: schema.map((r) => r.p) };
}

/** Accounts with the login's user name but another host ('u'@'localhost'); MariaDB roles (Host '') are not accounts. */
export async function countOtherHostAccounts(db: MysqlQueryable, flavor: MysqlFlavor, login: string): Promise<number> {
  const text =
    flavor === 'mariadb'
      ? "SELECT COUNT(*) AS n FROM mysql.global_priv WHERE User = ? AND Host NOT IN ('%', '')"
      : "SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host <> '%'";
  const rows = await rowsOf<{ n: number | string }>(db, text, [login]);
  return Number(rows[0]?.n ?? 0);
}
