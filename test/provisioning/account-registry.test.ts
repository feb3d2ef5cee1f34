import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { eachStore } from './store-databases.ts';

test('accounts: many at once answer as one at a time; a login of another user is never claimed', (t) =>
  eachStore(t, async ({ database }) => {
    const accounts = new AccountRegistry(database.db);
    const mine = (userId: string, login = userId) => ({ target: 'db1', tenantId: 't1', userId, login });
    assert.deepEqual(await accounts.claimMany([]), new Map());
    assert.equal((await accounts.claimMany([mine('ada')])).size, 0);

    // bob's login "ada" is held by ada; the rest are recorded, ada's own again is a no-op.
    const conflicts = await accounts.claimMany([mine('ada'), mine('bea'), mine('bob', 'ada'), mine('cy'), { ...mine('dee'), tenantId: 't2' }]);
    assert.deepEqual([...conflicts], [['ada', mine('ada')]]);
    assert.deepEqual([...(await accounts.getMany('db1', 't1', ['ada', 'bea', 'bob', 'cy', 'dee', 'ada'])).keys()].sort(), ['ada', 'bea', 'cy']);
    assert.deepEqual(await accounts.getMany('db1', 't2', ['dee']).then((m) => m.get('dee')), { ...mine('dee'), tenantId: 't2' });
    const byLogin = await accounts.byLogins('db1', ['ada', 'cy', 'zed']);
    assert.deepEqual(Object.fromEntries(byLogin), { ada: mine('ada'), cy: mine('cy') });
    assert.equal(await accounts.byLogins('db2', ['ada']).then((m) => m.get('ada')), undefined, 'per target');
    await assert.rejects(accounts.claimMany([mine('x'), { ...mine('y'), target: 'db2' }]), /one target/);

    // Over a chunk's worth of ids in one call.
    const many = Array.from({ length: 1200 }, (_, i) => mine(`u${i}`));
    assert.equal((await accounts.claimMany(many)).size, 0);
    assert.equal((await accounts.getMany('db1', 't1', many.map((a) => a.userId))).size, 1200);
    assert.equal((await accounts.byLogins('db1', many.map((a) => a.login))).size, 1200);
  }));
