import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { test } from 'node:test';
import pg from 'pg';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { OutboxSink } from '../../src/provisioning/outbox-sink.ts';
import type { JobFinishedEvent } from '../../src/provisioning/provisioning-events.ts';
import { Reconciler } from '../../src/provisioning/reconciler.ts';
import { WorkerPool } from '../../src/provisioning/worker-pool.ts';
import { quoteIdent } from '../../src/targets/postgres/postgres-sql.ts';
import { PostgresTarget } from '../../src/targets/postgres/postgres-target.ts';
import { needPostgres, POSTGRES_URL } from '../support/services.ts';
import { DirectoryFixture, policyOf, policyTarget } from './directory-fixture.ts';
import { eachStore } from './store-databases.ts';
import { waitFor } from './wait-for.ts';

/** Superuser connection for setup and inspection only; Rolecall uses the provisioner. */
async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

const urlAs = (login: string) => {
  const url = new URL(POSTGRES_URL);
  url.username = login;
  url.password = '';
  return url.toString();
};

interface RoleState {
  canLogin: boolean;
  roles: string[];
}

async function roleState(login: string): Promise<RoleState | undefined> {
  return admin(async (c) => {
    const role = await c.query<{ rolcanlogin: boolean }>('SELECT rolcanlogin FROM pg_roles WHERE rolname = $1', [login]);
    if (role.rows.length === 0) return undefined;
    const granted = await c.query<{ rolname: string }>(
      'SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = $1 ORDER BY 1',
      [login],
    );
    return { canLogin: role.rows[0]!.rolcanlogin, roles: granted.rows.map((r) => r.rolname) };
  });
}

