import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openSqlite, planStableSql } from './sqlite-dialect.ts';

test('LIMIT and OFFSET parameters are prepared behind a cast; literals and other text are left alone', () => {
  assert.equal(
    planStableSql('select "n" from "t" where "n" in (select "n" from "t" limit ?) order by "n" limit ? offset ?'),
    'select "n" from "t" where "n" in (select "n" from "t" limit cast(? as integer)) order by "n" limit cast(? as integer) offset cast(? as integer)',
  );
  assert.equal(planStableSql('SELECT 1 LIMIT 1'), 'SELECT 1 LIMIT 1');
  assert.equal(planStableSql('select "unlimit" from "t" where "x" = ?'), 'select "unlimit" from "t" where "x" = ?');
});

test('queries with LIMIT and OFFSET parameters answer as before on the embedded store', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rolecall-sqlite-'));
  const { db, close } = await openSqlite(dir, false);
  try {
    await db.schema.createTable('t').addColumn('n', 'integer').addColumn('label', 'text').execute();
    await db.insertInto('t').values([1, 2, 3, 4].map((n) => ({ n, label: 'limit ?' }))).execute();
    for (let run = 0; run < 3; run++) {
      // The same cached statement, bound with other values each run.
      const rows = await db.selectFrom('t').select(['n', 'label']).where('label', '=', 'limit ?').orderBy('n').limit(2 + run).offset(run).execute();
      assert.deepEqual(rows.map((r) => r.n), [1, 2, 3, 4].slice(run, run + 2 + run));
    }
    // A hostile count is still a value: SQLite's cast reads its leading digits, and no SQL runs.
    assert.deepEqual((await db.selectFrom('t').select('n').orderBy('n').limit('1; drop table t' as unknown as number).execute()).map((r) => r.n), [1]);
    assert.equal((await db.selectFrom('t').select((eb) => eb.fn.countAll().as('c')).executeTakeFirstOrThrow()).c, 4);
  } finally {
    await close();
    rmSync(dir, { recursive: true, force: true });
  }
});
