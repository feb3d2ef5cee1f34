import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Database } from '../../src/directory/database.ts';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import type { Policy } from '../../src/policy/policy.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { OutboxSink } from '../../src/provisioning/outbox-sink.ts';
import type { JobFinishedEvent, StepEvent } from '../../src/provisioning/provisioning-events.ts';
import { WorkerPool } from '../../src/provisioning/worker-pool.ts';
import { DirectoryFixture, policyOf, policyTarget } from './directory-fixture.ts';
import { MemoryTarget } from './memory-target.ts';
import { eachStore } from './store-databases.ts';
import { waitFor } from './wait-for.ts';

const analysts = { group: { by: 'displayName' as const, value: 'Analysts' }, grants: { db1: ['reader'] } };

/** A directory, queue and worker pool over one store, with an in-memory target "db1". */
function harness(database: Database, policy: Policy, options: { pollIntervalMs?: number; batchSize?: number } = {}) {
  const targets = new Map(policy.targets.map((t) => [t.name, new MemoryTarget(t.name)]));
  const target = targets.get('db1') ?? new MemoryTarget('db1');
  const queue = new JobQueue(database, { backoff: { baseMs: 20, maxMs: 40 }, maxAttempts: 3 });
  const accounts = new AccountRegistry(database.db);
  const steps: StepEvent[] = [];
  const finished: JobFinishedEvent[] = [];
  const pool = new WorkerPool({
    queue,
    policy: () => policy,
    targets: (name) => (name === 'db1' ? target : targets.get(name)),
    view: new KyselyDirectoryView(database),
    accounts,
    pollIntervalMs: options.pollIntervalMs ?? 1000,
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    hooks: { onStepResult: (e) => void steps.push(e), onJobFinished: (e) => void finished.push(e) },
  });
  const directory = new DirectoryFixture(database, [new OutboxSink(() => policy)]);
  directory.afterCommit = () => pool.notify();
  const settled = () =>
    waitFor('the queue to settle', async () => {
      const counts = await queue.counts();
      return pool.active === 0 && counts.queued === 0 && counts.running === 0;
    });
  return { target, targets, queue, accounts, steps, finished, pool, directory, settled };
}

/** Group g1 "Analysts" with users u0..u11 (user0..user11) as members. */
async function analysts12(directory: DirectoryFixture): Promise<void> {
  await directory.group('g1', 'Analysts');
  for (let i = 0; i < 12; i++) await directory.user(`u${i}`, `user${i}`);
  await directory.members('g1', { add: Array.from({ length: 12 }, (_, i) => ({ value: `u${i}`, type: 'User' as const })) });
}

test('SCIM writes provision, deactivate and offboard through the worker (woken by notify)', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { offboarding: 'drop' })], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 60_000 });
    h.pool.start();
    try {
      await h.directory.user('u1', 'alice');
      await h.directory.group('g1', 'Analysts');
      await h.directory.members('g1', { add: [{ value: 'u1', type: 'User' }] });
      await h.settled();
      assert.deepEqual(await h.target.readAccount('alice'), { login: 'alice', exists: true, managed: true, canLogin: true, roles: ['reader'], sessions: 0 });
      assert.equal((await h.accounts.getMany('db1', 't1', ['u1']).then((m) => m.get('u1')))?.login, 'alice');

      await h.directory.user('u1', 'alice', false);
      await h.settled();
      const locked = await h.target.readAccount('alice');
      assert.equal(locked.canLogin, false);
      assert.deepEqual(locked.roles, []);

      await h.directory.deleteUser('u1');
      await h.settled();
      assert.equal((await h.target.readAccount('alice')).exists, false);
      assert.equal(await h.accounts.getMany('db1', 't1', ['u1']).then((m) => m.get('u1')), undefined, 'a dropped login is forgotten');

      const ops = h.steps.map((s) => `${s.step.op}${s.outcome === 'applied' ? '' : `:${s.outcome}`}`);
      assert.deepEqual(ops, ['ensureRole', 'createLogin', 'grant', 'lock', 'endSessions', 'revoke', 'endSessions', 'drop']);
      assert.ok(h.steps.every((s) => s.source === 'job' && s.userId === 'u1' && s.target === 'db1'));
      assert.ok(h.finished.every((f) => f.state === 'done'));
    } finally {
      await h.pool.stop();
    }
  }));

