import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import { MysqlTarget } from '../../src/targets/mysql/mysql-target.ts';
import { account, perUserRole, quoteIdentifier } from '../../src/targets/mysql/mysql-sql.ts';
import { MARIADB_URL, needMariadb } from '../support/services.ts';
import { runTargetContract, type ContractHarness } from './target-contract.ts';

/** Only for logging in as provisioned users in tests; Rolecall itself never sets passwords. */
const TEST_PASSWORD = 'rolecall-test-only';

/** Root connection for setup and inspection only; the targets under test never use it. */
async function admin<T>(work: (conn: mysql.Connection) => Promise<T>): Promise<T> {
  const conn = await mysql.createConnection({ uri: MARIADB_URL });
  try {
    return await work(conn);
  } finally {
    await conn.end();
  }
}

const server = new URL(MARIADB_URL);
const urlAs = (login: string) => {
  const url = new URL(MARIADB_URL);
  url.username = login;
  url.password = TEST_PASSWORD;
  url.pathname = '/';
  return url.toString();
};

interface MariadbHarness extends ContractHarness {
  marker: string;
  sentinelSchema: string;
  sibling(offboarding: 'lock' | 'drop'): MysqlTarget;
}

/**
 * A provisioner with exactly the privileges targets.md lists: CREATE USER, CONNECTION ADMIN +
 * PROCESS, SELECT and UPDATE on mysql.* (ADMIN OPTION on the roles it grants comes from creating
 * them). The marker role is unique to the run.
 */
