import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ScimError, type ScimType } from '../../domain/errors.ts';
import type { MemberRef } from '../resource-store.ts';
import type { ResourceTypeDef } from '../schema/attribute.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../schema/resource-types.ts';
import { applyPatch, type PatchResult } from './apply-patch.ts';
import { PATCH_OP_SCHEMA } from './patch-request.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

const noMembers = async (): Promise<MemberRef[]> => assert.fail('members must not be read');

const patch = (type: ResourceTypeDef, data: Record<string, unknown>, operations: unknown[], loadMembers = noMembers, id?: string): Promise<PatchResult> =>
  applyPatch(type, data, { schemas: [PATCH_OP_SCHEMA], Operations: operations }, loadMembers, id === undefined ? {} : { id });

const patchUser = (data: Record<string, unknown>, ...operations: unknown[]) => patch(USER_RESOURCE_TYPE, data, operations);

async function rejects(promise: Promise<unknown>, scimType: ScimType, detail?: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ScimError, `expected a ScimError, got ${String(error)}`);
    assert.equal(error.status, 400);
    assert.equal(error.scimType, scimType, error.message);
    if (detail) assert.match(error.message, detail);
    return true;
  });
}

/** Fails when any key anywhere in `value` other than a schema URN ("...:2.0:User") contains a dot (interop item 6). */
function assertNoDottedKeys(value: unknown, where = '$'): void {
  if (Array.isArray(value)) value.forEach((v, i) => assertNoDottedKeys(v, `${where}[${i}]`));
  else if (typeof value === 'object' && value !== null) {
    for (const [key, item] of Object.entries(value)) {
      assert.ok(!key.includes('.') || key.startsWith('urn:'), `key with a dot at ${where}: ${key}`);
      assertNoDottedKeys(item, `${where}.${key}`);
    }
  }
}

const user = (): Record<string, unknown> => ({
  schemas: [CORE, ENTERPRISE],
  userName: 'alice@contoso.com',
  externalId: 'ext-1',
  active: true,
  name: { givenName: 'Alice', familyName: 'Smith', formatted: 'Alice Smith' },
  emails: [{ value: 'alice@contoso.com', type: 'work', primary: true }],
  [ENTERPRISE]: { employeeNumber: '100', department: 'Sales' },
});

const group = (): Record<string, unknown> => ({ schemas: [GROUP], displayName: 'Sales', externalId: 'g-ext' });

describe('Entra default dialect (interop item 5)', () => {
  test('capitalised Replace with a string boolean', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: 'active', value: 'False' });
    assert.equal(result.data.active, false);
    assert.equal(result.changed, true);
  });

  test('Replace emails[type eq "work"].value sets the matching element', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: 'emails[type eq "work"].value', value: 'a.smith@contoso.com' });
    assert.deepEqual(result.data.emails, [{ value: 'a.smith@contoso.com', type: 'work', primary: true }]);
  });

  test('Add on a filtered path that matches nothing creates the element', async () => {
    const data = user();
    delete data.emails;
    const result = await patchUser(data, { op: 'Add', path: 'emails[type eq "work"].value', value: 'alice@contoso.com' });
    assert.deepEqual(result.data.emails, [{ type: 'work', value: 'alice@contoso.com' }]);
  });

  test('Replace on a filtered path that matches nothing creates the element next to the others', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555' });
    assert.deepEqual(result.data.phoneNumbers, [{ type: 'mobile', value: '+1 555' }]);
  });

  test('name.familyName changes one sub-attribute', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: 'name.familyName', value: 'Jones' });
    assert.deepEqual(result.data.name, { givenName: 'Alice', familyName: 'Jones', formatted: 'Alice Smith' });
  });

  test('a URN-qualified extension path', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: `${ENTERPRISE}:employeeNumber`, value: '200' });
    assert.deepEqual(result.data[ENTERPRISE], { employeeNumber: '200', department: 'Sales' });
  });

  test('Add of an extension attribute to a user without the extension lists the extension in schemas', async () => {
    const data = user();
    delete data[ENTERPRISE];
    data.schemas = [CORE];
    const result = await patchUser(data, { op: 'Add', path: `${ENTERPRISE}:department`, value: 'Ops' });
    assert.deepEqual(result.data[ENTERPRISE], { department: 'Ops' });
    assert.deepEqual(result.data.schemas, [CORE, ENTERPRISE]);
  });
});

