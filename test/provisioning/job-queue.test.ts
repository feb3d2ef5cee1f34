import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { enqueueJobs } from '../../src/provisioning/enqueue-jobs.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import type { Principal } from '../../src/provisioning/job.ts';
import { eachStore, postgresStore } from './store-databases.ts';
import { finishJob } from './finish-job.ts';
import { waitFor } from './wait-for.ts';

/** A clock the test moves by hand. */
function manualClock(start = '2026-01-01T00:00:00.000Z') {
  let now = new Date(start).getTime();
  return { now: () => new Date(now), advance: (ms: number) => void (now += ms) };
}

const alice: Principal = { tenantId: 't1', userId: 'alice', target: 'db1' };
const bob: Principal = { tenantId: 't1', userId: 'bob', target: 'db1' };
const done = { startedAt: new Date(), outcome: 'done' as const, results: [] };
const failed = { startedAt: new Date(), outcome: 'retry' as const, error: 'connection refused', results: [] };

test('enqueue coalesces queued jobs; a running principal is never claimed twice', (t) =>
  eachStore(t, async ({ database }) => {
    const queue = new JobQueue(database);
    await queue.enqueue([alice, alice, bob]);
    await queue.enqueue([alice]);
    assert.equal((await queue.listJobs({ state: 'queued' })).length, 2);

    const claimed = await queue.claim('w1', { target: 'db1', limit: 10 });
    assert.deepEqual(claimed.map((j) => j.userId).sort(), ['alice', 'bob']);
    assert.ok(claimed.every((j) => j.state === 'running' && j.attempts === 1 && j.lockedBy === 'w1'));

    // A change while alice's job runs queues a new job: the running one may have read stale data.
    await queue.enqueue([alice]);
    await queue.enqueue([alice]);
    assert.equal((await queue.listJobs({ state: 'queued' })).length, 1);
    assert.deepEqual(await queue.claim('w2', { target: 'db1', limit: 10 }), [], 'alice is running: not claimable');

    const aliceJob = claimed.find((j) => j.userId === 'alice')!;
    assert.equal(await finishJob(queue, aliceJob, 'w1', done), 'done');
    const next = await queue.claim('w2', { target: 'db1', limit: 10 });
    assert.deepEqual(next.map((j) => j.userId), ['alice']);
    assert.equal(await finishJob(queue, aliceJob, 'w1', done), 'lost', 'finishing twice changes nothing');

    const attempts = await queue.attempts(aliceJob.id);
    assert.deepEqual(attempts.map((a) => [a.attempt, a.outcome, a.worker]), [[1, 'done', 'w1']]);
  }));

test('failures back off exponentially, dead-letter after maxAttempts, and retry/retryAll requeue', (t) =>
  eachStore(t, async ({ database }) => {
    const clock = manualClock();
    const queue = new JobQueue(database, { maxAttempts: 3, backoff: { baseMs: 1000, maxMs: 1500, random: () => 1 }, clock: clock.now });
    await queue.enqueue([alice]);

    const delays: number[] = [];
    for (let run = 1; run <= 3; run++) {
      const [job] = await queue.claim('w1', { target: 'db1', limit: 1 });
      assert.ok(job, `run ${run} claimable`);
      assert.equal(job.attempts, run);
      const state = await finishJob(queue, job, 'w1', { ...failed, startedAt: clock.now() });
      if (run < 3) {
        assert.equal(state, 'queued');
        const queued = (await queue.getJob(job.id))!;
        const delay = new Date(queued.runAfter).getTime() - clock.now().getTime();
        delays.push(delay);
        assert.deepEqual(await queue.claim('w1', { target: 'db1', limit: 1 }), [], 'not due before its backoff');
        clock.advance(delay);
      } else {
        assert.equal(state, 'dead');
      }
    }
    assert.deepEqual(delays, [1000, 1500], 'base * 2^(n-1), capped at maxMs (random=1 gives the full delay)');

    const [dead] = await queue.listJobs({ state: 'dead' });
    assert.ok(dead);
    assert.match(dead.lastError!, /connection refused \(gave up after 3 attempts\)/);
    assert.deepEqual((await queue.attempts(dead.id)).map((a) => a.outcome), ['retry', 'retry', 'dead']);
    assert.equal((await queue.listJobs({ failedOnly: true })).length, 1);

    assert.equal(await queue.retry(dead.id), true);
    const requeued = (await queue.getJob(dead.id))!;
    assert.equal(requeued.state, 'queued');
    assert.equal(requeued.attempts, 0);
    assert.equal(await queue.retry(dead.id), false, 'only dead jobs are retried');

    // Two dead jobs of one principal plus one of another: retryAll leaves one queued job per principal.
    const kill = async () => {
      const [job] = await queue.claim('w1', { target: 'db1', limit: 1 });
      assert.ok(job);
      await finishJob(queue, job, 'w1', { ...failed, outcome: 'dead', error: 'permission denied' });
    };
    await kill();
    await queue.enqueue([alice]);
    await kill();
    await queue.enqueue([bob]);
    await kill();
    assert.equal((await queue.listJobs({ state: 'dead' })).length, 3);
    assert.equal(await queue.retryAll(), 3);
    const queued = await queue.listJobs({ state: 'queued' });
    assert.deepEqual(queued.map((j) => j.userId).sort(), ['alice', 'bob']);
    assert.equal((await queue.listJobs({ state: 'dead' })).length, 0);
    assert.equal((await queue.counts()).done, 1, 'the older alice job is closed as superseded');
  }));

