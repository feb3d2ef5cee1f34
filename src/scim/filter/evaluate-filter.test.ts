import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScimError } from '../../domain/errors.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../schema/resource-types.ts';
import { resolveAttribute, type ResolvedAttribute } from '../schema/resolve-attribute.ts';
import { matchesElement, matchesFilter } from './evaluate-filter.ts';
import { parseFilter } from './parse-filter.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const alice: Record<string, unknown> = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:User', ENTERPRISE],
  id: 'User-ABC',
  externalId: 'Ext-1',
  userName: 'Alice@Contoso.com',
  name: { formatted: 'Alice Smith', familyName: 'Smith', givenName: 'Alice' },
  displayName: 'Alice Smith',
  title: '',
  active: true,
  emails: [
    { type: 'work', value: 'alice@contoso.com', primary: true },
    { type: 'home', value: 'alice@home.example' },
  ],
  phoneNumbers: [],
  addresses: null,
  roles: [],
  meta: {
    resourceType: 'User',
    created: '2024-01-15T10:00:00Z',
    lastModified: '2024-06-01T12:00:00Z',
    location: 'https://rolecall.example/scim/v2/Users/User-ABC',
    version: 'W/"3"',
  },
  [ENTERPRISE]: { employeeNumber: '701984', department: 'Sales', manager: { value: 'M1', displayName: 'Bob' } },
};

const sales = {
  schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'],
  id: 'G1',
  displayName: 'Sales',
  members: [
    { value: 'U1', type: 'User', display: 'alice' },
    { value: 'U2', type: 'User' },
  ],
};

const user = (filter: string, resource = alice) => matchesFilter(parseFilter(filter), resource, USER_RESOURCE_TYPE);
const group = (filter: string) => matchesFilter(parseFilter(filter), sales, GROUP_RESOURCE_TYPE);

