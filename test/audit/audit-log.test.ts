import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Migrator, sql, type Kysely } from 'kysely';
import { AuditBlocks, subjectProbe, type SeqRange } from '../../src/audit/audit-blocks.ts';
import { auditMigrations } from '../../src/audit/audit-migrations.ts';
import { AuditLog, type AuditEvent, type AuditEventInput, type AuditQuery } from '../../src/audit/audit-log.ts';
import { canonicalJson } from '../../src/audit/canonical-json.ts';
import { eventHash } from '../../src/audit/event-hash.ts';
import type { Database } from '../../src/directory/database.ts';
import { eachAuditStore } from './audit-stores.ts';
import { bulkLoad } from './bulk-load.ts';

/** A clock that advances `stepMs` on every read, so event times are distinct and predictable. */
function steppingClock(start = '2026-03-01T00:00:00.000Z', stepMs = 1000): () => Date {
  let next = Date.parse(start);
  return () => {
    const now = new Date(next);
    next += stepMs;
    return now;
  };
}

function sample(i: number): AuditEventInput {
  return {
    type: i % 3 === 0 ? 'provision.step' : 'directory.change',
    tenantId: `tenant-${i % 2}`,
    requestId: `req-${i}`,
    actor: `token-${i % 4}`,
    userId: `user-${i % 10}`,
    groupId: i % 5 === 0 ? `group-${i % 3}` : null,
    target: i % 3 === 0 ? `db-${i % 2}` : null,
    payload: { i, note: `event ${i}` },
  };
}

async function appendMany(log: AuditLog, db: Kysely<any>, count: number): Promise<AuditEvent[]> {
  const events: AuditEvent[] = [];
  for (let i = 0; i < count; i += 1) events.push(await log.append(db, sample(i)));
  return events;
}

async function failsAt(log: AuditLog, seq: number, reason: RegExp): Promise<void> {
  const result = await log.verify();
  assert.equal(result.ok, false, 'tampering must be detected');
  if (result.ok) return;
  assert.equal(result.firstBad.seq, seq, `first bad seq (reason: ${result.firstBad.reason})`);
  assert.match(result.firstBad.reason, reason);
}

const rawCount = async (database: Database) =>
  Number((await database.db.selectFrom('audit_events').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

test('append chains events with gap-free seqs and moves the head', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { clock: steppingClock() });
    const events = await appendMany(log, database.db, 20);
    assert.deepEqual(events.map((e) => e.seq), Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(events[0]!.prevHash, '0'.repeat(64));
    for (let i = 1; i < events.length; i += 1) assert.equal(events[i]!.prevHash, events[i - 1]!.hash);
    assert.deepEqual(await log.head(), { seq: 20, hash: events[19]!.hash });
    assert.equal(events[3]!.at, '2026-03-01T00:00:03.000Z');
    assert.deepEqual(events[3]!.payload, { i: 3, note: 'event 3' });
    assert.equal(events[3]!.target, 'db-1');

    // The stored row hashes to the stored hash: an outside auditor can recompute it from the columns.
    const row = await database.db.selectFrom('audit_events').selectAll().where('seq', '=', 4).executeTakeFirstOrThrow();
    const recomputed = eventHash({
      seq: 4,
      at: row.at,
      type: row.type,
      tenantId: row.tenant_id,
      requestId: row.request_id,
      actor: row.actor,
      userId: row.user_id,
      groupId: row.group_id,
      target: row.target,
      payload: row.payload,
      prevHash: row.prev_hash,
    });
    assert.equal(recomputed, row.hash);
    assert.equal(row.payload, canonicalJson({ note: 'event 3', i: 3 }));

    const result = await log.verify();
    assert.ok(result.ok);
    assert.equal(result.events, 20);
  }));

test('an append inside a transaction that rolls back leaves no event and no head change', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 3);
    const before = await log.head();
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        const event = await log.append(tx, sample(99));
        assert.equal(event.seq, 4);
        throw new Error('the SCIM write failed');
      }),
      /the SCIM write failed/,
    );
    assert.deepEqual(await log.head(), before);
    assert.equal(await rawCount(database), 3);
    // The next append reuses seq 4: the chain has no hole where the rolled-back event was.
    assert.equal((await log.append(database.db, sample(5))).seq, 4);
    assert.ok((await log.verify()).ok);
  }));