describe('Entra aadOptscim062020 dialect (interop item 6)', () => {
  test('path-less replace whose keys are attribute paths sets nested values', async () => {
    const result = await patchUser(user(), {
      op: 'replace',
      value: { 'name.givenName': 'K', [`${ENTERPRISE}:employeeNumber`]: 'A', active: false },
    });
    assert.deepEqual(result.data.name, { givenName: 'K', familyName: 'Smith', formatted: 'Alice Smith' });
    assert.deepEqual(result.data[ENTERPRISE], { employeeNumber: 'A', department: 'Sales' });
    assert.equal(result.data.active, false);
    assertNoDottedKeys(result.data);
  });

  test('path-less add with a filtered path key and an extension object merges', async () => {
    const result = await patchUser(user(), {
      op: 'add',
      value: { 'emails[type eq "home"].value': 'a@home.example', [ENTERPRISE]: { costCenter: 'CC1' } },
    });
    assert.deepEqual(result.data.emails, [
      { value: 'alice@contoso.com', type: 'work', primary: true },
      { type: 'home', value: 'a@home.example' },
    ]);
    assert.deepEqual(result.data[ENTERPRISE], { employeeNumber: '100', department: 'Sales', costCenter: 'CC1' });
    assertNoDottedKeys(result.data);
  });

  test('lowercase ops with real booleans', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'active', value: true }, { op: 'add', path: 'title', value: 'Eng' });
    assert.equal(result.data.active, true);
    assert.equal(result.data.title, 'Eng');
  });
});

describe('Enterprise manager (interop item 8)', () => {
  const managed = () => ({ ...user(), [ENTERPRISE]: { department: 'Sales', manager: { value: 'M1' } } });

  test('Add with an array of one object stores an object', async () => {
    const result = await patchUser(user(), { op: 'Add', path: 'manager', value: [{ $ref: 'https://x/Users/M1', value: 'M1' }] });
    assert.deepEqual((result.data[ENTERPRISE] as Record<string, unknown>).manager, { $ref: 'https://x/Users/M1', value: 'M1' });
  });

  test('a plain string value', async () => {
    const result = await patchUser(user(), { op: 'Replace', path: 'manager', value: 'M1' });
    assert.deepEqual((result.data[ENTERPRISE] as Record<string, unknown>).manager, { value: 'M1' });
  });

  test('the full URN path with an object, replacing a previous manager whole', async () => {
    const data = { ...user(), [ENTERPRISE]: { manager: { value: 'M0', $ref: 'https://x/Users/M0' } } };
    const result = await patchUser(data, { op: 'replace', path: `${ENTERPRISE}:manager`, value: { value: 'M1' } });
    assert.deepEqual(result.data[ENTERPRISE], { manager: { value: 'M1' } });
  });

  test('manager.value path', async () => {
    const result = await patchUser(user(), { op: 'replace', path: `${ENTERPRISE}:manager.value`, value: 'M2' });
    assert.deepEqual((result.data[ENTERPRISE] as Record<string, unknown>).manager, { value: 'M2' });
  });

  test('remove by manager[value eq "M1"]', async () => {
    const result = await patchUser(managed(), { op: 'Remove', path: 'manager[value eq "M1"]' });
    assert.deepEqual(result.data[ENTERPRISE], { department: 'Sales' });
  });

  test('remove by a filter naming another manager is a no-op', async () => {
    const result = await patchUser(managed(), { op: 'Remove', path: 'manager[value eq "M9"]' });
    assert.equal(result.changed, false);
  });

  for (const empty of ['', {}, null, []]) {
    test(`Replace with ${JSON.stringify(empty)} removes the manager`, async () => {
      const result = await patchUser(managed(), { op: 'Replace', path: 'manager', value: empty });
      assert.deepEqual(result.data[ENTERPRISE], { department: 'Sales' });
    });
  }

  test('removing the last extension attribute drops the extension and its schema', async () => {
    const data = { ...user(), [ENTERPRISE]: { manager: { value: 'M1' } } };
    const result = await patchUser(data, { op: 'Replace', path: 'manager', value: '' });
    assert.equal(result.data[ENTERPRISE], undefined);
    assert.deepEqual(result.data.schemas, [CORE]);
  });

  test('readOnly manager.displayName sent inside a value is ignored', async () => {
    const result = await patchUser(user(), { op: 'Add', path: 'manager', value: { value: 'M1', displayName: 'Boss' } });
    assert.deepEqual((result.data[ENTERPRISE] as Record<string, unknown>).manager, { value: 'M1' });
  });
});