async function setup(): Promise<MariadbHarness> {
  const token = `rc${process.pid % 10000}${randomBytes(3).toString('hex')}`;
  const provisioner = `${token}_prov`;
  const marker = `${token}_managed`;
  const sentinelSchema = 'test';
  const sentinelTable = `${token}_t`;
  const privileges = (login: string, global: string) =>
    admin(async (c) => {
      await c.query(`CREATE USER ${account(login)} IDENTIFIED BY ${mysql.escape(TEST_PASSWORD)}`);
      await c.query(`GRANT ${global} ON *.* TO ${account(login)}`);
      await c.query(`GRANT SELECT, UPDATE ON mysql.* TO ${account(login)}`);
    });
  const targets: MysqlTarget[] = [];
  const make = (login: string, offboarding: 'lock' | 'drop') => {
    const target = new MysqlTarget(`mariadb-${login}`, { url: urlAs(login), flavor: 'mariadb', offboarding, markerRole: marker });
    targets.push(target);
    return target;
  };
  const sessions: mysql.Connection[] = [];
  const harness: MariadbHarness = {
    target: make(provisioner, 'drop'),
    token,
    marker,
    sentinelSchema,
    sentinelTable,
    sibling: (offboarding) => make(provisioner, offboarding),
    // Test-only hook, outside the target: Rolecall creates accounts without a usable password.
    prepareLogin: (login) => admin(async (c) => void (await c.query(`ALTER USER ${account(login)} IDENTIFIED BY ${mysql.escape(TEST_PASSWORD)}`))),
    async connectAs(login) {
      const conn = await mysql.createConnection({ host: server.hostname, port: Number(server.port || 3306), user: login, password: TEST_PASSWORD, connectTimeout: 5000 });
      // A killed connection surfaces as an 'error' event; the session then reports alive() = false.
      conn.on('error', () => {});
      sessions.push(conn);
      return {
        alive: () => conn.query('SELECT 1').then(() => true, () => false),
        close: () => conn.end().catch(() => {}),
      };
    },
    namesWithToken: () =>
      admin(async (c) => ((await c.query('SELECT User AS name FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [token]))[0] as { name: string }[]).map((r) => r.name)),
    bookkeepingNames: (login) => [perUserRole(login)],
    createUnmanagedAccount: (login) => admin(async (c) => void (await c.query(`CREATE USER ${account(login)} IDENTIFIED BY ${mysql.escape(TEST_PASSWORD)}`))),
    sentinelExists: () =>
      admin(async (c) => ((await c.query('SELECT 1 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?', [sentinelSchema, sentinelTable]))[0] as unknown[]).length === 1),
    async limitedTarget() {
      const limited = `${token}_prov_noproc`;
      await privileges(limited, 'CREATE USER, CONNECTION ADMIN');
      return { target: make(limited, 'drop'), lacking: 'PROCESS' };
    },
    async cleanup() {
      for (const conn of sessions) await conn.end().catch(() => {});
      for (const target of targets) await target.close();
      await admin(async (c) => {
        await c.query(`DROP TABLE IF EXISTS ${quoteIdentifier(sentinelSchema)}.${quoteIdentifier(sentinelTable)}`);
        const [rows] = await c.query('SELECT User AS name, Host AS host FROM mysql.global_priv WHERE LOCATE(?, User) > 0', [token]);
        for (const { name, host } of rows as { name: string; host: string }[]) {
          await c.query(host === '' ? `DROP ROLE IF EXISTS ${quoteIdentifier(name)}` : `DROP USER IF EXISTS ${mysql.escape(name)}@${mysql.escape(host)}`);
        }
      });
    },
  };
  try {
    await privileges(provisioner, 'CREATE USER, CONNECTION ADMIN, PROCESS');
    await admin((c) => c.query(`CREATE TABLE ${quoteIdentifier(sentinelSchema)}.${quoteIdentifier(sentinelTable)} (x int)`));
  } catch (error) {
    await harness.cleanup();
    throw error;
  }
  return harness;
}

runTargetContract('mariadb', setup, needMariadb);

test('mariadb target: roles, default role, recovery', { concurrency: false }, async (t) => {
  if (!(await needMariadb(t))) return;
  const h = await setup();
  const { target } = h;
  // Role grants need ADMIN OPTION on the role, which only its creator (the provisioner) holds; root has none.
  const asProvisioner = async (work: (conn: mysql.Connection) => Promise<unknown>) => {
    const conn = await mysql.createConnection({ uri: urlAs(`${h.token}_prov`) });
    try {
      await work(conn);
    } finally {
      await conn.end();
    }
  };
  const ok = async (result: Promise<{ outcome: string; message?: string }>, outcome = 'applied') => {
    const r = await result;
    assert.equal(r.outcome, outcome, r.message);
  };
  try {
    await target.init();
    const reader = `${h.token}_reader`;
    const table = `${quoteIdentifier(h.sentinelSchema)}.${quoteIdentifier(h.sentinelTable)}`;
    await ok(target.apply({ op: 'ensureRole', role: reader }));
    await admin((c) => c.query(`GRANT SELECT ON ${table} TO ${quoteIdentifier(reader)}`));

    await t.test('a new session has the mapped roles through the per-user default role; revoke takes them away', async () => {
      const login = `${h.token}_dora`;
      await ok(target.apply({ op: 'createLogin', login }));
      await ok(target.apply({ op: 'grant', login, role: reader }));
      await h.prepareLogin?.(login);
      const conn = await mysql.createConnection({ host: server.hostname, port: Number(server.port || 3306), user: login, password: TEST_PASSWORD });
      try {
        const [[row]] = (await conn.query('SELECT CURRENT_ROLE() AS role')) as unknown as [[{ role: string }]];
        assert.equal(row.role, perUserRole(login));
        await conn.query(`SELECT * FROM ${table}`);
      } finally {
        await conn.end();
      }
      await ok(target.apply({ op: 'revoke', login, role: reader }));
      const after = await mysql.createConnection({ host: server.hostname, port: Number(server.port || 3306), user: login, password: TEST_PASSWORD });
      try {
        await assert.rejects(after.query(`SELECT * FROM ${table}`), /denied/);
      } finally {
        await after.end();
      }
    });

    await t.test('a default role reset by someone else shows as missing roles; grant repairs it', async () => {
      const login = `${h.token}_dora`;
      await ok(target.apply({ op: 'grant', login, role: reader }));
      await admin((c) => c.query(`SET DEFAULT ROLE NONE FOR ${account(login)}`));
      assert.deepEqual((await target.readAccount(login)).roles, []);
      await ok(target.apply({ op: 'grant', login, role: reader }));
      assert.deepEqual((await target.readAccount(login)).roles, [reader]);
    });

    await t.test('a role granted to the login directly is reported and revoked', async () => {
      const login = `${h.token}_dora`;
      const extra = `${h.token}_extra`;
      await ok(target.apply({ op: 'ensureRole', role: extra }));
      await asProvisioner((c) => c.query(`GRANT ${quoteIdentifier(extra)} TO ${account(login)}`));
      assert.deepEqual((await target.readAccount(login)).roles, [extra, reader]);
      const result = await target.apply({ op: 'revoke', login, role: extra });
      assert.equal(result.outcome, 'applied', result.message);
      assert.deepEqual(result.statements, [`REVOKE ${quoteIdentifier(extra)} FROM ${account(login)}`, `SET DEFAULT ROLE ${quoteIdentifier(perUserRole(login))} FOR ${account(login)}`]);
      assert.deepEqual((await target.readAccount(login)).roles, [reader]);
    });

    await t.test('a create cut short after the claim is completed by the next run', async () => {
      const login = `${h.token}_eve`;
      const statements = target.statements({ op: 'createLogin', login });
      // Run only the claim (per-user role + marker), as if the process died before CREATE USER.
      await asProvisioner(async (c) => {
        await c.query(`CREATE ROLE ${quoteIdentifier(perUserRole(login))}`);
        await c.query(`GRANT ${quoteIdentifier(h.marker)} TO ${quoteIdentifier(perUserRole(login))}`);
      });
      assert.equal((await target.readAccount(login)).exists, false);
      const result = await target.apply({ op: 'createLogin', login });
      assert.equal(result.outcome, 'applied', result.message);
      assert.deepEqual(result.statements, statements);
      assert.equal((await target.readAccount(login)).managed, true);
    });

    await t.test('a drop cut short after DROP USER removes the leftover per-user role next time', async () => {
      const login = `${h.token}_eve`;
      await admin((c) => c.query(`DROP USER ${account(login)}`));
      const result = await target.apply({ op: 'drop', login });
      assert.equal(result.outcome, 'applied', result.message);
      assert.deepEqual(result.statements, [`DROP ROLE IF EXISTS ${quoteIdentifier(perUserRole(login))}`]);
      assert.ok(!(await h.namesWithToken()).includes(perUserRole(login)));
    });

    await t.test('a user dropped by hand keeps its session open: reported as absent with that session, and endSessions ends it', async () => {
      const login = `${h.token}_fred`;
      await ok(target.apply({ op: 'createLogin', login }));
      await h.prepareLogin?.(login);
      const session = await h.connectAs(login);
      try {
        await admin((c) => c.query(`DROP USER ${account(login)}`));
        assert.equal(await session.alive(), true, 'MariaDB keeps a dropped user\'s session open');
        assert.deepEqual(await target.readAccount(login), { login, exists: false, managed: false, canLogin: false, roles: [], sessions: 1 });
        const result = await target.apply({ op: 'endSessions', login });
        assert.equal(result.outcome, 'applied', result.message);
        assert.equal(result.statements.length, 1);
        assert.match(result.statements[0]!, /^KILL CONNECTION \d+$/);
        assert.equal(await session.alive(), false);
        assert.equal((await target.readAccount(login)).sessions, 0);
        assert.equal((await target.apply({ op: 'endSessions', login })).outcome, 'skipped');
      } finally {
        await session.close();
      }
    });

    await t.test("with offboarding 'lock', a drop step locks and reports skipped", async () => {
      const login = `${h.token}_dora`;
      const locking = h.sibling('lock');
      const result = await locking.apply({ op: 'drop', login });
      assert.equal(result.outcome, 'skipped');
      assert.deepEqual(result.statements, locking.statements({ op: 'drop', login }));
      const account = await target.readAccount(login);
      assert.equal(account.exists, true);
      assert.equal(account.canLogin, false);
    });

    await t.test('endSessions refuses when another host has an account of the same name', async () => {
      const login = `${h.token}_dora`;
      await admin((c) => c.query(`CREATE USER ${mysql.escape(login)}@'localhost'`));
      const result = await target.apply({ op: 'endSessions', login });
      assert.equal(result.outcome, 'failed');
      assert.equal(result.disposition, 'conflict');
    });

    await t.test('the marker and per-user roles cannot be granted or revoked as mapped roles', async () => {
      const login = `${h.token}_dora`;
      for (const role of [h.marker, perUserRole(login)]) {
        for (const step of [{ op: 'revoke', login, role }, { op: 'grant', login, role }, { op: 'ensureRole', role: perUserRole(`${h.token}_future`) }] as const) {
          const result = await target.apply(step);
          assert.equal(result.outcome, 'failed', step.op);
          assert.equal(result.disposition, 'reject', step.op);
        }
      }
      assert.equal((await target.readAccount(login)).managed, true);
    });

    await t.test('apply never throws: an unreachable server fails with retry', async () => {
      const down = new MysqlTarget('down', { url: 'mysql://nobody@127.0.0.1:1/', flavor: 'mariadb', offboarding: 'drop' });
      try {
        const result = await down.apply({ op: 'lock', login: 'x' });
        assert.equal(result.outcome, 'failed');
        assert.equal(result.disposition, 'retry', result.message);
      } finally {
        await down.close();
      }
    });
  } finally {
    await h.cleanup();
  }
});