test('verify names the first edited event', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 30);
    await sql`UPDATE audit_events SET payload = ${'{"i":12,"note":"nothing to see"}'} WHERE seq = 13`.execute(database.db);
    await sql`UPDATE audit_events SET actor = ${'someone-else'} WHERE seq = 20`.execute(database.db);
    await failsAt(log, 13, /hash does not match/);
  }));

test('an edited event whose hash was recomputed breaks the link to the next one', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 10);
    const row = await database.db.selectFrom('audit_events').selectAll().where('seq', '=', 6).executeTakeFirstOrThrow();
    const payload = '{"i":5,"note":"rewritten"}';
    const forged = eventHash({
      seq: 6,
      at: row.at,
      type: row.type,
      tenantId: row.tenant_id,
      requestId: row.request_id,
      actor: row.actor,
      userId: row.user_id,
      groupId: row.group_id,
      target: row.target,
      payload,
      prevHash: row.prev_hash,
    });
    await sql`UPDATE audit_events SET payload = ${payload}, hash = ${forged} WHERE seq = 6`.execute(database.db);
    await failsAt(log, 7, /prev_hash does not match the hash of event 6/);
  }));

test('verify names a deleted middle event and a deleted last event', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { batchSize: 7 });
    await appendMany(log, database.db, 30);
    await sql`DELETE FROM audit_events WHERE seq = 30`.execute(database.db);
    await failsAt(log, 30, /missing.*head records seq 30/);
    await sql`DELETE FROM audit_events WHERE seq = 15`.execute(database.db);
    await failsAt(log, 15, /event missing \(next stored event is seq 16\)/);
  }));

test('verify notices a chain head that no longer matches the last event', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 5);
    await sql`UPDATE audit_head SET last_hash = ${'f'.repeat(64)} WHERE id = 1`.execute(database.db);
    await failsAt(log, 5, /chain head/);
  }));

test('verify names the first of two reordered events', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 30);
    await sql`UPDATE audit_events SET seq = -1 WHERE seq = 9`.execute(database.db);
    await sql`UPDATE audit_events SET seq = 9 WHERE seq = 21`.execute(database.db);
    await sql`UPDATE audit_events SET seq = 21 WHERE seq = -1`.execute(database.db);
    await failsAt(log, 9, /prev_hash does not match/);
  }));

test('verify names an inserted event, even one with a correct-looking hash', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    const events = await appendMany(log, database.db, 12);
    const last = events[events.length - 1]!;
    const fields = {
      seq: 13,
      at: new Date().toISOString(),
      type: 'admin.token.created',
      tenantId: 'tenant-0',
      requestId: null,
      actor: 'system',
      userId: null,
      groupId: null,
      target: null,
      payload: '{"tokenId":"backdoor"}',
      prevHash: last.hash,
    };
    await database.db
      .insertInto('audit_events')
      .values({
        seq: 13,
        at: fields.at,
        type: fields.type,
        tenant_id: fields.tenantId,
        request_id: null,
        actor: fields.actor,
        user_id: null,
        group_id: null,
        target: null,
        payload: fields.payload,
        prev_hash: fields.prevHash,
        hash: eventHash(fields),
      })
      .execute();
    await failsAt(log, 13, /beyond the chain head/);
  }));

test('100,000 events verify in batches, through real appends and the bulk path', { timeout: 240_000 }, (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await appendMany(log, database.db, 50);
    await bulkLoad(database.db, database.dialect, 99_900, sample);
    await appendMany(log, database.db, 50);
    const progress: number[] = [];
    const result = await log.verify({ onProgress: (p) => progress.push(p.events) });
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.events, 100_000);
    assert.equal(result.head.seq, 100_000);
    assert.equal(progress.length, 10);
    t.diagnostic(`${database.dialect}: verified ${result.events} events in ${Math.round(result.ms)} ms (${result.eventsPerSecond} events/s)`);
  }));

