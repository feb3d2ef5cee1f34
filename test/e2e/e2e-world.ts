import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { PER_USER_ROLE_PREFIX, perUserRole } from '../../src/targets/mysql/mysql-sql.ts';
import { MysqlTarget } from '../../src/targets/mysql/mysql-target.ts';
import { quoteIdent } from '../../src/targets/postgres/postgres-sql.ts';
import { PostgresTarget } from '../../src/targets/postgres/postgres-target.ts';
import { MARIADB_URL, POSTGRES_URL } from '../support/services.ts';

/**
 * One end-to-end "world" per test file: least-privileged provisioners on the real PostgreSQL and
 * MariaDB servers, a marker role, graveyard and sentinel tables, all named with a token unique
 * to the run, a policy file naming both targets, and a cleanup that removes every role, user and
 * table carrying the token (run it in `finally`, it never throws).
 */

export const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
export const CLI = join(ROOT, 'bin', 'rolecall.js');

/** Only for logging in as provisioned MariaDB users in tests; Rolecall never sets passwords. */
export const TEST_PASSWORD = 'rolecall-e2e-only';

const pgServer = new URL(POSTGRES_URL);
const mariaServer = new URL(MARIADB_URL);

/** SQL string literal for MariaDB (root connections in tests run without NO_BACKSLASH_ESCAPES). */
export const mq = (value: string) => mysql.escape(value);
/** MariaDB identifier in backticks, embedded backticks doubled. */
export const mi = (name: string) => `\`${name.replaceAll('`', '``')}\``;
/** The account Rolecall manages for a MariaDB login. */
export const maccount = (login: string) => `${mq(login)}@'%'`;
export const qi = quoteIdent;

export async function pgAdmin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

export async function mariaAdmin<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ uri: MARIADB_URL });
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

export interface PgAccount {
  exists: boolean;
  canLogin: boolean;
  managed: boolean;
  /** Roles the login is a member of, marker excluded, sorted. */
  roles: string[];
}

export interface MariaAccount {
  exists: boolean;
  locked: boolean;
  managed: boolean;
  /** Roles granted to the per-user role (mapped roles) and to the login directly, marker and per-user role excluded, sorted. */
  roles: string[];
  /** The login's default role. */
  defaultRole: string;
}

export interface WorldOptions {
  /** Offboarding of the PostgreSQL target (default drop). */
  pgOffboarding?: 'lock' | 'drop';
  /** Offboarding of the MariaDB target (default lock). */
  mariaOffboarding?: 'lock' | 'drop';
}

export interface Mapping {
  group: string;
  pg?: string[];
  maria?: string[];
}

export class World {
  readonly token = `rce2e${process.pid % 1000}${randomBytes(3).toString('hex')}`;
  readonly provisioner = `${this.token}_prov`;
  readonly marker = `${this.token}_managed`;
  readonly graveyard = `${this.token}_graveyard`;
  readonly sentinel = `${this.token}_sentinel`;
  readonly dir = mkdtempSync(join(tmpdir(), 'rolecall-e2e-'));
  readonly dataDir = join(this.dir, 'data');
  readonly policyFile = join(this.dir, 'policy.json');
  readonly adminToken = `admin-${randomBytes(12).toString('hex')}`;
  readonly #sessions: { end(): Promise<unknown> }[] = [];
  readonly #children: ChildProcess[] = [];
  /** Group roles the world's mappings name (created by Rolecall; dropped at cleanup). */
  readonly #roles = new Set<string>();

  constructor(readonly options: WorldOptions = {}) {}

  /** A role name unique to this run. */
  role(name: string): string {
    return `${this.token}_${name}`;
  }

  /** The login Rolecall derives from a userName (template `<token>_{userName}`, shortened by each target's rule). */
  pgLogin(userName: string): string {
    const target = new PostgresTarget('probe', { url: POSTGRES_URL, offboarding: 'drop' });
    void target.close();
    return target.loginName(`${this.token}_${userName}`);
  }

