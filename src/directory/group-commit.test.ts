import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { GroupCommit } from './group-commit.ts';

async function memoryDb(): Promise<Kysely<any>> {
  const db = new Kysely<any>({ dialect: new SqliteDialect({ database: new BetterSqlite3(':memory:') }) });
  await sql`CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL UNIQUE)`.execute(db);
  return db;
}

const rows = async (db: Kysely<any>) => (await db.selectFrom('t').select('v').orderBy('id').execute()).map((r) => r.v as string);

describe('GroupCommit', () => {
  it('commits writes queued together in one transaction, each answered only after it', async () => {
    const db = await memoryDb();
    let commits = 0;
    const group = new GroupCommit<number>(db, () => false, { afterCommit: () => (commits += 1) });
    const results = await Promise.all(Array.from({ length: 50 }, (_, i) => group.submit(async (tx) => {
      await tx.insertInto('t').values({ v: `w${i}` }).execute();
      return i;
    })));
    assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i));
    assert.deepEqual(await rows(db), Array.from({ length: 50 }, (_, i) => `w${i}`), 'in submission order');
    assert.ok(commits < 50 && commits >= 1, `50 writes in ${commits} commits`);
    await db.destroy();
  });

  it('a failing write is rolled back alone: its caller gets its error, the others commit', async () => {
    const db = await memoryDb();
    const group = new GroupCommit<number>(db, () => false);
    const outcomes = await Promise.allSettled(Array.from({ length: 10 }, (_, i) => group.submit(async (tx) => {
      await tx.insertInto('t').values({ v: `before-${i}` }).execute();
      // Write 4 collides with write 3 after its first insert: that insert must vanish with it.
      await tx.insertInto('t').values({ v: i === 4 ? 'w3' : `w${i}` }).execute();
      if (i === 7) throw new Error('rejected by the caller');
      return i;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((outcomes[4] as PromiseRejectedResult).reason), /UNIQUE/);
    assert.match(String((outcomes[7] as PromiseRejectedResult).reason), /rejected by the caller/);
    const kept = await rows(db);
    assert.ok(!kept.includes('before-4') && !kept.includes('before-7') && !kept.includes('w7'), kept.join(' '));
    assert.equal(kept.length, 16);
    await db.destroy();
  });

  it('a transient failure re-runs the whole batch, and every write lands once', async () => {
    const db = await memoryDb();
    const busy = Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    const group = new GroupCommit<void>(db, (e) => (e as { code?: string }).code === 'SQLITE_BUSY');
    let failures = 0;
    const runs = new Map<number, number>();
    await Promise.all(Array.from({ length: 6 }, (_, i) => group.submit(async (tx) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await tx.insertInto('t').values({ v: `w${i}` }).execute();
      if (i === 2 && failures < 2) {
        failures += 1;
        throw busy;
      }
    })));
    assert.deepEqual(await rows(db), Array.from({ length: 6 }, (_, i) => `w${i}`));
    assert.ok((runs.get(2) ?? 0) >= 3, 'the busy write was re-run until it succeeded');
    await db.destroy();
  });

  it('a write that breaks the shared transaction fails alone: the others are run again by themselves', async () => {
    const db = await memoryDb();
    const group = new GroupCommit<void>(db, () => false);
    const outcomes = await Promise.allSettled(Array.from({ length: 4 }, (_, i) => group.submit(async (tx) => {
      await tx.insertInto('t').values({ v: `w${i}` }).execute();
      // As SQLite does on a disk-full error: the transaction is rolled back under the write's feet.
      if (i === 1) {
        await sql`ROLLBACK`.execute(tx);
        throw new Error('broke the transaction');
      }
    })));
    assert.equal(outcomes.filter((o) => o.status === 'rejected').length, 1);
    assert.equal(outcomes[1]!.status, 'rejected');
    assert.deepEqual(await rows(db), ['w0', 'w2', 'w3']);
    await db.destroy();
  });

  it('beforeCommit runs last in each transaction with the values of the writes that succeeded', async () => {
    const db = await memoryDb();
    const seen: number[][] = [];
    const group = new GroupCommit<number>(db, () => false, {
      beforeCommit: async (tx, values) => {
        seen.push([...values]);
        await tx.insertInto('t').values({ v: `sum-${values.join('+')}` }).execute();
      },
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, (_, i) => group.submit(async (tx) => {
      await tx.insertInto('t').values({ v: `w${i}` }).execute();
      if (i === 2) throw new Error('rejected by the caller');
      return i;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.deepEqual(seen, [[0, 1, 3, 4]], 'one call for the shared transaction, without the failed write');
    assert.deepEqual(await rows(db), ['w0', 'w1', 'w3', 'w4', 'sum-0+1+3+4']);
    await db.destroy();
  });

  it('a failing beforeCommit commits nothing of its transaction; each write is then tried alone', async () => {
    const db = await memoryDb();
    const group = new GroupCommit<number>(db, () => false, {
      beforeCommit: async (tx, values) => {
        if (values.includes(1)) throw new Error('sink refused write 1');
        await tx.insertInto('t').values({ v: `after-${values.join('+')}` }).execute();
      },
    });
    const outcomes = await Promise.allSettled(Array.from({ length: 3 }, (_, i) => group.submit(async (tx) => {
      await tx.insertInto('t').values({ v: `w${i}` }).execute();
      return i;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((outcomes[1] as PromiseRejectedResult).reason), /sink refused write 1/);
    assert.deepEqual(await rows(db), ['w0', 'after-0', 'w2', 'after-2']);
    await db.destroy();
  });
});