test('concurrent appends from many transactions and processes form one gap-free chain', { timeout: 120_000 }, (t) =>
  eachAuditStore(t, async (store) => {
    // PostgreSQL: two pools of separate connections, i.e. two Rolecall processes. SQLite: one
    // process owns the store (the store takes a lock file), so its transactions share one connection.
    const writers = store.database.dialect === 'postgres' ? [store.database, store.second()] : [store.database];
    const logs = writers.map((d) => new AuditLog(d));
    await Promise.all(
      Array.from({ length: 400 }, (_, i) =>
        writers[i % writers.length]!.db.transaction().execute(async (tx) => {
          // Work before the append, as a SCIM write would do, so transactions really overlap.
          await sql`SELECT 1`.execute(tx);
          return logs[i % writers.length]!.append(tx, sample(i));
        }),
      ),
    );
    const seqs = (await store.database.db.selectFrom('audit_events').select('seq').orderBy('seq').execute()).map((r) => Number(r.seq));
    assert.deepEqual(seqs, Array.from({ length: 400 }, (_, i) => i + 1));
    const result = await logs[0]!.verify();
    assert.ok(result.ok, JSON.stringify(result));
    assert.equal(result.events, 400);
  }));

test('verify is correct while others append', { timeout: 60_000 }, (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { batchSize: 100 });
    await bulkLoad(database.db, database.dialect, 5_000, sample);
    const writing = (async () => {
      for (let i = 0; i < 200; i += 1) await log.append(database.db, sample(i));
    })();
    const result = await log.verify();
    await writing;
    assert.ok(result.ok, JSON.stringify(result));
    assert.ok(result.events >= 5_000);
    assert.ok((await log.verify()).ok);
  }));

test('query filters by user, group, target, type, tenant, request and time, with keyset paging', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { clock: steppingClock('2026-03-01T00:00:00.000Z', 60_000) });
    await appendMany(log, database.db, 60);
    const seqs = (events: AuditEvent[]) => events.map((e) => e.seq);

    const user3 = await log.query({ userId: 'user-3', limit: 1000 });
    assert.deepEqual(seqs(user3), [4, 14, 24, 34, 44, 54]);
    assert.ok(user3.every((e) => e.userId === 'user-3'));
    assert.deepEqual(seqs(await log.query({ groupId: 'group-0', limit: 1000 })), [1, 16, 31, 46]);
    assert.deepEqual(seqs(await log.query({ target: 'db-1', type: 'provision.step', limit: 1000 })), [4, 10, 16, 22, 28, 34, 40, 46, 52, 58]);
    assert.equal((await log.query({ type: ['directory.change'], limit: 1000 })).length, 40);
    assert.equal((await log.query({ type: [], limit: 1000 })).length, 0);
    assert.equal((await log.query({ tenantId: 'tenant-1', limit: 1000 })).length, 30);
    assert.deepEqual(seqs(await log.query({ requestId: 'req-7' })), [8]);
    // Minute i is event i+1; `to` is exclusive and any parsable time is accepted.
    assert.deepEqual(seqs(await log.query({ from: '2026-03-01T00:10:00Z', to: '2026-03-01T00:13:00.000Z' })), [11, 12, 13]);
    assert.deepEqual(seqs(await log.query({ from: '2026-03-01T01:00:00+01:00', to: '2026-03-01T00:02:00.000Z' })), [1, 2]);
    assert.deepEqual(seqs(await log.query({ userId: 'user-3', from: '2026-03-01T00:20:00Z', limit: 1000 })), [24, 34, 44, 54]);

    const page1 = await log.query({ userId: 'user-3', limit: 4 });
    const page2 = await log.query({ userId: 'user-3', limit: 4, after: page1[page1.length - 1]!.seq });
    assert.deepEqual([...seqs(page1), ...seqs(page2)], seqs(user3));
    assert.deepEqual(seqs(await log.query({ userId: 'user-3', order: 'desc', limit: 2 })), [54, 44]);
    assert.deepEqual(seqs(await log.query({ userId: 'user-3', order: 'desc', limit: 2, after: 44 })), [34, 24]);
    assert.equal((await log.query()).length, 60);

    await assert.rejects(log.query({ limit: 10_001 }), RangeError);
    await assert.rejects(log.query({ from: 'last tuesday' }), RangeError);
    // Filter values are bound, never spliced into SQL.
    assert.equal((await log.query({ userId: "x' OR '1'='1" })).length, 0);
  }));

