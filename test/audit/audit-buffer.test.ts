import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuditBuffer } from '../../src/audit/audit-buffer.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { eachAuditStore } from './audit-stores.ts';

test('buffered request events land in the chain in the order added and verify', (t) => eachAuditStore(t, async (store) => {
  const log = new AuditLog(store.database);
  const errors: unknown[] = [];
  const buffer = new AuditBuffer(log, store.database.db, { maxDelayMs: 5, maxBatch: 7, onError: (e) => errors.push(e) });
  await log.append(store.database.db, { type: 'admin.token.created', payload: { n: -1 } });
  for (let n = 0; n < 50; n++) buffer.add({ type: 'scim.request', requestId: `r${n}`, payload: { n, password: 'never-stored' } });
  await buffer.flush();
  const events = await log.query({ type: 'scim.request', limit: 100 });
  assert.deepEqual(events.map((e) => e.requestId), Array.from({ length: 50 }, (_, n) => `r${n}`));
  assert.ok(events.every((e) => !JSON.stringify(e.payload).includes('never-stored')));
  const result = await log.verify();
  assert.equal(result.ok, true);
  assert.equal(result.events, 51);
  assert.deepEqual(errors, []);
}));

test('a buffer flushes by itself after its delay', (t) => eachAuditStore(t, async (store) => {
  const log = new AuditLog(store.database);
  const buffer = new AuditBuffer(log, store.database.db, { maxDelayMs: 5, onError: () => undefined });
  buffer.add({ type: 'scim.request', requestId: 'later' });
  const deadline = Date.now() + 5000;
  while ((await log.query({ requestId: 'later' })).length === 0) {
    assert.ok(Date.now() < deadline, 'the buffered event was never written');
    await new Promise((r) => setTimeout(r, 10));
  }
}));

test('a failed batch is reported with how many events it held', async () => {
  const failing = { appendMany: async () => { throw new Error('store down'); } } as unknown as AuditLog;
  const reported: [string, number][] = [];
  const buffer = new AuditBuffer(failing, {} as never, { maxBatch: 3, onError: (e, lost) => reported.push([(e as Error).message, lost]) });
  for (let n = 0; n < 5; n++) buffer.add({ type: 'scim.request' });
  await buffer.flush();
  assert.deepEqual(reported, [['store down', 3], ['store down', 2]]);
});

test('sealSoon chains events recorded as pending by a committed write, with no read to seal them', (t) => eachAuditStore(t, async (store) => {
  const log = new AuditLog(store.database);
  const buffer = new AuditBuffer(log, store.database.db, { maxDelayMs: 5, onError: () => undefined });
  await store.database.db.transaction().execute((tx) => log.record(tx, { type: 'directory.change', requestId: 'change-1' }));
  assert.equal((await log.head()).seq, 0);
  buffer.sealSoon();
  const deadline = Date.now() + 5000;
  // head() does not seal: only the buffer's flush can move it.
  while ((await log.head()).seq === 0) {
    assert.ok(Date.now() < deadline, 'the pending event was never chained');
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.deepEqual((await log.query()).map((e) => e.requestId), ['change-1']);
}));
