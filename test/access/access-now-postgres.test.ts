import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { accessNow, type AccessSources } from '../../src/access/access-now.ts';
import type { AccessRow } from '../../src/access/access-row.ts';
import { accessReview } from '../../src/access/access-review.ts';
import { grantingGroups } from '../../src/policy/granting-groups.ts';
import { allMigrations } from '../../src/app/migrations.ts';
import { provisionStepEvent } from '../../src/audit/audit-events.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { executePlan } from '../../src/provisioning/execute-plan.ts';
import { planPrincipals } from '../../src/provisioning/plan-principal.ts';
import { quoteIdent } from '../../src/targets/postgres/postgres-sql.ts';
import { PostgresTarget } from '../../src/targets/postgres/postgres-target.ts';
import { DirectoryFixture, policyOf, policyTarget } from '../provisioning/directory-fixture.ts';
import { needPostgres, POSTGRES_URL } from '../support/services.ts';

/** Superuser connection for setup, the by-hand changes and cleanup; Rolecall uses the provisioner. */
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

const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const time = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

test('accessNow against a real PostgreSQL target: actual roles vs the directory, granting groups, since, and drift flags', async (t) => {
  if (!(await needPostgres(t))) return;
  const token = `rca${process.pid % 10000}${randomBytes(3).toString('hex')}`;
  const [provisioner, marker, graveyard, reader, writer, auditor, adhoc] = ['prov', 'managed', 'graveyard', 'reader', 'writer', 'auditor', 'adhoc'].map(
    (suffix) => `${token}_${suffix}`,
  ) as [string, string, string, string, string, string, string];
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-access-'));
  const database = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations });
  const target = new PostgresTarget('analytics', { url: urlAs(provisioner), offboarding: 'lock', markerRole: marker, graveyardRole: graveyard });
  t.after(async () => {
    await target.close();
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
    await admin(async (c) => {
      await c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE strpos(usename, $1) > 0', [token]);
      const roles = (await c.query<{ rolname: string }>('SELECT rolname FROM pg_roles WHERE strpos(rolname, $1) > 0', [token])).rows.map((r) => r.rolname);
      if (roles.length > 0) await c.query(`DROP OWNED BY ${roles.map(quoteIdent).join(', ')} CASCADE`);
      for (const role of roles) await c.query(`DROP ROLE IF EXISTS ${quoteIdent(role)}`);
    });
  });
  await admin(async (c) => {
    await c.query(`CREATE ROLE ${quoteIdent(provisioner)} LOGIN CREATEROLE`);
    await c.query(`GRANT pg_signal_backend TO ${quoteIdent(provisioner)}`);
    await c.query(`CREATE ROLE ${quoteIdent(adhoc)} NOLOGIN`);
  });

  let now = T0;
  const audit = new AuditLog(database, { clock: () => new Date(now) });
  const policy = policyOf(
    [policyTarget('analytics', { login: `${token}_{localPart}` })],
    [
      { group: { by: 'displayName', value: 'Analysts' }, grants: { analytics: [reader] } },
      { group: { by: 'displayName', value: 'Data Engineers' }, grants: { analytics: [writer] } },
      // Nobody is an auditor: the role is managed (the policy maps it) yet no one should hold it.
      { group: { by: 'displayName', value: 'Auditors' }, grants: { analytics: [auditor] } },
    ],
  );
  const view = new KyselyDirectoryView(database);
  const accounts = new AccountRegistry(database.db);
  const sources: AccessSources = { policy, targets: (name) => (name === 'analytics' ? target : undefined), view, accounts, audit };
  const dir = new DirectoryFixture(database, [new AuditSink(audit)]);
  const login = (name: string) => `${token}_${name}`;

  /** What a worker does for one user, with the grantedBy the app records on each applied grant. */
  const provision = async (userId: string) => {
    const policyTargetOf = policy.targets[0]!;
    const plan = (await planPrincipals({ policy, view, accounts }, policyTargetOf, target, [{ tenantId: 't1', userId, target: 'analytics' }]))[0]!;
    assert.equal(plan.conflict, undefined);
    if (!plan.desired) return;
    if (!plan.recorded) await accounts.claimMany([{ target: 'analytics', tenantId: 't1', userId, login: plan.desired.login }]);
    const groups = await view.groupsOfUser('t1', userId);
    for (const result of await executePlan(target, plan.steps)) {
      assert.notEqual(result.outcome, 'failed', `${result.step.op}: ${result.message}`);
      const event = provisionStepEvent({ tenantId: 't1', target: 'analytics', userId, login: plan.desired.login, result });
      const grantedBy = result.step.op === 'grant' ? { grantedBy: grantingGroups(policy, 'analytics', result.step.role, groups) } : {};
      await audit.append(database.db, { ...event, payload: { ...event.payload, ...grantedBy } });
    }
  };

  await target.init();
  await target.apply({ op: 'ensureRole', role: auditor });
  await dir.user('u-alice', 'alice@contoso.com');
  await dir.user('u-bob', 'bob@contoso.com');
  await dir.user('u-carol', 'carol@contoso.com');
  await dir.user('u-dave', 'dave@contoso.com');
  await dir.group('g-an', 'Analysts');
  await dir.group('g-eng', 'Data Engineers');
  await dir.group('g-aud', 'Auditors');
  await dir.members('g-an', { add: ['u-alice', 'u-bob', 'u-carol', 'u-dave'].map((value) => ({ value, type: 'User' as const })) });
  await dir.members('g-eng', { add: [{ value: 'u-alice', type: 'User' }] });
  now = T0 + 10 * 60_000;
  for (const userId of ['u-alice', 'u-bob', 'u-dave']) await provision(userId);
  now = T0 + 20 * 60_000;
  // A managed login no directory user accounts for (e.g. its record was lost).
  assert.equal((await target.apply({ op: 'createLogin', login: login('ghost') })).outcome, 'applied');

  // Drift by hand: an extra managed role for alice, an ad-hoc role for bob who is also locked out,
  // and dave deactivated in the directory with no worker run since.
  await admin(async (c) => {
    await c.query(`GRANT ${quoteIdent(auditor)} TO ${quoteIdent(login('alice'))}`);
    await c.query(`GRANT ${quoteIdent(adhoc)} TO ${quoteIdent(login('bob'))}`);
    await c.query(`ALTER ROLE ${quoteIdent(login('bob'))} NOLOGIN`);
  });
  await dir.user('u-dave', 'dave@contoso.com', false);

  const alice = { target: 'analytics', tenantId: 't1', userId: 'u-alice', userName: 'alice@contoso.com', login: login('alice'), lastChange: time(10), canLogin: true };

  await t.test('an extra managed role granted by hand is flagged; directory-granted roles match, with their group and since', async () => {
    assert.deepEqual(await accessNow(sources, { user: 'alice@contoso.com' }), [
      {
        ...alice,
        role: auditor,
        grantedBy: [],
        since: null,
        held: true,
        desired: false,
        matchesDirectory: false,
        note: 'role held but not granted by the directory: the next reconcile revokes it',
      } satisfies AccessRow,
      { ...alice, role: reader, grantedBy: ['Analysts'], since: time(10), held: true, desired: true, matchesDirectory: true },
      { ...alice, role: writer, grantedBy: ['Data Engineers'], since: time(10), held: true, desired: true, matchesDirectory: true },
    ]);
  });

  await t.test('every other drift shows: locked while granted, unmanaged extra role, never provisioned, inactive user, stale login', async () => {
    const rows = await accessNow(sources);
    const brief = (row: AccessRow) => [row.login.slice(token.length + 1), row.role?.slice(token.length + 1) ?? null, row.held, row.desired, row.matchesDirectory, row.canLogin];
    assert.deepEqual(rows.map(brief), [
      ['alice', 'auditor', true, false, false, true],
      ['alice', 'reader', true, true, true, true],
      ['alice', 'writer', true, true, true, true],
      ['bob', 'adhoc', true, false, false, false],
      ['bob', 'reader', true, true, false, false],
      ['carol', 'reader', false, true, false, false],
      ['dave', 'reader', true, false, false, true],
      ['ghost', null, true, false, false, true],
    ]);
    const note = (name: string, role: string | null) => rows.find((row) => row.login === login(name) && row.role === role)?.note;
    assert.equal(note('bob', reader), 'login locked although the directory grants access');
    assert.equal(
      note('bob', adhoc),
      'login locked although the directory grants access; role held but not granted by the directory; the policy does not manage it, so Rolecall leaves it',
    );
    assert.equal(note('carol', reader), 'login missing on the target; role granted by the directory but not held');
    assert.equal(
      note('dave', reader),
      'login can log in although the directory grants no access; role held but not granted by the directory: the next reconcile revokes it; user inactive in the directory',
    );
    assert.equal(note('ghost', null), 'login can log in although the directory grants no access; stale: no directory user accounts for this login');
    const dave = rows.find((row) => row.login === login('dave'))!;
    assert.deepEqual([dave.grantedBy, dave.since], [['Analysts'], time(10)], 'no group grants it now: the groups recorded when it was granted');
    const carol = rows.find((row) => row.login === login('carol'))!;
    assert.deepEqual([carol.userId, carol.grantedBy, carol.since, carol.lastChange], ['u-carol', ['Analysts'], null, null]);
  });

  await t.test('the review export marks each account; filters by user id and target', async () => {
    const review = accessReview(await accessNow(sources, { target: 'analytics' }));
    assert.deepEqual(
      review.map((entry) => [entry.login.slice(token.length + 1), entry.matchesDirectory, entry.missingRoles.length]),
      [
        ['alice', false, 0],
        ['bob', false, 0],
        ['carol', false, 1],
        ['dave', false, 0],
        ['ghost', false, 0],
      ],
    );
    assert.deepEqual(
      (await accessNow(sources, { user: 'u-bob' })).map((row) => row.role),
      [adhoc, reader],
    );
    await assert.rejects(accessNow(sources, { target: 'nowhere' }), RangeError);
  });

  await t.test('after the workers run again, every directory user matches; since follows the new grants', async () => {
    now = T0 + 30 * 60_000;
    for (const userId of ['u-alice', 'u-bob', 'u-carol', 'u-dave']) await provision(userId);
    const rows = (await accessNow(sources)).filter((row) => row.login !== login('ghost'));
    assert.deepEqual(
      rows.filter((row) => !row.matchesDirectory).map((row) => [row.login, row.role, row.note]),
      [[login('bob'), adhoc, 'role held but not granted by the directory; the policy does not manage it, so Rolecall leaves it']],
    );
    const since = (name: string) => rows.find((row) => row.login === login(name) && row.role === reader)?.since;
    assert.equal(since('carol'), time(30));
    assert.equal(since('bob'), time(10), 'bob kept reader throughout: unlocking is not a new grant');
    const dave = rows.find((row) => row.login === login('dave'))!;
    assert.deepEqual([dave.role, dave.held, dave.desired, dave.canLogin, dave.lastChange, dave.note], [null, false, false, false, time(30), 'user inactive in the directory']);
  });
});
