import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { resourceTypesResource, schemasResource, serviceProviderConfig } from './discovery.ts';

const BASE = 'https://rolecall.example/scim/v2/';

/** Every path in `value` whose value is null or undefined. */
function nulls(value: unknown, path = '$'): string[] {
  if (value === null || value === undefined) return [path];
  if (Array.isArray(value)) return value.flatMap((v, i) => nulls(v, `${path}[${i}]`));
  if (typeof value === 'object') return Object.entries(value).flatMap(([k, v]) => nulls(v, `${path}.${k}`));
  return [];
}

const CHARACTERISTICS = ['name', 'type', 'multiValued', 'description', 'required', 'caseExact', 'mutability', 'returned', 'uniqueness', 'canonicalValues'];

function attributesOf(schema: Record<string, unknown>): Record<string, unknown>[] {
  const walk = (attrs: Record<string, unknown>[]): Record<string, unknown>[] =>
    attrs.flatMap((a) => [a, ...walk((a.subAttributes as Record<string, unknown>[] | undefined) ?? [])]);
  return walk(schema.attributes as Record<string, unknown>[]);
}

const config = serviceProviderConfig({ baseUrl: BASE, bulk: { maxOperations: 1000, maxPayloadSize: 1_048_576 }, filterMaxResults: 200 });