test('a retry while a new job is queued folds into that job, keeping backoff and attempt count', (t) =>
  eachStore(t, async ({ database }) => {
    const clock = manualClock();
    const queue = new JobQueue(database, { backoff: { baseMs: 1000, random: () => 1 }, clock: clock.now });
    await queue.enqueue([alice]);
    const [job] = await queue.claim('w1', { target: 'db1', limit: 1 });
    assert.ok(job);
    await queue.enqueue([alice]);
    assert.equal(await finishJob(queue, job, 'w1', failed), 'done');
    const [sibling] = await queue.listJobs({ state: 'queued' });
    assert.ok(sibling);
    assert.equal(sibling.attempts, 1);
    assert.equal(sibling.runAfter, new Date(clock.now().getTime() + 1000).toISOString());
    assert.match((await queue.getJob(job.id))!.lastError!, /superseded by queued job/);

    // An operator's retry of a dead job makes the principal's queued job due now, backoff or not.
    const [again] = await queue.claim('w1', { target: 'db1', limit: 1 });
    assert.equal(again, undefined, 'the covering job waits out its backoff');
    clock.advance(1000);
    const [covering] = await queue.claim('w1', { target: 'db1', limit: 1 });
    assert.ok(covering);
    await queue.enqueue([alice]);
    assert.equal(await finishJob(queue, covering, 'w1', { ...failed, outcome: 'dead' }), 'dead');
    const [queued] = await queue.listJobs({ state: 'queued' });
    await finishJob(queue, (await queue.claim('w1', { target: 'db1', limit: 1 }))[0]!, 'w1', failed);
    assert.ok(new Date((await queue.getJob(queued!.id))!.runAfter) > clock.now(), 'in backoff');
    assert.equal(await queue.retry(covering.id), true);
    assert.equal((await queue.getJob(queued!.id))!.runAfter, clock.now().toISOString());
    assert.equal((await queue.getJob(covering.id))!.state, 'done');
  }));

test('a lapsed lease (crashed worker) makes the job claimable again', (t) =>
  eachStore(t, async ({ database }) => {
    const clock = manualClock();
    const queue = new JobQueue(database, { leaseMs: 1000, backoff: { baseMs: 200, random: () => 1 }, clock: clock.now });
    await queue.enqueue([alice]);
    const [job] = await queue.claim('crashed', { target: 'db1', limit: 1 });
    assert.ok(job);

    clock.advance(500);
    assert.deepEqual(await queue.renew('crashed', [job.id]), []);
    clock.advance(800);
    assert.equal(await queue.recover(), 0, 'renewed lease still valid');
    clock.advance(1000);
    assert.deepEqual(await queue.claim('w2', { target: 'db1', limit: 1 }), [], 'running, even with a lapsed lease, until recovered');
    assert.equal(await queue.recover(), 1);
    clock.advance(200);
    const [again] = await queue.claim('w2', { target: 'db1', limit: 1 });
    assert.equal(again?.id, job.id);
    assert.equal(again?.attempts, 2);
    assert.equal(await finishJob(queue, job, 'crashed', done), 'lost', 'the old worker no longer owns it');
    assert.equal(await finishJob(queue, again!, 'w2', done), 'done');
    assert.deepEqual((await queue.attempts(job.id)).map((a) => [a.attempt, a.outcome, a.worker]), [
      [1, 'expired', 'crashed'],
      [2, 'done', 'w2'],
    ]);
  }));

test('PostgreSQL: two processes claiming in parallel never claim a job twice and lose none', async (t) => {
  const store = await postgresStore(t);
  if (!store) return;
  try {
    const users = Array.from({ length: 300 }, (_, i) => `user${String(i).padStart(3, '0')}`);
    await new JobQueue(store.database).enqueue(users.map((userId) => ({ tenantId: 't1', userId, target: 'db1' })));
    const processes = [store.database, store.second()].map((database, n) => ({ queue: new JobQueue(database), worker: `process${n}` }));
    const seen = new Map<number, string>();
    const runClaimer = async ({ queue, worker }: { queue: JobQueue; worker: string }, lane: number) => {
      for (let idle = 0; idle < 3; ) {
        const jobs = await queue.claim(`${worker}/${lane}`, { target: 'db1', limit: 7 });
        if (jobs.length === 0) {
          idle++;
          continue;
        }
        idle = 0;
        for (const job of jobs) {
          assert.equal(seen.get(job.id), undefined, `job ${job.id} claimed by ${seen.get(job.id)} and ${worker}`);
          seen.set(job.id, worker);
          await finishJob(queue, job, `${worker}/${lane}`, done);
        }
      }
    };
    await Promise.all(processes.flatMap((p) => [0, 1, 2, 3].map((lane) => runClaimer(p, lane))));
    assert.equal(seen.size, users.length, 'every job claimed exactly once');
    const counts = await processes[0]!.queue.counts();
    assert.deepEqual(counts, { queued: 0, running: 0, done: users.length, dead: 0 });
    const byProcess = new Set(seen.values());
    assert.equal(byProcess.size, 2, 'both processes took part');
  } finally {
    await store.cleanup();
  }
});