/** Minimal RFC 4180 reader for the export test. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i += 1;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(field);
      field = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
      i += 1;
    } else field += c;
  }
  assert.equal(field, '', 'CSV ends with CRLF');
  return rows;
}

test('exports JSON Lines and CSV in batches with correct quoting', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { batchSize: 3 });
    await appendMany(log, database.db, 8);
    await log.append(database.db, {
      type: 'reconcile.finding',
      target: 'warehouse, "eu"',
      userId: 'user-x',
      payload: { detail: 'line one\nline "two", with comma', leading: ' spaced ' },
    });

    const jsonl: string[] = [];
    const count = await log.exportJsonl({}, async (chunk) => {
      jsonl.push(chunk);
    });
    assert.equal(count, 9);
    assert.equal(jsonl.length, 3, 'one write per batch');
    const lines = jsonl.join('').trimEnd().split('\n');
    assert.equal(lines.length, 9);
    const exported = lines.map((line) => JSON.parse(line) as AuditEvent);
    assert.deepEqual(exported, await log.query());

    let csv = '';
    assert.equal(await log.exportCsv({ userId: 'user-x' }, (chunk) => void (csv += chunk)), 1);
    const [header, row, ...rest] = parseCsv(csv);
    assert.deepEqual(rest, []);
    assert.deepEqual(header, ['seq', 'at', 'type', 'tenant_id', 'request_id', 'actor', 'user_id', 'group_id', 'target', 'payload', 'prev_hash', 'hash']);
    const event = exported[8]!;
    assert.deepEqual(row, [
      '9',
      event.at,
      'reconcile.finding',
      '',
      '',
      'system',
      'user-x',
      '',
      'warehouse, "eu"',
      canonicalJson(event.payload),
      event.prevHash,
      event.hash,
    ]);
    assert.match(csv, /"warehouse, ""eu"""/);

    let filtered = '';
    await log.exportJsonl({ type: 'provision.step', target: 'db-1' }, (chunk) => void (filtered += chunk));
    assert.deepEqual(
      filtered.trimEnd().split('\n').map((l) => (JSON.parse(l) as AuditEvent).seq),
      [4],
    );
  }));

test('prune records an attested checkpoint; verify starts there and still catches tampering', (t) =>
  eachAuditStore(t, async ({ database }) => {
    // One event per hour from 2026-03-01T00:00Z.
    const log = new AuditLog(database, { clock: steppingClock('2026-03-01T00:00:00.000Z', 3_600_000) });
    const events = await appendMany(log, database.db, 48);
    assert.deepEqual(await log.prune('2026-03-01T00:00:00Z'), { removed: 0, checkpoint: null });

    const { removed, checkpoint } = await log.prune('2026-03-02T00:00:00Z');
    assert.equal(removed, 24);
    assert.equal(checkpoint?.seq, 24);
    assert.equal(checkpoint?.hash, events[23]!.hash);
    assert.equal(await rawCount(database), 25, '24 kept + the audit.pruned event');
    const [attestation] = await log.query({ type: 'audit.pruned' });
    assert.deepEqual(attestation?.payload, { checkpointSeq: 24, checkpointHash: events[23]!.hash, removed: 24, prunedBefore: '2026-03-02T00:00:00.000Z' });
    assert.equal(attestation?.seq, 49);

    const ok = await log.verify();
    assert.ok(ok.ok, JSON.stringify(ok));
    assert.equal(ok.events, 25);
    assert.equal(ok.checkpointSeq, 24);
    // Pruning again at the same cut removes nothing.
    assert.equal((await log.prune('2026-03-02T00:00:00Z')).removed, 0);

    await sql`UPDATE audit_events SET user_id = ${'user-0'} WHERE seq = 30`.execute(database.db);
    await failsAt(log, 30, /hash does not match/);
    await assert.rejects(log.prune('2026-03-03T00:00:00Z'), /broken at seq 30.*refusing to prune/);
  }));

test('a removed, forged or bypassed checkpoint is detected', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { clock: steppingClock('2026-03-01T00:00:00.000Z', 3_600_000) });
    await appendMany(log, database.db, 48);
    await log.prune('2026-03-02T00:00:00Z');

    // Dropping events right after the checkpoint and claiming a later checkpoint: no audit.pruned event attests it.
    const row30 = await database.db.selectFrom('audit_events').select('hash').where('seq', '=', 30).executeTakeFirstOrThrow();
    await sql`DELETE FROM audit_events WHERE seq <= 30`.execute(database.db);
    await database.db
      .insertInto('audit_checkpoints')
      .values({ seq: 30, hash: row30.hash, at: '2026-03-03T00:00:00.000Z', pruned_before: '2026-03-02T06:00:00.000Z', removed: 6 })
      .execute();
    await failsAt(log, 30, /not attested/);

    // Removing every checkpoint: the chain no longer starts at seq 1.
    await sql`DELETE FROM audit_checkpoints`.execute(database.db);
    await failsAt(log, 1, /event missing \(next stored event is seq 31\)/);
  }));

test('an event slipped into the pruned range is detected', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { clock: steppingClock('2026-03-01T00:00:00.000Z', 3_600_000) });
    await appendMany(log, database.db, 10);
    await log.prune('2026-03-01T05:00:00Z');
    await database.db
      .insertInto('audit_events')
      .values({ seq: 2, at: '2026-03-01T01:00:00.000Z', type: 'admin.job.retried', actor: 'x', payload: '{}', prev_hash: 'x', hash: 'y' })
      .execute();
    await failsAt(log, 2, /inside the pruned range/);
  }));

test('retention prunes what is older than the configured days', (t) =>
  eachAuditStore(t, async ({ database }) => {
    let now = Date.parse('2026-03-01T00:00:00.000Z');
    const log = new AuditLog(database, { clock: () => new Date(now), retentionDays: 30 });
    for (let day = 0; day < 40; day += 1) {
      now = Date.parse('2026-03-01T00:00:00.000Z') + day * 86_400_000;
      await log.append(database.db, sample(day));
    }
    const { removed } = await log.applyRetention();
    assert.equal(removed, 9, 'days 0..8 are more than 30 days before day 39');
    assert.ok((await log.verify()).ok);
    assert.equal(await new AuditLog(database).applyRetention().then((r) => r.removed), 0, 'no retention configured');
  }));

test('unknown event types and bad options are refused', async () => {
  const fake = { db: {} as Kysely<any>, dialect: 'sqlite' as const };
  assert.throws(() => new AuditLog(fake, { batchSize: 0 }), RangeError);
  assert.throws(() => new AuditLog(fake, { retentionDays: -1 }), RangeError);
  const log = new AuditLog(fake);
  const tx = { isTransaction: true } as unknown as Kysely<any>;
  await assert.rejects(log.append(tx, { type: 'made.up' as 'scim.request' }), /unknown audit event type/);
});

const pendingCount = async (database: Database) =>
  Number((await database.db.selectFrom('audit_pending').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow()).n);

test('record() commits or rolls back with its transaction and joins the chain at the next seal, before later appends', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database, { clock: steppingClock() });
    await appendMany(log, database.db, 2);
    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await log.record(tx, sample(50));
        throw new Error('the SCIM write failed');
      }),
    );
    assert.equal(await pendingCount(database), 0, 'rolled back with the write');
    await database.db.transaction().execute(async (tx) => {
      await log.record(tx, sample(51));
      await log.record(tx, { ...sample(52), payload: { password: 'hunter2', kept: true } });
    });
    assert.equal(await pendingCount(database), 2);
    assert.equal((await log.head()).seq, 2, 'pending events are not in the chain yet');
    // An append chains what is pending first: the chain keeps the order things were committed in.
    const appended = await log.append(database.db, sample(53));
    assert.equal(appended.seq, 5);
    assert.equal(await pendingCount(database), 0);
    const events = await log.query();
    assert.deepEqual(events.map((e) => [e.seq, e.payload.i ?? e.payload.kept]), [[1, 0], [2, 1], [3, 51], [4, true], [5, 53]]);
    assert.equal(events[3]!.payload.password, undefined, 'secrets are stripped when recorded');
    assert.equal(events[2]!.requestId, 'req-51');
    assert.ok((await log.verify()).ok);
    assert.equal(await log.seal(), 0, 'nothing left to seal');
  }));

test('sealed events hash exactly as eventHash() does, whatever their text holds (PostgreSQL hashes them in SQL)', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    // Every character JSON escapes (raw in the columns, escaped inside the canonical payload),
    // and ones it leaves as they are: DEL, U+2028, non-ASCII, an astral character.
    const tricky = 'q"uote b\\ack nl\n cr\r tab\t bs\b ff\f c1\u0001 c1f\u001f del\u007f ls\u2028 é 😀 /';
    const inputs: AuditEventInput[] = [
      { type: 'directory.change', tenantId: tricky, requestId: `r ${tricky}`, actor: tricky, userId: tricky, groupId: tricky, target: tricky, payload: { text: tricky, [tricky]: 1 } },
      { type: 'scim.request', payload: {} },
      { type: 'provision.step', actor: 'system', target: 'db', payload: { n: 12345678901, nested: [null, true, { k: tricky }] } },
    ];
    await database.db.transaction().execute(async (tx) => {
      for (const input of inputs) await log.record(tx, input);
    });
    assert.equal(await log.seal(), inputs.length);
    const events = await log.query();
    assert.equal(events.length, inputs.length);
    let prevHash = '0'.repeat(64);
    for (const e of events) {
      assert.equal(e.prevHash, prevHash);
      const payload = canonicalJson(e.payload);
      assert.equal(e.hash, eventHash({ ...e, payload }), `seq ${e.seq}`);
      prevHash = e.hash;
    }
    assert.equal(events[0]!.requestId, `r ${tricky}`, 'stored as sent');
    assert.equal(events[0]!.payload.text, tricky);
    assert.deepEqual(await log.head(), { seq: 3, hash: prevHash });
    assert.ok((await log.verify()).ok);
  }));

test('reads seal first: query and verify see an event recorded and committed just before', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    await database.db.transaction().execute((tx) => log.record(tx, sample(1)));
    assert.deepEqual((await log.query({ userId: 'user-1' })).map((e) => e.seq), [1]);
    await database.db.transaction().execute((tx) => log.record(tx, sample(2)));
    const verified = await log.verify();
    assert.ok(verified.ok && verified.events === 2, JSON.stringify(verified));
  }));

test('an open transaction that recorded an event does not hold up appends or seals by others', { timeout: 30_000 }, (t) =>
  eachAuditStore(t, async (store) => {
    // SQLite runs one write transaction at a time, so only PostgreSQL can show this.
    if (store.database.dialect !== 'postgres') return;
    const log = new AuditLog(store.database);
    const second = store.second();
    const other = new AuditLog(second);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const writer = store.database.db.transaction().execute(async (tx) => {
      await log.record(tx, sample(1));
      await held;
    });
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    const appended = await other.append(second.db, sample(2));
    assert.ok(performance.now() - started < 2000, 'the append did not wait for the open transaction');
    assert.equal(appended.seq, 1, 'the uncommitted event is invisible and not chained');
    release();
    await writer;
    assert.equal(await other.seal(), 1);
    assert.deepEqual((await log.query()).map((e) => [e.seq, e.requestId]), [[1, 'req-2'], [2, 'req-1']]);
    assert.ok((await log.verify()).ok);
  }));

test('many transactions recording and sealing from two processes form one gap-free chain holding every event once', { timeout: 120_000 }, (t) =>
  eachAuditStore(t, async (store) => {
    const writers = store.database.dialect === 'postgres' ? [store.database, store.second()] : [store.database];
    const logs = writers.map((d) => new AuditLog(d));
    await Promise.all(
      Array.from({ length: 400 }, async (_, i) => {
        const w = i % writers.length;
        await writers[w]!.db.transaction().execute(async (tx) => {
          await sql`SELECT 1`.execute(tx);
          await logs[w]!.record(tx, sample(i));
        });
        // Seals and sealing appends race with the records, as the two processes' buffers would.
        if (i % 7 === 0) await logs[w]!.seal();
        if (i % 11 === 0) await logs[w]!.append(writers[w]!.db, { ...sample(1000 + i), requestId: `append-${i}` });
      }),
    );
    await logs[0]!.seal();
    const rows = await store.database.db.selectFrom('audit_events').select(['seq', 'request_id']).orderBy('seq').execute();
    const appends = Array.from({ length: 400 }, (_, i) => i).filter((i) => i % 11 === 0).length;
    assert.deepEqual(rows.map((r) => Number(r.seq)), Array.from({ length: 400 + appends }, (_, i) => i + 1));
    const recorded = rows.map((r) => String(r.request_id)).filter((id) => id.startsWith('req-')).sort();
    assert.deepEqual(recorded, Array.from({ length: 400 }, (_, i) => `req-${i}`).sort());
    assert.equal(await pendingCount(store.database), 0);
    const result = await logs[0]!.verify();
    assert.ok(result.ok, JSON.stringify(result));
  }));

/** What `filter` should find, computed in memory from every stored event. */
function expected(all: AuditEvent[], filter: AuditQuery): number[] {
  const types = filter.type === undefined ? undefined : [filter.type].flat();
  const order = filter.order ?? 'asc';
  const hits = all.filter((e) =>
    (filter.userId === undefined || e.userId === filter.userId) &&
    (filter.groupId === undefined || e.groupId === filter.groupId) &&
    (filter.target === undefined || e.target === filter.target) &&
    (filter.tenantId === undefined || e.tenantId === filter.tenantId) &&
    (filter.requestId === undefined || e.requestId === filter.requestId) &&
    (types === undefined || types.includes(e.type)) &&
    (filter.from === undefined || e.at >= filter.from) &&
    (filter.to === undefined || e.at < filter.to) &&
    (filter.after === undefined || (order === 'asc' ? e.seq > filter.after : e.seq < filter.after)));
  if (order === 'desc') hits.reverse();
  return hits.slice(0, filter.limit ?? 100).map((e) => e.seq);
}