test('end to end: SCIM writes in a real store -> worker -> real PostgreSQL roles, sessions and drift repair', (t) =>
  eachStore(t, async ({ database }, t) => {
    if (!(await needPostgres(t))) return;
    const token = `rce${process.pid % 10000}${randomBytes(3).toString('hex')}`;
    const provisioner = `${token}_prov`;
    const [marker, graveyard, reader, writer] = ['managed', 'graveyard', 'reader', 'writer'].map((r) => `${token}_${r}`) as [string, string, string, string];
    await admin(async (c) => {
      await c.query(`CREATE ROLE ${quoteIdent(provisioner)} LOGIN CREATEROLE`);
      await c.query(`GRANT pg_signal_backend TO ${quoteIdent(provisioner)}`);
    });
    const target = new PostgresTarget('analytics', { url: urlAs(provisioner), offboarding: 'drop', markerRole: marker, graveyardRole: graveyard });
    const sessions: pg.Client[] = [];
    const policy = policyOf(
      [policyTarget('analytics', { login: `${token}_{localPart}`, offboarding: 'drop', concurrency: 4 })],
      [
        { group: { by: 'displayName', value: 'Analysts' }, grants: { analytics: [reader] } },
        { group: { by: 'displayName', value: 'Data Engineers' }, grants: { analytics: [writer] } },
      ],
    );
    const queue = new JobQueue(database);
    const accounts = new AccountRegistry(database.db);
    const view = new KyselyDirectoryView(database);
    const finished: JobFinishedEvent[] = [];
    /** When each user's last step landed on the target. */
    const changedAt = new Map<string, number>();
    const shared = { queue, policy: () => policy, targets: (name: string) => (name === 'analytics' ? target : undefined), view, accounts };
    const pool = new WorkerPool({ ...shared, pollIntervalMs: 60_000, hooks: {
        onStepResult: (e) => void changedAt.set(e.userId ?? '', performance.now()),
        onJobFinished: (e) => void finished.push(e),
      },
    });
    const dir = new DirectoryFixture(database, [new OutboxSink(() => policy)]);
    dir.afterCommit = () => pool.notify();
    const settled = () =>
      waitFor('the queue to settle', async () => {
        const counts = await queue.counts();
        return pool.active === 0 && counts.queued === 0 && counts.running === 0;
      }, 15_000);
    try {
      await target.init();
      pool.start();
      const alice = `${token}_alice`;
      const bob = `${token}_bob`;
      await dir.user('u-alice', 'alice@contoso.com');
      await dir.user('u-bob', 'bob@contoso.com');
      await dir.group('g-analysts', 'Analysts');
      await dir.group('g-eng', 'Data Engineers');
      await dir.members('g-analysts', { add: [{ value: 'u-alice', type: 'User' }, { value: 'u-bob', type: 'User' }] });
      // Nested: everyone in Analysts is also a Data Engineer.
      await dir.members('g-eng', { add: [{ value: 'g-analysts', type: 'Group' }] });
      await settled();
      assert.deepEqual(await roleState(alice), { canLogin: true, roles: [marker, reader, writer].sort() });
      assert.deepEqual(await roleState(bob), { canLogin: true, roles: [marker, reader, writer].sort() });

      // Removing the nested group takes its roles away; a live session of a deactivated user ends.
      await dir.members('g-eng', { remove: ['g-analysts'] });
      await settled();
      assert.deepEqual((await roleState(alice))?.roles, [marker, reader].sort());
      const session = new pg.Client({ connectionString: urlAs(alice) });
      session.on('error', () => {});
      await session.connect();
      sessions.push(session);
      await dir.user('u-alice', 'alice@contoso.com', false);
      await settled();
      assert.deepEqual(await roleState(alice), { canLogin: false, roles: [marker] });
      await assert.rejects(session.query('SELECT 1'), 'the open session was terminated');

      // Deleting the user drops the login (offboarding: drop) and forgets it.
      await dir.deleteUser('u-alice');
      await settled();
      assert.equal(await roleState(alice), undefined);
      assert.equal(await accounts.getMany('analytics', 't1', ['u-alice']).then((m) => m.get('u-alice')), undefined);
      assert.equal((await queue.counts()).dead, 0);

      // Latency from the SCIM write's commit (the SCIM response) to the target change, one user at a time.
      const latencies: number[] = [];
      for (let i = 0; i < 15; i++) {
        const userId = `u-l${i}`;
        await dir.user(userId, `l${i}@contoso.com`);
        await settled();
        const seen = finished.length;
        let committed = 0;
        dir.afterCommit = () => {
          committed = performance.now();
          pool.notify();
        };
        await dir.members('g-analysts', { add: [{ value: userId, type: 'User' }] });
        await waitFor('the job', () => finished.slice(seen).some((f) => f.job.userId === userId && f.state === 'done'));
        latencies.push(changedAt.get(userId)! - committed);
      }
      latencies.sort((a, b) => a - b);
      const p50 = latencies[Math.floor(latencies.length / 2)]!;
      t.diagnostic(`SCIM commit -> last step applied on PostgreSQL (${database.dialect} store): p50 ${p50.toFixed(1)} ms, max ${latencies.at(-1)!.toFixed(1)} ms`);
      assert.ok(p50 < 250, `p50 ${p50} ms`);

      // Drift behind Rolecall's back: an extra managed grant, a managed login nobody accounts
      // for, and a pre-existing unmanaged role named like a directory user.
      const ghost = `${token}_ghost`;
      const carol = `${token}_carol`;
      await admin(async (c) => {
        await c.query(`GRANT ${quoteIdent(writer)} TO ${quoteIdent(bob)}`);
        await c.query(`CREATE ROLE ${quoteIdent(ghost)} LOGIN IN ROLE ${quoteIdent(marker)}`);
        await c.query(`CREATE ROLE ${quoteIdent(carol)} LOGIN`);
      });
      const noSink = new DirectoryFixture(database, []);
      await noSink.user('u-carol', 'carol@contoso.com');
      await noSink.members('g-analysts', { add: [{ value: 'u-carol', type: 'User' }] });

      const reconciler = new Reconciler(shared);
      const plans = await reconciler.planAll();
      const byLogin = new Map(plans.map((p) => [p.login, p]));
      assert.equal(byLogin.get(bob)?.finding, 'extra-grant');
      assert.deepEqual(byLogin.get(bob)?.statements, [`REVOKE ${quoteIdent(writer)} FROM ${quoteIdent(bob)}`]);
      assert.equal(byLogin.get(ghost)?.finding, 'stale');
      assert.equal(byLogin.get(carol)?.finding, 'unmanaged-conflict');
      assert.equal(byLogin.get(`${token}_l0`)?.finding, 'in-sync');

      await reconciler.reconcile();
      assert.deepEqual((await roleState(bob))?.roles, [marker, reader].sort());
      assert.equal(await roleState(ghost), undefined, 'stale login dropped (offboarding: drop)');
      assert.deepEqual(await roleState(carol), { canLogin: true, roles: [] }, 'the unmanaged role is untouched');
      const after = await reconciler.planAll();
      assert.deepEqual(
        after.filter((p) => p.finding !== 'in-sync').map((p) => [p.login, p.finding]),
        [[carol, 'unmanaged-conflict']],
      );
    } finally {
      await pool.stop();
      for (const s of sessions) await s.end().catch(() => {});
      await target.close();
      await admin(async (c) => {
        await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE strpos(usename, $1) > 0', [token]);
        const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [token])).rows.map((r) => r.rolname);
        if (roles.length > 0) await c.query(`DROP OWNED BY ${roles.map(quoteIdent).join(', ')} CASCADE`);
        for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
      });
    }
  }));