test('housekeeping: jobs of targets gone from the policy are dead-lettered; old done jobs are purged', (t) =>
  eachStore(t, async ({ database }) => {
    const clock = manualClock();
    const queue = new JobQueue(database, { clock: clock.now });
    await queue.enqueue([alice, { ...bob, target: 'removed' }]);
    assert.equal(await queue.abandonUnknownTargets(['db1']), 1);
    const [dead] = await queue.listJobs({ state: 'dead' });
    assert.equal(dead?.target, 'removed');
    assert.equal(dead?.lastError, 'target "removed" is not in the policy');

    const [job] = await queue.claim('w1', { target: 'db1', limit: 1 });
    await finishJob(queue, job!, 'w1', done);
    clock.advance(1000);
    assert.equal(await queue.purgeDone(new Date(clock.now().getTime() - 2000)), 0, 'not old enough');
    assert.equal(await queue.purgeDone(clock.now()), 1);
    assert.deepEqual(await queue.attempts(job!.id), [], 'attempts go with their job');
    assert.deepEqual(await queue.counts(), { queued: 0, running: 0, done: 0, dead: 1 });
  }));

test('PostgreSQL: a queued job coalescing an uncommitted change is not claimed until that change commits', async (t) => {
  const store = await postgresStore(t);
  if (!store) return;
  try {
    const writer = store.database;
    const worker = new JobQueue(store.second());
    await new JobQueue(writer).enqueue([alice]);
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => (release = resolve));
    let enqueued: () => void = () => {};
    const inside = new Promise<void>((resolve) => (enqueued = resolve));
    // A SCIM write transaction that coalesces into alice's queued job and has not committed yet.
    const scimWrite = writer.db.transaction().execute(async (tx) => {
      await enqueueJobs(tx, [alice]);
      enqueued();
      await held;
    });
    await inside;
    try {
      assert.deepEqual(await worker.claim('w', { target: 'db1', limit: 1 }), [], 'claiming now would plan without the change');
    } finally {
      release();
      await scimWrite;
    }
    assert.equal((await worker.claim('w', { target: 'db1', limit: 1 })).length, 1);
  } finally {
    await store.cleanup();
  }
});

test('PostgreSQL: a worker requeueing failed jobs and a SCIM write queueing the same principals do not deadlock', async (t) => {
  const store = await postgresStore(t);
  if (!store) return;
  const scim = new pg.Client({ connectionString: store.location });
  await scim.connect();
  try {
    const queue = new JobQueue(store.database);
    await queue.enqueue([alice, bob]);
    const claimed = await queue.claim('w', { target: 'db1', limit: 10 });
    // Handed to finishMany bob first: a requeue takes the principal's queued slot in that order unless sorted.
    const items = ['bob', 'alice'].map((userId) => ({ job: claimed.find((j) => j.userId === userId)!, report: failed }));
    const at = new Date().toISOString();
    const upsert = (p: Principal) => scim.query(
      `INSERT INTO jobs (tenant_id, user_id, target, state, attempts, run_after, created_at, updated_at) VALUES ($1, $2, $3, 'queued', 0, $4, $4, $4)
       ON CONFLICT (tenant_id, user_id, target) WHERE state = 'queued' DO UPDATE SET updated_at = excluded.updated_at`,
      [p.tenantId, p.userId, p.target, at]);
    // A SCIM write's upserts in enqueueJobs' order (alice, then bob), with the worker finishing in between.
    await scim.query('BEGIN');
    await upsert(alice);
    const finished = queue.finishMany(items, 'w');
    // The worker's transaction waits for the SCIM write (on alice's slot, or with the old order after taking bob's).
    await waitFor("the worker's wait on the SCIM write", async () => {
      const { rows } = await scim.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`);
      return rows[0].n > 0;
    });
    const second = upsert(bob).then(() => scim.query('COMMIT'));
    const [write, finish] = await Promise.allSettled([second, finished]);
    assert.equal(write.status, 'fulfilled', write.status === 'rejected' ? String(write.reason) : '');
    assert.equal(finish.status, 'fulfilled', finish.status === 'rejected' ? String(finish.reason) : '');
    const queued = await queue.listJobs({ state: 'queued' });
    assert.deepEqual(queued.map((j) => j.userId).sort(), ['alice', 'bob'], 'one queued job per principal');
  } finally {
    await scim.end();
    await store.cleanup();
  }
});
