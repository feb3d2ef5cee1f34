import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { accessNow, type AccessSources } from '../../src/access/access-now.ts';
import type { AccessRow } from '../../src/access/access-row.ts';
import { accessReview } from '../../src/access/access-review.ts';
import { allMigrations } from '../../src/app/migrations.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { openDatabase } from '../../src/directory/open-database.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { DirectoryFixture, policyOf, policyTarget } from '../provisioning/directory-fixture.ts';
import { MemoryTarget } from '../provisioning/memory-target.ts';

/**
 * The account situations a real engine makes slow to stage, on a directory in a real SQLite
 * store and an in-memory target whose accounts are set directly.
 */
test('accessNow: deleted users, unmanaged look-alikes, logins held by another user, open sessions, unrenderable logins', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'rolecall-access-'));
  const database = await openDatabase({ store: 'sqlite', dataDir, migrations: allMigrations });
  t.after(async () => {
    await database.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  const audit = new AuditLog(database);
  const policy = policyOf(
    [policyTarget('mem', { login: '{localPart}' }), policyTarget('ext', { login: '{externalId}' })],
    [{ group: { by: 'displayName', value: 'Analysts' }, grants: { mem: ['reader'], ext: ['reader'] } }],
  );
  const mem = new MemoryTarget('mem');
  const ext = new MemoryTarget('ext');
  const view = new KyselyDirectoryView(database);
  const accounts = new AccountRegistry(database.db);
  const targets = new Map([
    ['mem', mem],
    ['ext', ext],
  ]);
  const sources: AccessSources = { policy, targets: (name) => targets.get(name), view, accounts, audit };
  const dir = new DirectoryFixture(database, [new AuditSink(audit)]);

  for (const name of ['ann', 'ben', 'cat', 'dan', 'eve', 'fay']) await dir.user(`u-${name}`, `${name}@contoso.com`);
  await dir.group('g-an', 'Analysts');
  await dir.members('g-an', { add: ['u-ann', 'u-ben', 'u-cat', 'u-dan', 'u-fay'].map((value) => ({ value, type: 'User' as const })) });
  // Deleted as the SCIM endpoint deletes: the change carries the user's real userName (the fixture's deleteUser does not).
  const context = { requestId: 'del', tenantId: 't1', tokenId: null, clientAddress: null, method: 'DELETE', path: '/Users/u-ben' };
  await dir.store.write(context, async (w) => {
    await w.remove('User', 't1', 'u-ben');
    await w.emit({ kind: 'user.deleted', tenantId: 't1', userId: 'u-ben', userName: 'ben@contoso.com', active: false });
  });
  const account = (managed: boolean, canLogin: boolean, roles: string[], sessions = 0) => ({ managed, canLogin, roles: new Set(roles), sessions });
  mem.accounts.set('ann', account(true, true, ['reader']));
  mem.accounts.set('ben', account(true, false, []));
  mem.accounts.set('cat', account(false, true, []));
  // A deleted user's locked login, still recorded, with sessions it opened before the lock.
  mem.accounts.set('dan', account(true, false, [], 2));
  // Recorded for a user of another tenant than the one feeding this target.
  mem.accounts.set('fay', account(true, true, ['reader']));
  await accounts.claimMany([{ target: 'mem', tenantId: 't2', userId: 'other-fay', login: 'fay' }]);
  for (const [userId, login] of [
    ['u-ann', 'ann'],
    ['u-ben', 'ben'],
    ['old-dan', 'dan'],
  ] as const) {
    await accounts.claimMany([{ target: 'mem', tenantId: 't1', userId, login }]);
  }

  const rows = await accessNow(sources);
  const of = (target: string, userId: string) => rows.filter((row) => row.target === target && row.userId === userId);
  const base = (userId: string, login: string, userName?: string) => ({
    target: 'mem',
    tenantId: 't1',
    userId,
    ...(userName === undefined ? {} : { userName }),
    login,
    grantedBy: [],
    since: null,
    lastChange: null,
  });

  await t.test('a held, granted role matches', () => {
    assert.deepEqual(of('mem', 'u-ann'), [
      { ...base('u-ann', 'ann', 'ann@contoso.com'), role: 'reader', grantedBy: ['Analysts'], canLogin: true, held: true, desired: true, matchesDirectory: true },
    ] satisfies AccessRow[]);
  });

  await t.test('a deleted user keeps a row for the locked login, named as the audit last knew the user', () => {
    assert.deepEqual(of('mem', 'u-ben'), [
      { ...base('u-ben', 'ben', 'ben@contoso.com'), role: null, canLogin: false, held: false, desired: false, matchesDirectory: true, note: 'user deleted from the directory' },
    ]);
  });

  await t.test('an unmanaged account named like the user is flagged and its state shown, not claimed', () => {
    assert.deepEqual(of('mem', 'u-cat'), [
      {
        ...base('u-cat', 'cat', 'cat@contoso.com'),
        role: 'reader',
        grantedBy: ['Analysts'],
        canLogin: true,
        held: false,
        desired: true,
        matchesDirectory: false,
        note: 'an account with this login exists but is not managed by Rolecall: left untouched; role granted by the directory but not held',
      },
    ]);
  });

  await t.test("a login recorded for another user is not attributed to the new user; the holder's open sessions are flagged", () => {
    assert.deepEqual(of('mem', 'u-dan'), [
      {
        ...base('u-dan', 'dan', 'dan@contoso.com'),
        role: null,
        canLogin: false,
        held: false,
        desired: true,
        matchesDirectory: false,
        note: "the login is recorded for user old-dan of tenant t1; a new user never inherits another user's login",
      },
    ]);
    assert.deepEqual(of('mem', 'old-dan'), [
      {
        ...base('old-dan', 'dan'),
        role: null,
        canLogin: false,
        held: false,
        desired: false,
        matchesDirectory: false,
        note: '2 open session(s) although the directory grants no access; user deleted from the directory',
      },
    ]);
    assert.equal(accessReview(rows).filter((entry) => entry.target === 'mem' && entry.login === 'dan').length, 2, 'two accounts in the review, not one');
  });

  await t.test("a login recorded for another tenant's user still shows, as stale, beside the refused new user", () => {
    assert.equal(of('mem', 'u-fay')[0]?.note, "the login is recorded for user other-fay of tenant t2; a new user never inherits another user's login");
    assert.deepEqual(of('mem', 'other-fay'), [
      {
        target: 'mem',
        tenantId: 't2',
        userId: 'other-fay',
        login: 'fay',
        role: 'reader',
        grantedBy: [],
        since: null,
        lastChange: null,
        canLogin: true,
        held: true,
        desired: false,
        matchesDirectory: false,
        note: 'login can log in although the directory grants no access; role held but not granted by the directory: the next reconcile revokes it; stale: no directory user accounts for this login',
      },
    ]);
  });

  await t.test('a user the login template cannot name still shows as granted but without a login', () => {
    const ann = of('ext', 'u-ann');
    assert.equal(ann.length, 1);
    assert.deepEqual([ann[0]?.login, ann[0]?.role, ann[0]?.desired, ann[0]?.matchesDirectory], ['', null, true, false]);
    assert.match(ann[0]?.note ?? '', /^no login can be named: .*\{externalId\}.*u-ann/);
    assert.deepEqual(rows.filter((row) => row.target === 'ext').map((row) => row.userId), ['u-ann', 'u-cat', 'u-dan', 'u-fay']);
  });

  await t.test('a user in no mapped group and never provisioned has no rows', () => {
    assert.deepEqual(rows.filter((row) => row.userId === 'u-eve'), []);
  });

  await t.test('filters: a deleted user by the userName the audit recorded; a target', async () => {
    assert.deepEqual(await accessNow(sources, { user: 'ben@contoso.com' }), of('mem', 'u-ben'));
    assert.deepEqual(await accessNow(sources, { user: 'u-ann', target: 'mem' }), of('mem', 'u-ann'));
  });

  await t.test('a policy target with no opened Target is an error, not a silent gap', async () => {
    targets.delete('ext');
    await assert.rejects(accessNow(sources), /target "ext" is in the policy but was not opened/);
    assert.equal((await accessNow(sources, { target: 'mem' })).length, rows.filter((row) => row.target === 'mem').length);
  });
});