describe('roles (interop item 14)', () => {
  test('JSON inside a string value is kept as a string', async () => {
    const value = '{"id":"06b0","value":"Admin","displayName":"Admin"}';
    const result = await patchUser(user(), { op: 'Add', path: 'roles', value: [{ primary: 'False', type: 'WindowsAzureActiveDirectoryRole', value }] });
    assert.deepEqual(result.data.roles, [{ primary: false, type: 'WindowsAzureActiveDirectoryRole', value }]);
  });

  test('roles[primary eq "True"].value matches a stored boolean instead of adding a second role', async () => {
    const data = { ...user(), roles: [{ primary: true, value: 'Reader' }] };
    const result = await patchUser(data, { op: 'replace', path: 'roles[primary eq "True"].value', value: 'Admin' });
    assert.deepEqual(result.data.roles, [{ primary: true, value: 'Admin' }]);
  });

  test('an empty object added to roles (Entra, when nothing changed) is a no-op', async () => {
    const result = await patchUser(user(), { op: 'add', path: 'roles', value: {} });
    assert.equal(result.changed, false);
  });

  test('roles[primary eq "True"].value creates a primary role when there is none', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'roles[primary eq "True"].value', value: 'Admin' });
    assert.deepEqual(result.data.roles, [{ primary: true, value: 'Admin' }]);
  });
});

