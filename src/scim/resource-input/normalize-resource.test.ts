import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ScimError, type ScimType } from '../../domain/errors.ts';
import type { ResourceTypeDef } from '../schema/attribute.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../schema/resource-types.ts';
import { extractMembers, normalizeResource } from './normalize-resource.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const GROUP = 'urn:ietf:params:scim:schemas:core:2.0:Group';

function throwsScim(fn: () => unknown, scimType: ScimType, detail?: RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof ScimError, `expected a ScimError, got ${String(error)}`);
    assert.equal(error.status, 400);
    assert.equal(error.scimType, scimType, error.message);
    if (detail) assert.match(error.message, detail);
    return true;
  });
}

/** Entra's POST /Users (interop item 3). */
const entraUser = () => ({
  schemas: [CORE, ENTERPRISE],
  externalId: '0a21f0f2',
  userName: 'Test_User_ab6490ee@contoso.com',
  active: true,
  addresses: null,
  emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b@contoso.com' }],
  meta: { resourceType: 'User' },
  name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
  roles: [],
  [ENTERPRISE]: { employeeNumber: '1', manager: 'M1' },
});

describe('normalizeResource: create', () => {
  test('Entra POST /Users: nulls and empty arrays dropped, meta ignored, manager stored as an object', () => {
    assert.deepEqual(normalizeResource(USER_RESOURCE_TYPE, entraUser(), 'create'), {
      schemas: [CORE, ENTERPRISE],
      externalId: '0a21f0f2',
      userName: 'Test_User_ab6490ee@contoso.com',
      active: true,
      emails: [{ primary: true, type: 'work', value: 'Test_User_fd0ea19b@contoso.com' }],
      name: { formatted: 'givenName familyName', familyName: 'familyName', givenName: 'givenName' },
      [ENTERPRISE]: { employeeNumber: '1', manager: { value: 'M1' } },
    });
  });

  test('Okta POST /Users: password accepted but not stored, groups ignored', () => {
    const data = normalizeResource(
      USER_RESOURCE_TYPE,
      {
        schemas: [CORE],
        userName: 'okta@example.com',
        name: { givenName: 'O', familyName: 'K' },
        emails: [{ primary: true, value: 'okta@example.com', type: 'work' }],
        displayName: 'O K',
        locale: 'en-US',
        externalId: '00u1',
        groups: [],
        password: 'hunter2!',
        active: true,
      },
      'create',
    );
    assert.equal(JSON.stringify(data).includes('hunter2'), false);
    assert.equal(data.password, undefined);
    assert.equal(data.groups, undefined);
    assert.deepEqual(data.schemas, [CORE]);
    assert.equal(data.locale, 'en-US');
  });

  test('keys are matched case-insensitively and written in the schema spelling', () => {
    const data = normalizeResource(
      USER_RESOURCE_TYPE,
      { USERNAME: 'a', Name: { GivenName: 'A' }, Emails: [{ VALUE: 'a@x', Primary: 'True' }], [ENTERPRISE.toUpperCase()]: { DEPARTMENT: 'D' }, ExternalID: 'e' },
      'create',
    );
    assert.deepEqual(data, {
      userName: 'a',
      name: { givenName: 'A' },
      emails: [{ value: 'a@x', primary: true }],
      [ENTERPRISE]: { department: 'D' },
      externalId: 'e',
      schemas: [CORE, ENTERPRISE],
    });
  });

  test('string booleans become booleans (Entra)', () => {
    assert.equal(normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', active: 'False' }, 'create').active, false);
  });

  test('roles keep JSON inside a string value as a string (interop item 14)', () => {
    const value = '{"id":"r1","value":"Admin"}';
    const data = normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', roles: [{ value, primary: false }] }, 'create');
    assert.deepEqual(data.roles, [{ value, primary: false }]);
  });

  test('manager given as an object keeps value and $ref and ignores the readOnly displayName', () => {
    const data = normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', [ENTERPRISE]: { manager: { value: 'M', $ref: '../Users/M', displayName: 'Boss' } } }, 'create');
    assert.deepEqual(data[ENTERPRISE], { manager: { value: 'M', $ref: '../Users/M' } });
  });

  test('an empty extension object is dropped with its schema', () => {
    const data = normalizeResource(USER_RESOURCE_TYPE, { schemas: [CORE, ENTERPRISE], userName: 'a', [ENTERPRISE]: { manager: null } }, 'create');
    assert.deepEqual(data, { userName: 'a', schemas: [CORE] });
  });

  test('Entra POST /Groups: unknown schema URN in schemas is dropped, members left to extractMembers (interop items 9, Okta 6)', () => {
    const body = {
      schemas: [GROUP, 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group'],
      externalId: 'g-1',
      displayName: 'Sales',
      members: [],
    };
    assert.deepEqual(normalizeResource(GROUP_RESOURCE_TYPE, body, 'create'), { schemas: [GROUP], externalId: 'g-1', displayName: 'Sales' });
    assert.deepEqual(extractMembers(body), []);
  });

  test('required attributes', () => {
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { name: { givenName: 'x' } }, 'create'), 'invalidValue', /userName/);
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: '' }, 'create'), 'invalidValue', /userName/);
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: null }, 'create'), 'invalidValue', /userName/);
    throwsScim(() => normalizeResource(GROUP_RESOURCE_TYPE, { members: [] }, 'create'), 'invalidValue', /displayName/);
  });

  test('unknown attributes are rejected with a message naming them', () => {
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', favouriteColour: 'x' }, 'create'), 'invalidValue', /favouriteColour/);
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', name: { nick: 'x' } }, 'create'), 'invalidValue', /name\.nick/);
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', 'name.givenName': 'x' }, 'create'), 'invalidValue', /name\.givenName/);
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', [ENTERPRISE]: { shoeSize: 9 } }, 'create'), 'invalidValue', /shoeSize/);
    throwsScim(
      () => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', 'urn:example:ext:1.0:User': { x: 1 } }, 'create'),
      'invalidValue',
      /urn:example:ext:1\.0:User/,
    );
    throwsScim(() => normalizeResource(GROUP_RESOURCE_TYPE, { displayName: 'g', [ENTERPRISE]: { department: 'x' } }, 'create'), 'invalidValue');
  });

  test('type checks', () => {
    const bad: Record<string, unknown>[] = [
      { active: 'yes' },
      { active: 1 },
      { userName: 5 },
      { name: 'Alice' },
      { emails: { value: 'a@x' } },
      { emails: ['a@x'] },
      { emails: [{ value: 'a', primary: true }, { value: 'b', primary: true }] },
      { [ENTERPRISE]: 'x' },
      { [ENTERPRISE]: { manager: [{ value: 'a' }, { value: 'b' }] } },
      { schemas: 'x' },
    ];
    for (const extra of bad) {
      throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', ...extra }, 'create'), 'invalidValue', undefined);
    }
  });

  test('an attribute given twice in different spellings is rejected', () => {
    throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, { userName: 'a', username: 'b' }, 'create'), 'invalidValue', /more than once/);
  });

  test('a body that is not an object is invalidSyntax', () => {
    for (const body of [null, 'x', [], 3]) throwsScim(() => normalizeResource(USER_RESOURCE_TYPE, body, 'create'), 'invalidSyntax');
  });
});