test('queries read only the blocks whose summaries may hold a match, and miss nothing in summarized, unsummarized or pruned blocks', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const make = (i: number): AuditEventInput => ({
      ...sample(i),
      userId: i >= 2100 && i < 2106 ? 'rare-user' : i % 4 === 0 ? null : `user-${(i * 7919) % 300}`,
      requestId: `req-${i}`,
    });
    // 5,000 events, one a minute: blocks 0-3 (seqs 1-4096) complete and summarized, block 4 open.
    await bulkLoad(database.db, database.dialect, 5_000, make, { start: new Date('2026-03-01T00:00:00.000Z'), stepMs: 60_000 });
    const blocks = async () => (await database.db.selectFrom('audit_blocks').select('block').orderBy('block').execute()).map((r) => Number(r.block));
    assert.deepEqual(await blocks(), [0, 1, 2, 3]);

    const probe = { probes: [subjectProbe('user_id', 'rare-user')], types: null };
    const ranges = async () => {
      const found: SeqRange[] = [];
      for await (const range of new AuditBlocks().ranges(database.db, probe, { lo: 1, hi: Infinity }, 'asc')) found.push(range);
      return found;
    };
    // Seqs 2101-2106 lie in block 2; the open block is always read.
    assert.deepEqual(await ranges(), [{ lo: 2049, hi: 3072 }, { lo: 4097, hi: Infinity }]);

    const filters: AuditQuery[] = [
      { userId: 'rare-user' },
      { userId: 'user-7', limit: 1000 },
      { userId: 'user-7', order: 'desc', limit: 5, after: 3000 },
      { userId: 'user-7', limit: 3, after: 1500 },
      { groupId: 'group-1', type: 'directory.change', limit: 1000 },
      { target: 'db-1', type: 'provision.step', from: '2026-03-02T00:00:00.000Z', to: '2026-03-03T00:00:00.000Z', limit: 1000 },
      { tenantId: 'tenant-1', to: '2026-03-01T02:00:00.000Z', limit: 1000 },
      { requestId: 'req-4500' },
      { requestId: 'req-99999' },
      { type: ['provision.step'], order: 'desc', limit: 50 },
      { from: '2026-03-03T12:00:00.000Z', limit: 20 },
      { userId: 'nobody' },
    ];
    const check = async (state: string) => {
      const all = await new AuditLog(database).query({ limit: 10_000 });
      for (const filter of filters) {
        const found = (await new AuditLog(database).query(filter)).map((e) => e.seq);
        assert.deepEqual(found, expected(all, filter), `${state}: ${JSON.stringify(filter)}`);
      }
    };
    await check('summarized');
    // A block without a summary (lost, or written by a bulk load that made none) is read whole.
    await database.db.deleteFrom('audit_blocks').where('block', '=', 2).execute();
    assert.deepEqual(await ranges(), [{ lo: 2049, hi: 3072 }, { lo: 4097, hi: Infinity }]);
    await check('block 2 unsummarized');
    await database.db.deleteFrom('audit_blocks').execute();
    await check('nothing summarized');
    await new AuditBlocks().completed(database.db, 0, 5_000);
    assert.deepEqual(await blocks(), [0, 1, 2, 3]);

    // Appends that complete block 4 (seqs 4097-5120) summarize it in their transaction.
    const log = new AuditLog(database);
    for (let i = 0; i < 130; i += 1) await log.append(database.db, make(i));
    assert.deepEqual(await blocks(), [0, 1, 2, 3, 4]);
    await check('appended');

    // Pruning the first 1.5 days (2,160 events) drops the summaries of blocks 0 and 1 only.
    const { removed } = await log.prune('2026-03-02T12:00:00.000Z');
    assert.equal(removed, 2_160);
    assert.deepEqual(await blocks(), [2, 3, 4]);
    await check('pruned');
    assert.ok((await log.verify()).ok);
  }));