describe('Okta (interop items 5 and 6)', () => {
  test('path-less replace of active deactivates', async () => {
    const result = await patchUser(user(), { op: 'replace', value: { active: false } });
    assert.equal(result.data.active, false);
  });

  test('rename with the group id resent in the value', async () => {
    const result = await patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', value: { id: 'g1', displayName: 'New' } }], noMembers, 'g1');
    assert.equal(result.data.displayName, 'New');
    assert.equal(result.data.id, undefined);
    assert.equal(result.members, undefined);
  });

  test('an id resent without knowing the resource id is ignored', async () => {
    const result = await patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', value: { id: 'g1', displayName: 'Sales' } }]);
    assert.equal(result.changed, false);
  });

  test('a different id is a mutability error', async () => {
    await rejects(patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', value: { id: 'other' } }], noMembers, 'g1'), 'mutability');
  });

  test('remove members[value eq "U2"] plus add in one request', async () => {
    const result = await patch(GROUP_RESOURCE_TYPE, group(), [
      { op: 'remove', path: 'members[value eq "U2"]' },
      { op: 'add', path: 'members', value: [{ value: 'U3', display: 'u3@x' }] },
    ]);
    assert.deepEqual(result.members, { clear: false, add: [{ value: 'U3' }], remove: ['U2'] });
    assert.deepEqual(result.data, group());
    assert.equal(result.changed, true);
  });

  test('full replace of members', async () => {
    const result = await patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', path: 'members', value: [{ value: 'U1' }, { value: 'U2' }] }]);
    assert.deepEqual(result.members, { clear: true, add: [{ value: 'U1' }, { value: 'U2' }], remove: [] });
  });

  test('path-less replace with displayName and members', async () => {
    const result = await patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', value: { displayName: 'X', members: [{ value: 'U1' }] } }]);
    assert.deepEqual(result.members, { clear: true, add: [{ value: 'U1' }], remove: [] });
    assert.equal(result.data.displayName, 'X');
    assert.equal(result.data.members, undefined);
  });
});

describe('Group members', () => {
  const patchGroup = (operations: unknown[], loadMembers = noMembers) => patch(GROUP_RESOURCE_TYPE, group(), operations, loadMembers);

  test('Entra add (interop item 10) reads no member and writes no data', async () => {
    const result = await patchGroup([{ op: 'Add', path: 'members', value: [{ $ref: null, value: 'U1' }, { value: 'U2' }] }]);
    assert.deepEqual(result.members, { clear: false, add: [{ value: 'U1' }, { value: 'U2' }], remove: [] });
    assert.deepEqual(result.data, group());
  });

  test('Entra old remove shape removes only the listed members (interop item 11)', async () => {
    const result = await patchGroup([{ op: 'Remove', path: 'members', value: [{ value: 'U1' }] }]);
    assert.deepEqual(result.members, { clear: false, add: [], remove: ['U1'] });
  });

  test('Entra new remove shape (interop item 11)', async () => {
    const result = await patchGroup([{ op: 'remove', path: 'members[value eq "U1"]' }]);
    assert.deepEqual(result.members, { clear: false, add: [], remove: ['U1'] });
  });

  test('value eq ... or value eq ... needs no member read', async () => {
    const result = await patchGroup([{ op: 'remove', path: 'members[value eq "a" or value eq "b"]' }]);
    assert.deepEqual(result.members?.remove, ['a', 'b']);
  });

  test('remove without a value clears all members', async () => {
    const result = await patchGroup([{ op: 'remove', path: 'members' }]);
    assert.deepEqual(result.members, { clear: true, add: [], remove: [] });
  });

  test('remove with an empty value array removes nothing', async () => {
    const result = await patchGroup([{ op: 'remove', path: 'members', value: [] }]);
    assert.equal(result.members, undefined);
    assert.equal(result.changed, false);
  });

  test('other member filters read the members once and match them', async () => {
    let reads = 0;
    const load = async (): Promise<MemberRef[]> => {
      reads += 1;
      return [
        { value: 'U1', type: 'User', display: 'u1' },
        { value: 'G1', type: 'Group', display: 'g1' },
        { value: 'G2', type: 'Group', display: 'g2' },
      ];
    };
    const result = await patchGroup(
      [
        { op: 'remove', path: 'members[value eq "G2"]' },
        { op: 'remove', path: 'members[type eq "Group"]' },
        { op: 'remove', path: 'members[display sw "u"]' },
      ],
      load,
    );
    assert.equal(reads, 1);
    assert.deepEqual(result.members, { clear: false, add: [], remove: ['G2', 'G1', 'U1'] });
  });

  test('operations combine in order: a member added then removed is neither', async () => {
    const result = await patchGroup([
      { op: 'add', path: 'members', value: [{ value: 'U1' }, { value: 'U2' }] },
      { op: 'remove', path: 'members[value eq "U1"]' },
    ]);
    assert.deepEqual(result.members, { clear: false, add: [{ value: 'U2' }], remove: ['U1'] });
  });

  test('member type is validated and canonicalised', async () => {
    const result = await patchGroup([{ op: 'add', path: 'members', value: [{ value: 'G1', type: 'group' }] }]);
    assert.deepEqual(result.members?.add, [{ value: 'G1', type: 'Group' }]);
    await rejects(patchGroup([{ op: 'add', path: 'members', value: [{ value: 'X', type: 'Robot' }] }]), 'invalidValue');
  });

  test('a member without a string value is invalidValue', async () => {
    await rejects(patchGroup([{ op: 'add', path: 'members', value: [{ display: 'x' }] }]), 'invalidValue');
    await rejects(patchGroup([{ op: 'add', path: 'members', value: [{ value: 7 }] }]), 'invalidValue');
  });

  test('members on a User is invalidPath', async () => {
    await rejects(patchUser(user(), { op: 'add', path: 'members', value: [{ value: 'U1' }] }), 'invalidPath');
  });

  test('a member sub-attribute path is invalidPath', async () => {
    await rejects(patchGroup([{ op: 'replace', path: 'members[value eq "U1"].display', value: 'x' }]), 'invalidPath');
  });
});

describe('RFC 7644 §3.5.2 operations', () => {
  test('add without a path merges attributes', async () => {
    const result = await patchUser(user(), { op: 'add', value: { nickName: 'Al', name: { middleName: 'B' } } });
    assert.equal(result.data.nickName, 'Al');
    assert.deepEqual(result.data.name, { givenName: 'Alice', familyName: 'Smith', formatted: 'Alice Smith', middleName: 'B' });
  });

  test('add to a multi-valued attribute appends and skips identical values', async () => {
    const result = await patchUser(user(), {
      op: 'add',
      path: 'emails',
      value: [{ value: 'alice@contoso.com', type: 'work', primary: true }, { value: 'a@home.example', type: 'home' }],
    });
    assert.deepEqual(result.data.emails, [
      { value: 'alice@contoso.com', type: 'work', primary: true },
      { value: 'a@home.example', type: 'home' },
    ]);
  });

  test('a lone element added to a multi-valued attribute is read as an array of one', async () => {
    const result = await patchUser(user(), { op: 'add', path: 'emails', value: { value: 'b@x', type: 'home' } });
    assert.deepEqual(result.data.emails, [
      { value: 'alice@contoso.com', type: 'work', primary: true },
      { value: 'b@x', type: 'home' },
    ]);
  });

  test('replace with a filter and no sub-attribute merges into the matching elements', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'emails[type eq "work"]', value: { value: 'b@x' } });
    assert.deepEqual(result.data.emails, [{ value: 'b@x', type: 'work', primary: true }]);
  });

  test('the extension URN as a path: replace merges, remove drops the extension', async () => {
    const merged = await patchUser(user(), { op: 'replace', path: ENTERPRISE, value: { department: 'Ops', manager: 'M1' } });
    assert.deepEqual(merged.data[ENTERPRISE], { employeeNumber: '100', department: 'Ops', manager: { value: 'M1' } });
    const removed = await patchUser(user(), { op: 'remove', path: ENTERPRISE });
    assert.equal(removed.data[ENTERPRISE], undefined);
    assert.deepEqual(removed.data.schemas, [CORE]);
  });

  test('replace of a multi-valued attribute replaces the whole array', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'emails', value: [{ value: 'new@x.com', type: 'home' }] });
    assert.deepEqual(result.data.emails, [{ value: 'new@x.com', type: 'home' }]);
  });

  test('add on a single-valued attribute replaces it', async () => {
    const result = await patchUser(user(), { op: 'add', path: 'userName', value: 'bob@contoso.com' });
    assert.equal(result.data.userName, 'bob@contoso.com');
  });

  test('replace of a complex attribute leaves unmentioned sub-attributes; null unassigns one', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'name', value: { givenName: 'Al', formatted: null } });
    assert.deepEqual(result.data.name, { givenName: 'Al', familyName: 'Smith' });
  });

  test('remove with a path removes the attribute', async () => {
    const result = await patchUser(user(), { op: 'remove', path: 'name.formatted' }, { op: 'remove', path: 'externalId' });
    assert.deepEqual(result.data.name, { givenName: 'Alice', familyName: 'Smith' });
    assert.equal(result.data.externalId, undefined);
  });

  test('remove with a filter removes the matching elements', async () => {
    const data = { ...user(), emails: [{ value: 'a@x', type: 'work' }, { value: 'b@x', type: 'home' }] };
    const result = await patchUser(data, { op: 'remove', path: 'emails[type eq "work"]' });
    assert.deepEqual(result.data.emails, [{ value: 'b@x', type: 'home' }]);
  });

  test('removing the last element unassigns the attribute', async () => {
    const result = await patchUser(user(), { op: 'remove', path: 'emails[type eq "work"]' });
    assert.equal(Object.hasOwn(result.data, 'emails'), false);
  });

  test('remove of an unassigned attribute changes nothing', async () => {
    const result = await patchUser(user(), { op: 'remove', path: 'nickName' });
    assert.equal(result.changed, false);
  });

  test('remove with a filter matching nothing is noTarget', async () => {
    await rejects(patchUser(user(), { op: 'remove', path: 'emails[type eq "home"]' }), 'noTarget');
  });

  test('replace with a filter that matches nothing and describes no element is noTarget', async () => {
    await rejects(patchUser(user(), { op: 'replace', path: 'emails[value co "zzz"].type', value: 'home' }), 'noTarget');
  });

  test('remove without a path is noTarget', async () => {
    await rejects(patchUser(user(), { op: 'remove' }), 'noTarget');
  });

  test('primary true on an added value clears it on the others (RFC 7643 §2.4)', async () => {
    const result = await patchUser(user(), { op: 'add', path: 'emails', value: [{ value: 'b@x', type: 'home', primary: true }] });
    assert.deepEqual(result.data.emails, [
      { value: 'alice@contoso.com', type: 'work', primary: false },
      { value: 'b@x', type: 'home', primary: true },
    ]);
  });

  test('primary set through a filtered path clears it on the others', async () => {
    const data = { ...user(), emails: [{ value: 'a@x', type: 'work', primary: true }, { value: 'b@x', type: 'home' }] };
    const result = await patchUser(data, { op: 'replace', path: 'emails[type eq "home"].primary', value: 'True' });
    assert.deepEqual(result.data.emails, [
      { value: 'a@x', type: 'work', primary: false },
      { value: 'b@x', type: 'home', primary: true },
    ]);
  });

  test('two primary values in one value are invalidValue', async () => {
    await rejects(
      patchUser(user(), { op: 'replace', path: 'emails', value: [{ value: 'a', primary: true }, { value: 'b', primary: true }] }),
      'invalidValue',
    );
  });

  test('a no-op PATCH reports no change', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'active', value: 'True' }, { op: 'replace', path: 'name.givenName', value: 'Alice' });
    assert.equal(result.changed, false);
  });

  test('string booleans without a path', async () => {
    const result = await patchUser(user(), { op: 'Replace', value: { active: 'False' } });
    assert.equal(result.data.active, false);
  });

  test('password is accepted and never stored', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'password', value: 's3cret' }, { op: 'replace', value: { password: 'x' } });
    assert.equal(result.changed, false);
    assert.equal(JSON.stringify(result.data).includes('s3cret'), false);
  });

  test('attribute names are matched case-insensitively and stored in the schema spelling', async () => {
    const result = await patchUser(user(), { op: 'replace', path: 'NAME.GIVENNAME', value: 'X' }, { op: 'add', value: { NickName: 'N' } });
    assert.equal((result.data.name as Record<string, unknown>).givenName, 'X');
    assert.equal(result.data.nickName, 'N');
    assert.equal(result.data.NickName, undefined);
  });

  test('the input data is never modified', async () => {
    const data = user();
    const before = structuredClone(data);
    await patchUser(data, { op: 'remove', path: 'emails' }, { op: 'replace', path: 'name.givenName', value: 'X' });
    assert.deepEqual(data, before);
  });
});

