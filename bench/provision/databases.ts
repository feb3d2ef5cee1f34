/**
 * The two target servers as the bench sees them: least-privileged provisioners (as in
 * test/targets/*.ts and targets.md), superuser catalog reads, sessions held as provisioned users,
 * and cleanup of everything whose name carries the run's token. Loopback only.
 */
import { randomBytes } from 'node:crypto';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { quoteIdentifier } from '../../src/targets/mysql/mysql-sql.ts';
import { quoteIdent } from '../../src/targets/postgres/postgres-sql.ts';
import { MARIADB_URL, POSTGRES_URL } from '../../test/support/services.ts';

/** Rolecall's fixed bookkeeping names (the policy cannot change them). */
export const MARKER = 'rolecall_managed';
export const GRAVEYARD = 'rolecall_graveyard';

const pgUrlAs = (login: string) => {
  const url = new URL(POSTGRES_URL);
  url.username = login;
  url.password = '';
  return url.toString();
};

export const mariaServer = () => {
  const url = new URL(MARIADB_URL);
  return { host: url.hostname, port: Number(url.port || 3306) };
};

export async function pgAdmin(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  client.on('error', () => {});
  await client.connect();
  return client;
}

export async function mariaAdmin(): Promise<mysql.Connection> {
  const conn = await mysql.createConnection({ uri: MARIADB_URL, multipleStatements: false });
  conn.on('error', () => {});
  return conn;
}

export interface Provisioners {
  token: string;
  pgUrl: string;
  mariaUrl: string;
  pgLogin: string;
  mariaLogin: string;
  mariaPassword: string;
  /** Whether the marker/graveyard roles existed before this run (then they are left in place). */
  pgMarkerExisted: boolean;
  pgGraveyardExisted: boolean;
  mariaMarkerExisted: boolean;
}

/**
 * PostgreSQL: LOGIN CREATEROLE + pg_signal_backend (trust auth on loopback). MariaDB: CREATE USER,
 * CONNECTION ADMIN, PROCESS, SELECT + UPDATE on mysql.* (targets.md). When the fixed marker role
 * already exists on MariaDB (made by someone else), the provisioner gets ADMIN OPTION on it, as the
 * creator would have.
 */
