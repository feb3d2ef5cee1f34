import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { AccountRegistry } from '../../src/provisioning/account-registry.ts';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import type { StepEvent } from '../../src/provisioning/provisioning-events.ts';
import { ReconcileScheduler } from '../../src/provisioning/reconcile-scheduler.ts';
import { Reconciler, type AccountPlan } from '../../src/provisioning/reconciler.ts';
import { DirectoryFixture, policyOf, policyTarget } from './directory-fixture.ts';
import { MemoryTarget } from './memory-target.ts';
import { eachStore } from './store-databases.ts';
import { waitFor } from './wait-for.ts';

const policy = policyOf(
  [policyTarget('db1', { offboarding: 'drop', concurrency: 2 })],
  [
    { group: { by: 'displayName', value: 'Analysts' }, grants: { db1: ['reader'] } },
    { group: { by: 'displayName', value: 'Engineers' }, grants: { db1: ['writer'] } },
  ],
);

const summary = (plans: AccountPlan[]) => Object.fromEntries(plans.map((p) => [p.login, p.findings.join(',')]));

test('planAll classifies drift per account; reconcile repairs it through jobs; unmanaged accounts stay untouched', (t) =>
  eachStore(t, async ({ database }) => {
    // The directory is written without an outbox sink: the target drifted from it unnoticed.
    const dir = new DirectoryFixture(database, []);
    for (const [id, name] of [['u1', 'ann'], ['u2', 'ben'], ['u3', 'cat'], ['u4', 'dan'], ['u5', 'eve'], ['u6', 'fay'], ['u7', 'gus']]) await dir.user(id!, name!);
    await dir.group('g1', 'Analysts');
    await dir.group('g2', 'Engineers');
    await dir.members('g1', { add: ['u1', 'u2', 'u3', 'u4', 'u6', 'u7'].map((value) => ({ value, type: 'User' as const })) });
    await dir.members('g2', { add: [{ value: 'u3', type: 'User' }] });
    await dir.user('u4', 'dan', false);

    const target = new MemoryTarget('db1');
    const accounts = new AccountRegistry(database.db);
    const set = (login: string, roles: string[], extra: Partial<{ managed: boolean; canLogin: boolean; sessions: number }> = {}) =>
      target.accounts.set(login, { managed: true, canLogin: true, roles: new Set(roles), sessions: 0, ...extra });
    target.roles.add('reader').add('writer');
    // ann: never created (missing-login). ben: lacks reader. cat: holds reader+writer+admin
    // and is in both groups (in sync; admin is not managed). dan: deactivated, still open with a session.
    set('ben', []);
    set('cat', ['admin', 'reader', 'writer']);
    set('dan', ['reader'], { sessions: 2 });
    // fay: an account Rolecall does not own. gus: in sync but holds an extra managed role.
    set('fay', ['superuser'], { managed: false });
    set('gus', ['reader', 'writer']);
    // zed: deleted from the directory, login recorded. old: a managed login nobody accounts for.
    set('zed', ['reader']);
    set('old', ['writer']);
    for (const [userId, login] of [['u2', 'ben'], ['u3', 'cat'], ['u4', 'dan'], ['u7', 'gus'], ['gone', 'zed']]) {
      await accounts.claimMany([{ target: 'db1', tenantId: 't1', userId: userId!, login: login! }]);
    }

    const queue = new JobQueue(database);
    const steps: StepEvent[] = [];
    const reconciler = new Reconciler({
      queue,
      policy: () => policy,
      targets: (name) => (name === 'db1' ? target : undefined),
      view: new KyselyDirectoryView(database),
      accounts,
      hooks: { onStepResult: (e) => void steps.push(e) },
      pageSize: 2,
    });

    const plans = await reconciler.planAll();
    assert.deepEqual(summary(plans), {
      ann: 'missing-login,missing-grant',
      ben: 'missing-grant',
      cat: 'in-sync',
      dan: 'should-be-locked,sessions,extra-grant',
      fay: 'unmanaged-conflict',
      gus: 'extra-grant',
      zed: 'stale,should-be-locked,sessions,extra-grant,should-be-dropped',
      old: 'stale,should-be-locked,sessions,extra-grant,should-be-dropped',
    });
    const old = plans.find((p) => p.login === 'old')!;
    assert.equal(old.userId, undefined);
    assert.equal(old.finding, 'stale');
    assert.deepEqual(old.statements, ['lock old', 'endSessions old', 'revoke old writer', 'drop old', 'endSessions old']);
    assert.equal(target.applied.length, 0, 'planning changes nothing');
    assert.deepEqual(summary(await reconciler.planAll({ user: 'u2' })), { ben: 'missing-grant' });

    const report = await reconciler.reconcile();
    assert.ok(report.applied.every((a) => a.state === 'done' || a.state === 'applied'), JSON.stringify(report.applied.map((a) => [a.plan.login, a.state, a.error])));
    assert.deepEqual(report.applied.map((a) => a.plan.login).sort(), ['ann', 'ben', 'dan', 'gus', 'old', 'zed']);
    assert.deepEqual(summary(await reconciler.planAll()), { ann: 'in-sync', ben: 'in-sync', cat: 'in-sync', dan: 'in-sync', fay: 'unmanaged-conflict', gus: 'in-sync' });
    assert.deepEqual([...target.accounts.get('fay')!.roles], ['superuser']);
    assert.equal(await accounts.getMany('db1', 't1', ['gone']).then((m) => m.get('gone')), undefined, 'a dropped stale login is forgotten');
    assert.equal((await accounts.getMany('db1', 't1', ['u1']).then((m) => m.get('u1')))?.login, 'ann');
    // Each user repair ran as a recorded job; the stale login (no user) is reported through the hook.
    assert.equal((await queue.counts()).done, 5);
    assert.ok(steps.some((s) => s.source === 'reconcile' && s.login === 'old' && s.step.op === 'drop'));
  }));