  mariaLogin(userName: string): string {
    const target = new MysqlTarget('probe', { url: MARIADB_URL, flavor: 'mariadb', offboarding: 'lock' });
    void target.close();
    return target.loginName(`${this.token}_${userName}`);
  }

  pgUrl(port = Number(pgServer.port || 5432)): string {
    const url = new URL(POSTGRES_URL);
    url.username = this.provisioner;
    url.password = '';
    url.port = String(port);
    return url.toString();
  }

  mariaUrl(): string {
    const url = new URL(MARIADB_URL);
    url.username = this.provisioner;
    url.password = TEST_PASSWORD;
    url.pathname = '/';
    return url.toString();
  }

  /** Provisioners with exactly the privileges targets.md lists, and sentinel tables. */
  async setup(): Promise<void> {
    await pgAdmin(async (c) => {
      await c.query(`CREATE ROLE ${qi(this.provisioner)} LOGIN CREATEROLE`);
      await c.query(`GRANT pg_signal_backend TO ${qi(this.provisioner)}`);
      await c.query(`CREATE TABLE public.${qi(this.sentinel)} (x int)`);
      await c.query(`INSERT INTO public.${qi(this.sentinel)} VALUES (42)`);
    });
    await mariaAdmin(async (c) => {
      await c.query(`CREATE USER ${maccount(this.provisioner)} IDENTIFIED BY ${mq(TEST_PASSWORD)}`);
      await c.query(`GRANT CREATE USER, CONNECTION ADMIN, PROCESS ON *.* TO ${maccount(this.provisioner)}`);
      await c.query(`GRANT SELECT, UPDATE ON mysql.* TO ${maccount(this.provisioner)}`);
      await c.query(`CREATE TABLE test.${mi(this.sentinel)} (x int)`);
      await c.query(`INSERT INTO test.${mi(this.sentinel)} VALUES (42)`);
    });
  }

  /** Writes the policy: target `pg` (PostgreSQL, optionally through a proxy port) and `maria` (MariaDB). */
  writePolicy(mappings: Mapping[], pgPort?: number): string {
    for (const m of mappings) for (const r of [...(m.pg ?? []), ...(m.maria ?? [])]) this.#roles.add(r);
    const login = `${this.token}_{userName}`;
    const policy = {
      version: 1,
      targets: [
        { name: 'pg', kind: 'postgres', connection: { url: this.pgUrl(pgPort) }, offboarding: this.options.pgOffboarding ?? 'drop', login, markerRole: this.marker, graveyardRole: this.graveyard, concurrency: 4 },
        { name: 'maria', kind: 'mysql', flavor: 'mariadb', connection: { url: this.mariaUrl() }, offboarding: this.options.mariaOffboarding ?? 'lock', login, markerRole: this.marker, concurrency: 4 },
      ],
      mappings: mappings.map((m) => ({
        group: m.group,
        grants: { ...(m.pg ? { pg: m.pg } : {}), ...(m.maria ? { maria: m.maria } : {}) },
      })),
    };
    writeFileSync(this.policyFile, JSON.stringify(policy, null, 2));
    return this.policyFile;
  }

