/**
 * Audit log at volume: appends through the real path, bulk-loads the rest of N events
 * (default 1,000,000) into a temporary SQLite store, then verifies the whole chain.
 *
 *   node --import tsx bench/audit-verify-bench.ts [--events 1000000] [--appends 20000]
 *
 * Prints events/s for append and verify and the peak resident memory, which must stay
 * flat: verify reads in batches of 10,000.
 */
import { parseArgs } from 'node:util';
import type { AuditEventInput } from '../src/audit/audit-log.ts';
import { AuditLog } from '../src/audit/audit-log.ts';
import { sqliteAuditStore } from '../test/audit/audit-stores.ts';
import { bulkLoad } from '../test/audit/bulk-load.ts';

const { values } = parseArgs({ options: { events: { type: 'string', default: '1000000' }, appends: { type: 'string', default: '20000' } } });
const total = Number(values.events);
const appends = Number(values.appends);
// Bounded so a typo cannot fill the disk or run for hours.
if (!Number.isInteger(total) || total < 1 || total > 5_000_000) throw new RangeError('--events must be 1..5,000,000');
if (!Number.isInteger(appends) || appends < 0 || appends * 2 > total) throw new RangeError('--appends must be 0..events/2 (each is measured twice)');

const event = (i: number): AuditEventInput => ({
  type: i % 4 === 0 ? 'provision.step' : 'directory.change',
  tenantId: `tenant-${i % 3}`,
  requestId: `req-${i}`,
  actor: `token-${i % 7}`,
  userId: `user-${i % 5000}`,
  target: i % 4 === 0 ? `db-${i % 3}` : null,
  payload: { kind: 'user.updated', userName: `user${i % 5000}@example.com`, active: i % 10 !== 0, i },
});

let peakRss = 0;
const sampleRss = () => {
  peakRss = Math.max(peakRss, process.memoryUsage().rss);
};
const perSecond = (n: number, ms: number) => Math.round(n / (ms / 1000)).toLocaleString('en-US');

const store = await sqliteAuditStore();
try {
  const log = new AuditLog(store.database);

  let started = performance.now();
  for (let i = 0; i < appends; i += 1) await log.append(store.database.db, event(i));
  const appendMs = performance.now() - started;
  console.log(`append (own transaction each): ${appends.toLocaleString('en-US')} events in ${Math.round(appendMs)} ms = ${perSecond(appends, appendMs)} events/s`);

  // The same appends sharing transactions, as when a SCIM write records several changes:
  // separates the cost of the append itself (SELECT head, INSERT, UPDATE) from commit fsyncs.
  const shared = Math.min(appends, total - appends);
  started = performance.now();
  for (let i = 0; i < shared; i += 100) {
    await store.database.db.transaction().execute(async (tx) => {
      for (let j = i; j < Math.min(shared, i + 100); j += 1) await log.append(tx, event(appends + j));
    });
  }
  const sharedMs = performance.now() - started;
  console.log(`append (100 per transaction): ${shared.toLocaleString('en-US')} events in ${Math.round(sharedMs)} ms = ${perSecond(shared, sharedMs)} events/s`);

  started = performance.now();
  for (let done = appends + shared; done < total; ) {
    const count = Math.min(100_000, total - done);
    await bulkLoad(store.database.db, 'sqlite', count, (i) => event(done + i));
    done += count;
    sampleRss();
  }
  console.log(`bulk load: ${(total - appends - shared).toLocaleString('en-US')} events in ${Math.round(performance.now() - started)} ms`);

  const result = await log.verify({
    onProgress: (p) => {
      sampleRss();
      if (p.events % 200_000 === 0) console.log(`  verified ${p.events.toLocaleString('en-US')} (${p.eventsPerSecond.toLocaleString('en-US')} events/s)`);
    },
  });
  if (!result.ok) throw new Error(`verify failed at seq ${result.firstBad.seq}: ${result.firstBad.reason}`);
  console.log(`verify: ${result.events.toLocaleString('en-US')} events in ${Math.round(result.ms)} ms = ${result.eventsPerSecond.toLocaleString('en-US')} events/s`);
  console.log(`peak RSS: ${Math.round(peakRss / 1024 / 1024)} MB`);
} finally {
  await store.cleanup();
}
