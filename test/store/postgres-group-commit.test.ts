import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { GroupCommit } from '../../src/directory/group-commit.ts';
import { ahead, isHeldFailure } from '../../src/directory/held-statements.ts';
import { openPostgres } from '../../src/directory/postgres/postgres-dialect.ts';
import { postgresSql } from '../../src/directory/postgres/postgres-dialect.ts';
import { needPostgres, postgresDown, scratchPostgresDatabase } from '../support/services.ts';

/** GroupCommit on PostgreSQL, where writes' held statements wait across savepoints (see prepared-statement-pool.ts). */
describe('postgres group commit', async () => {
  it('PostgreSQL is reachable', async (t) => {
    await needPostgres(t);
  });
  if ((await postgresDown()) !== null) return;

  let scratch: Awaited<ReturnType<typeof scratchPostgresDatabase>>;
  let store: { db: Kysely<any>; close(): Promise<void> };
  before(async () => {
    scratch = await scratchPostgresDatabase('rolecall_group_commit');
    store = await openPostgres(scratch.url);
    await sql`CREATE TABLE t (id integer PRIMARY KEY, v text NOT NULL UNIQUE)`.execute(store.db);
    // Rows of `slow` make their transaction's COMMIT take 300 ms (a deferred constraint trigger runs at commit).
    await sql`CREATE TABLE slow (id integer PRIMARY KEY)`.execute(store.db);
    await sql`CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.3); RETURN NULL; END $$`.execute(store.db);
    await sql`CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON slow DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit()`.execute(store.db);
  });
  after(async () => {
    await store.close();
    await scratch.drop();
  });

  const held = (id: number, v: string) => ahead(CompiledQuery.raw('insert into "t" ("id", "v") values ($1, $2)', [id, v]));
  const values = async (from: number, to: number) =>
    (await sql<{ v: string }>`SELECT v FROM t WHERE id BETWEEN ${from} AND ${to} ORDER BY id`.execute(store.db)).rows.map((r) => r.v);

  /** The simple queries and statements the store sends while `fn` runs. */
  async function roundTrips<T>(fn: () => Promise<T>): Promise<{ result: T; sent: string[] }> {
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = args[0];
      sent.push(typeof text === 'string' ? text : (text as { text: string }).text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      return { result: await fn(), sent };
    } finally {
      pg.Client.prototype.query = original;
    }
  }

  it('writes that only hold statements share one round trip with their COMMIT', async () => {
    const group = new GroupCommit<number>(store.db, postgresSql.isTransient);
    const { result, sent } = await roundTrips(() => Promise.all([1, 2, 3, 4].map((i) => group.submit(async (tx) => {
      await tx.executeQuery(held(i, `w${i}`));
      return i;
    }))));
    assert.deepEqual(result, [1, 2, 3, 4]);
    assert.equal(sent.length, 1, sent.join(' | '));
    assert.match(sent[0]!, /^begin;\nSAVEPOINT rc_write;\ninsert .*'w1'.*'w4'.*;\nRELEASE rc_write;\ncommit$/s);
    assert.deepEqual(await values(1, 4), ['w1', 'w2', 'w3', 'w4']);
  });

  it("a held insert that fails in a shared transaction fails its own write only: the batch's writes run again alone", async () => {
    const group = new GroupCommit<number>(store.db, postgresSql.isTransient);
    await sql`INSERT INTO t (id, v) VALUES (10, 'taken')`.execute(store.db);
    const outcomes = await Promise.allSettled([11, 12, 13].map((i) => group.submit(async (tx) => {
      await tx.executeQuery(held(i, i === 12 ? 'taken' : `w${i}`));
      return i;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    const error = (outcomes[1] as PromiseRejectedResult).reason as { code?: string };
    assert.equal(error.code, '23505');
    assert.ok(isHeldFailure(error), 'tagged, so the writer can name its own held insert');
    assert.deepEqual(await values(11, 13), ['w11', 'w13']);
  });

  it("a held insert's failure surfacing in a later write's statement is not blamed on that write", async () => {
    const group = new GroupCommit<string>(store.db, postgresSql.isTransient);
    await sql`INSERT INTO t (id, v) VALUES (20, 'taken twice')`.execute(store.db);
    const outcomes = await Promise.allSettled([
      group.submit(async (tx) => {
        await tx.executeQuery(held(21, 'taken twice'));
        return 'first';
      }),
      group.submit(async (tx) => {
        await tx.executeQuery(held(22, 'second'));
        const { rows } = await tx.executeQuery<{ n: number }>(CompiledQuery.raw('select count(*)::int as "n" from "t" where "id" = $1', [22]));
        return `second saw ${rows[0]!.n}`;
      }),
    ]);
    assert.equal(outcomes[0]!.status, 'rejected');
    assert.equal(((outcomes[0] as PromiseRejectedResult).reason as { code?: string }).code, '23505');
    assert.deepEqual(outcomes[1], { status: 'fulfilled', value: 'second saw 1' });
    assert.deepEqual(await values(21, 22), ['second']);
  });

  it('a write that fails after holding statements leaves none of them behind', async () => {
    const group = new GroupCommit<number>(store.db, postgresSql.isTransient);
    const outcomes = await Promise.allSettled([31, 32, 33].map((i) => group.submit(async (tx) => {
      await tx.executeQuery(held(i, `w${i}`));
      if (i === 32) throw new Error('rejected by the caller');
      return i;
    })));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(await values(31, 33), ['w31', 'w33']);
  });

  it("the next batch runs while one waits for its COMMIT, as far as maxInFlight allows", async () => {
    const timing = async (maxInFlight: number, base: number) => {
      const group = new GroupCommit<number>(store.db, postgresSql.isTransient, {}, { maxInFlight });
      const started = performance.now();
      const slowOne = group.submit(async (tx) => {
        await tx.insertInto('slow').values({ id: base }).execute();
        return performance.now() - started;
      }).then(() => performance.now() - started);
      // Queued once the first batch has begun: it goes in the next one.
      await new Promise((resolve) => setTimeout(resolve, 50));
      const quick = await group.submit(async (tx) => {
        await tx.insertInto('t').values({ id: base, v: `quick ${base}` }).execute();
        return 0;
      }).then(() => performance.now() - started);
      return { slow: await slowOne, quick };
    };
    const overlapping = await timing(2, 40);
    assert.ok(overlapping.quick < overlapping.slow, `with two in flight the quick batch committed first (${overlapping.quick.toFixed(0)} vs ${overlapping.slow.toFixed(0)} ms)`);
    const oneAtATime = await timing(1, 41);
    assert.ok(oneAtATime.quick >= oneAtATime.slow, `with one in flight it waited (${oneAtATime.quick.toFixed(0)} vs ${oneAtATime.slow.toFixed(0)} ms)`);
    assert.deepEqual(await values(40, 41), ['quick 40', 'quick 41']);
  });
});