export async function createProvisioners(): Promise<Provisioners> {
  const token = `rcb${process.pid % 10000}${randomBytes(2).toString('hex')}`;
  const pgLogin = `${token}_prov`;
  const mariaLogin = `${token}_prov`;
  const mariaPassword = randomBytes(12).toString('hex');
  let pgMarkerExisted = false;
  let pgGraveyardExisted = false;
  let mariaMarkerExisted = false;
  try {
    const pgc = await pgAdmin();
    try {
      const existing = (await pgc.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE rolname = ANY($1)', [[MARKER, GRAVEYARD]])).rows.map((r) => r.rolname);
      pgMarkerExisted = existing.includes(MARKER);
      pgGraveyardExisted = existing.includes(GRAVEYARD);
      await pgc.query(`CREATE ROLE ${quoteIdent(pgLogin)} LOGIN CREATEROLE`);
      await pgc.query(`GRANT pg_signal_backend TO ${quoteIdent(pgLogin)}`);
    } finally {
      await pgc.end();
    }
    const mc = await mariaAdmin();
    try {
      const [rows] = await mc.query("SELECT 1 FROM mysql.global_priv WHERE User = ? AND Host = ''", [MARKER]);
      mariaMarkerExisted = (rows as unknown[]).length > 0;
      await mc.query(`CREATE USER ${mysql.escape(mariaLogin)}@'%' IDENTIFIED BY ${mysql.escape(mariaPassword)}`);
      await mc.query(`GRANT CREATE USER, CONNECTION ADMIN, PROCESS ON *.* TO ${mysql.escape(mariaLogin)}@'%'`);
      await mc.query(`GRANT SELECT, UPDATE ON mysql.* TO ${mysql.escape(mariaLogin)}@'%'`);
      if (mariaMarkerExisted) {
        // root holds no ADMIN OPTION on a role another account created (GRANT ... WITH ADMIN OPTION
        // is refused, 1698), so the provisioner gets the admin row its creator would have had.
        await mc.query("INSERT INTO mysql.roles_mapping (Host, User, Role, Admin_option) VALUES ('%', ?, ?, 'Y')", [mariaLogin, MARKER]);
        await mc.query('FLUSH PRIVILEGES');
      }
    } finally {
      await mc.end();
    }
  } catch (error) {
    await dropPostgresRoles(token).catch(() => 0);
    await dropMariadbAccounts(token).catch(() => 0);
    throw error;
  }
  const maria = new URL(MARIADB_URL);
  maria.username = mariaLogin;
  maria.password = mariaPassword;
  maria.pathname = '/';
  return { token, pgUrl: pgUrlAs(pgLogin), mariaUrl: maria.toString(), pgLogin, mariaLogin, mariaPassword, pgMarkerExisted, pgGraveyardExisted, mariaMarkerExisted };
}

/** Ends sessions of, and drops, every PostgreSQL role whose name carries `token`, in batches. */
export async function dropPostgresRoles(token: string, keep: string[] = []): Promise<number> {
  const c = await pgAdmin();
  try {
    await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE strpos(usename, $1) > 0', [token]);
    const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [token])).rows.map((r) => r.rolname).filter((r) => !keep.includes(r));
    // Logins first (members), then group roles: order does not matter to DROP ROLE, but owned objects do.
    for (let i = 0; i < roles.length; i += 2000) {
      const batch = roles.slice(i, i + 2000);
      await c.query('BEGIN');
      await c.query(`DROP OWNED BY ${batch.map(quoteIdent).join(', ')}`);
      for (const role of batch) await c.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
      await c.query('COMMIT');
    }
    return roles.length;
  } catch (error) {
    await c.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    await c.end();
  }
}

/**
 * VACUUMs PostgreSQL's shared role catalogs. Dropping 10,000 roles leaves as many dead rows and
 * index entries in pg_authid and pg_auth_members, which slow the next run's CREATE ROLE and
 * GRANT (each checks a name against those indexes): without this, whichever sync runs second
 * pays for the first one's roles.
 */
export async function vacuumPostgresCatalogs(): Promise<void> {
  const c = await pgAdmin();
  try {
    await c.query('VACUUM pg_authid, pg_auth_members');
  } finally {
    await c.end();
  }
}

/**
 * Removes every MariaDB account and role whose name carries `token` (users, per-user roles
 * `rc$...`, group roles, the provisioner). Many thousands of DROP USER statements on users holding
 * role grants run at ~110/s (targets.md), so the rows are deleted from the grant tables directly
 * and the privileges reloaded: cleanup of a 10,000-user run then takes well under a second.
 */
