import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseAttributeList, projectAttributes } from './project-attributes.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from './resource-types.ts';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const meta = { resourceType: 'User', created: '2024-01-01T00:00:00Z', lastModified: '2024-01-02T00:00:00Z', location: 'https://x/Users/U1', version: 'W/"1"' };
const user: Record<string, unknown> = {
  schemas: [CORE, ENTERPRISE],
  id: 'U1',
  externalId: 'E1',
  userName: 'alice',
  password: 'secret',
  name: { givenName: 'Alice', familyName: 'Smith' },
  emails: [
    { type: 'work', value: 'a@x.com', primary: true },
    { type: 'home', value: 'a@home.example' },
  ],
  active: true,
  meta,
  [ENTERPRISE]: { department: 'Sales', employeeNumber: '7', manager: { value: 'M1', displayName: 'Bob' } },
};

const project = (attributes?: string[], excluded?: string[]) => projectAttributes(user, USER_RESOURCE_TYPE, attributes, excluded);

describe('parseAttributeList', () => {
  it('splits and trims', () => {
    assert.deepEqual(parseAttributeList('userName, name.givenName ,emails'), ['userName', 'name.givenName', 'emails']);
    assert.deepEqual(parseAttributeList(' a ,, b '), ['a', 'b']);
  });

  it('is undefined when nothing is asked', () => {
    assert.equal(parseAttributeList(undefined), undefined);
    assert.equal(parseAttributeList(''), undefined);
    assert.equal(parseAttributeList(' , '), undefined);
  });
});

describe('projectAttributes', () => {
  it('returns default attributes and meta, never the password', () => {
    const { password, ...expected } = user;
    assert.equal(password, 'secret');
    assert.deepEqual(project(), expected);
    assert.deepEqual(project([], []), expected);
  });

  it('attributes= keeps the named attributes plus id and schemas', () => {
    assert.deepEqual(project(['userName']), { schemas: [CORE, ENTERPRISE], id: 'U1', userName: 'alice' });
    assert.deepEqual(project(['USERNAME', 'Active']), { schemas: [CORE, ENTERPRISE], id: 'U1', userName: 'alice', active: true });
  });

  it('the default view drops password in any spelling and keeps unknown keys, like the full walk', () => {
    const odd = { ...user, Password: 'x', PASSWORD: 'y', 'urn:example:unknown': { k: 1 } };
    const { password: _p, ...expected } = user;
    assert.deepEqual(projectAttributes(odd, USER_RESOURCE_TYPE), { ...expected, 'urn:example:unknown': { k: 1 } });
  });

  it('never returns password even when asked', () => {
    assert.equal('password' in project(['password']), false);
  });

  it('selects sub-attributes', () => {
    assert.deepEqual(project(['name.givenName']), { schemas: user.schemas, id: 'U1', name: { givenName: 'Alice' } });
    assert.deepEqual(project(['emails.value']), { schemas: user.schemas, id: 'U1', emails: [{ value: 'a@x.com' }, { value: 'a@home.example' }] });
    assert.deepEqual(project(['meta.lastModified']), { schemas: user.schemas, id: 'U1', meta: { lastModified: '2024-01-02T00:00:00Z' } });
    assert.deepEqual(project(['name.givenName', 'name']), { schemas: user.schemas, id: 'U1', name: user.name }, 'whole wins');
  });

  it('omits a complex attribute left empty by a sub-attribute selection', () => {
    assert.deepEqual(project(['name.middleName']), { schemas: user.schemas, id: 'U1' });
  });

  it('selects extension attributes by URN', () => {
    assert.deepEqual(project([`${ENTERPRISE}:department`]), { schemas: user.schemas, id: 'U1', [ENTERPRISE]: { department: 'Sales' } });
    assert.deepEqual(project([`${ENTERPRISE}:manager.value`]), { schemas: user.schemas, id: 'U1', [ENTERPRISE]: { manager: { value: 'M1' } } });
    assert.deepEqual(project([ENTERPRISE]), { schemas: user.schemas, id: 'U1', [ENTERPRISE]: user[ENTERPRISE] });
    assert.deepEqual(project(['department']), { schemas: user.schemas, id: 'U1', [ENTERPRISE]: { department: 'Sales' } });
  });

  it('accepts URN-qualified core attributes', () => {
    assert.deepEqual(project([`${CORE}:userName`, `${CORE}:name.familyName`]), {
      schemas: user.schemas,
      id: 'U1',
      userName: 'alice',
      name: { familyName: 'Smith' },
    });
  });

  it('ignores unknown names in attributes=', () => {
    assert.deepEqual(project(['nope', 'userName']), { schemas: user.schemas, id: 'U1', userName: 'alice' });
  });

  it('excludedAttributes removes attributes but never id or schemas', () => {
    const result = project(undefined, ['emails', 'meta', 'id', 'schemas', `${ENTERPRISE}:manager`]);
    assert.equal('emails' in result, false);
    assert.equal('meta' in result, false);
    assert.equal(result.id, 'U1');
    assert.deepEqual(result.schemas, user.schemas);
    assert.deepEqual(result[ENTERPRISE], { department: 'Sales', employeeNumber: '7' });
    assert.equal(result.userName, 'alice');
  });

  it('excludedAttributes removes sub-attributes and whole extensions', () => {
    const result = project(undefined, ['name.givenName', 'emails.type', ENTERPRISE]);
    assert.deepEqual(result.name, { familyName: 'Smith' });
    assert.deepEqual(result.emails, [
      { value: 'a@x.com', primary: true },
      { value: 'a@home.example' },
    ]);
    assert.equal(ENTERPRISE in result, false);
  });

  it('excludedAttributes=members on groups', () => {
    const group = { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], id: 'G1', displayName: 'Sales', members: [{ value: 'U1' }], meta };
    assert.deepEqual(projectAttributes(group, GROUP_RESOURCE_TYPE, undefined, ['members']), {
      schemas: group.schemas,
      id: 'G1',
      displayName: 'Sales',
      meta,
    });
    assert.deepEqual(projectAttributes(group, GROUP_RESOURCE_TYPE, ['displayName']), { schemas: group.schemas, id: 'G1', displayName: 'Sales' });
  });

  it('keeps keys outside the schema unless attributes= narrows the result', () => {
    const adscim = 'http://schemas.microsoft.com/2006/11/ResourceManagement/ADSCIM/2.0/Group';
    const group = { schemas: [adscim], id: 'G1', displayName: 'Sales', [adscim]: { x: 1 } };
    assert.deepEqual(projectAttributes(group, GROUP_RESOURCE_TYPE), group);
    assert.deepEqual(projectAttributes(group, GROUP_RESOURCE_TYPE, ['displayName']), { schemas: [adscim], id: 'G1', displayName: 'Sales' });
  });

  it('does not modify its input', () => {
    const before = structuredClone(user);
    project(['name.givenName'], ['emails']);
    assert.deepEqual(user, before);
  });
});
