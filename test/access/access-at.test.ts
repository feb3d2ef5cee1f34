import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { accessAt } from '../../src/access/access-at.ts';
import type { PastAccessRow } from '../../src/access/access-row.ts';
import { accessReview } from '../../src/access/access-review.ts';
import { allMigrations } from '../../src/app/migrations.ts';
import { provisionStepEvent } from '../../src/audit/audit-events.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import type { Step, StepOutcome } from '../../src/provisioning/target.ts';

const T0 = Date.parse('2026-05-04T08:00:00.000Z');
const time = (minutes: number) => new Date(T0 + minutes * 60_000).toISOString();

test('accessAt replays the audit trail of a real SQLite store into who held what, when, and through which group', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-access-'));
  const database = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations });
  t.after(async () => {
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  let now = T0;
  const log = new AuditLog(database, { clock: () => new Date(now) });
  const sink = new AuditSink(log);
  const at = (minutes: number) => {
    now = T0 + minutes * 60_000;
  };
  const userChange = (kind: 'user.created' | 'user.updated', userId: string, userName: string) =>
    database.db
      .transaction()
      .execute((tx) =>
        sink.beforeCommit(tx, 'sqlite', [{ context: { requestId: `r-${userId}`, tenantId: 't1', tokenId: 'tok', clientAddress: null, method: 'POST', path: '/Users' }, change: { kind, tenantId: 't1', userId, userName, active: true } }]),
      );
  // Steps go through the same event builder the workers use; grantedBy is what the app adds to grant steps.
  const step = async (userId: string, target: string, s: Step, outcome: StepOutcome = 'applied', grantedBy?: string[]) => {
    const event = provisionStepEvent({ tenantId: 't1', target, userId, login: `${userId}_login`, result: { step: s, outcome, statements: [], durationMs: 1 } });
    await log.append(database.db, grantedBy === undefined ? event : { ...event, payload: { ...event.payload, grantedBy } });
  };

  at(0);
  await userChange('user.created', 'alice', 'alice@contoso.com');
  await userChange('user.created', 'bob', 'bob@contoso.com');
  at(10); // t1
  await step('alice', 'pg-a', { op: 'ensureRole', role: 'reader' });
  await step('alice', 'pg-a', { op: 'createLogin', login: 'alice_login' });
  await step('alice', 'pg-a', { op: 'grant', login: 'alice_login', role: 'reader' }, 'applied', ['Analysts']);
  await step('bob', 'pg-a', { op: 'createLogin', login: 'bob_login' });
  await step('bob', 'pg-a', { op: 'grant', login: 'bob_login', role: 'reader' }, 'failed', ['Analysts']);
  at(20); // t2
  await step('alice', 'maria-b', { op: 'createLogin', login: 'alice_login' });
  await step('alice', 'maria-b', { op: 'grant', login: 'alice_login', role: 'writer' }, 'applied', ['Data Engineers']);
  await step('bob', 'pg-a', { op: 'lock', login: 'bob_login' });
  at(30); // t3
  await step('alice', 'pg-a', { op: 'revoke', login: 'alice_login', role: 'reader' });
  await step('alice', 'pg-a', { op: 'endSessions', login: 'alice_login' });
  await step('alice', 'pg-a', { op: 'revoke', login: 'alice_login', role: 'reader' }, 'skipped');
  await userChange('user.updated', 'alice', 'alice.smith@contoso.com');
  at(40); // t4
  await step('alice', 'pg-a', { op: 'grant', login: 'alice_login', role: 'reader' }, 'applied', ['Analysts', 'Readers']);
  await step('bob', 'pg-a', { op: 'drop', login: 'bob_login' });

  const alice = (target: string, userName: string, role: string | null, grantedBy: string[], since: string | null, lastChange: string): PastAccessRow => ({
    target,
    tenantId: 't1',
    userId: 'alice',
    userName,
    login: 'alice_login',
    role,
    grantedBy,
    since,
    lastChange,
    canLogin: true,
  });
  const bob = (canLogin: boolean, lastChange: string): PastAccessRow => ({
    target: 'pg-a',
    tenantId: 't1',
    userId: 'bob',
    userName: 'bob@contoso.com',
    login: 'bob_login',
    role: null,
    grantedBy: [],
    since: null,
    lastChange,
    canLogin,
  });
  const name = 'alice@contoso.com';
  const renamed = 'alice.smith@contoso.com';
  // pageSize 2 makes every replay cross many audit pages.
  const past = (moment: string, filter = {}) => accessAt(log, moment, filter, { pageSize: 2 });

  await t.test('before anything was provisioned: nobody', async () => {
    assert.deepEqual(await past(time(5)), []);
  });

  await t.test('at t1 exactly (inclusive) and until t2: reader on pg-a; bob has a login whose grant failed', async () => {
    const expected = [alice('pg-a', name, 'reader', ['Analysts'], time(10), time(10)), bob(true, time(10))];
    assert.deepEqual(await past(time(10)), expected);
    assert.deepEqual(await past(time(15)), expected);
  });

  await t.test('between t2 and t3: reader on pg-a since t1 and writer on maria-b since t2; bob locked', async () => {
    assert.deepEqual(await past(time(25)), [
      alice('maria-b', name, 'writer', ['Data Engineers'], time(20), time(20)),
      alice('pg-a', name, 'reader', ['Analysts'], time(10), time(10)),
      bob(false, time(20)),
    ]);
  });

  await t.test('between t3 and t4: reader revoked, the login stays on pg-a with no role; renamed user', async () => {
    assert.deepEqual(await past(time(35)), [
      alice('maria-b', renamed, 'writer', ['Data Engineers'], time(20), time(20)),
      alice('pg-a', renamed, null, [], null, time(30)),
      bob(false, time(20)),
    ]);
  });

  await t.test('after t4: reader again, since the re-grant (not the first grant); bob dropped', async () => {
    const expected = [
      alice('maria-b', renamed, 'writer', ['Data Engineers'], time(20), time(20)),
      alice('pg-a', renamed, 'reader', ['Analysts', 'Readers'], time(40), time(40)),
    ];
    assert.deepEqual(await past(time(40)), expected);
    assert.deepEqual(await past('2026-06-01T00:00:00+02:00'), expected);
  });

  await t.test('filters: target, user id, userName as it was at that time', async () => {
    assert.deepEqual(await past(time(25), { target: 'maria-b' }), [alice('maria-b', name, 'writer', ['Data Engineers'], time(20), time(20))]);
    assert.deepEqual(
      (await past(time(25), { user: 'bob' })).map((row) => row.login),
      ['bob_login'],
    );
    assert.deepEqual((await past(time(25), { user: name })).length, 2);
    assert.deepEqual(await past(time(25), { user: renamed }), [], 'alice was not yet renamed at t2');
    assert.deepEqual((await past(time(45), { user: renamed, target: 'pg-a' })).map((row) => row.role), ['reader']);
  });

  await t.test('a past review names held roles and leaves matchesDirectory unknown', async () => {
    const review = accessReview(await past(time(25)));
    assert.deepEqual(
      review.map((entry) => [entry.target, entry.login, entry.roles, entry.grantedBy, entry.matchesDirectory, entry.canLogin]),
      [
        ['maria-b', 'alice_login', ['writer'], { writer: ['Data Engineers'] }, null, true],
        ['pg-a', 'alice_login', ['reader'], { reader: ['Analysts'] }, null, true],
        ['pg-a', 'bob_login', [], {}, null, false],
      ],
    );
  });

  await t.test('a time that is not a date is refused', async () => {
    await assert.rejects(past('yesterday-ish'), RangeError);
  });
});
