import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offlineCompiler } from '../../test/support/offline-compiler.ts';
import type { Filter } from '../scim/filter/ast.ts';
import { parseFilter } from '../scim/filter/parse-filter.ts';
import type { ResourceTypeDef } from '../scim/schema/attribute.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../scim/schema/resource-types.ts';
import type { ResourceKind } from '../scim/resource-store.ts';
import { dialectSql } from './dialect-sql.ts';
import { compileFilter } from './filter-sql.ts';
import { ListQueryTemplates } from './list-query-templates.ts';

/** Values that a wrong binding would get wrong: case, Unicode forms, LIKE and quote characters, the markers' own characters. */
const VALUES = ['Ada@Example.com', '', '  spaced  ', 'ÅNGSTRÖM', 'e\u0301', '\u00e9', "O'Brien; DROP TABLE users --", '100%_\\x', '\u0001Rc0e\u0301\u0001', 'İstanbul', 'ß'];

const TEMPLATED = [
  'userName eq "V"',
  'externalId eq "V"',
  'id eq "V"',
  'displayName eq "V"',
  'userName ne "V"',
  'emails[type eq "work" and value eq "V"]',
  'userName eq "V" or externalId eq "V"',
  'not (name.familyName gt "V") and active eq true',
];

/** Their values shape the SQL or reach it transformed (dates, booleans in text, constants, LIKE patterns): every request compiles its own. */
const NOT_TEMPLATED = ['meta.created gt "V"', 'active eq "V"', 'meta.resourceType eq "V"', 'userName co "V"', 'emails.value sw "V"'];

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`list query templates (${dialect})`, () => {
    const db = offlineCompiler(dialect);
    const d = dialectSql(dialect);
    const build = (kind: ResourceKind, type: ResourceTypeDef) => (filter: Filter | undefined, tenant: unknown, limit: unknown) => {
      const base = db.selectFrom(`${kind === 'User' ? 'users' : 'groups'} as r`).select(['r.id', 'r.data']).where('r.tenant_id', '=', tenant);
      return (filter ? base.where(compileFilter(filter, type, kind, d)) : base).orderBy('r.id').limit(limit as number).offset(0);
    };

    it('bind each value exactly as compiling the query with that value would', () => {
      const templates = new ListQueryTemplates();
      for (const text of TEMPLATED) {
        for (const value of VALUES) {
          const filter = parseFilter(text.replaceAll('"V"', JSON.stringify(value)));
          const expected = build('User', USER_RESOURCE_TYPE)(filter, 'tenant-1', 25).compile();
          const got = templates.compiled(USER_RESOURCE_TYPE, 'User', filter, ['tenant-1', 25], build('User', USER_RESOURCE_TYPE));
          assert.ok(got, `${text} is templated`);
          assert.equal(got.sql, expected.sql, `${text} with ${JSON.stringify(value)}`);
          assert.deepEqual(got.parameters, expected.parameters, `${text} with ${JSON.stringify(value)}`);
        }
      }
    });

    it('leave shapes whose values shape the SQL to per-request compiling', () => {
      const templates = new ListQueryTemplates();
      for (const text of NOT_TEMPLATED) {
        for (const value of ['2026-01-01T00:00:00Z', 'True', 'User']) {
          const filter = parseFilter(text.replaceAll('"V"', JSON.stringify(value)));
          assert.equal(templates.compiled(USER_RESOURCE_TYPE, 'User', filter, ['t', 10], build('User', USER_RESOURCE_TYPE)), undefined, text);
        }
      }
    });

    it('keep templates apart by schema and key', () => {
      const templates = new ListQueryTemplates();
      const filter = parseFilter('displayName eq "Analysts"');
      const group = templates.compiled(GROUP_RESOURCE_TYPE, 'Group', filter, ['t', 10], build('Group', GROUP_RESOURCE_TYPE))!;
      const user = templates.compiled(USER_RESOURCE_TYPE, 'User', filter, ['t', 10], build('User', USER_RESOURCE_TYPE))!;
      assert.match(group.sql, /"groups"/);
      assert.match(user.sql, /"users"/);
      assert.deepEqual(group.parameters, build('Group', GROUP_RESOURCE_TYPE)(filter, 't', 10).compile().parameters);
    });
  });
}