describe('normalizeResource: replace (PUT, RFC 7644 §3.5.1)', () => {
  const existing = () => normalizeResource(USER_RESOURCE_TYPE, entraUser(), 'create');

  test('Okta PUT echoing id, meta and groups: readOnly values ignored', () => {
    const body = { ...existing(), id: 'u1', meta: { resourceType: 'User', version: 'W/"3"' }, groups: [{ value: 'g1', display: 'G' }], active: false };
    const data = normalizeResource(USER_RESOURCE_TYPE, body, 'replace', existing());
    assert.deepEqual(data, { ...existing(), active: false });
  });

  test('attributes left out are removed', () => {
    const data = normalizeResource(USER_RESOURCE_TYPE, { userName: 'x' }, 'replace', existing());
    assert.deepEqual(data, { userName: 'x', schemas: [CORE] });
  });

  test('immutable attributes: same value accepted, omitted kept, changed rejected', () => {
    const type = withImmutableBadge();
    const before = { userName: 'a', badge: 'B1', schemas: [CORE] };
    assert.deepEqual(normalizeResource(type, { userName: 'a', badge: 'B1' }, 'replace', before), before);
    assert.deepEqual(normalizeResource(type, { userName: 'b' }, 'replace', before), { userName: 'b', badge: 'B1', schemas: [CORE] });
    throwsScim(() => normalizeResource(type, { userName: 'a', badge: 'B2' }, 'replace', before), 'mutability', /badge/);
    assert.equal(normalizeResource(type, { userName: 'a', badge: 'B2' }, 'create').badge, 'B2');
  });
});

describe('extractMembers', () => {
  test('absent or null members', () => {
    assert.equal(extractMembers({ displayName: 'g' }), undefined);
    assert.equal(extractMembers({ displayName: 'g', members: null }), undefined);
  });

  test('members with $ref null, display and type; duplicates collapse', () => {
    assert.deepEqual(
      extractMembers({ Members: [{ $ref: null, value: 'U1' }, { value: 'G1', type: 'Group', display: 'G' }, { value: 'U1' }] }),
      [{ value: 'U1' }, { value: 'G1', type: 'Group' }],
    );
  });

  test('malformed members are invalidValue', () => {
    throwsScim(() => extractMembers({ members: { value: 'U1' } }), 'invalidValue');
    throwsScim(() => extractMembers({ members: [{ display: 'x' }] }), 'invalidValue');
    throwsScim(() => extractMembers({ members: ['U1'] }), 'invalidValue');
    throwsScim(() => extractMembers({ members: [{ value: '' }] }), 'invalidValue');
  });
});

function withImmutableBadge(): ResourceTypeDef {
  const badge = { ...USER_RESOURCE_TYPE.schema.attributes[0]!, name: 'badge', required: false, uniqueness: 'none' as const, mutability: 'immutable' as const };
  return { ...USER_RESOURCE_TYPE, schema: { ...USER_RESOURCE_TYPE.schema, attributes: [...USER_RESOURCE_TYPE.schema.attributes, badge] } };
}