test('retryable failures back off and succeed; rejected steps and unmanaged accounts dead-letter at once', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1')], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10 });
    h.target.failures = ['retry', 'conflict'];
    h.pool.start();
    try {
      await h.directory.user('u1', 'alice');
      await h.directory.group('g1', 'Analysts');
      await h.directory.members('g1', { add: [{ value: 'u1', type: 'User' }] });
      await h.settled();
      assert.deepEqual((await h.target.readAccount('alice')).roles, ['reader']);
      // Attempts of every u1 job (a job queued meanwhile absorbs a retry), in time order.
      const jobs = await h.queue.listJobs({ userId: 'u1' });
      const attempts = (await Promise.all(jobs.map((j) => h.queue.attempts(j.id)))).flat().sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
      assert.deepEqual(
        attempts.filter((a) => a.results.length > 0).map((a) => a.outcome),
        ['retry', 'retry', 'done'],
      );
      const first = attempts.find((a) => a.outcome === 'retry')!;
      assert.equal(first.results[0]?.outcome, 'failed');
      assert.equal(first.results[1]?.outcome, 'skipped', 'steps after a failure are skipped, not thrown');

      h.target.failures = ['reject'];
      await h.directory.user('u2', 'bob');
      await h.directory.members('g1', { add: [{ value: 'u2', type: 'User' }] });
      await h.settled();
      const [bobJob] = await h.queue.listJobs({ userId: 'u2', state: 'dead' });
      assert.ok(bobJob, 'rejected: dead without retries');
      assert.equal(bobJob.attempts, 1);
      assert.match(bobJob.lastError!, /injected reject/);

      // An account Rolecall does not manage is reported, never changed.
      h.target.accounts.set('carol', { managed: false, canLogin: true, roles: new Set(['admin']), sessions: 1 });
      await h.directory.user('u3', 'carol');
      await h.directory.members('g1', { add: [{ value: 'u3', type: 'User' }] });
      await h.settled();
      const [carolJob] = await h.queue.listJobs({ userId: 'u3', state: 'dead' });
      assert.match(carolJob?.lastError ?? '', /not managed by Rolecall/);
      assert.deepEqual([...h.target.accounts.get('carol')!.roles], ['admin']);
      assert.equal(await h.accounts.getMany('db1', 't1', ['u3']).then((m) => m.get('u3')), undefined);

      // The dead letters are visible and can be retried once the cause is fixed.
      const dead = await h.queue.listJobs({ state: 'dead' });
      assert.deepEqual([...new Set(dead.map((j) => j.userId))].sort(), ['u2', 'u3']);
      h.target.accounts.delete('carol');
      assert.equal(await h.queue.retryAll(), dead.length);
      h.pool.notify();
      await h.settled();
      assert.equal((await h.queue.listJobs({ state: 'dead' })).length, 0);
      assert.deepEqual((await h.target.readAccount('carol')).roles, ['reader']);
    } finally {
      await h.pool.stop();
    }
  }));

test('at most PolicyTarget.concurrency batches run at once per target, principals in parallel', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { concurrency: 3 })], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10, batchSize: 4 });
    h.target.delayMs = 15;
    await analysts12(h.directory);
    h.pool.start();
    try {
      await h.settled();
      assert.equal(h.target.maxInFlight, 3);
      assert.equal((await h.target.listManaged()).length, 12);
      assert.ok(h.finished.length === 12 && h.finished.every((e) => e.state === 'done'));
    } finally {
      await h.pool.stop();
    }
  }));