export async function dropMariadbAccounts(token: string): Promise<number> {
  const c = await mariaAdmin();
  try {
    const [procs] = await c.query('SELECT ID FROM information_schema.PROCESSLIST WHERE LOCATE(?, USER) > 0', [token]);
    for (const { ID } of procs as { ID: number }[]) await c.query('KILL CONNECTION ?', [ID]).catch(() => {});
    const [rows] = await c.query('SELECT COUNT(*) AS n FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [token]);
    const n = Number((rows as { n: number }[])[0]!.n);
    await c.query('DELETE FROM mysql.roles_mapping WHERE LOCATE(?, User) > 0 OR LOCATE(?, Role) > 0', [token, token]);
    await c.query('DELETE FROM mysql.db WHERE LOCATE(?, User) > 0', [token]);
    await c.query('DELETE FROM mysql.tables_priv WHERE LOCATE(?, User) > 0', [token]);
    await c.query('DELETE FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [token]);
    await c.query('FLUSH PRIVILEGES');
    return n;
  } finally {
    await c.end();
  }
}

/** Removes everything the run made, including the marker/graveyard roles if this run created them. */
export async function cleanupAll(p: Provisioners): Promise<string> {
  const notes: string[] = [];
  const pgDropped = await dropPostgresRoles(p.token);
  const pgc = await pgAdmin();
  try {
    for (const [role, existed] of [[MARKER, p.pgMarkerExisted], [GRAVEYARD, p.pgGraveyardExisted]] as const) {
      if (existed) continue;
      // Only if nobody else started using it meanwhile.
      const members = await pgc.query('SELECT 1 FROM pg_auth_members WHERE roleid = (SELECT oid FROM pg_roles WHERE rolname = $1)', [role]);
      if (members.rows.length === 0) await pgc.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
      else notes.push(`postgres ${role} left in place: it has members not made by this run`);
    }
    const left = await pgc.query('SELECT count(*)::int AS n FROM pg_roles WHERE strpos(rolname, $1) > 0', [p.token]);
    if (left.rows[0].n !== 0) notes.push(`postgres: ${left.rows[0].n} role(s) with ${p.token} left`);
  } finally {
    await pgc.end();
  }
  const mariaDropped = await dropMariadbAccounts(p.token);
  const mc = await mariaAdmin();
  try {
    if (!p.mariaMarkerExisted) {
      const [members] = await mc.query('SELECT 1 FROM mysql.roles_mapping WHERE Role = ? AND Admin_option = ?', [MARKER, 'N']);
      if ((members as unknown[]).length === 0) await mc.query(`DROP ROLE IF EXISTS ${quoteIdentifier(MARKER)}`);
      else notes.push(`mariadb ${MARKER} left in place: it has members not made by this run`);
    }
    const [left] = await mc.query('SELECT COUNT(*) AS n FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [p.token]);
    const n = Number((left as { n: number }[])[0]!.n);
    if (n !== 0) notes.push(`mariadb: ${n} account(s) with ${p.token} left`);
  } finally {
    await mc.end();
  }
  return `cleanup: dropped ${pgDropped} PostgreSQL role(s) and ${mariaDropped} MariaDB account(s)/role(s) named *${p.token}*${notes.length ? `; ${notes.join('; ')}` : ''}`;
}

/** A session held open as a provisioned user; `ended` resolves (performance.now()) when the server closes it. */
export interface HeldSession {
  ended: Promise<number>;
  endedAt: number | undefined;
  close(): Promise<void>;
}

function watchEnd(on: (event: string, listener: () => void) => void): { ended: Promise<number>; get: () => number | undefined } {
  let at: number | undefined;
  const ended = new Promise<number>((resolve) => {
    const done = () => {
      at ??= performance.now();
      resolve(at);
    };
    on('error', done);
    on('end', done);
  });
  return { ended, get: () => at };
}

export async function holdPostgresSession(login: string): Promise<HeldSession> {
  const client = new pg.Client({ connectionString: pgUrlAs(login), connectionTimeoutMillis: 5000 });
  const w = watchEnd((e, l) => client.on(e as 'error', l));
  await client.connect();
  await client.query('SELECT 1');
  return { ended: w.ended, get endedAt() { return w.get(); }, close: () => client.end().catch(() => {}) };
}

/** Rolecall creates MariaDB users with an unusable credential; root sets a password for the session, outside Rolecall. */
export async function holdMariadbSession(login: string, password: string): Promise<HeldSession> {
  const conn = await mysql.createConnection({ ...mariaServer(), user: login, password, connectTimeout: 5000 });
  const core = (conn as unknown as { connection: unknown }).connection as { on(event: string, listener: () => void): void };
  const w = watchEnd((e, l) => core.on(e, l));
  await conn.query('SELECT 1');
  return { ended: w.ended, get endedAt() { return w.get(); }, close: () => conn.end().catch(() => {}) };
}
