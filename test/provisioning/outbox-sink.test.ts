import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JobQueue } from '../../src/provisioning/job-queue.ts';
import { OutboxSink } from '../../src/provisioning/outbox-sink.ts';
import { DirectoryFixture, policyOf, policyTarget } from './directory-fixture.ts';
import { eachStore } from './store-databases.ts';
import { finishJob } from './finish-job.ts';

const policy = policyOf([policyTarget('db1'), policyTarget('db2'), policyTarget('other-tenant', { tenant: 't2' })], []);

async function queuedPrincipals(queue: JobQueue): Promise<string[]> {
  return (await queue.listJobs({ state: 'queued' })).map((j) => `${j.userId}@${j.target}`).sort();
}

test('user changes queue one coalesced job per target of the tenant, in the write transaction', (t) =>
  eachStore(t, async ({ database }) => {
    const dir = new DirectoryFixture(database, [new OutboxSink(() => policy)]);
    const queue = new JobQueue(database);
    await dir.user('u1', 'alice@example.com');
    await dir.user('u1', 'alice@example.com', false);
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u1@db2']);

    // A write that fails after emitting leaves neither the change nor its jobs.
    await assert.rejects(
      dir.store.write({ requestId: 'r', tenantId: 't1', tokenId: null, clientAddress: null, method: 'POST', path: '/' }, async (w) => {
        await w.insert('User', 't1', { id: 'u2', data: { userName: 'bob@example.com' } });
        await w.emit({ kind: 'user.created', tenantId: 't1', userId: 'u2', userName: 'bob@example.com', active: true });
        throw new Error('rolled back');
      }),
    );
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u1@db2']);
  }));

test('membership changes reach every user below a nested group; deletes and renames too', (t) =>
  eachStore(t, async ({ database }) => {
    const single = policyOf([policyTarget('db1')], []);
    const dir = new DirectoryFixture(database, [new OutboxSink(() => single)]);
    const queue = new JobQueue(database);
    for (const [id, name] of [['u1', 'ann'], ['u2', 'ben'], ['u3', 'cat'], ['u4', 'dan']]) await dir.user(id!, name!);
    await dir.group('parent', 'Parent');
    await dir.group('child', 'Child');
    await dir.group('grandchild', 'Grandchild');
    await dir.members('child', { add: [{ value: 'u1', type: 'User' }, { value: 'grandchild', type: 'Group' }] });
    await dir.members('grandchild', { add: [{ value: 'u2', type: 'User' }, { value: 'child', type: 'Group' }] }); // a cycle
    await dir.members('parent', { add: [{ value: 'u3', type: 'User' }] });
    const drain = async () => {
      for (const job of await queue.claim('test', { target: 'db1', limit: 100 })) await finishJob(queue, job, 'test', { startedAt: new Date(), outcome: 'done', results: [] });
    };
    await drain();

    await dir.members('parent', { add: [{ value: 'child', type: 'Group' }] });
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u2@db1'], 'the nested group\'s users, through the cycle');
    await drain();

    await dir.members('parent', { remove: ['child', 'u3'] });
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u2@db1', 'u3@db1']);
    await drain();

    await dir.group('child', 'Child renamed');
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u2@db1']);
    await drain();

    // The store removes a group's member rows before the change is emitted: every user with a
    // recorded account on the target is re-planned instead.
    await database.db
      .insertInto('accounts')
      .values(['u1', 'u4'].map((u) => ({ target: 'db1', tenant_id: 't1', user_id: u, login: u, created_at: 'x', updated_at: 'x' })))
      .execute();
    await dir.deleteGroup('child');
    assert.deepEqual(await queuedPrincipals(queue), ['u1@db1', 'u4@db1']);
  }));

test('writes sharing a commit queue the jobs of the writes kept, not of one rolled back', (t) =>
  eachStore(t, async ({ database }) => {
    const dir = new DirectoryFixture(database, [new OutboxSink(() => policy)]);
    const queue = new JobQueue(database);
    const context = { requestId: 'r', tenantId: 't1', tokenId: null, clientAddress: null, method: 'POST', path: '/' };
    const create = (id: string, fail: boolean) =>
      dir.store.write(context, async (w) => {
        await w.insert('User', 't1', { id, data: { userName: `${id}@example.com` } });
        await w.emit({ kind: 'user.created', tenantId: 't1', userId: id, userName: `${id}@example.com`, active: true });
        if (fail) throw new Error('rolled back');
      });
    // Submitted in one turn of the event loop: one transaction, each write in its own savepoint.
    const outcomes = await Promise.allSettled([create('u9', false), create('u8', true), create('u7', false)]);
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(await queuedPrincipals(queue), ['u7@db1', 'u7@db2', 'u9@db1', 'u9@db2']);
  }));
