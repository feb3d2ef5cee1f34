import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CompiledQuery, sql, type Kysely } from 'kysely';
import pg from 'pg';
import { ahead, atCommit, escapesSavepoint, isHeldFailure } from '../../src/directory/held-statements.ts';
import { openPostgres } from '../../src/directory/postgres/postgres-dialect.ts';
import { needPostgres, postgresDown, scratchPostgresDatabase } from '../support/services.ts';

/** BEGIN and statements held for commit (atCommit) or for the next statement (ahead) on the PostgreSQL store: fewer round trips, same transaction semantics. */
describe('postgres statements held for commit', async () => {
  it('PostgreSQL is reachable', async (t) => {
    await needPostgres(t);
  });
  if ((await postgresDown()) !== null) return;

  let scratch: Awaited<ReturnType<typeof scratchPostgresDatabase>>;
  let store: { db: Kysely<any>; close(): Promise<void> };
  let other: pg.Client;
  before(async () => {
    scratch = await scratchPostgresDatabase('rolecall_atcommit');
    store = await openPostgres(scratch.url);
    await sql`CREATE TABLE held (id integer PRIMARY KEY, note text NOT NULL, flag boolean, bytes bytea, n double precision)`.execute(store.db);
    other = new pg.Client({ connectionString: scratch.url });
    await other.connect();
  });
  after(async () => {
    await other.end();
    await store.close();
    await scratch.drop();
  });

  const insert = (id: number, note: unknown, extra: { flag?: boolean | null; bytes?: Uint8Array | null; n?: number | null } = {}) =>
    atCommit(CompiledQuery.raw('insert into "held" ("id", "note", "flag", "bytes", "n") values ($1, $2, $3, $4, $5)', [id, note, extra.flag ?? null, extra.bytes ?? null, extra.n ?? null]));
  const stored = async (id: number) => (await other.query('SELECT note, flag, bytes, n FROM held WHERE id = $1', [id])).rows[0];

  /** The statements the store sends to the server (each a round trip) while `fn` runs. */
  async function roundTrips(fn: () => Promise<void>): Promise<string[]> {
    const sent: string[] = [];
    const original = pg.Client.prototype.query;
    pg.Client.prototype.query = function (this: pg.Client, ...args: unknown[]) {
      const text = args[0];
      // The checking connection's own reads are not the store's.
      if (this !== other) sent.push(typeof text === 'string' ? text : (text as { text: string }).text);
      return (original as (...a: unknown[]) => unknown).apply(this, args);
    } as typeof original;
    try {
      await fn();
    } finally {
      pg.Client.prototype.query = original;
    }
    return sent;
  }

  it('a held insert goes out with the COMMIT, in one round trip, and is invisible until then', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(insert(1, 'first'));
        await tx.executeQuery(insert(2, 'second'));
        assert.equal(await stored(1), undefined, 'not sent before the commit');
      }),
    );
    // The BEGIN waits for the first statement sent, here the held ones with the COMMIT.
    assert.equal(sent.length, 1, sent.join(' | '));
    assert.match(sent[0]!, /^begin;\ninsert into "held".*'first'.*;\ninsert into "held".*'second'.*;\ncommit$/s);
    assert.equal((await stored(1))?.note, 'first');
    assert.equal((await stored(2))?.note, 'second');
  });

  it('values arrive exactly: quotes, backslashes, placeholders, newlines, non-ASCII, booleans, numbers, bytes, null', async () => {
    const hostile = [`o'brien`, `back\\slash\\`, `\\' OR '1'='1`, `$1 $2 $$ $tag$`, 'line\nbreak\r\ttab', 'ünï \u2028 😀', `'); DROP TABLE held; --`, "E'x'"];
    await store.db.transaction().execute(async (tx) => {
      for (const [i, note] of hostile.entries()) await tx.executeQuery(insert(100 + i, note, { flag: i % 2 === 0, bytes: Uint8Array.from([0, 39, 92, 255, i]), n: i === 0 ? -1.5e-7 : i }));
      await tx.executeQuery(insert(199, 'nulls'));
    });
    for (const [i, note] of hostile.entries()) {
      const row = await stored(100 + i);
      assert.equal(row?.note, note);
      assert.equal(row?.flag, i % 2 === 0);
      assert.deepEqual([...(row?.bytes as Buffer)], [0, 39, 92, 255, i]);
      assert.equal(row?.n, i === 0 ? -1.5e-7 : i);
    }
    assert.deepEqual(await stored(199), { note: 'nulls', flag: null, bytes: null, n: null });
    // A negative value after a minus sign must not become a `--` comment, and a number bound
    // where text is expected is typed from its context, as a parameter would be.
    await store.db.transaction().execute((tx) => tx.executeQuery(atCommit(CompiledQuery.raw('insert into "held" ("id", "note", "n") values ($1, $2, 10-$3)', [198, 42, -5]))));
    assert.deepEqual(await stored(198), { note: '42', flag: null, bytes: null, n: 15 });
  });

  it('a held statement that fails fails the commit and rolls back the whole transaction; the connection stays usable', async () => {
    await assert.rejects(
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [300, 'made before']));
        await tx.executeQuery(insert(301, null));
      }),
      /null value in column "note"/,
    );
    assert.equal(await stored(300), undefined);
    assert.equal(await stored(301), undefined);
    for (let i = 0; i < 12; i++) await store.db.transaction().execute((tx) => tx.executeQuery(insert(310 + i, `after ${i}`)));
    assert.equal((await other.query('SELECT count(*)::int AS n FROM held WHERE id BETWEEN 310 AND 321')).rows[0].n, 12);
  });

  it('a rollback discards held statements, and the next transaction on the connection does not carry them', async () => {
    await assert.rejects(
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(insert(400, 'discarded'));
        throw new Error('changed my mind');
      }),
      /changed my mind/,
    );
    for (let i = 0; i < 12; i++) await store.db.transaction().execute((tx) => tx.executeQuery(CompiledQuery.raw('select 1', [])));
    assert.equal(await stored(400), undefined);
  });

  it('the BEGIN goes out with the first statement; a first statement with a value that has no literal form goes after its own BEGIN', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [600, `it's`]));
        const { rows } = await tx.executeQuery(CompiledQuery.raw('select "note" from "held" where "id" = $1', [600]));
        assert.deepEqual(rows, [{ note: `it's` }]);
        await tx.executeQuery(insert(601, 'last'));
      }),
    );
    assert.deepEqual(sent.map((text) => text.split(' ')[0]), ['begin;\ninsert', 'select', 'insert']);
    assert.match(sent[2]!, /'last'.*;\ncommit$/s);
    assert.equal((await stored(601))?.note, 'last');

    const fallback = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        const { rows } = await tx.executeQuery(CompiledQuery.raw('select cast($1 as text[]) as "list"', [['a', 'b']]));
        assert.deepEqual(rows, [{ list: ['a', 'b'] }]);
      }),
    );
    assert.deepEqual(fallback, ['begin', 'select cast($1 as text[]) as "list"', 'commit']);

    // A transaction that sends nothing costs nothing; one whose first statement fails rolls back.
    assert.deepEqual(await roundTrips(() => store.db.transaction().execute(async () => {})), []);
    await assert.rejects(
      store.db.transaction().execute((tx) => tx.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [602, null]))),
      /null value in column "note"/,
    );
    await store.db.transaction().execute((tx) => tx.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [603, 'fine'])));
    assert.equal((await stored(603))?.note, 'fine');
  });

  const early = (id: number, note: unknown) => ahead(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [id, note]));

  it('an ahead statement alone goes out with the BEGIN, the held ones and the COMMIT, in one round trip', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(insert(700, 'at commit'));
        await tx.executeQuery(early(701, 'ahead'));
      }),
    );
    assert.equal(sent.length, 1, sent.join(' | '));
    assert.match(sent[0]!, /^begin;\ninsert into "held".*'ahead'.*;\ninsert into "held".*'at commit'.*;\ncommit$/s);
    assert.equal((await stored(701))?.note, 'ahead');
    assert.equal((await stored(700))?.note, 'at commit');
  });

  it('an ahead statement runs before the next statement, in its own round trip, and that statement sees it', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(early(710, 'first'));
        const { rows } = await tx.executeQuery(CompiledQuery.raw('select "note" from "held" where "id" = $1', [710]));
        assert.deepEqual(rows, [{ note: 'first' }]);
      }),
    );
    assert.deepEqual(sent.map((text) => text.split(' ')[0]), ['begin;\ninsert', 'select', 'commit']);
  });

  it("an ahead statement's failure is tagged as a held statement's, where it surfaces; the next statement's own is not", async () => {
    await store.db.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [720, 'taken']));
    const failure = async (fn: (tx: Kysely<any>) => Promise<unknown>) =>
      store.db.transaction().execute(fn).then(() => assert.fail('expected a failure'), (error: unknown) => error);
    const atNext = await failure(async (tx) => {
      await tx.executeQuery(early(720, 'again'));
      await tx.executeQuery(CompiledQuery.raw('select 1', []));
    });
    assert.equal((atNext as { code?: string }).code, '23505');
    assert.ok(isHeldFailure(atNext), 'surfaced by the next statement');
    const atCommitTime = await failure((tx) => tx.executeQuery(early(720, 'again')));
    assert.equal((atCommitTime as { code?: string }).code, '23505');
    assert.ok(isHeldFailure(atCommitTime), 'surfaced by the COMMIT');
    const own = await failure(async (tx) => {
      await tx.executeQuery(early(721, 'fine'));
      await tx.executeQuery(CompiledQuery.raw('insert into "held" ("id", "note") values ($1, $2)', [720, 'again']));
    });
    assert.equal((own as { code?: string }).code, '23505');
    assert.ok(!isHeldFailure(own), "the next statement's own failure");
    assert.equal(await stored(721), undefined, 'rolled back with the rest');
    assert.ok(!isHeldFailure(await failure((tx) => tx.executeQuery(insert(720, 'again')))), 'atCommit statements are not tagged');
  });

  it('an ahead statement may precede a savepoint: a rollback to it keeps what went before', async () => {
    await store.db.transaction().execute(async (tx) => {
      await tx.executeQuery(early(730, 'kept'));
      await sql`savepoint s1`.execute(tx);
      await tx.executeQuery(early(731, 'undone'));
      await sql`rollback to savepoint s1`.execute(tx);
    });
    assert.equal((await stored(730))?.note, 'kept');
    assert.equal(await stored(731), undefined);
  });

  it('an ahead statement with a value that has no literal form runs at once', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        await tx.executeQuery(ahead(CompiledQuery.raw(`insert into "held" ("id", "note") values ($1, array_to_string(cast($2 as text[]), ','))`, [740, ['a', 'b']])));
      }),
    );
    assert.deepEqual(sent.map((text) => text.split(' ')[0]), ['begin', 'insert', 'commit']);
    assert.equal((await stored(740))?.note, 'a,b');
  });

  it('outside a transaction a marked statement runs at once; a value with no literal form is refused', async () => {
    await store.db.executeQuery(insert(500, 'at once'));
    assert.equal((await stored(500))?.note, 'at once');
    await assert.rejects(
      store.db.transaction().execute((tx) => tx.executeQuery(insert(502, { an: 'object' }))),
      /cannot carry a object value/,
    );
    assert.equal(await stored(502), undefined);
  });

  it('a rollback to a savepoint drops what was held since it, sent or not; a release keeps it', async () => {
    await store.db.transaction().execute(async (tx) => {
      await tx.executeQuery(insert(800, 'before'));
      await sql`savepoint s1`.execute(tx);
      await tx.executeQuery(insert(801, 'undone'));
      await tx.executeQuery(early(802, 'undone unsent'));
      await sql`rollback to savepoint s1`.execute(tx);
      await sql`release savepoint s1`.execute(tx);
      await sql`savepoint "S2"`.execute(tx);
      await tx.executeQuery(early(803, 'undone sent'));
      await tx.executeQuery(CompiledQuery.raw('select 1', []));
      await tx.executeQuery(insert(804, 'undone too'));
      await sql`rollback to "S2"`.execute(tx);
      await tx.executeQuery(insert(805, 'kept'));
      await sql`savepoint s3`.execute(tx);
      await tx.executeQuery(insert(806, 'released'));
      await sql`release s3`.execute(tx);
    });
    const kept = (await other.query('SELECT id FROM held WHERE id BETWEEN 800 AND 809 ORDER BY id')).rows.map((r) => r.id);
    assert.deepEqual(kept, [800, 805, 806]);
  });

  it('writes in savepoints that run no statement of their own go out together, with the next statement or the COMMIT', async () => {
    const sent = await roundTrips(() =>
      store.db.transaction().execute(async (tx) => {
        for (const id of [810, 811]) {
          await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
          await tx.executeQuery(early(id, 'write'));
          await tx.executeQuery(insert(id + 10, 'its record'));
          await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
        }
        await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
        const { rows } = await tx.executeQuery(CompiledQuery.raw('select count(*)::int as "n" from "held" where "id" in ($1, $2)', [810, 811]));
        assert.deepEqual(rows, [{ n: 2 }]);
        await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
        for (const id of [812, 813]) {
          await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
          await tx.executeQuery(early(id, 'write'));
          await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
        }
      }),
    );
    assert.equal(sent.length, 3, sent.join(' | '));
    assert.match(sent[0]!, /^begin;\nSAVEPOINT rc_write;\ninsert into "held".*810.*;\nRELEASE rc_write;\nSAVEPOINT rc_write;\ninsert into "held".*811.*;\nRELEASE rc_write;\nSAVEPOINT rc_write$/s, 'ahead statements go before the next statement');
    assert.equal(sent[1], 'select count(*)::int as "n" from "held" where "id" in ($1, $2)');
    assert.match(sent[2]!, /^RELEASE rc_write;\nSAVEPOINT rc_write;\ninsert into "held".*812.*;\nRELEASE rc_write;\nSAVEPOINT rc_write;\ninsert into "held".*813.*;\nRELEASE rc_write;\ninsert into "held".*820.*;\ninsert into "held".*821.*;\ncommit$/s);
    assert.equal((await other.query('SELECT count(*)::int AS n FROM held WHERE id IN (810, 811, 812, 813, 820, 821)')).rows[0].n, 6);
  });

  it("an ahead statement's failure inside the innermost savepoint is undone by a rollback to it; one from before it escapes", async () => {
    const check = (tx: Kysely<any>) => tx.executeQuery(CompiledQuery.raw('select 1', [])).then(() => assert.fail('expected a failure'), (error: unknown) => error);
    await store.db.transaction().execute(async (tx) => {
      await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
      await tx.executeQuery(early(830, 'first'));
      await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
      await tx.executeQuery(CompiledQuery.raw('select 1', []));
      await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
      await tx.executeQuery(early(830, 'duplicate'));
      await tx.executeQuery(insert(831, 'record of the failed write'));
      const failure = await check(tx);
      assert.equal((failure as { code?: string }).code, '23505');
      assert.ok(isHeldFailure(failure), "tagged as the held statement's");
      assert.ok(!escapesSavepoint(failure), 'made inside the savepoint');
      await tx.executeQuery(CompiledQuery.raw('ROLLBACK TO rc_write', []));
      await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
      await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
      await tx.executeQuery(early(832, 'after'));
      await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
    });
    const kept = (await other.query('SELECT id, note FROM held WHERE id BETWEEN 830 AND 839 ORDER BY id')).rows;
    assert.deepEqual(kept, [{ id: 830, note: 'first' }, { id: 832, note: 'after' }]);

    const escaped = await store.db.transaction().execute(async (tx) => {
      await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
      await tx.executeQuery(early(830, 'duplicate'));
      await tx.executeQuery(CompiledQuery.raw('RELEASE rc_write', []));
      await tx.executeQuery(CompiledQuery.raw('SAVEPOINT rc_write', []));
      await tx.executeQuery(early(833, 'innocent'));
      return check(tx);
    });
    assert.equal((escaped as { code?: string }).code, '23505');
    assert.ok(escapesSavepoint(escaped), 'made before the innermost savepoint');
    assert.equal(await stored(833), undefined);
  });
});