test('the block-summary migration summarizes an existing trail, and its down step restores the indexes', (t) =>
  eachAuditStore(t, async ({ database }) => {
    await bulkLoad(database.db, database.dialect, 2_500, sample);
    const migrations = auditMigrations(database.dialect);
    const migrator = new Migrator({ db: database.db, provider: { getMigrations: async () => migrations } });
    const indexes = async () => (database.dialect === 'sqlite'
      ? await sql<{ name: string }>`SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'audit_events' AND name LIKE 'audit_events_%'`.execute(database.db)
      : await sql<{ name: string }>`SELECT indexname AS name FROM pg_indexes WHERE tablename = 'audit_events' AND indexname LIKE 'audit_events_%' AND indexname <> 'audit_events_pkey'`.execute(database.db)
    ).rows.map((r) => r.name).sort();
    assert.deepEqual(await indexes(), []);

    const down = await migrator.migrateTo('0205-audit-no-request-tenant-indexes');
    assert.equal(down.error, undefined);
    assert.deepEqual(down.results?.map((r) => r.migrationName), ['0207-audit-seal-function', '0206-audit-block-summaries']);
    assert.deepEqual(await indexes(), ['audit_events_at', 'audit_events_group_id_seq', 'audit_events_target_seq', 'audit_events_type_seq', 'audit_events_user_id_seq']);

    const up = await migrator.migrateToLatest();
    assert.equal(up.error, undefined);
    assert.deepEqual(await indexes(), []);
    const blocks = await database.db.selectFrom('audit_blocks').select(['block', 'min_at', 'max_at']).orderBy('block').execute();
    // 2,500 events one millisecond apart from 2026-01-01: blocks 0 and 1 complete, block 2 open.
    assert.deepEqual(blocks.map((b) => [Number(b.block), b.min_at, b.max_at]), [
      [0, '2026-01-01T00:00:00.000Z', '2026-01-01T00:00:01.023Z'],
      [1, '2026-01-01T00:00:01.024Z', '2026-01-01T00:00:02.047Z'],
    ]);
    const log = new AuditLog(database);
    assert.equal((await log.query({ userId: 'user-3', limit: 10_000 })).length, 250);
  }));

