/**
 * Superuser reads of the target catalogs: a watcher that reports when each expected grant first
 * becomes visible (one connection per target, tight bounded loop, all pending grants checked in
 * one query per pass), and counts for convergence of a bulk sync.
 */
import type mysql from 'mysql2/promise';
import type pg from 'pg';
import { PER_USER_ROLE_PREFIX, perUserRole } from '../../src/targets/mysql/mysql-sql.ts';
import { mariaAdmin, pgAdmin } from './databases.ts';

interface Pending {
  login: string;
  role: string;
  since: number;
  deadline: number;
  resolve: (seenAt: number | undefined) => void;
}

/** Reads which (login, role) pairs of `logins` exist. */
type Probe = (logins: string[]) => Promise<Array<[string, string]>>;

export class GrantWatcher {
  private readonly pending = new Map<string, Pending>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  passes = 0;

  private constructor(private readonly probe: Probe, private readonly close: () => Promise<void>, private readonly pauseMs: number) {}

  static async postgres(pauseMs = 2): Promise<GrantWatcher> {
    const c: pg.Client = await pgAdmin();
    const probe: Probe = async (logins) =>
      (await c.query<{ login: string; role: string }>(
        'SELECT m.rolname AS login, r.rolname AS role FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles r ON r.oid = a.roleid WHERE m.rolname = ANY($1) AND m.rolcanlogin',
        [logins],
      )).rows.map((r) => [r.login, r.role]);
    return new GrantWatcher(probe, () => c.end(), pauseMs).start();
  }

  /**
   * MariaDB: the role granted to the login's per-user role (its default role), and the user
   * account exists. Both tables are read through their primary keys: these reads share table
   * locks with the account DDL being measured, so a probe that scanned them (a join on
   * CONCAT) slowed that DDL several times over, and polling every 2 ms did too.
   */
  static async mariadb(pauseMs = 25): Promise<GrantWatcher> {
    const c: mysql.Connection = await mariaAdmin();
    const probe: Probe = async (logins) => {
      const [rows] = await c.query(
        `SELECT SUBSTRING(rm.User, ${PER_USER_ROLE_PREFIX.length + 1}) AS login, rm.Role AS role FROM mysql.roles_mapping rm
          WHERE rm.Host = '' AND rm.User IN (?)
            AND EXISTS (SELECT 1 FROM mysql.global_priv g WHERE g.Host = '%' AND g.User = SUBSTRING(rm.User, ${PER_USER_ROLE_PREFIX.length + 1}))`,
        [logins.map(perUserRole)],
      );
      return (rows as { login: string; role: string }[]).map((r) => [r.login, r.role]);
    };
    return new GrantWatcher(probe, () => c.end(), pauseMs).start();
  }

  private start(): this {
    this.loop = this.run();
    return this;
  }

  /** Resolves with performance.now() of the first pass that saw the grant, or undefined after `timeoutMs`. */
  watch(login: string, role: string, since: number, timeoutMs: number): Promise<number | undefined> {
    return new Promise((resolve) => {
      this.pending.set(`${login}\u0000${role}`, { login, role, since, deadline: since + timeoutMs, resolve });
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      if (this.pending.size === 0) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      const logins = [...new Set([...this.pending.values()].map((p) => p.login))];
      const found = await this.probe(logins);
      const now = performance.now();
      this.passes += 1;
      for (const [login, role] of found) {
        const key = `${login}\u0000${role}`;
        const p = this.pending.get(key);
        if (p) {
          this.pending.delete(key);
          p.resolve(now);
        }
      }
      for (const [key, p] of this.pending) {
        if (now > p.deadline) {
          this.pending.delete(key);
          p.resolve(undefined);
        }
      }
      if (this.pauseMs > 0) await new Promise((r) => setTimeout(r, this.pauseMs));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    for (const p of this.pending.values()) p.resolve(undefined);
    this.pending.clear();
    await this.close();
  }
}

export interface SyncCounts {
  logins: number;
  grants: number;
}

/** Logins named `${loginPrefix}*` and their grants of roles named `${rolePrefix}*`. */
export async function postgresCounts(c: pg.Client, loginPrefix: string, rolePrefix: string): Promise<SyncCounts> {
  const r = await c.query<{ logins: number; grants: number }>(
    `SELECT (SELECT count(*)::int FROM pg_roles WHERE rolcanlogin AND starts_with(rolname, $1)) AS logins,
            (SELECT count(*)::int FROM pg_auth_members a JOIN pg_roles m ON m.oid = a.member JOIN pg_roles r ON r.oid = a.roleid
              WHERE starts_with(m.rolname, $1) AND starts_with(r.rolname, $2)) AS grants`,
    [loginPrefix, rolePrefix],
  );
  return r.rows[0]!;
}

export async function mariadbCounts(c: mysql.Connection, loginPrefix: string, rolePrefix: string): Promise<SyncCounts> {
  const [rows] = await c.query(
    `SELECT (SELECT COUNT(*) FROM mysql.global_priv WHERE Host = '%' AND LEFT(User, ?) = ?) AS logins,
            (SELECT COUNT(*) FROM mysql.roles_mapping WHERE Host = '' AND LEFT(User, ?) = ? AND LEFT(Role, ?) = ?) AS grants`,
    [loginPrefix.length, loginPrefix, perUserRole(loginPrefix).length, perUserRole(loginPrefix), rolePrefix.length, rolePrefix],
  );
  const row = (rows as { logins: number; grants: number }[])[0]!;
  return { logins: Number(row.logins), grants: Number(row.grants) };
}
