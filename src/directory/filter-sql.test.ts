import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offlineCompiler } from '../../test/support/offline-compiler.ts';
import { ScimError } from '../domain/errors.ts';
import { parseFilter } from '../scim/filter/parse-filter.ts';
import { ENTERPRISE_USER_SCHEMA_ID } from '../scim/schema/enterprise-user-schema.ts';
import { USER_RESOURCE_TYPE } from '../scim/schema/resource-types.ts';
import { dialectSql, escapeLike } from './dialect-sql.ts';
import { compileFilter, compileSort } from './filter-sql.ts';

const HOSTILE = ["' OR 1=1 --", '"; DROP TABLE users; --', 'x\') UNION SELECT * FROM api_tokens --', '$1 ? :name', 'Ünïcødé 𝔘'];

for (const dialect of ['sqlite', 'postgres'] as const) {
  describe(`filter SQL (${dialect})`, () => {
    const db = offlineCompiler(dialect);
    const d = dialectSql(dialect);
    const compile = (filter: string) =>
      db.selectFrom('users as r').selectAll().where(compileFilter(parseFilter(filter), USER_RESOURCE_TYPE, 'User', d)).compile();

    it('binds every value as a parameter, never as SQL text', () => {
      for (const value of HOSTILE) {
        const quoted = JSON.stringify(value);
        for (const filter of [
          `title eq ${quoted}`,
          `userName co ${quoted}`,
          `emails[type eq "work" and value sw ${quoted}]`,
          `${ENTERPRISE_USER_SCHEMA_ID}:department ew ${quoted}`,
          `groups.value eq ${quoted}`,
        ]) {
          const { sql, parameters } = compile(filter);
          assert.ok(!sql.includes(value) && !sql.includes(value.toLowerCase()), `${filter} leaked into SQL: ${sql}`);
          assert.ok(
            parameters.some((p) => typeof p === 'string' && (p.includes(value) || p.includes(value.toLowerCase()) || p.includes(escapeLike(value.toLowerCase())))),
            `${filter}: value not among parameters ${JSON.stringify(parameters)}`,
          );
        }
      }
    });

    it('escapes LIKE wildcards in co / sw / ew', () => {
      assert.ok(compile('userName co "50%_off\\\\"').parameters.includes('%50\\%\\_off\\\\%'));
      assert.ok(compile('title sw "_"').parameters.includes('\\_%'));
      assert.ok(compile('title ew "%"').parameters.includes('%\\%'));
    });

    it('userName eq compares the indexed lower-cased column with a lower-cased value', () => {
      const { sql, parameters } = compile('userName eq "ALICE"');
      assert.match(sql, /"r"\."user_name_lc" = (\?|\$1)/);
      assert.deepEqual(parameters, ['alice']);
    });

    it('rejects unknown attributes (400 invalidFilter) and unknown sortBy (400 invalidValue)', () => {
      assert.throws(() => compile('nope eq "x"'), (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidFilter');
      for (const sortBy of ['nope', 'name', 'meta.version', 'groups.display']) {
        assert.throws(
          () => compileSort(sortBy, 'ascending', USER_RESOURCE_TYPE, 'User', d),
          (e: unknown) => e instanceof ScimError && e.status === 400 && e.scimType === 'invalidValue',
          sortBy,
        );
      }
    });
  });
}

describe('escapeLike', () => {
  it('escapes %, _ and the escape character itself', () => {
    assert.equal(escapeLike('100%_a\\b'), '100\\%\\_a\\\\b');
    assert.equal(escapeLike('plain'), 'plain');
  });
});