test('a target whose due jobs were all taken is not claimed from again until new work may exist', (t) =>
  eachStore(t, async ({ database }) => {
    const fast = { group: { by: 'displayName' as const, value: 'Analysts' }, grants: { db1: ['reader'], db2: ['reader'] } };
    const policy = policyOf([policyTarget('db1', { concurrency: 1 }), policyTarget('db2', { concurrency: 1 })], [fast]);
    const h = harness(database, policy, { pollIntervalMs: 60_000, batchSize: 1 });
    // Both run their 12 jobs one batch at a time; db1 slowly, so most of its batches finish after db2 is done.
    h.target.delayMs = 25;
    const claims = new Map<string, number>();
    const claim = h.queue.claim.bind(h.queue);
    h.queue.claim = (workerId, scope) => {
      claims.set(scope.target, (claims.get(scope.target) ?? 0) + 1);
      return claim(workerId, scope);
    };
    await analysts12(h.directory);
    h.pool.start();
    try {
      await h.settled();
      assert.equal((await h.targets.get('db2')!.listManaged()).length, 12);
      assert.equal((await h.target.listManaged()).length, 12);
      assert.ok((claims.get('db1') ?? 0) >= 12, 'one claim per db1 batch at least');
      // Each of db1's finished batches wakes the loop; once a claim found db2 empty, those wakes
      // claim nothing more from it (12 claims for its jobs, one that found it empty, one spare).
      assert.ok((claims.get('db2') ?? 0) <= 14, `db2 claimed ${claims.get('db2')} times`);
      // New work for the drained target is still taken at once (notify()).
      await h.directory.user('u12', 'user12');
      await h.directory.members('g1', { add: [{ value: 'u12', type: 'User' }] });
      await h.settled();
      assert.equal((await h.targets.get('db2')!.listManaged()).length, 13);
    } finally {
      await h.pool.stop();
    }
  }));

test('a batch takes many due jobs of a target at once, each with its own plan, attempt and outcome', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { concurrency: 1 })], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10 });
    await h.directory.group('g1', 'Analysts');
    for (let i = 0; i < 30; i++) await h.directory.user(`u${i}`, `user${i}`);
    // One member's login is taken by an unmanaged account: only that job fails.
    h.target.accounts.set('user7', { managed: false, canLogin: true, roles: new Set(), sessions: 0 });
    await h.directory.members('g1', { add: Array.from({ length: 30 }, (_, i) => ({ value: `u${i}`, type: 'User' as const })) });
    h.pool.start();
    try {
      await waitFor('every job finished', () => h.finished.length === 30);
      const byUser = new Map(h.finished.map((e) => [e.job.userId, e]));
      assert.equal(byUser.get('u7')?.state, 'dead');
      assert.match(byUser.get('u7')?.error ?? '', /not managed by Rolecall/);
      assert.ok([...byUser].filter(([id]) => id !== 'u7').every(([, e]) => e.state === 'done' && e.results.length === 3), 'ensureRole, createLogin, grant each');
      assert.equal((await h.target.listManaged()).length, 29);
      const attempts = await Promise.all(h.finished.map((e) => h.queue.attempts(e.job.id)));
      assert.ok(attempts.every((a) => a.length === 1), 'one recorded attempt per job');
      assert.deepEqual(attempts.find((a) => a[0]!.jobId === byUser.get('u3')!.job.id)![0]!.results.map((r) => r.step.op), ['ensureRole', 'createLogin', 'grant']);
      assert.equal(new Set(h.steps.filter((e) => e.step.op === 'grant').map((e) => e.grantedBy?.join())).size, 1);
      assert.deepEqual(h.steps.find((e) => e.step.op === 'grant')?.grantedBy, ['Analysts']);
    } finally {
      await h.pool.stop();
    }
  }));