test('reconcile leaves a principal whose job is running elsewhere to that job', (t) =>
  eachStore(t, async ({ database }) => {
    const dir = new DirectoryFixture(database, []);
    await dir.user('u1', 'ann');
    await dir.group('g1', 'Analysts');
    await dir.members('g1', { add: [{ value: 'u1', type: 'User' }] });
    const queue = new JobQueue(database);
    await queue.enqueue([{ tenantId: 't1', userId: 'u1', target: 'db1' }]);
    const [running] = await queue.claim('other-process', { target: 'db1', limit: 1 });
    assert.ok(running);
    const target = new MemoryTarget('db1');
    const reconciler = new Reconciler({ queue, policy: () => policy, targets: () => target, view: new KyselyDirectoryView(database), accounts: new AccountRegistry(database.db) });
    const report = await reconciler.reconcile();
    assert.deepEqual(report.applied.map((a) => [a.plan.login, a.state]), [['ann', 'deferred']]);
    assert.equal(target.applied.length, 0);
    assert.equal((await queue.counts()).queued, 1, 'queued behind the running job');
  }));

test('the scheduler runs full reconciles on its interval, never overlapping; 0 turns it off', async () => {
  let runs = 0;
  let overlapping = false;
  let inRun = false;
  const fake = {
    reconcile: async () => {
      overlapping ||= inRun;
      inRun = true;
      runs++;
      await new Promise((resolve) => setTimeout(resolve, 30));
      inRun = false;
      return { plans: [], applied: [] };
    },
  } as unknown as Reconciler;
  const off = new ReconcileScheduler(fake, { intervalSeconds: 0 });
  off.start();
  const on = new ReconcileScheduler(fake, { intervalSeconds: 0.01 });
  on.start();
  await waitFor('three reconciles', () => runs >= 3);
  await on.stop();
  await off.stop();
  const after = runs;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(runs, after, 'stopped');
  assert.equal(overlapping, false);
});

test('a reconcile repairing hundreds of users runs their jobs in batches, each with its own attempt', (t) =>
  eachStore(t, async ({ database }) => {
    const dir = new DirectoryFixture(database, []);
    await dir.group('g1', 'Analysts');
    const ids = Array.from({ length: 450 }, (_, i) => `u${i}`);
    for (const id of ids) await dir.user(id, `user${id}`);
    await dir.members('g1', { add: ids.map((value) => ({ value, type: 'User' as const })) });
    const target = new MemoryTarget('db1');
    const queue = new JobQueue(database);
    let applyCalls = 0;
    const applyPlans = target.applyPlans.bind(target);
    target.applyPlans = (plans) => ((applyCalls += 1), applyPlans(plans));
    const reconciler = new Reconciler({ queue, policy: () => policy, targets: () => target, view: new KyselyDirectoryView(database), accounts: new AccountRegistry(database.db) });
    const report = await reconciler.reconcile();
    assert.equal(report.applied.length, 450);
    assert.ok(report.applied.every((a) => a.state === 'done'), JSON.stringify(report.applied.find((a) => a.state !== 'done')));
    assert.equal(applyCalls, 3, '450 drifted users in batches of 200');
    assert.equal((await target.listManaged()).length, 450);
    const done = await queue.listJobs({ state: 'done' });
    assert.equal(done.length, 450);
    assert.ok((await Promise.all(done.slice(0, 20).map((j) => queue.attempts(j.id)))).every((a) => a.length === 1));
    assert.deepEqual((await reconciler.planAll()).filter((p) => p.steps.length > 0), [], 'nothing left to repair');
  }));
