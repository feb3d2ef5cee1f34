import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScimError } from '../../domain/errors.ts';
import { parsePatchPath } from './parse-path.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function invalid(text: string, message: RegExp) {
  assert.throws(
    () => parsePatchPath(text),
    (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidPath' && message.test(e.message),
  );
}

describe('parsePatchPath', () => {
  it('parses a plain attribute', () => {
    assert.deepEqual(parsePatchPath('active'), { attr: { attr: 'active' } });
    assert.deepEqual(parsePatchPath(' displayName '), { attr: { attr: 'displayName' } });
  });

  it('parses a sub-attribute', () => {
    assert.deepEqual(parsePatchPath('name.familyName'), { attr: { attr: 'name', sub: 'familyName' } });
  });

  it('parses URN-qualified paths', () => {
    assert.deepEqual(parsePatchPath(`${ENTERPRISE}:employeeNumber`), { attr: { uri: ENTERPRISE, attr: 'employeeNumber' } });
    assert.deepEqual(parsePatchPath(`${ENTERPRISE}:manager.value`), { attr: { uri: ENTERPRISE, attr: 'manager', sub: 'value' } });
    assert.deepEqual(parsePatchPath('urn:ietf:params:scim:schemas:core:2.0:User:name.givenName'), {
      attr: { uri: 'urn:ietf:params:scim:schemas:core:2.0:User', attr: 'name', sub: 'givenName' },
    });
  });

  it('parses value filters', () => {
    assert.deepEqual(parsePatchPath('members[value eq "U1"]'), {
      attr: { attr: 'members' },
      filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: 'U1' },
    });
    assert.deepEqual(parsePatchPath('members[value eq "a]b"]'), {
      attr: { attr: 'members' },
      filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: 'a]b' },
    });
    assert.deepEqual(parsePatchPath(`${ENTERPRISE}:manager[value eq "M1"]`), {
      attr: { uri: ENTERPRISE, attr: 'manager' },
      filter: { kind: 'compare', path: { attr: 'value' }, op: 'eq', value: 'M1' },
    });
  });

  it('parses a value filter followed by a sub-attribute', () => {
    assert.deepEqual(parsePatchPath('emails[type eq "work"].value'), {
      attr: { attr: 'emails' },
      filter: { kind: 'compare', path: { attr: 'type' }, op: 'eq', value: 'work' },
      sub: 'value',
    });
    assert.deepEqual(parsePatchPath('addresses[type eq "work" and primary eq true].streetAddress'), {
      attr: { attr: 'addresses' },
      filter: {
        kind: 'and',
        left: { kind: 'compare', path: { attr: 'type' }, op: 'eq', value: 'work' },
        right: { kind: 'compare', path: { attr: 'primary' }, op: 'eq', value: true },
      },
      sub: 'streetAddress',
    });
  });

  it('rejects invalid paths with invalidPath', () => {
    invalid('', /empty/);
    invalid('   ', /empty/);
    invalid('9lives', /not an attribute path/);
    invalid('name.givenName.x', /not an attribute path/);
    invalid('emails[type eq "work"', /missing "\]"/);
    invalid('emails[type eq]', /bad value filter/);
    invalid('emails[]', /bad value filter/);
    invalid('emails[type eq "work"]value', /unexpected "value"/);
    invalid('emails[type eq "work"].', /unexpected "\."/);
    invalid('emails[type eq "work"].value.x', /unexpected/);
    invalid('name.givenName[value eq "x"]', /top-level attribute/);
    invalid('user name', /not an attribute path/);
    invalid('foo:bar', /not an attribute path/);
  });
});