describe('serviceProviderConfig', () => {
  it('describes the supported features (RFC 7643 §5)', () => {
    assert.deepEqual(config.schemas, ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
    assert.deepEqual(config.patch, { supported: true });
    assert.deepEqual(config.bulk, { supported: true, maxOperations: 1000, maxPayloadSize: 1_048_576 });
    assert.deepEqual(config.filter, { supported: true, maxResults: 200 });
    assert.deepEqual(config.changePassword, { supported: false });
    assert.deepEqual(config.sort, { supported: true });
    assert.deepEqual(config.etag, { supported: true });
    const [scheme] = config.authenticationSchemes as Record<string, unknown>[];
    assert.equal(scheme?.type, 'oauthbearertoken');
    assert.equal(typeof scheme?.name, 'string');
    assert.equal(typeof scheme?.description, 'string');
    assert.deepEqual(config.meta, { resourceType: 'ServiceProviderConfig', location: 'https://rolecall.example/scim/v2/ServiceProviderConfig' });
  });

  it('has no null anywhere and omits an absent documentationUri', () => {
    assert.deepEqual(nulls(config), []);
    assert.equal('documentationUri' in config, false);
    const documented = serviceProviderConfig({ baseUrl: BASE, bulk: { maxOperations: 1, maxPayloadSize: 2 }, filterMaxResults: 3, documentationUri: 'https://docs' });
    assert.equal(documented.documentationUri, 'https://docs');
    assert.deepEqual(nulls(documented), []);
  });
});

describe('schemasResource', () => {
  const schemas = schemasResource(BASE);

  it('serves User, EnterpriseUser and Group as RFC 7643 §7 resources', () => {
    assert.deepEqual(
      schemas.map((s) => s.id),
      [
        'urn:ietf:params:scim:schemas:core:2.0:User',
        'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User',
        'urn:ietf:params:scim:schemas:core:2.0:Group',
      ],
    );
    for (const schema of schemas) {
      assert.deepEqual(schema.schemas, ['urn:ietf:params:scim:schemas:core:2.0:Schema']);
      assert.equal(typeof schema.name, 'string');
      assert.equal(typeof schema.description, 'string');
      assert.deepEqual(schema.meta, { resourceType: 'Schema', location: `https://rolecall.example/scim/v2/Schemas/${schema.id as string}` });
    }
  });

  it('has no null anywhere', () => {
    assert.deepEqual(nulls(schemas), []);
  });

  it('spells out every characteristic of every attribute', () => {
    for (const schema of schemas) {
      for (const attr of attributesOf(schema)) {
        for (const key of CHARACTERISTICS) assert.ok(key in attr, `${schema.id as string} ${attr.name as string} lacks ${key}`);
        if (attr.type === 'complex') assert.ok(Array.isArray(attr.subAttributes) && attr.subAttributes.length > 0, `${attr.name as string} subAttributes`);
        if (attr.type === 'reference') assert.ok(Array.isArray(attr.referenceTypes) && attr.referenceTypes.length > 0, `${attr.name as string} referenceTypes`);
      }
    }
  });

  it('keeps the common attributes out of the served schemas (RFC 7643 §8.7.1)', () => {
    for (const schema of schemas) {
      const names = (schema.attributes as { name: string }[]).map((a) => a.name);
      for (const common of ['id', 'externalId', 'meta']) assert.equal(names.includes(common), false, `${schema.id as string} ${common}`);
    }
  });

  it('lists the complete core User schema', () => {
    const user = schemas[0] as Record<string, unknown>;
    const byName = new Map((user.attributes as Record<string, unknown>[]).map((a) => [a.name, a]));
    assert.deepEqual([...byName.keys()], [
      'userName', 'name', 'displayName', 'nickName', 'profileUrl', 'title', 'userType', 'preferredLanguage', 'locale', 'timezone',
      'active', 'password', 'emails', 'phoneNumbers', 'ims', 'photos', 'addresses', 'groups', 'entitlements', 'roles', 'x509Certificates',
    ]);
    assert.deepEqual(
      { required: byName.get('userName')?.required, caseExact: byName.get('userName')?.caseExact, uniqueness: byName.get('userName')?.uniqueness },
      { required: true, caseExact: false, uniqueness: 'server' },
    );
    assert.deepEqual([byName.get('password')?.mutability, byName.get('password')?.returned], ['writeOnly', 'never']);
    assert.equal(byName.get('active')?.type, 'boolean');
    assert.equal(byName.get('groups')?.mutability, 'readOnly');
    const subNames = (name: string) => (byName.get(name)?.subAttributes as { name: string }[]).map((s) => s.name);
    assert.deepEqual(subNames('name'), ['formatted', 'familyName', 'givenName', 'middleName', 'honorificPrefix', 'honorificSuffix']);
    assert.deepEqual(subNames('addresses'), ['formatted', 'streetAddress', 'locality', 'region', 'postalCode', 'country', 'type', 'primary']);
    assert.deepEqual(subNames('groups'), ['value', '$ref', 'display', 'type']);
  });

  it('lists the Enterprise User and Group schemas', () => {
    const enterprise = schemas[1] as Record<string, unknown>;
    const names = (enterprise.attributes as { name: string }[]).map((a) => a.name);
    assert.deepEqual(names, ['employeeNumber', 'costCenter', 'organization', 'division', 'department', 'manager']);
    const manager = (enterprise.attributes as Record<string, unknown>[])[5] as { subAttributes: { name: string }[] };
    assert.deepEqual(manager.subAttributes.map((s) => s.name), ['value', '$ref', 'displayName']);
    const group = schemas[2] as Record<string, unknown>;
    const [displayName, members] = group.attributes as Record<string, unknown>[];
    assert.deepEqual([displayName?.name, displayName?.required, displayName?.uniqueness], ['displayName', true, 'server']);
    const memberSubs = members?.subAttributes as Record<string, unknown>[];
    assert.deepEqual(memberSubs.map((s) => s.name), ['value', '$ref', 'display', 'type']);
    assert.deepEqual(memberSubs.find((s) => s.name === 'type')?.canonicalValues, ['User', 'Group']);
    assert.deepEqual(memberSubs.find((s) => s.name === '$ref')?.referenceTypes, ['User', 'Group']);
    assert.ok(memberSubs.filter((s) => s.name !== 'display').every((s) => s.mutability === 'immutable' && s.required === false));
  });
});

describe('resourceTypesResource', () => {
  const types = resourceTypesResource('https://rolecall.example/scim/v2');

  it('describes User and Group (RFC 7643 §6)', () => {
    assert.deepEqual(types, [
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
        id: 'User',
        name: 'User',
        endpoint: '/Users',
        description: 'User Account',
        schema: 'urn:ietf:params:scim:schemas:core:2.0:User',
        schemaExtensions: [{ schema: 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User', required: false }],
        meta: { resourceType: 'ResourceType', location: 'https://rolecall.example/scim/v2/ResourceTypes/User' },
      },
      {
        schemas: ['urn:ietf:params:scim:schemas:core:2.0:ResourceType'],
        id: 'Group',
        name: 'Group',
        endpoint: '/Groups',
        description: 'Group',
        schema: 'urn:ietf:params:scim:schemas:core:2.0:Group',
        schemaExtensions: [],
        meta: { resourceType: 'ResourceType', location: 'https://rolecall.example/scim/v2/ResourceTypes/Group' },
      },
    ]);
    assert.deepEqual(nulls(types), []);
  });
});
