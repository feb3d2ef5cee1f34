import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { eachStore } from './store-databases.ts';

test('accounts: many at once answer as one at a time; a login of another user is never claimed', (t) =>
  eachStore(t, async ({ database }) => {
    const accounts = new AccountRegistry(database.db);
    const mine = (userId: string, login = userId) => ({ target: 'db1', tenantId: 't1', userId, login });
    assert.deepEqual(await accounts.claimMany([]), new Map());
    assert.deepEqual([...(await accounts.claimMany([mine('ada')]))], [['ada', mine('ada')]]);

    // bob's login "ada" is held by ada; the rest are recorded, ada's own again is a no-op.
    const holders = await accounts.claimMany([mine('ada'), mine('bea'), mine('bob', 'ada'), mine('cy'), { ...mine('dee'), tenantId: 't2' }]);
    assert.deepEqual(holders.get('ada'), mine('ada'), 'bob does not get ada\'s login');
    assert.deepEqual([holders.get('bea'), holders.get('cy'), holders.get('dee')], [mine('bea'), mine('cy'), { ...mine('dee'), tenantId: 't2' }]);
    // Two claimants of one free login in one call: the first listed gets it, the other is told whose it is.
    const twins = await accounts.claimMany([mine('eve', 'shared'), mine('fay', 'shared')]);
    assert.deepEqual(twins.get('shared'), mine('eve', 'shared'));
    assert.equal(await accounts.getMany('db1', 't1', ['fay']).then((m) => m.get('fay')), undefined);
    assert.deepEqual([...(await accounts.getMany('db1', 't1', ['ada', 'bea', 'bob', 'cy', 'dee', 'ada'])).keys()].sort(), ['ada', 'bea', 'cy']);
    assert.deepEqual(await accounts.getMany('db1', 't2', ['dee']).then((m) => m.get('dee')), { ...mine('dee'), tenantId: 't2' });
    const byLogin = await accounts.byLogins('db1', ['ada', 'cy', 'zed']);
    assert.deepEqual(Object.fromEntries(byLogin), { ada: mine('ada'), cy: mine('cy') });
    assert.equal(await accounts.byLogins('db2', ['ada']).then((m) => m.get('ada')), undefined, 'per target');
    await assert.rejects(accounts.claimMany([mine('x'), { ...mine('y'), target: 'db2' }]), /one target/);

    // Over a chunk's worth of ids in one call.
    const many = Array.from({ length: 1200 }, (_, i) => mine(`u${i}`));
    assert.ok([...(await accounts.claimMany(many))].every(([login, holder]) => holder.userId === login));
    assert.equal((await accounts.getMany('db1', 't1', many.map((a) => a.userId))).size, 1200);
    assert.equal((await accounts.byLogins('db1', many.map((a) => a.login))).size, 1200);
  }));