describe('errors', () => {
  test('atomic: a failing second operation throws and applies nothing', async () => {
    const data = user();
    const before = structuredClone(data);
    await rejects(patchUser(data, { op: 'replace', path: 'active', value: false }, { op: 'replace', path: 'nope', value: 1 }), 'invalidPath', /Operations\[1\]/);
    assert.deepEqual(data, before);
  });

  test('readOnly attributes are mutability errors', async () => {
    await rejects(patchUser(user(), { op: 'replace', path: 'meta.lastModified', value: '2020-01-01T00:00:00Z' }), 'mutability');
    await rejects(patchUser(user(), { op: 'add', path: 'groups', value: [{ value: 'g' }] }), 'mutability');
    await rejects(patchUser(user(), { op: 'replace', value: { meta: { version: 'x' } } }), 'mutability');
  });

  test('immutable attributes may be set once but not changed', async () => {
    const type = withImmutableBadge();
    const set = await patch(type, user(), [{ op: 'add', path: 'badge', value: 'B1' }]);
    assert.equal(set.data.badge, 'B1');
    const same = await patch(type, set.data, [{ op: 'replace', path: 'badge', value: 'B1' }]);
    assert.equal(same.changed, false);
    await rejects(patch(type, set.data, [{ op: 'replace', path: 'badge', value: 'B2' }]), 'mutability');
    await rejects(patch(type, set.data, [{ op: 'remove', path: 'badge' }]), 'mutability');
  });

  test('unknown attribute paths are invalidPath', async () => {
    await rejects(patchUser(user(), { op: 'replace', path: 'favouriteColour', value: 'x' }), 'invalidPath');
    await rejects(patchUser(user(), { op: 'replace', value: { favouriteColour: 'x' } }), 'invalidPath');
    await rejects(patchUser(user(), { op: 'replace', path: 'name.nope', value: 'x' }), 'invalidPath');
    await rejects(patchUser(user(), { op: 'replace', path: 'urn:example:ext:1.0:User:x', value: 'x' }), 'invalidPath');
    await rejects(patchUser(user(), { op: 'replace', path: 'emails[type eq', value: 'x' }), 'invalidPath');
  });

  test('a value filter naming an unknown sub-attribute is invalidPath', async () => {
    await rejects(patchUser(user(), { op: 'replace', path: 'emails[colour eq "red"].value', value: 'x' }), 'invalidPath');
    await rejects(patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'remove', path: 'members[colour eq "red"]' }]), 'invalidPath');
  });

  test('removing a required attribute is mutability (RFC 7644 §3.5.2.2)', async () => {
    await rejects(patchUser(user(), { op: 'remove', path: 'userName' }), 'mutability', /userName/);
    await rejects(patchUser(user(), { op: 'replace', path: 'userName', value: null }), 'mutability', /userName/);
    await rejects(patch(GROUP_RESOURCE_TYPE, group(), [{ op: 'replace', value: { displayName: '' } }]), 'mutability', /displayName/);
  });

  test('wrongly typed values are invalidValue', async () => {
    await rejects(patchUser(user(), { op: 'replace', path: 'active', value: 'yes' }), 'invalidValue');
    await rejects(patchUser(user(), { op: 'replace', path: 'userName', value: 5 }), 'invalidValue');
    await rejects(patchUser(user(), { op: 'replace', path: 'name', value: 'Alice' }), 'invalidValue');
    await rejects(patchUser(user(), { op: 'add', path: 'emails', value: [{ value: 'x', color: 'red' }] }), 'invalidValue');
  });

  const invalidBodies: [string, unknown][] = [
    ['not an object', 'hello'],
    ['an array', []],
    ['Operations missing', { schemas: [PATCH_OP_SCHEMA] }],
    ['Operations empty', { schemas: [PATCH_OP_SCHEMA], Operations: [] }],
    ['Operations not an array', { schemas: [PATCH_OP_SCHEMA], Operations: { op: 'add' } }],
    ['op missing', { schemas: [PATCH_OP_SCHEMA], Operations: [{ path: 'active', value: true }] }],
    ['unknown op', { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'move', path: 'active', value: true }] }],
    ['an operation that is not an object', { schemas: [PATCH_OP_SCHEMA], Operations: ['add'] }],
    ['another message schema', { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ op: 'add', path: 'title', value: 'x' }] }],
    ['add without value', { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'add', path: 'title' }] }],
    ['path-less replace with a non-object value', { schemas: [PATCH_OP_SCHEMA], Operations: [{ op: 'replace', value: 'x' }] }],
    ['too many operations', { schemas: [PATCH_OP_SCHEMA], Operations: Array.from({ length: 1001 }, () => ({ op: 'add', path: 'title', value: 'x' })) }],
  ];
  for (const [name, body] of invalidBodies) {
    test(`invalid body: ${name} -> invalidSyntax`, async () => {
      await rejects(applyPatch(USER_RESOURCE_TYPE, user(), body, noMembers), 'invalidSyntax');
    });
  }

  test('a missing schemas member and a lowercase operations key are tolerated', async () => {
    const result = await applyPatch(USER_RESOURCE_TYPE, user(), { operations: [{ op: 'replace', path: 'title', value: 'x' }] }, noMembers);
    assert.equal(result.data.title, 'x');
  });
});

function withImmutableBadge(): ResourceTypeDef {
  const badge = { ...USER_RESOURCE_TYPE.schema.attributes[0]!, name: 'badge', required: false, uniqueness: 'none' as const, mutability: 'immutable' as const };
  return { ...USER_RESOURCE_TYPE, schema: { ...USER_RESOURCE_TYPE.schema, attributes: [...USER_RESOURCE_TYPE.schema.attributes, badge] } };
}
