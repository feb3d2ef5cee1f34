import assert from 'node:assert/strict';
import { test } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { BoundLimitPlugin } from './bound-limit-plugin.ts';

test('LIMIT and OFFSET stay bound parameters, behind a cast that SQLite does not re-plan for', async () => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }), plugins: [new BoundLimitPlugin()] });
  try {
    const query = db.selectFrom('t').select('n').orderBy('n').limit(2).offset(1);
    const compiled = query.compile();
    assert.equal(compiled.sql, 'select "n" from "t" order by "n" limit cast(? as integer) offset cast(? as integer)');
    assert.deepEqual(compiled.parameters, [2, 1]);
    await db.schema.createTable('t').addColumn('n', 'integer').execute();
    await db.insertInto('t').values([1, 2, 3, 4].map((n) => ({ n }))).execute();
    assert.deepEqual((await query.execute()).map((r) => r.n), [2, 3]);
    // A hostile value is still a value: SQLite's cast reads its leading digits, and no SQL runs.
    assert.deepEqual(await db.selectFrom('t').select('n').orderBy('n').limit('1; drop table t' as unknown as number).execute(), [{ n: 1 }]);
    assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll().as('c')).executeTakeFirstOrThrow()).c, 4);
  } finally {
    await db.destroy();
  }
});

test('a LIMIT inside a subquery is cast too, and values that look like nodes are left alone', async () => {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }), plugins: [new BoundLimitPlugin()] });
  try {
    const nodeLike = { kind: 'LimitNode', limit: { kind: 'ValueNode', value: 1 } };
    const compiled = db.updateTable('t').set({ n: 0, label: nodeLike })
      .where('n', 'in', db.selectFrom('t').select('n').where('n', 'in', [1, 2]).orderBy('n').limit(5))
      .compile();
    assert.equal(compiled.sql, 'update "t" set "n" = ?, "label" = ? where "n" in (select "n" from "t" where "n" in (?, ?) order by "n" limit cast(? as integer))');
    assert.deepEqual(compiled.parameters, [0, nodeLike, 1, 2, 5]);
  } finally {
    await db.destroy();
  }
});
