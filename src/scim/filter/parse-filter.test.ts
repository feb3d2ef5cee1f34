import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScimError } from '../../domain/errors.ts';
import type { Filter } from './ast.ts';
import { DEFAULT_FILTER_LIMITS, parseFilter } from './parse-filter.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

function invalid(text: string, message: RegExp, limits?: Parameters<typeof parseFilter>[1]) {
  assert.throws(
    () => parseFilter(text, limits),
    (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter' && message.test(e.message),
  );
}

const eq = (attr: string, value: string): Filter => ({ kind: 'compare', path: { attr }, op: 'eq', value });

describe('parseFilter', () => {
  it('parses every comparison operator, case-insensitively', () => {
    for (const op of ['eq', 'ne', 'co', 'sw', 'ew', 'gt', 'ge', 'lt', 'le'] as const) {
      assert.deepEqual(parseFilter(`title ${op} "x"`), { kind: 'compare', path: { attr: 'title' }, op, value: 'x' });
      assert.deepEqual(parseFilter(`title ${op.toUpperCase()} "x"`), { kind: 'compare', path: { attr: 'title' }, op, value: 'x' });
    }
    assert.deepEqual(parseFilter('title PR'), { kind: 'present', path: { attr: 'title' } });
  });

  it('keeps the attribute spelling of the client', () => {
    assert.deepEqual(parseFilter('USERNAME eq "a"'), eq('USERNAME', 'a'));
  });

  it('parses JSON values: escaped strings, numbers, booleans and null', () => {
    assert.equal((parseFilter('title eq "a \\"quoted\\" \\u0041"') as { value: unknown }).value, 'a "quoted" A');
    assert.equal((parseFilter('x eq 42') as { value: unknown }).value, 42);
    assert.equal((parseFilter('x eq -1.5e2') as { value: unknown }).value, -150);
    assert.equal((parseFilter('active eq true') as { value: unknown }).value, true);
    assert.equal((parseFilter('active eq False') as { value: unknown }).value, false);
    assert.equal((parseFilter('title eq null') as { value: unknown }).value, null);
  });

  it('accepts the unquoted values Entra sends as strings', () => {
    assert.deepEqual(parseFilter('userName eq alice@contoso.com'), eq('userName', 'alice@contoso.com'));
    assert.deepEqual(parseFilter('externalId eq 5b2a6c1e-88f0-4a4b-9d55-0a1c2f3e4d5b'), eq('externalId', '5b2a6c1e-88f0-4a4b-9d55-0a1c2f3e4d5b'));
    assert.deepEqual(parseFilter('externalId eq 007'), eq('externalId', '007'));
  });

  it('gives and precedence over or', () => {
    assert.deepEqual(parseFilter('a eq "1" or b eq "2" and c eq "3"'), {
      kind: 'or',
      left: eq('a', '1'),
      right: { kind: 'and', left: eq('b', '2'), right: eq('c', '3') },
    });
    assert.deepEqual(parseFilter('a eq "1" and b eq "2" or c eq "3"'), {
      kind: 'or',
      left: { kind: 'and', left: eq('a', '1'), right: eq('b', '2') },
      right: eq('c', '3'),
    });
  });

  it('chains and/or to the left', () => {
    assert.deepEqual(parseFilter('a eq "1" or b eq "2" or c eq "3"'), {
      kind: 'or',
      left: { kind: 'or', left: eq('a', '1'), right: eq('b', '2') },
      right: eq('c', '3'),
    });
  });

  it('gives not the highest precedence and honours parentheses', () => {
    assert.deepEqual(parseFilter('not (a eq "1") and b eq "2"'), {
      kind: 'and',
      left: { kind: 'not', filter: eq('a', '1') },
      right: eq('b', '2'),
    });
    assert.deepEqual(parseFilter('(a eq "1" or b eq "2") and c eq "3"'), {
      kind: 'and',
      left: { kind: 'or', left: eq('a', '1'), right: eq('b', '2') },
      right: eq('c', '3'),
    });
    assert.deepEqual(parseFilter('NOT(a eq "1")'), { kind: 'not', filter: eq('a', '1') });
    assert.deepEqual(parseFilter('not a eq "1"'), { kind: 'not', filter: eq('a', '1') });
  });

  it('parses value paths', () => {
    assert.deepEqual(parseFilter('emails[type eq "work" and value co "@x"]'), {
      kind: 'valuePath',
      path: { attr: 'emails' },
      filter: { kind: 'and', left: eq('type', 'work'), right: { kind: 'compare', path: { attr: 'value' }, op: 'co', value: '@x' } },
    });
    assert.deepEqual(parseFilter('userType eq "Employee" and emails[type eq "work"]'), {
      kind: 'and',
      left: eq('userType', 'Employee'),
      right: { kind: 'valuePath', path: { attr: 'emails' }, filter: eq('type', 'work') },
    });
  });

  it('reads the Entra match filter emails[type eq "work"].value eq "x" as one element', () => {
    assert.deepEqual(parseFilter('emails[type eq "work"].value eq "a@contoso.com"'), {
      kind: 'valuePath',
      path: { attr: 'emails' },
      filter: { kind: 'and', left: eq('type', 'work'), right: eq('value', 'a@contoso.com') },
    });
  });

  it('splits URN-qualified attribute names', () => {
    assert.deepEqual(parseFilter('urn:ietf:params:scim:schemas:core:2.0:User:userName eq "a"'), {
      kind: 'compare',
      path: { uri: 'urn:ietf:params:scim:schemas:core:2.0:User', attr: 'userName' },
      op: 'eq',
      value: 'a',
    });
    assert.deepEqual(parseFilter(`${ENTERPRISE}:manager.value eq "M1"`), {
      kind: 'compare',
      path: { uri: ENTERPRISE, attr: 'manager', sub: 'value' },
      op: 'eq',
      value: 'M1',
    });
  });

  it('parses sub-attribute paths', () => {
    assert.deepEqual(parseFilter('meta.lastModified gt "2024-01-01T00:00:00Z"'), {
      kind: 'compare',
      path: { attr: 'meta', sub: 'lastModified' },
      op: 'gt',
      value: '2024-01-01T00:00:00Z',
    });
    assert.deepEqual(parseFilter('members.$ref pr'), { kind: 'present', path: { attr: 'members', sub: '$ref' } });
  });

  it('rejects malformed filters with invalidFilter and a position', () => {
    invalid('', /empty/);
    invalid('   ', /empty/);
    invalid('(userName eq "a"', /character 17: expected "\)"/);
    invalid('userName eq "a")', /unexpected "\)"/);
    invalid('userName xx "a"', /character 10: unknown operator "xx"/);
    invalid('userName eq "a" garbage', /unexpected "garbage"/);
    invalid('userName eq', /expected a value after "eq"/);
    invalid('userName', /expected an operator/);
    invalid('userName eq "a', /unterminated string/);
    invalid('userName eq "a" and', /expected an attribute name/);
    invalid('1abc eq "a"', /not a valid attribute path/);
    invalid('a.b.c eq "a"', /not a valid attribute path/);
    invalid('emails[type eq "work"', /expected "\]"/);
    invalid('emails[type eq "work"].', /not a valid sub-attribute/);
    invalid('emails[type eq "work"].value', /expected an operator/);
    invalid('emails[addresses[type eq "x"]]', /cannot be nested/);
    invalid('name.givenName[x eq "y"]', /cannot follow the sub-attribute/);
    invalid('title gt', /expected a value/);
    invalid('"x" eq title', /expected an attribute name/);
  });

  it('has sensible default limits', () => {
    assert.deepEqual(DEFAULT_FILTER_LIMITS, { maxLength: 10_000, maxDepth: 32, maxNodes: 200 });
  });

  it('rejects a 10,000-clause filter cleanly', () => {
    const clauses = Array.from({ length: 10_000 }, (_, i) => `userName eq "u${i}"`);
    invalid(clauses.join(' or '), /longer than 10000 characters/);
    invalid(clauses.join(' or '), /more than 200 terms/, { maxLength: 1_000_000 });
    invalid(clauses.join(' and '), /more than 200 terms/, { maxLength: 1_000_000 });
  });

  it('rejects 10,000 nested parentheses and nots cleanly', () => {
    const nested = `${'('.repeat(10_000)}userName pr${')'.repeat(10_000)}`;
    invalid(nested, /longer than/);
    invalid(nested, /nested more than 32 levels/, { maxLength: 1_000_000 });
    invalid(`${'not ('.repeat(10_000)}userName pr${')'.repeat(10_000)}`, /nested more than 32 levels/, { maxLength: 1_000_000 });
  });

  it('applies custom limits', () => {
    invalid('a pr or b pr or c pr', /more than 2 terms/, { maxNodes: 2 });
    invalid('((a pr))', /nested more than 1 levels/, { maxDepth: 1 });
    invalid('a eq "12345"', /longer than 5 characters/, { maxLength: 5 });
    assert.deepEqual(parseFilter('(a pr)', { maxDepth: 1 }), { kind: 'present', path: { attr: 'a' } });
  });

  it('accepts filters at the default depth limit', () => {
    const depth = DEFAULT_FILTER_LIMITS.maxDepth;
    assert.deepEqual(parseFilter(`${'('.repeat(depth)}a pr${')'.repeat(depth)}`), { kind: 'present', path: { attr: 'a' } });
    invalid(`${'('.repeat(depth + 1)}a pr${')'.repeat(depth + 1)}`, /nested/);
  });
});
