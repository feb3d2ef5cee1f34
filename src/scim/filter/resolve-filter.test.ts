import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScimError } from '../../domain/errors.ts';
import type { AttributeDef } from '../schema/attribute.ts';
import { defineAttribute } from '../schema/define-attribute.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../schema/resource-types.ts';
import { parseFilter } from './parse-filter.ts';
import { checkFilter, coerceFilterValue } from './resolve-filter.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

const check = (filter: string, type = USER_RESOURCE_TYPE) => checkFilter(parseFilter(filter), type);

function invalid(filter: string, message: RegExp, type = USER_RESOURCE_TYPE) {
  assert.throws(
    () => check(filter, type),
    (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter' && message.test(e.message),
  );
}

describe('checkFilter', () => {
  it('accepts valid filters on users', () => {
    for (const filter of [
      'userName eq "a"',
      'id eq "x" or externalId eq "y"',
      'meta.lastModified gt "2024-01-01T00:00:00Z" and meta.resourceType eq "User"',
      'emails[type eq "work" and value co "@x"]',
      'emails[type eq "work"].value eq "a@b"',
      `${ENTERPRISE}:manager.value eq "M1"`,
      `${ENTERPRISE}:employeeNumber sw "70"`,
      'not (active eq false)',
      'groups[value eq "G1"]',
      'x509Certificates.value pr',
      'name.familyName pr',
    ]) {
      assert.doesNotThrow(() => check(filter), filter);
    }
  });

  it('accepts valid filters on groups', () => {
    assert.doesNotThrow(() => check('displayName eq "Sales"', GROUP_RESOURCE_TYPE));
    assert.doesNotThrow(() => check('members[value eq "U1"]', GROUP_RESOURCE_TYPE));
    assert.doesNotThrow(() => check('members.value eq "U1"', GROUP_RESOURCE_TYPE));
  });

  it('rejects attributes of another resource type', () => {
    invalid('userName eq "a"', /Unknown attribute "userName"/, GROUP_RESOURCE_TYPE);
    invalid('members eq "U1"', /Unknown attribute "members"/);
    invalid(`${ENTERPRISE}:department eq "x"`, /Unknown attribute/, GROUP_RESOURCE_TYPE);
  });

  it('rejects unknown attributes anywhere in the tree', () => {
    invalid('userName eq "a" and (active eq true or bogus pr)', /Unknown attribute "bogus"/);
    invalid('not (bogus pr)', /Unknown attribute "bogus"/);
    invalid('emails[bogus eq "x"]', /Unknown attribute "bogus"/);
    invalid('emails[type eq "work"].bogus eq "x"', /Unknown attribute "bogus"/);
  });

  it('rejects operators that do not fit the attribute type', () => {
    invalid('active co "t"', /boolean/);
    invalid('emails.primary gt false', /boolean/);
    invalid('x509Certificates.value gt "AA"', /binary attributes cannot be ordered/);
    invalid('meta.created sw "2024"', /applies to strings only/);
    invalid('meta.created eq "not a date"', /not a dateTime/);
    invalid('userName lt null', /null/);
  });
});

describe('coerceFilterValue', () => {
  const int: AttributeDef = defineAttribute('count', 'test', { type: 'integer' });
  const str: AttributeDef = defineAttribute('s', 'test');
  const bool: AttributeDef = defineAttribute('b', 'test', { type: 'boolean' });

  it('fits lenient values to the attribute type', () => {
    assert.equal(coerceFilterValue(str, 'eq', 12345), '12345');
    assert.equal(coerceFilterValue(str, 'eq', true), 'true');
    assert.equal(coerceFilterValue(bool, 'eq', 'False'), false);
    assert.equal(coerceFilterValue(int, 'gt', '10'), 10);
    assert.equal(coerceFilterValue(int, 'gt', 10), 10);
    assert.equal(coerceFilterValue(int, 'eq', null), null);
  });

  it('rejects values that cannot fit', () => {
    assert.throws(() => coerceFilterValue(int, 'gt', 'ten'), /not a integer/);
    assert.throws(() => coerceFilterValue(bool, 'eq', 1), /not a boolean/);
  });
});