  async pgAccount(login: string): Promise<PgAccount> {
    return pgAdmin(async (c) => {
      const role = await c.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [login]);
      if (role.rows.length === 0) return { exists: false, canLogin: false, managed: false, roles: [] };
      const granted = await c.query<{ rolname: string }>(
        'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1',
        [login],
      );
      const names = granted.rows.map((r) => r.rolname);
      return { exists: true, canLogin: role.rows[0]!.rolcanlogin, managed: names.includes(this.marker), roles: names.filter((n) => n !== this.marker).sort() };
    });
  }

  async mariaAccount(login: string): Promise<MariaAccount> {
    return mariaAdmin(async (c) => {
      const [users] = (await c.query(
        "SELECT JSON_VALUE(Priv, '$.account_locked') AS locked, JSON_VALUE(Priv, '$.default_role') AS defaultRole FROM mysql.global_priv WHERE User = ? AND Host = '%'",
        [login],
      )) as unknown as [{ locked: string | null; defaultRole: string | null }[]];
      if (users.length === 0) return { exists: false, locked: false, managed: false, roles: [], defaultRole: '' };
      const [mapped] = (await c.query(
        "SELECT User AS grantee, Host AS host, Role AS role FROM mysql.roles_mapping WHERE Admin_option = 'N' AND ((User = ? AND Host = '') OR (User = ? AND Host = '%'))",
        [perUserRole(login), login],
      )) as unknown as [{ grantee: string; host: string; role: string }[]];
      const roles = mapped.map((r) => r.role);
      return {
        exists: true,
        locked: users[0]!.locked === '1' || users[0]!.locked === 'true',
        managed: roles.includes(this.marker),
        roles: [...new Set(roles.filter((r) => r !== this.marker && r !== perUserRole(login)))].sort(),
        defaultRole: users[0]!.defaultRole ?? '',
      };
    });
  }

  /** Every login-capable-or-not role carrying the token and the marker, with its roles (marker excluded), in one query. */
  async pgAccounts(): Promise<Map<string, { canLogin: boolean; roles: string[] }>> {
    return pgAdmin(async (c) => {
      const rows = (await c.query<{ rolname: string; rolcanlogin: boolean; roles: string[] }>(
        `SELECT u.rolname, u.rolcanlogin, array_remove(array_agg(g.rolname::text ORDER BY g.rolname), NULL) AS roles
           FROM pg_roles u JOIN pg_auth_members mk ON mk.member = u.oid AND mk.roleid = $1::regrole
           LEFT JOIN pg_auth_members m ON m.member = u.oid LEFT JOIN pg_roles g ON g.oid = m.roleid AND g.rolname <> $2
          GROUP BY u.rolname, u.rolcanlogin`,
        [qi(this.marker), this.marker],
      )).rows;
      return new Map(rows.map((r) => [r.rolname, { canLogin: r.rolcanlogin, roles: r.roles }]));
    });
  }

  /** Every managed MariaDB account carrying the token (its per-user role holds the marker), with its mapped roles (per-user role's, marker excluded), in two queries. */
  async mariaAccounts(): Promise<Map<string, { locked: boolean; roles: string[] }>> {
    return mariaAdmin(async (c) => {
      const [users] = (await c.query(
        "SELECT User AS name, JSON_VALUE(Priv, '$.account_locked') AS locked, JSON_VALUE(Priv, '$.default_role') AS defaultRole FROM mysql.global_priv WHERE Host = '%' AND LOCATE(?, User) = 1",
        [this.token],
      )) as unknown as [{ name: string; locked: string | null; defaultRole: string | null }[]];
      const [held] = (await c.query(
        "SELECT User AS name, Role AS role FROM mysql.roles_mapping WHERE Admin_option = 'N' AND Host = '%' AND LOCATE(?, User) = 1",
        [this.token],
      )) as unknown as [{ name: string; role: string }[]];
      const [mapped] = (await c.query(
        "SELECT User AS grantee, Role AS role FROM mysql.roles_mapping WHERE Admin_option = 'N' AND Host = '' AND LOCATE(?, User) = 1 ORDER BY Role",
        [`${PER_USER_ROLE_PREFIX}${this.token}`],
      )) as unknown as [{ grantee: string; role: string }[]];
      const result = new Map<string, { locked: boolean; roles: string[] }>();
      for (const u of users) {
        const own = mapped.filter((m) => m.grantee === perUserRole(u.name));
        if (!own.some((m) => m.role === this.marker)) continue; // not managed (e.g. the provisioner)
        // A session gets the mapped roles only through the per-user role, held by the login as its default role.
        const usable = u.defaultRole === perUserRole(u.name) && held.some((h) => h.name === u.name && h.role === perUserRole(u.name));
        const mappedRoles = own.filter((m) => m.role !== this.marker).map((m) => m.role);
        const roles = usable || mappedRoles.length === 0 ? mappedRoles : [`(not usable: the login lacks its per-user role as default: ${mappedRoles.join(', ')})`];
        result.set(u.name, { locked: u.locked === '1' || u.locked === 'true', roles });
      }
      return result;
    });
  }

  /** SHOW GRANTS for the login and its per-user role (root), as one list of lines. */
  async mariaShowGrants(login: string): Promise<string[]> {
    return mariaAdmin(async (c) => {
      const lines: string[] = [];
      for (const who of [maccount(login), mi(perUserRole(login))]) {
        const [rows] = (await c.query(`SHOW GRANTS FOR ${who}`)) as unknown as [Record<string, string>[]];
        for (const row of rows) lines.push(Object.values(row)[0]!);
      }
      return lines;
    });
  }

  /** Every role name on the PostgreSQL server. */
  pgRoleNames(): Promise<string[]> {
    return pgAdmin(async (c) => (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles ORDER BY 1')).rows.map((r) => r.rolname));
  }

  /** Every user and role (`name@host`; roles have an empty host) on the MariaDB server. */
  async mariaNames(): Promise<string[]> {
    return mariaAdmin(async (c) => ((await c.query('SELECT User AS name, Host AS host FROM mysql.global_priv ORDER BY 1, 2'))[0] as { name: string; host: string }[]).map((r) => `${r.name}@${r.host}`));
  }

  async sentinelsIntact(): Promise<boolean> {
    const pgRows = await pgAdmin(async (c) => (await c.query(`SELECT x FROM public.${qi(this.sentinel)}`)).rows);
    const mariaRows = await mariaAdmin(async (c) => (await c.query(`SELECT x FROM test.${mi(this.sentinel)}`))[0] as unknown[]);
    return pgRows.length === 1 && mariaRows.length === 1;
  }

  /** Lets group roles read the sentinel tables (as the superusers), so a session's rights are observable. */
  async grantSentinel(role: string): Promise<void> {
    await pgAdmin((c) => c.query(`GRANT SELECT ON public.${qi(this.sentinel)} TO ${qi(role)}`));
    await mariaAdmin((c) => c.query(`GRANT SELECT ON test.${mi(this.sentinel)} TO ${mi(role)}`));
  }

  /** An open PostgreSQL session as a provisioned login (trust authentication on loopback). */
  async pgSession(login: string): Promise<pg.Client> {
    const client = new pg.Client({ host: pgServer.hostname, port: Number(pgServer.port || 5432), user: login, database: 'postgres', connectionTimeoutMillis: 5000 });
    client.on('error', () => {});
    await client.connect();
    this.#sessions.push(client);
    return client;
  }

  /**
   * Rolecall creates MariaDB accounts with an unusable credential; a test sets a password as
   * root, outside Rolecall, to log in as the user (like the target contract's prepareLogin).
   */
  async mariaPrepareLogin(login: string): Promise<void> {
    await mariaAdmin((c) => c.query(`ALTER USER ${maccount(login)} IDENTIFIED BY ${mq(TEST_PASSWORD)}`));
  }

  async mariaSession(login: string): Promise<mysql.Connection> {
    const conn = await mysql.createConnection({ host: mariaServer.hostname, port: Number(mariaServer.port || 3306), user: login, password: TEST_PASSWORD, connectTimeout: 5000 });
    conn.on('error', () => {});
    this.#sessions.push(conn);
    return conn;
  }

  /** Tracks a child process so cleanup kills it if a test failed before stopping it. */
  track(child: ChildProcess): ChildProcess {
    this.#children.push(child);
    return child;
  }

  /** Removes everything carrying the token on both servers, and the temp folder. Never throws. */
  async cleanup(): Promise<void> {
    const problems: string[] = [];
    const attempt = async (what: string, work: () => Promise<unknown>) => {
      try {
        await work();
      } catch (error) {
        problems.push(`${what}: ${(error as Error).message}`);
      }
    };
    for (const child of this.#children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const s of this.#sessions) await s.end().catch(() => {});
    await attempt('postgres', () =>
      pgAdmin(async (c) => {
        await c.query(`DROP TABLE IF EXISTS public.${qi(this.sentinel)}`);
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE strpos(usename, $1) > 0', [this.token]);
        const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [this.token])).rows.map((r) => r.rolname);
        if (roles.length > 0) await c.query(`DROP OWNED BY ${roles.map(qi).join(', ')} CASCADE`);
        for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${qi(role)}`);
      }),
    );
    await attempt('mariadb', () =>
      mariaAdmin(async (c) => {
        await c.query(`DROP TABLE IF EXISTS test.${mi(this.sentinel)}`);
        const [rows] = (await c.query('SELECT User AS name, Host AS host FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [this.token])) as unknown as [{ name: string; host: string }[]];
        for (const { name, host } of rows) {
          await c.query(host === '' ? `DROP ROLE IF EXISTS ${mi(name)}` : `DROP USER IF EXISTS ${mq(name)}@${mq(host)}`);
        }
      }),
    );
    rmSync(this.dir, { recursive: true, force: true });
    await attempt('leftover check', async () => {
      const left = await this.leftovers();
      if (left.length > 0) throw new Error(`still present: ${left.join(', ')}`);
    });
    if (problems.length > 0) process.stderr.write(`e2e cleanup of ${this.token} incomplete: ${problems.join('; ')}\n`);
  }

  /** Names on both servers that carry the token and are left after cleanup (should be none). */
  async leftovers(): Promise<string[]> {
    const pgNames = (await this.pgRoleNames()).filter((n) => n.includes(this.token));
    const mariaNames = (await this.mariaNames()).filter((n) => n.includes(this.token));
    return [...pgNames, ...mariaNames];
  }
}

export { PER_USER_ROLE_PREFIX, perUserRole };

/** Retries `check` every `intervalMs` until it stops throwing; after `timeoutMs` rethrows its last error. */
export async function eventually<T>(label: string, check: () => Promise<T> | T, timeoutMs = 10_000, intervalMs = 20): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() >= deadline) {
        if (error instanceof Error) error.message = `${label}: not reached within ${timeoutMs} ms: ${error.message}`;
        throw error;
      }
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Asserts that a session can no longer run a query (it was ended, or its rights are gone). */
export async function assertQueryFails(query: () => Promise<unknown>, message: string): Promise<void> {
  await assert.rejects(
    Promise.race([query(), new Promise((_, reject) => setTimeout(() => reject(new Error('query hung')), 5000))]),
    message,
  );
}

// ---------------------------------------------------------------- SCIM over HTTP

export interface ScimResponse {
  status: number;
  json: any;
  text: string;
}

export type ScimFetch = (path: string, init?: { method?: string; body?: unknown }) => Promise<ScimResponse>;

export function scimClient(scimUrl: string, token: string): ScimFetch {
  return async (path, init = {}) => {
    const headers: Record<string, string> = { accept: 'application/scim+json', authorization: `Bearer ${token}` };
    if (init.body !== undefined) headers['content-type'] = 'application/scim+json';
    const res = await fetch(scimUrl + path, { method: init.method ?? 'GET', headers, ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }) });
    const text = await res.text();
    let json: unknown;
    try {
      json = text ? JSON.parse(text) : undefined;
    } catch {
      json = undefined;
    }
    return { status: res.status, json, text };
  };
}

const USER = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';
const PATCH = 'urn:ietf:params:scim:api:messages:2.0:PatchOp';

/** The SCIM calls an identity provider makes (Entra's shapes), each asserting a 2xx answer. */
export class Directory {
  constructor(readonly scim: ScimFetch) {}

  async #ok(response: Promise<ScimResponse>, what: string): Promise<ScimResponse> {
    const r = await response;
    assert.ok(r.status >= 200 && r.status < 300, `${what}: HTTP ${r.status} ${r.text}`);
    return r;
  }

  async createUser(userName: string, active = true): Promise<string> {
    const r = await this.#ok(this.scim('/Users', { method: 'POST', body: { schemas: [USER], userName, active, name: { givenName: 'E2e', familyName: 'User' } } }), `create user ${userName}`);
    return r.json.id as string;
  }

  async createGroup(displayName: string, memberIds: string[] = []): Promise<string> {
    const r = await this.#ok(this.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName, members: memberIds.map((value) => ({ value })) } }), `create group ${displayName}`);
    return r.json.id as string;
  }

  async addMembers(groupId: string, userIds: string[]): Promise<void> {
    await this.#ok(this.scim(`/Groups/${groupId}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'Add', path: 'members', value: userIds.map((value) => ({ value })) }] } }), `add members to ${groupId}`);
  }

  async removeMember(groupId: string, userId: string): Promise<void> {
    await this.#ok(this.scim(`/Groups/${groupId}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'Remove', path: `members[value eq "${userId}"]` }] } }), `remove member from ${groupId}`);
  }

  /** Entra's soft delete / re-enable: Replace active with a string boolean. */
  async setActive(userId: string, active: boolean): Promise<void> {
    await this.#ok(this.scim(`/Users/${userId}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: [{ op: 'Replace', path: 'active', value: active ? 'True' : 'False' }] } }), `set active ${active}`);
  }

  async patchUser(userId: string, operations: unknown[]): Promise<void> {
    await this.#ok(this.scim(`/Users/${userId}`, { method: 'PATCH', body: { schemas: [PATCH], Operations: operations } }), `patch user ${userId}`);
  }

  async deleteUser(userId: string): Promise<void> {
    await this.#ok(this.scim(`/Users/${userId}`, { method: 'DELETE' }), `delete user ${userId}`);
  }
}