test('two users whose names render to one login in one batch: the first gets it, the other is dead-lettered, the batch goes on', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { concurrency: 1, login: '{localPart}' })], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10 });
    await h.directory.group('g1', 'Analysts');
    for (const [id, name] of [['u1', 'sam@a.example'], ['u2', 'sam@b.example'], ['u3', 'tia@a.example']]) await h.directory.user(id!, name!);
    await h.directory.members('g1', { add: ['u1', 'u2', 'u3'].map((value) => ({ value, type: 'User' as const })) });
    h.pool.start();
    try {
      await waitFor('every job finished', () => h.finished.length >= 3);
      const state = new Map(h.finished.map((e) => [e.job.userId, e]));
      assert.equal(state.get('u3')?.state, 'done');
      assert.deepEqual([state.get('u1')?.state, state.get('u2')?.state].sort(), ['dead', 'done']);
      const loser = state.get('u1')?.state === 'dead' ? 'u1' : 'u2';
      assert.match(state.get(loser)?.error ?? '', /login "sam" is recorded for user u[12]/);
      assert.deepEqual((await h.target.listManaged()).map((a) => a.login), ['sam', 'tia']);
    } finally {
      await h.pool.stop();
    }
  }));

test('fatal failures of several jobs in one batch: one is dead-lettered, the rest wait for the target', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { concurrency: 1 })], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10 });
    h.target.failures = ['fatal', 'fatal', 'fatal'];
    await h.directory.group('g1', 'Analysts');
    for (const [id, name] of [['u1', 'ann'], ['u2', 'ben'], ['u3', 'cat']]) await h.directory.user(id!, name!);
    await h.directory.members('g1', { add: ['u1', 'u2', 'u3'].map((value) => ({ value, type: 'User' as const })) });
    h.pool.start();
    try {
      await waitFor('the batch finished', () => h.finished.length >= 3);
      assert.deepEqual(h.finished.slice(0, 3).map((e) => e.state).sort(), ['dead', 'queued', 'queued']);
      assert.ok(h.finished.slice(0, 3).every((e) => /injected fatal/.test(e.error ?? '')));
    } finally {
      await h.pool.stop();
    }
  }));

test('stop() waits for running jobs', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1')], [analysts]);
    const h = harness(database, policy, { pollIntervalMs: 10 });
    h.target.delayMs = 50;
    await h.directory.group('g1', 'Analysts');
    await h.directory.user('u1', 'alice');
    await h.directory.members('g1', { add: [{ value: 'u1', type: 'User' }] });
    h.pool.start();
    await waitFor('a running job', () => h.pool.active > 0);
    await h.pool.stop();
    assert.equal(h.pool.active, 0);
    assert.equal((await h.queue.counts()).running, 0);
  }));

test('a fatal failure pauses the target: its other jobs wait instead of dead-lettering, then one probe resumes it', (t) =>
  eachStore(t, async ({ database }) => {
    const policy = policyOf([policyTarget('db1', { concurrency: 1 })], [analysts]);
    const target = new MemoryTarget('db1');
    target.failures = ['fatal'];
    const queue = new JobQueue(database);
    const dir = new DirectoryFixture(database, []);
    await dir.group('g1', 'Analysts');
    for (const [id, name] of [['u1', 'ann'], ['u2', 'ben'], ['u3', 'cat']]) await dir.user(id!, name!);
    await dir.members('g1', { add: ['u1', 'u2', 'u3'].map((value) => ({ value, type: 'User' as const })) });
    await queue.enqueue(['u1', 'u2', 'u3'].map((userId) => ({ tenantId: 't1', userId, target: 'db1' })));
    const paused: string[] = [];
    const pool = new WorkerPool({
      queue,
      policy: () => policy,
      targets: () => target,
      view: new KyselyDirectoryView(database),
      accounts: new AccountRegistry(database.db),
      pollIntervalMs: 10,
      // One job per batch: the pause itself is what is tested (a batch's own fatal failures: below).
      batchSize: 1,
      fatalPauseMs: 300,
      onTargetPaused: (name, _until, error) => void paused.push(`${name}: ${error}`),
    });
    pool.start();
    try {
      await waitFor('the fatal failure', () => paused.length === 1);
      await new Promise((resolve) => setTimeout(resolve, 150));
      assert.deepEqual(await queue.counts(), { queued: 2, running: 0, done: 0, dead: 1 }, 'nothing claimed while paused');
      assert.match(paused[0]!, /^db1: .*injected fatal/);
      await waitFor('the rest after the pause', async () => (await queue.counts()).done === 2);
      assert.equal(target.accounts.size, 2);
    } finally {
      await pool.stop();
    }
  }));
