import assert from 'node:assert/strict';
import { test } from 'node:test';
import { join } from 'node:path';
import Sqlite from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { MARIADB_URL, needMariadb, needPostgres } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { adminCall, Directory, eventually, maccount, mariaAdmin, mi, perUserRole, pgAdmin, qi, runCli, TEST_PASSWORD, World } from './e2e-world.ts';

interface Plan {
  target: string;
  login: string;
  userId?: string;
  finding: string;
  findings: string[];
  statements: string[];
}

/**
 * Drift made by hand behind Rolecall's back — a managed role granted to a managed user, a locked
 * login of an inactive user unlocked, a managed login no directory user accounts for — is found
 * by `rolecall plan` (a CLI process beside the running server, on the same embedded store) with
 * the exact statements that repair it, repaired by `rolecall reconcile`, after which neither the
 * CLI nor the admin API plan shows any drift.
 */
test('e2e: hand-made drift is found by plan with exact statements and repaired by reconcile', { timeout: 180_000 }, async (t) => {
  if (!(await needPostgres(t)) || !(await needMariadb(t))) return;
  const world = new World({ pgOffboarding: 'drop', mariaOffboarding: 'lock' });
  let server: TestServer | undefined;
  try {
    await world.setup();
    const [reader, writer] = [world.role('reader'), world.role('writer')];
    const analysts = `${world.token} Analysts`;
    const engineers = `${world.token} Engineers`;
    world.writePolicy([
      { group: analysts, pg: [reader], maria: [reader] },
      { group: engineers, pg: [writer], maria: [writer] },
    ]);
    server = await startTestServer({ policy: world.policyFile, adminToken: world.adminToken, reconcileInterval: 0, dataDir: world.dataDir });
    const dir = new Directory(server.scim);
    const alice = await dir.createUser('alice@contoso.com');
    const carol = await dir.createUser('carol@contoso.com');
    const bob = await dir.createUser('bob@contoso.com');
    const erin = await dir.createUser('erin@contoso.com');
    await dir.createGroup(analysts, [alice, carol, erin]);
    await dir.createGroup(engineers, [bob]);
    const login = (u: string) => ({ pg: world.pgLogin(`${u}@contoso.com`), maria: world.mariaLogin(`${u}@contoso.com`) });
    const [a, c, b, e] = [login('alice'), login('carol'), login('bob'), login('erin')];
    // Carol's logins must exist before she is deactivated: a user deactivated before her first
    // job runs never gets a login (nothing to lock), and the drift below unlocks hers by hand.
    await eventually('carol provisioned', async () => {
      assert.equal((await world.pgAccount(c.pg)).exists, true);
      assert.equal((await world.mariaAccount(c.maria)).exists, true);
    });
    await dir.setActive(carol, false);
    const ghost = { pg: `${world.token}_ghost`, maria: `${world.token}_ghost` };
    await eventually('provisioned', async () => {
      assert.deepEqual((await world.pgAccount(a.pg)).roles, [reader]);
      assert.deepEqual((await world.pgAccount(b.pg)).roles, [writer]);
      assert.deepEqual((await world.pgAccount(e.pg)).roles, [reader]);
      assert.deepEqual((await world.mariaAccount(e.maria)).roles, [reader]);
      assert.deepEqual(await world.pgAccount(c.pg).then(({ exists, canLogin }) => ({ exists, canLogin })), { exists: true, canLogin: false });
      assert.deepEqual((await world.mariaAccount(a.maria)).roles, [reader]);
      assert.deepEqual((await world.mariaAccount(b.maria)).roles, [writer]);
      assert.equal((await world.mariaAccount(c.maria)).locked, true);
    });
    await eventually('queue drained', async () => {
      const jobs = (await adminCall(server!.server.url, world.adminToken, 'GET', '/jobs')) as { state: string }[];
      assert.deepEqual(jobs.filter((j) => j.state !== 'done'), []);
    });
    const cli = (command: string, ...args: string[]) => runCli([command, '--policy', world.policyFile, '--data-dir', world.dataDir, ...args]);
    const planJson = async (): Promise<Plan[]> => {
      const r = await cli('plan', '--json');
      assert.equal(r.code, 0, r.stderr);
      return JSON.parse(r.stdout) as Plan[];
    };
    const drifted = (plans: Plan[]) => plans.filter((p) => p.finding !== 'in-sync');
    assert.deepEqual(drifted(await planJson()), [], 'no drift before the hand-made changes');

    // --- drift by hand, as the superusers (and, where MariaDB demands ADMIN OPTION, as the provisioner)
    await pgAdmin(async (db) => {
      await db.query(`GRANT ${qi(writer)} TO ${qi(a.pg)}`);
      await db.query(`ALTER ROLE ${qi(c.pg)} LOGIN`);
      await db.query(`CREATE ROLE ${qi(ghost.pg)} LOGIN IN ROLE ${qi(world.marker)}`);
      await db.query(`GRANT ${qi(reader)} TO ${qi(ghost.pg)}`);
    });
    await mariaAdmin((db) => db.query(`ALTER USER ${maccount(c.maria)} ACCOUNT UNLOCK`));
    const server_ = new URL(MARIADB_URL);
    const provisioner = await mysql.createConnection({ host: server_.hostname, port: Number(server_.port || 3306), user: world.provisioner, password: TEST_PASSWORD });
    try {
      await provisioner.query(`GRANT ${mi(writer)} TO ${maccount(a.maria)}`);
      await provisioner.query(`CREATE ROLE ${mi(perUserRole(ghost.maria))}`);
      await provisioner.query(`GRANT ${mi(world.marker)} TO ${mi(perUserRole(ghost.maria))}`);
      await provisioner.query(`GRANT ${mi(reader)} TO ${mi(perUserRole(ghost.maria))}`);
      await provisioner.query(`CREATE USER ${maccount(ghost.maria)}`);
      await provisioner.query(`GRANT ${mi(perUserRole(ghost.maria))} TO ${maccount(ghost.maria)}`);
      await provisioner.query(`SET DEFAULT ROLE ${mi(perUserRole(ghost.maria))} FOR ${maccount(ghost.maria)}`);
    } finally {
      await provisioner.end();
    }
    // erin is removed from the store behind Rolecall's back (no SCIM request, so no job): her
    // logins stay, recorded in the accounts table, with no directory user.
    const store = new Sqlite(join(world.dataDir, 'rolecall.sqlite'));
    try {
      store.pragma('busy_timeout = 5000');
      store.prepare('DELETE FROM group_members WHERE member_id = ?').run(erin);
      assert.equal(store.prepare('DELETE FROM users WHERE id = ?').run(erin).changes, 1);
    } finally {
      store.close();
    }
    assert.equal((await server.scim(`/Users/${erin}`)).status, 404);
    assert.deepEqual((await world.pgAccount(a.pg)).roles, [reader, writer].sort());
    assert.deepEqual((await world.mariaAccount(a.maria)).roles, [reader, writer].sort());

    // --- plan (CLI beside the running server): each drift with its exact repair statements
    const plans = drifted(await planJson());
    const find = (target: string, l: string) => {
      const p = plans.find((x) => x.target === target && x.login === l);
      assert.ok(p, `plan names ${target} ${l}: ${JSON.stringify(plans.map((x) => [x.target, x.login, x.finding]))}`);
      return p;
    };
    const terminate = (l: string) => `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid() -- params: ${JSON.stringify([l])}`;
    const kill = (l: string) => `/* for each ID in information_schema.PROCESSLIST WHERE USER = ${maccount(l)} */ KILL CONNECTION <id>`;
    assert.equal(plans.length, 8, JSON.stringify(plans.map((p) => [p.target, p.login, p.finding])));

    const pgAlice = find('pg', a.pg);
    assert.equal(pgAlice.userId, alice);
    assert.equal(pgAlice.finding, 'extra-grant');
    assert.deepEqual(pgAlice.statements, [`REVOKE ${qi(writer)} FROM ${qi(a.pg)}`]);
    const mariaAlice = find('maria', a.maria);
    assert.equal(mariaAlice.finding, 'extra-grant');
    // The hand grant went to the account itself (not its per-user role): the plan shows the REVOKE that runs.
    assert.deepEqual(mariaAlice.statements, [`REVOKE ${mi(writer)} FROM ${maccount(a.maria)}`, `SET DEFAULT ROLE ${mi(perUserRole(a.maria))} FOR ${maccount(a.maria)}`]);

    const pgCarol = find('pg', c.pg);
    assert.equal(pgCarol.userId, carol);
    assert.equal(pgCarol.finding, 'should-be-locked');
    assert.deepEqual(pgCarol.statements, [`ALTER ROLE ${qi(c.pg)} NOLOGIN`, terminate(c.pg)]);
    const mariaCarol = find('maria', c.maria);
    assert.equal(mariaCarol.finding, 'should-be-locked');
    assert.deepEqual(mariaCarol.statements, [`ALTER USER ${maccount(c.maria)} ACCOUNT LOCK`, kill(c.maria)]);

    // Stale: offboarded per target (PostgreSQL drop, MariaDB lock), whether or not the store still records the login.
    const pgDrop = (l: string) => [
      `ALTER ROLE ${qi(l)} NOLOGIN`,
      terminate(l),
      `REVOKE ${qi(reader)} FROM ${qi(l)}`,
      `GRANT ${qi(l)} TO CURRENT_USER`,
      `ALTER ROLE ${qi(l)} NOLOGIN`,
      terminate(l),
      `/* in every database */ REASSIGN OWNED BY ${qi(l)} TO ${qi(world.graveyard)}`,
      `/* in every database */ DROP OWNED BY ${qi(l)}`,
      `DROP ROLE IF EXISTS ${qi(l)}`,
      terminate(l),
    ];
    const mariaLock = (l: string) => [
      `ALTER USER ${maccount(l)} ACCOUNT LOCK`,
      kill(l),
      `REVOKE ${mi(reader)} FROM ${mi(perUserRole(l))}`,
      `SET DEFAULT ROLE ${mi(perUserRole(l))} FOR ${maccount(l)}`,
      kill(l),
    ];
    const pgGhost = find('pg', ghost.pg);
    assert.equal(pgGhost.userId, undefined);
    assert.equal(pgGhost.finding, 'stale');
    assert.deepEqual(pgGhost.statements, pgDrop(ghost.pg));
    const mariaGhost = find('maria', ghost.maria);
    assert.equal(mariaGhost.finding, 'stale');
    assert.deepEqual(mariaGhost.statements, mariaLock(ghost.maria));
    const pgErin = find('pg', e.pg);
    assert.equal(pgErin.userId, erin, 'the recorded account names the vanished user');
    assert.equal(pgErin.finding, 'stale');
    assert.deepEqual(pgErin.statements, pgDrop(e.pg));
    const mariaErin = find('maria', e.maria);
    assert.equal(mariaErin.finding, 'stale');
    assert.deepEqual(mariaErin.statements, mariaLock(e.maria));

    // The human-readable plan prints the same statements.
    const text = await cli('plan');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /with drift or conflicts/);
    for (const p of plans) for (const s of p.statements) assert.ok(text.stdout.includes(`  ${s}`), `text plan shows: ${s}`);

    // Nothing was changed by planning.
    assert.deepEqual((await world.pgAccount(a.pg)).roles, [reader, writer].sort());
    assert.equal((await world.pgAccount(ghost.pg)).exists, true);

    // --- reconcile (CLI beside the running server) repairs everything
    const repaired = await cli('reconcile');
    assert.equal(repaired.code, 0, `${repaired.stdout}\n${repaired.stderr}`);
    assert.match(repaired.stdout, /planned \d+ account\(s\), 8 drifted/);
    assert.doesNotMatch(repaired.stdout + repaired.stderr, /failed/, 'reconcile and its audit records succeeded');
    assert.deepEqual(await world.pgAccount(a.pg), { exists: true, canLogin: true, managed: true, roles: [reader] });
    assert.deepEqual((await world.mariaAccount(a.maria)).roles, [reader]);
    assert.deepEqual(await world.pgAccount(c.pg), { exists: true, canLogin: false, managed: true, roles: [] });
    assert.equal((await world.mariaAccount(c.maria)).locked, true);
    assert.equal((await world.pgAccount(ghost.pg)).exists, false, 'the stale PostgreSQL login is dropped (offboarding drop)');
    const mariaGhostAfter = await world.mariaAccount(ghost.maria);
    assert.deepEqual({ locked: mariaGhostAfter.locked, roles: mariaGhostAfter.roles }, { locked: true, roles: [] }, 'the stale MariaDB login is locked (offboarding lock)');
    assert.equal((await world.pgAccount(e.pg)).exists, false, "the vanished user's PostgreSQL login is dropped");
    const mariaErinAfter = await world.mariaAccount(e.maria);
    assert.deepEqual({ locked: mariaErinAfter.locked, roles: mariaErinAfter.roles }, { locked: true, roles: [] }, "the vanished user's MariaDB login is locked");
    assert.deepEqual(await world.pgAccount(b.pg), { exists: true, canLogin: true, managed: true, roles: [writer] }, 'an in-sync user is untouched');

    assert.deepEqual(drifted(await planJson()), [], 'CLI plan: no drift after reconcile');
    const adminPlans = (await adminCall(server.server.url, world.adminToken, 'GET', '/plan')) as Plan[];
    assert.deepEqual(drifted(adminPlans), [], 'admin API plan: no drift after reconcile');

    const findings = (await adminCall(server.server.url, world.adminToken, 'GET', '/audit?type=reconcile.finding&limit=100')) as unknown[];
    assert.equal(findings.length, 8, 'every finding of the CLI reconcile is in the audit trail');

    await t.test('the admin API finds and repairs drift too', async () => {
      await pgAdmin((db) => db.query(`GRANT ${qi(reader)} TO ${qi(b.pg)}`));
      const found = drifted((await adminCall(server!.server.url, world.adminToken, 'GET', '/plan')) as Plan[]);
      assert.deepEqual(found.map((p) => [p.target, p.login, p.finding, p.statements]), [['pg', b.pg, 'extra-grant', [`REVOKE ${qi(reader)} FROM ${qi(b.pg)}`]]]);
      await adminCall(server!.server.url, world.adminToken, 'POST', '/reconcile');
      assert.deepEqual((await world.pgAccount(b.pg)).roles, [writer]);
      assert.deepEqual(drifted((await adminCall(server!.server.url, world.adminToken, 'GET', '/plan')) as Plan[]), []);
    });
  } finally {
    await server?.stop().catch(() => {});
    await world.cleanup();
  }
});