// ---------------------------------------------------------------- admin API and CLI

export async function adminCall(baseUrl: string, adminToken: string, method: string, path: string): Promise<any> {
  const res = await fetch(`${baseUrl}/admin${path}`, { method, headers: { authorization: `Bearer ${adminToken}` } });
  const text = await res.text();
  assert.equal(res.status, 200, `admin ${method} ${path}: HTTP ${res.status} ${text}`);
  return JSON.parse(text);
}

/** Runs the CLI as a child process; resolves with its exit code and output (bounded by `timeoutMs`). */
export function runCli(args: string[], timeoutMs = 60_000, env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`rolecall ${args[0]} did not finish within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code, stdout, stderr });
    });
  });
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  scimUrl: string;
  /** Printed at first start only. */
  token: string | undefined;
  stdout(): string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * `rolecall serve --port 0` as a child process; resolves once it printed its URL and, when
 * `firstStart`, the default tenant's token (stdout arrives in chunks: wait for the whole line).
 */
export function spawnServer(world: World, firstStart: boolean, extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 30_000): Promise<ServerProcess> {
  const child = world.track(
    spawn(process.execPath, [CLI, 'serve', '--port', '0', '--data-dir', world.dataDir, '--policy', world.policyFile, '--log-level', 'silent', '--admin-token', world.adminToken], {
      cwd: ROOT,
      env: { ...process.env, ROLECALL_RECONCILE_INTERVAL: '0', ...extraEnv },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let out = '';
  let err = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.on('exit', (code, signal) => r({ code, signal })));
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start within ${timeoutMs} ms; stdout: ${out}; stderr: ${err}`)), timeoutMs);
    const look = () => {
      const scim = /SCIM base URL[^:]*: (\S+)/.exec(out)?.[1];
      if (!scim) return;
      const lines = out.split('\n');
      const once = lines.findIndex((l) => l.includes('shown ONCE'));
      const providesProvisioning = out.includes('Provisioning');
      if (!providesProvisioning) return;
      // The token line is complete once a newline follows it.
      if (firstStart && (once < 0 || lines[once + 2] === undefined || lines[once + 1]!.trim() === '')) return;
      clearTimeout(timer);
      resolvePromise({
        child,
        scimUrl: scim,
        url: scim.replace(/\/scim\/v2$/, ''),
        token: once >= 0 ? lines[once + 1]!.trim() : undefined,
        stdout: () => out,
        exited,
      });
    };
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      look();
    });
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code ?? signal}) before it started; stdout: ${out}; stderr: ${err}`));
    });
  });
}
