import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from './resource-types.ts';
import {
  canonicalName,
  canonicalPath,
  findKey,
  leafAttribute,
  resolveAttribute,
  resolveSubPath,
  type ResolvedAttribute,
} from './resolve-attribute.ts';
import { USER_SCHEMA } from './user-schema.ts';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const names = (r: ResolvedAttribute | undefined) => r && { schema: r.schema, def: r.def.name, sub: r.sub?.name, common: r.common };

describe('resolveAttribute', () => {
  it('resolves core attributes case-insensitively', () => {
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'USERNAME' })), { schema: CORE, def: 'userName', sub: undefined, common: false });
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'name', sub: 'GIVENNAME' })), {
      schema: CORE,
      def: 'name',
      sub: 'givenName',
      common: false,
    });
  });

  it('resolves common attributes id, externalId and meta.*', () => {
    for (const [attr, sub] of [['id'], ['externalId'], ['EXTERNALID'], ['meta', 'lastModified'], ['meta', 'version'], ['meta']] as const) {
      const resolved = resolveAttribute(USER_RESOURCE_TYPE, { attr, ...(sub && { sub }) });
      assert.equal(resolved?.common, true, attr);
      assert.equal(resolved?.schema, CORE);
    }
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'id' })?.def.caseExact, true);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'id' })?.def.returned, 'always');
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'externalId' })?.def.caseExact, true);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'meta', sub: 'lastModified' })?.sub?.type, 'dateTime');
    assert.equal(resolveAttribute(GROUP_RESOURCE_TYPE, { attr: 'externalId' })?.schema, 'urn:ietf:params:scim:schemas:core:2.0:Group');
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { uri: CORE, attr: 'id' })?.common, true);
  });

  it('resolves URN-qualified attributes, with the URN split or glued', () => {
    const expected = { schema: ENTERPRISE, def: 'manager', sub: 'value', common: false };
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { uri: ENTERPRISE, attr: 'manager', sub: 'value' })), expected);
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { attr: `${ENTERPRISE}:manager`, sub: 'value' })), expected);
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { attr: `${ENTERPRISE}:manager.value` })), expected);
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { uri: ENTERPRISE.toUpperCase(), attr: 'MANAGER', sub: 'VALUE' })), expected);
    assert.deepEqual(names(resolveAttribute(USER_RESOURCE_TYPE, { uri: CORE, attr: 'userName' })), {
      schema: CORE,
      def: 'userName',
      sub: undefined,
      common: false,
    });
  });

  it('falls back to extensions for unqualified names (Entra sends "manager")', () => {
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'manager' })?.schema, ENTERPRISE);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'employeeNumber' })?.schema, ENTERPRISE);
  });

  it('returns undefined for unknown paths', () => {
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'nope' }), undefined);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'name', sub: 'nope' }), undefined);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'userName', sub: 'x' }), undefined);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { uri: 'urn:example:other', attr: 'userName' }), undefined);
    assert.equal(resolveAttribute(USER_RESOURCE_TYPE, { uri: ENTERPRISE, attr: 'userName' }), undefined);
    assert.equal(resolveAttribute(GROUP_RESOURCE_TYPE, { attr: 'manager' }), undefined);
  });
});

describe('resolveSubPath and leafAttribute', () => {
  const emails = resolveAttribute(USER_RESOURCE_TYPE, { attr: 'emails' }) as ResolvedAttribute;

  it('resolves value-filter paths relative to the parent', () => {
    assert.equal(resolveSubPath(emails, { attr: 'TYPE' })?.sub?.name, 'type');
    assert.equal(resolveSubPath(emails, { attr: 'emails', sub: 'value' })?.sub?.name, 'value');
    assert.equal(resolveSubPath(emails, { attr: 'nope' }), undefined);
    assert.equal(resolveSubPath(emails, { uri: CORE, attr: 'type' }), undefined);
  });

  it('picks the compared attribute', () => {
    assert.equal(leafAttribute(emails)?.name, 'value');
    assert.equal(leafAttribute(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'name' }) as ResolvedAttribute), undefined);
    assert.equal(leafAttribute(resolveAttribute(USER_RESOURCE_TYPE, { attr: 'userName' }) as ResolvedAttribute)?.name, 'userName');
  });
});

describe('canonical spelling helpers', () => {
  it('canonicalPath', () => {
    const path = (attr: string, sub?: string) =>
      canonicalPath(USER_RESOURCE_TYPE, resolveAttribute(USER_RESOURCE_TYPE, { attr, ...(sub && { sub }) }) as ResolvedAttribute);
    assert.equal(path('USERNAME'), 'userName');
    assert.equal(path('name', 'givenname'), 'name.givenName');
    assert.equal(path('META', 'LASTMODIFIED'), 'meta.lastModified');
    assert.equal(path('manager', 'value'), `${ENTERPRISE}:manager.value`);
  });

  it('canonicalName and findKey', () => {
    assert.equal(canonicalName(USER_SCHEMA.attributes, 'phonenumbers'), 'phoneNumbers');
    assert.equal(canonicalName(USER_SCHEMA.attributes, 'custom'), 'custom');
    assert.equal(findKey({ userName: 1 }, 'USERNAME'), 'userName');
    assert.equal(findKey({ userName: 1 }, 'other'), undefined);
  });
});
