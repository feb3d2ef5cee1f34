import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { DirectoryGroup, DirectoryUser } from '../provisioning/directory-view.ts';
import { desiredAccount, managedRoles } from './desired-state.ts';
import type { Policy, PolicyTarget } from './policy.ts';

function target(name: string, options: Partial<PolicyTarget> = {}): PolicyTarget {
  return {
    name,
    kind: 'postgres',
    connection: { url: 'postgres://db/app', source: 'inline' },
    offboarding: 'lock',
    login: '{userName}',
    tenant: 'default',
    concurrency: 4,
    ...options,
  };
}

const analyticsDb = target('analytics-db');
const warehouse = target('warehouse', { offboarding: 'drop', login: '{localPart}' });

const policy: Policy = {
  version: 1,
  targets: [analyticsDb, warehouse],
  mappings: [
    { group: { by: 'displayName', value: 'Analysts' }, grants: { 'analytics-db': ['reader'] } },
    { group: { by: 'externalId', value: 'ext-eng' }, grants: { 'analytics-db': ['writer', 'reader'], warehouse: ['contributor'] } },
    { group: { by: 'id', value: 'g-all' }, grants: { 'analytics-db': ['auditor'] } },
  ],
};

const alice: DirectoryUser = { tenantId: 'default', id: 'u-1', userName: 'alice@contoso.com', externalId: 'oid-1', active: true };

function group(id: string, displayName: string, externalId: string | null = null): DirectoryGroup {
  return { tenantId: 'default', id, displayName, externalId };
}

const analysts = group('g-1', 'Analysts');
const engineers = group('g-2', 'Data Engineers', 'ext-eng');
const everyone = group('g-all', 'Everyone');
const unmapped = group('g-9', 'Marketing');

const upper = (raw: string) => raw.toUpperCase();

describe('desiredAccount', () => {
  test('union of the roles of every mapped group, sorted and de-duplicated, login from the template via mapLogin', () => {
    assert.deepEqual(desiredAccount(policy, analyticsDb, alice, [analysts, engineers, unmapped], upper), {
      tenantId: 'default',
      userId: 'u-1',
      login: 'ALICE@CONTOSO.COM',
      state: 'present',
      roles: ['reader', 'writer'],
    });
  });

  test('groups reached through nesting count (the view passes them flattened); selectors by id and externalId', () => {
    // "Everyone" contains "Data Engineers" which contains alice: the view lists all three.
    const account = desiredAccount(policy, analyticsDb, alice, [engineers, everyone], (raw) => raw);
    assert.deepEqual(account?.roles, ['auditor', 'reader', 'writer']);
  });

  test('only mappings for this target contribute', () => {
    const account = desiredAccount(policy, warehouse, alice, [analysts, engineers], (raw) => raw);
    assert.deepEqual(account, { tenantId: 'default', userId: 'u-1', login: 'alice', state: 'present', roles: ['contributor'] });
  });

  test('group names match exactly', () => {
    assert.equal(desiredAccount(policy, analyticsDb, alice, [group('g-3', 'analysts')], upper), undefined);
  });

  test('an inactive user is locked with no roles, even on a drop target', () => {
    const inactive = { ...alice, active: false };
    assert.deepEqual(desiredAccount(policy, analyticsDb, inactive, [analysts], upper), {
      tenantId: 'default',
      userId: 'u-1',
      login: 'ALICE@CONTOSO.COM',
      state: 'locked',
      roles: [],
    });
    assert.equal(desiredAccount(policy, warehouse, inactive, [engineers], upper, 'alice')?.state, 'locked');
  });

  test('a deleted user is locked on a lock target and absent on a drop target', () => {
    assert.deepEqual(desiredAccount(policy, analyticsDb, undefined, [], upper, 'ALICE@CONTOSO.COM', 'u-1'), {
      tenantId: 'default',
      userId: 'u-1',
      login: 'ALICE@CONTOSO.COM',
      state: 'locked',
      roles: [],
    });
    assert.deepEqual(desiredAccount(policy, warehouse, undefined, [], upper, 'alice', 'u-1'), {
      tenantId: 'default',
      userId: 'u-1',
      login: 'alice',
      state: 'absent',
      roles: [],
    });
  });

  test('a deleted user never provisioned needs nothing', () => {
    assert.equal(desiredAccount(policy, analyticsDb, undefined, [], upper), undefined);
  });

  test('an unmapped user never provisioned gets no login', () => {
    assert.equal(desiredAccount(policy, analyticsDb, alice, [unmapped], upper), undefined);
    assert.equal(desiredAccount(policy, analyticsDb, alice, [], upper), undefined);
  });

  test('a provisioned user no longer in any mapped group is locked', () => {
    assert.deepEqual(desiredAccount(policy, analyticsDb, alice, [unmapped], upper, 'ALICE@CONTOSO.COM'), {
      tenantId: 'default',
      userId: 'u-1',
      login: 'ALICE@CONTOSO.COM',
      state: 'locked',
      roles: [],
    });
  });

  test('a known login wins over the template, so a renamed user keeps the same account', () => {
    const renamed = { ...alice, userName: 'alice.smith@contoso.com' };
    assert.equal(desiredAccount(policy, analyticsDb, renamed, [analysts], upper, 'ALICE@CONTOSO.COM')?.login, 'ALICE@CONTOSO.COM');
  });

  test("a user of another tenant is not this target's business", () => {
    const other = { ...alice, tenantId: 'fabrikam' };
    assert.equal(desiredAccount(policy, analyticsDb, other, [{ ...analysts, tenantId: 'fabrikam' }], upper), undefined);
  });
});

describe('managedRoles', () => {
  test('every role any mapping grants on the target, sorted and de-duplicated', () => {
    assert.deepEqual(managedRoles(policy, 'analytics-db'), ['auditor', 'reader', 'writer']);
    assert.deepEqual(managedRoles(policy, 'warehouse'), ['contributor']);
    assert.deepEqual(managedRoles(policy, 'nowhere'), []);
  });
});