test('verify names the first event an altered block summary leaves out; a missing summary only costs reads', (t) =>
  eachAuditStore(t, async ({ database }) => {
    await bulkLoad(database.db, database.dialect, 3_000, sample);
    const log = new AuditLog(database);
    assert.ok((await log.verify()).ok);
    const original = await database.db.selectFrom('audit_blocks').selectAll().where('block', '=', 1).executeTakeFirstOrThrow();
    const restore = () => database.db.updateTable('audit_blocks').set({ filter: original.filter, types: original.types, min_at: original.min_at }).where('block', '=', 1).execute();
    const alterations: Record<string, unknown>[] = [
      { filter: Buffer.alloc((original.filter as Uint8Array).length) },
      { types: 0 },
      { min_at: '2027-01-01T00:00:00.000Z' },
    ];
    for (const alteration of alterations) {
      await database.db.updateTable('audit_blocks').set(alteration).where('block', '=', 1).execute();
      // Block 1 starts at seq 1025; every sample event names a tenant and a user.
      await failsAt(log, 1025, /summary of block 1 leaves this event out/);
      await restore();
    }
    assert.ok((await log.verify()).ok);
    await database.db.deleteFrom('audit_blocks').where('block', '=', 1).execute();
    assert.ok((await log.verify()).ok);
    assert.equal((await log.query({ userId: 'user-3', limit: 10_000 })).length, 300);
  }));
