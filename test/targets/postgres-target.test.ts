import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import pg from 'pg';
import { PostgresTarget } from '../../src/targets/postgres/postgres-target.ts';
import { quoteIdent } from '../../src/targets/postgres/postgres-sql.ts';
import { needPostgres, POSTGRES_URL, scratchPostgresDatabase } from '../support/services.ts';
import { runTargetContract, type ContractHarness } from './target-contract.ts';

/** Superuser connection for setup and inspection only; the targets under test never use it. */
async function admin<T>(work: (client: pg.Client) => Promise<T>, url = POSTGRES_URL): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const urlAs = (login: string, base = POSTGRES_URL) => {
  const url = new URL(base);
  url.username = login;
  url.password = '';
  return url.toString();
};

interface PostgresHarness extends ContractHarness {
  marker: string;
  graveyard: string;
  /** A target with the same provisioner and marker; `offboarding` as given. */
  sibling(offboarding: 'lock' | 'drop'): PostgresTarget;
  /** Extra databases to clean before the roles are dropped. */
  scratchDatabases: { url: string; drop: () => Promise<void> }[];
}

/** Creates a CREATEROLE + pg_signal_backend provisioner (targets.md), with a marker and graveyard unique to this run. */
async function setup(): Promise<PostgresHarness> {
  const token = `rc${process.pid % 10000}${randomBytes(3).toString('hex')}`;
  const provisioner = `${token}_prov`;
  const marker = `${token}_managed`;
  const graveyard = `${token}_graveyard`;
  const sentinelTable = `${token}_t`;
  const targets: PostgresTarget[] = [];
  const make = (login: string, offboarding: 'lock' | 'drop') => {
    const target = new PostgresTarget(`pg-${login}`, { url: urlAs(login), offboarding, markerRole: marker, graveyardRole: graveyard });
    targets.push(target);
    return target;
  };
  const sessions: pg.Client[] = [];
  const scratchDatabases: PostgresHarness['scratchDatabases'] = [];
  const harness: PostgresHarness = {
    target: make(provisioner, 'drop'),
    token,
    marker,
    graveyard,
    sentinelTable,
    scratchDatabases,
    sibling: (offboarding) => make(provisioner, offboarding),
    async connectAs(login) {
      const client = new pg.Client({ connectionString: urlAs(login), connectionTimeoutMillis: 5000 });
      // A terminated backend surfaces as an 'error' event; the session then reports alive() = false.
      client.on('error', () => {});
      await client.connect();
      sessions.push(client);
      return {
        alive: () => client.query('SELECT 1').then(() => true, () => false),
        close: () => client.end().catch(() => {}),
      };
    },
    namesWithToken: () => admin(async (c) => (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [token])).rows.map((r) => r.rolname)),
    bookkeepingNames: () => [],
    createUnmanagedAccount: (login) => admin(async (c) => void (await c.query(`CREATE ROLE ${quoteIdent(login)} LOGIN`))),
    sentinelExists: () => admin(async (c) => (await c.query('SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2', ['public', sentinelTable])).rows.length === 1),
    async limitedTarget() {
      const limited = `${token}_prov_nosignal`;
      await admin((c) => c.query(`CREATE ROLE ${quoteIdent(limited)} LOGIN CREATEROLE`));
      return { target: make(limited, 'drop'), lacking: 'pg_signal_backend' };
    },
    async cleanup() {
      for (const client of sessions) await client.end().catch(() => {});
      for (const target of targets) await target.close();
      const drop = async (c: pg.Client) => {
        const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [token])).rows.map((r) => r.rolname);
        if (roles.length > 0) await c.query(`DROP OWNED BY ${roles.map(quoteIdent).join(', ')} CASCADE`);
        return roles;
      };
      for (const scratch of scratchDatabases) {
        await admin(drop, scratch.url);
        await scratch.drop();
      }
      await admin(async (c) => {
        await c.query(`DROP TABLE IF EXISTS public.${quoteIdent(sentinelTable)}`);
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE strpos(usename, $1) > 0', [token]);
        for (const role of await drop(c)) await c.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
      });
    },
  };
  try {
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${quoteIdent(provisioner)} LOGIN CREATEROLE`);
      await c.query(`GRANT pg_signal_backend TO ${quoteIdent(provisioner)}`);
      await c.query(`CREATE TABLE public.${quoteIdent(sentinelTable)} (x int)`);
    });
  } catch (error) {
    await harness.cleanup();
    throw error;
  }
  return harness;
}

runTargetContract('postgres', setup, needPostgres);

test('postgres target: drop specifics', { concurrency: false }, async (t) => {
  if (!(await needPostgres(t))) return;
  const h = await setup();
  try {
    const { target } = h;
    await target.init();
    const create = async (login: string) => {
      const result = await target.apply({ op: 'createLogin', login });
      assert.equal(result.outcome, 'applied', result.message);
    };

    await t.test('objects owned in another database go to the graveyard role, then the role is dropped', async () => {
      const scratch = await scratchPostgresDatabase('rolecall_targets');
      h.scratchDatabases.push(scratch);
      const login = `${h.token}_owner`;
      await create(login);
      const schema = `${h.token}_s`;
      const table = `${h.token}_owned`;
      await admin(async (c) => {
        await c.query(`CREATE SCHEMA ${quoteIdent(schema)} AUTHORIZATION ${quoteIdent(login)}`);
        await c.query(`CREATE TABLE public.${quoteIdent(table)} (x int)`);
        await c.query(`ALTER TABLE public.${quoteIdent(table)} OWNER TO ${quoteIdent(login)}`);
      }, scratch.url);
      // A new schema owner needs CREATE on the database (ALTER SCHEMA ... OWNER rules apply to REASSIGN OWNED):
      // without it the drop is blocked (42501), locks instead and says so.
      const blocked = await target.apply({ op: 'drop', login });
      assert.equal(blocked.outcome, 'skipped');
      assert.match(blocked.message ?? '', /42501: permission denied for database/);
      assert.equal((await target.readAccount(login)).canLogin, false);
      const database = new URL(scratch.url).pathname.slice(1);
      await admin((c) => c.query(`GRANT CREATE ON DATABASE ${quoteIdent(database)} TO ${quoteIdent(h.graveyard)}`), scratch.url);
      const result = await target.apply({ op: 'drop', login });
      assert.equal(result.outcome, 'applied', result.message);
      assert.ok(result.statements.includes(`/* in database ${quoteIdent(database)} */ REASSIGN OWNED BY ${quoteIdent(login)} TO ${quoteIdent(h.graveyard)}`));
      assert.equal((await target.readAccount(login)).exists, false);
      const owner = await admin(async (c) => (await c.query('SELECT r.rolname FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner WHERE n.nspname = $1', [schema])).rows[0]?.rolname, scratch.url);
      assert.equal(owner, h.graveyard);
      const tableOwner = await admin(async (c) => (await c.query('SELECT tableowner FROM pg_tables WHERE tablename = $1', [table])).rows[0]?.tableowner, scratch.url);
      assert.equal(tableOwner, h.graveyard, 'tables need no CREATE right for the new owner');
    });

    await t.test('a drop blocked by grants made by others locks instead and reports skipped', async () => {
      const login = `${h.token}_granted`;
      await create(login);
      await admin((c) => c.query(`GRANT SELECT ON public.${quoteIdent(h.sentinelTable)} TO ${quoteIdent(login)}`));
      const result = await target.apply({ op: 'drop', login });
      assert.equal(result.outcome, 'skipped');
      assert.match(result.message ?? '', /2BP01/);
      const account = await target.readAccount(login);
      assert.equal(account.exists, true);
      assert.equal(account.canLogin, false);
      const provisionerStillMember = await admin(async (c) =>
        (await c.query('SELECT 1 FROM pg_auth_members WHERE roleid = $1::regrole AND member = $2::regrole', [quoteIdent(login), quoteIdent(`${h.token}_prov`)])).rows.length,
      );
      assert.equal(provisionerStillMember, 0, 'the temporary membership taken for REASSIGN OWNED is given back');
    });

    await t.test("with offboarding 'lock', a drop step locks and reports skipped", async () => {
      const login = `${h.token}_kept`;
      await create(login);
      const locking = h.sibling('lock');
      const result = await locking.apply({ op: 'drop', login });
      assert.equal(result.outcome, 'skipped');
      assert.deepEqual(result.statements, locking.statements({ op: 'drop', login }));
      const account = await target.readAccount(login);
      assert.equal(account.exists, true);
      assert.equal(account.canLogin, false);
    });

    await t.test('revoking the marker role is refused', async () => {
      const result = await target.apply({ op: 'revoke', login: `${h.token}_kept`, role: h.marker });
      assert.equal(result.outcome, 'failed');
      assert.equal(result.disposition, 'reject');
      assert.equal((await target.readAccount(`${h.token}_kept`)).managed, true);
    });

    await t.test('apply never throws: an unreachable server fails with retry', async () => {
      const down = new PostgresTarget('down', { url: 'postgres://nobody@127.0.0.1:1/postgres', offboarding: 'drop' });
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