function invalid(filter: string, message: RegExp) {
  assert.throws(
    () => user(filter),
    (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter' && message.test(e.message),
  );
}

describe('matchesFilter: operators on strings', () => {
  it('eq / ne', () => {
    assert.equal(user('displayName eq "Alice Smith"'), true);
    assert.equal(user('displayName eq "Bob"'), false);
    assert.equal(user('displayName ne "Bob"'), true);
    assert.equal(user('displayName ne "alice smith"'), false);
  });

  it('co / sw / ew', () => {
    assert.equal(user('displayName co "ce Sm"'), true);
    assert.equal(user('displayName co "xyz"'), false);
    assert.equal(user('displayName sw "ali"'), true);
    assert.equal(user('displayName sw "Smith"'), false);
    assert.equal(user('displayName ew "SMITH"'), true);
    assert.equal(user('displayName ew "Alice"'), false);
  });

  it('gt / ge / lt / le compare strings lexicographically', () => {
    assert.equal(user('displayName gt "Alice"'), true);
    assert.equal(user('displayName gt "Bob"'), false);
    assert.equal(user('displayName ge "alice smith"'), true);
    assert.equal(user('displayName lt "Bob"'), true);
    assert.equal(user('displayName lt "Alice"'), false);
    assert.equal(user('displayName le "ALICE SMITH"'), true);
  });

  it('pr: present and non-empty', () => {
    assert.equal(user('userName pr'), true);
    assert.equal(user('title pr'), false, 'empty string');
    assert.equal(user('nickName pr'), false, 'absent');
    assert.equal(user('addresses pr'), false, 'null');
    assert.equal(user('roles pr'), false, 'empty array');
    assert.equal(user('emails pr'), true);
    assert.equal(user('name pr'), true);
    assert.equal(user('name.middleName pr'), false);
    assert.equal(user('emails.primary pr'), true);
  });

  it('an absent attribute matches ne and fails every other comparison', () => {
    assert.equal(user('nickName ne "x"'), true);
    assert.equal(user('nickName eq "x"'), false);
    assert.equal(user('nickName gt "a"'), false);
    assert.equal(user('nickName co "a"'), false);
  });

  it('eq null means not present', () => {
    assert.equal(user('nickName eq null'), true);
    assert.equal(user('title eq null'), true);
    assert.equal(user('userName eq null'), false);
    assert.equal(user('userName ne null'), true);
  });
});

describe('matchesFilter: caseExact', () => {
  it('userName is case-insensitive', () => {
    assert.equal(user('userName eq "alice@contoso.com"'), true);
    assert.equal(user('userName eq "ALICE@CONTOSO.COM"'), true);
  });

  it('id and externalId are caseExact', () => {
    assert.equal(user('id eq "User-ABC"'), true);
    assert.equal(user('id eq "user-abc"'), false);
    assert.equal(user('externalId eq "Ext-1"'), true);
    assert.equal(user('externalId eq "ext-1"'), false);
    assert.equal(user('externalId sw "Ext"'), true);
    assert.equal(user('externalId sw "ext"'), false);
  });

  it('attribute names and operators are case-insensitive', () => {
    assert.equal(user('USERNAME EQ "alice@contoso.com"'), true);
    assert.equal(user('Name.GivenName Eq "alice"'), true);
    assert.equal(user('EMAILS[TYPE eq "work"]'), true);
    assert.equal(user(`${ENTERPRISE.toUpperCase()}:DEPARTMENT eq "sales"`), true);
  });

  it('finds JSON keys case-insensitively', () => {
    assert.equal(user('userName eq "x"', { USERNAME: 'X' }), true);
  });
});

describe('matchesFilter: other types', () => {
  it('booleans: eq and ne, also against strings as Entra sends them', () => {
    assert.equal(user('active eq true'), true);
    assert.equal(user('active eq false'), false);
    assert.equal(user('active ne false'), true);
    assert.equal(user('active eq "True"'), true);
    assert.equal(user('active eq false', { ...alice, active: 'False' }), true);
  });

  it('booleans reject other operators', () => {
    for (const op of ['co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le']) invalid(`active ${op} true`, /boolean attributes support only eq and ne/);
    invalid('active eq "yes"', /not a boolean/);
  });

  it('dateTime values compare as instants', () => {
    assert.equal(user('meta.lastModified gt "2024-01-01T00:00:00Z"'), true);
    assert.equal(user('meta.lastModified gt "2024-06-01T12:00:00Z"'), false);
    assert.equal(user('meta.lastModified ge "2024-06-01T12:00:00Z"'), true);
    assert.equal(user('meta.lastModified eq "2024-06-01T14:00:00+02:00"'), true, 'same instant, other offset');
    assert.equal(user('meta.lastModified lt "2024-06-01T13:00:00+02:00"'), false, 'later text, earlier instant');
    assert.equal(user('meta.created le "2024-01-15T10:00:00.000Z"'), true);
    assert.equal(user('meta.created lt "2024-01-15T10:00:00Z"'), false);
    invalid('meta.lastModified gt "yesterday"', /not a dateTime/);
    invalid('meta.lastModified co "2024"', /applies to strings only/);
  });

  it('null only with eq and ne', () => {
    invalid('userName gt null', /only eq and ne accept null/);
  });

  it('unknown attributes are invalidFilter', () => {
    invalid('foo eq "x"', /Unknown attribute "foo"/);
    invalid('name.nope eq "x"', /Unknown attribute "name.nope"/);
    invalid('urn:example:unknown:attr eq "x"', /Unknown attribute/);
    invalid('emails[nope eq "x"]', /Unknown attribute "nope"/);
    invalid('userName.x eq "x"', /Unknown attribute/);
  });

  it('rejects unknown attributes even where evaluation would short-circuit', () => {
    invalid('userName pr or foo eq "x"', /Unknown attribute "foo"/);
    invalid('nickName pr and active gt true', /boolean attributes/);
  });

  it('a complex attribute without value cannot be compared', () => {
    invalid('name eq "Alice"', /is complex/);
  });
});

describe('matchesFilter: logic and multi-valued attributes', () => {
  it('and / or / not with precedence', () => {
    assert.equal(user('userName eq "x" or displayName sw "A" and active eq true'), true);
    assert.equal(user('(userName eq "x" or displayName sw "A") and active eq false'), false);
    assert.equal(user('userName eq "x" or displayName sw "B" and active eq true'), false);
    assert.equal(user('not (userName eq "x")'), true);
    assert.equal(user('not (userName pr) or active eq true'), true);
    assert.equal(user('not (not (userName pr))'), true);
  });

  it('a multi-valued attribute matches when any value matches', () => {
    assert.equal(user('emails.value eq "alice@home.example"'), true);
    assert.equal(user('emails.type eq "home"'), true);
    assert.equal(user('emails.value ew "@nowhere"'), false);
  });

  it('a complex multi-valued attribute without sub-attribute compares its value', () => {
    assert.equal(user('emails co "home"'), true);
    assert.equal(user('emails eq "alice@contoso.com"'), true);
    assert.equal(group('members eq "U2"'), true);
    assert.equal(group('members eq "U3"'), false);
  });

  it('value paths test one element at a time', () => {
    assert.equal(user('emails[type eq "work" and value co "contoso"]'), true);
    assert.equal(user('emails[type eq "home" and value co "contoso"]'), false, 'the conditions match different elements');
    assert.equal(user('emails[not (type eq "work")]'), true);
    assert.equal(user('emails[primary eq true]'), true);
    assert.equal(user('phoneNumbers[type eq "work"]'), false);
    assert.equal(group('members[value eq "U1" and display pr]'), true);
    assert.equal(group('members[value eq "U2" and display pr]'), false);
  });

  it('value paths on a single complex attribute', () => {
    assert.equal(user(`${ENTERPRISE}:manager[value eq "M1"]`), true);
    assert.equal(user('manager[value eq "M2"]'), false);
  });

  it('rejects value paths on simple attributes', () => {
    invalid('userName[value eq "x"]', /neither multi-valued nor complex/);
  });
});

describe('matchesFilter: what Entra and Okta send', () => {
  it('userName eq for test connection and matching', () => {
    assert.equal(user('userName eq "3f1e2d6c-9b8a-4f7e-8d6c-5b4a3f2e1d0c"'), false);
    assert.equal(user('userName eq "alice@contoso.com"'), true);
    assert.equal(user('userName eq alice@contoso.com'), true, 'unquoted');
  });

  it('externalId eq', () => {
    assert.equal(user('externalId eq "Ext-1"'), true);
    assert.equal(user('externalId eq Ext-1'), true);
    assert.equal(user('externalId eq 12345', { ...alice, externalId: '12345' }), true, 'unquoted number');
  });

  it('emails[type eq "work"].value eq "x"', () => {
    assert.equal(user('emails[type eq "work"].value eq "alice@contoso.com"'), true);
    assert.equal(user('emails[type eq "work"].value eq "ALICE@contoso.com"'), true, 'emails.value is not caseExact');
    assert.equal(user('emails[type eq "work"].value eq "alice@home.example"'), false, 'value is on the home element');
  });

  it('displayName eq on groups', () => {
    assert.equal(group('displayName eq "Sales"'), true);
    assert.equal(group('displayName eq "sales"'), true);
    assert.equal(group('displayName eq "Marketing"'), false);
  });

  it('extension attributes, qualified or not', () => {
    assert.equal(user(`${ENTERPRISE}:employeeNumber eq "701984"`), true);
    assert.equal(user(`${ENTERPRISE}:manager.value eq "M1"`), true);
    assert.equal(user(`${ENTERPRISE}:manager eq "M1"`), true);
    assert.equal(user('department eq "Sales"'), true);
    const plainManager = { ...alice, [ENTERPRISE]: { manager: 'M1' } };
    assert.equal(user(`${ENTERPRISE}:manager eq "M1"`, plainManager), true, 'manager as a plain id');
    assert.equal(user(`${ENTERPRISE}:manager.value eq "M1"`, plainManager), true);
    assert.equal(user(`${ENTERPRISE}:manager.displayName pr`, plainManager), false);
  });

  it('URN-qualified core attributes', () => {
    assert.equal(user('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "alice@contoso.com"'), true);
    assert.equal(user('urn:ietf:params:scim:schemas:core:2.0:User:name.familyName eq "smith"'), true);
  });
});

describe('matchesElement', () => {
  const emails = resolveAttribute(USER_RESOURCE_TYPE, { attr: 'emails' }) as ResolvedAttribute;

  it('evaluates a value filter against one element', () => {
    const filter = parseFilter('type eq "work" and value ew "@contoso.com"');
    assert.equal(matchesElement(filter, { type: 'work', value: 'a@contoso.com' }, emails, USER_RESOURCE_TYPE), true);
    assert.equal(matchesElement(filter, { type: 'home', value: 'a@contoso.com' }, emails, USER_RESOURCE_TYPE), false);
    assert.equal(matchesElement(parseFilter('display pr'), { value: 'x' }, emails, USER_RESOURCE_TYPE), false);
  });

  it('addresses a multi-valued attribute of simple values as value', () => {
    const schemas = { schema: USER_RESOURCE_TYPE.schema.id, def: { ...emails.def, name: 'tags', type: 'string' as const, subAttributes: undefined }, common: false };
    assert.equal(matchesElement(parseFilter('value eq "blue"'), 'Blue', schemas, USER_RESOURCE_TYPE), true);
    assert.equal(matchesElement(parseFilter('value sw "r"'), 'Blue', schemas, USER_RESOURCE_TYPE), false);
  });

  it('rejects unknown sub-attributes and nested value filters', () => {
    assert.throws(() => matchesElement(parseFilter('nope eq "x"'), {}, emails, USER_RESOURCE_TYPE), /Unknown attribute "nope"/);
    assert.throws(() => matchesElement(parseFilter('value gt null'), {}, emails, USER_RESOURCE_TYPE), /only eq and ne/);
  });
});
