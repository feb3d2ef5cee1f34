/**
 * Entra sends bursts of concurrent PATCHes to the same group (interop item 14). Each adds or
 * removes different members; none may be lost to a read-modify-write race, and each is one
 * change of the group (its version advances once per effective PATCH). Runs on the embedded
 * store and on PostgreSQL, whose concurrency control differs (whole-database write lock vs row locks).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import type { TestContext } from 'node:test';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { assertScimError, assertStatus, create, GROUP, inBatches, memberIds, minimalUser, patch, versionNumber } from './scim-assertions.ts';

async function groupVersion(s: TestServer, id: string): Promise<number> {
  const res = await s.scim(`/Groups/${id}`);
  assertStatus(res, 200);
  assert.equal(res.headers.get('etag'), res.json.meta.version);
  return versionNumber(res.json.meta.version);
}

async function concurrentMembership(s: TestServer): Promise<void> {
  const users = await inBatches(Array.from({ length: 50 }, (_, i) => `concurrent-${i}@example.com`), 10, (name) => create(s, '/Users', minimalUser(name)));
  const ids = users.map((u) => u.id as string);
  const group = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Burst' });
  const v0 = await groupVersion(s, group.id);

  // All 50 in flight at once.
  const responses = await Promise.all(ids.map((id) =>
    s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'Add', path: 'members', value: [{ value: id }] }) })));
  for (const res of responses) assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
  assert.deepEqual(await memberIds(s, group.id), [...ids].sort(), 'exactly the 50 added members');
  assert.equal(await groupVersion(s, group.id), v0 + 50, 'the version advanced once per PATCH');

  // 25 concurrent removals of different members plus 25 concurrent no-op re-adds of the others.
  const [gone, kept] = [ids.slice(0, 25), ids.slice(25)];
  const mixed = await Promise.all([
    ...gone.map((id) => s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'remove', path: `members[value eq "${id}"]` }) })),
    ...kept.map((id) => s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: id }] }) })),
  ]);
  for (const res of mixed) assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
  assert.deepEqual(await memberIds(s, group.id), [...kept].sort());
  assert.equal(await groupVersion(s, group.id), v0 + 75, // RFC 7644 §3.5.2.1: adding a value that is already there SHALL NOT change the resource.
    'removals advance the version; re-adding an existing member changes nothing');
}

/**
 * Concurrent attribute PATCHes to one user, none carrying If-Match: each must apply on top of the
 * others (RFC 7644 §3.5.2 applies a PATCH to the resource as it is), never answer 412 or 409 for a
 * conflict the client did not ask to detect, and never lose another's change.
 */
async function concurrentUserPatches(s: TestServer): Promise<void> {
  const user = await create(s, '/Users', minimalUser('busy@example.com'));
  const v0 = versionNumber(user.meta.version);
  const responses = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'emails', value: [{ type: 'other', value: `alias${i}@example.com` }] }) })));
  for (const res of responses) assertStatus(res, 200);
  const read = await s.scim(`/Users/${user.id}`);
  assertStatus(read, 200);
  assert.deepEqual(read.json.emails.map((e: any) => e.value).sort(), Array.from({ length: 20 }, (_, i) => `alias${i}@example.com`).sort());
  assert.equal(versionNumber(read.json.meta.version), v0 + 20);
  // Each response showed a distinct version: no two PATCHes were applied to the same base.
  assert.equal(new Set(responses.map((r) => r.json.meta.version)).size, 20);
}

/**
 * Entra retries and parallel workers can create the same user or group twice at once: exactly one
 * wins with 201, the others get 409 uniqueness (interop item 4), never a 500 from the store's
 * unique index, whatever case each request uses.
 */
async function concurrentDuplicates(s: TestServer): Promise<void> {
  const variants = ['dup@example.com', 'DUP@example.com', 'Dup@Example.com', 'dup@EXAMPLE.COM', 'dUp@example.com', 'duP@example.com', 'DUP@EXAMPLE.COM', 'dup@example.COM'];
  const users = await Promise.all(variants.map((userName) => s.scim('/Users', { method: 'POST', body: minimalUser(userName) })));
  assert.deepEqual(users.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409, 409, 409], users.map((r) => `${r.status} ${r.text.slice(0, 200)}`).join('\n'));
  for (const res of users.filter((r) => r.status === 409)) assertScimError(res, 409, 'uniqueness');
  const names = ['Ops', 'OPS', 'ops', 'oPs', 'OpS', 'opS'];
  const groups = await Promise.all(names.map((displayName) => s.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName } })));
  assert.deepEqual(groups.map((r) => r.status).sort(), [201, 409, 409, 409, 409, 409], groups.map((r) => `${r.status} ${r.text.slice(0, 200)}`).join('\n'));
  for (const res of groups.filter((r) => r.status === 409)) assertScimError(res, 409, 'uniqueness');
}

/**
 * Entra mixes group renames with membership PATCHes, and may delete while it patches. Renames
 * (data writes) and member adds (membership writes) to one group in flight together must all
 * apply; concurrent deletes of one resource are one 204 and 404s; nothing answers 5xx or 412.
 */
async function concurrentMixedWrites(s: TestServer): Promise<void> {
  const users = await inBatches(Array.from({ length: 20 }, (_, i) => `mixed-${i}@example.com`), 10, (name) => create(s, '/Users', minimalUser(name)));
  const group = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Mixed' });
  const renames = Array.from({ length: 10 }, (_, i) => `Mixed ${i}`);
  const responses = await Promise.all([
    ...users.map((u) => s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: u.id }] }) })),
    ...renames.map((displayName) => s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'replace', value: { id: group.id, displayName } }) })),
  ]);
  for (const res of responses) assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
  const read = await s.scim(`/Groups/${group.id}`);
  assertStatus(read, 200);
  assert.ok(renames.includes(read.json.displayName), `displayName is one of the renames: ${read.json.displayName}`);
  assert.deepEqual(read.json.members.map((m: any) => m.value).sort(), users.map((u) => u.id).sort());
  assert.equal(versionNumber(read.json.meta.version), versionNumber(group.meta.version) + 30, 'each of the 30 PATCHes changed the group once');

  const victim = users[0]!;
  const deletes = await Promise.all(Array.from({ length: 6 }, () => s.scim(`/Users/${victim.id}`, { method: 'DELETE' })));
  assert.deepEqual(deletes.map((r) => r.status).sort(), [204, 404, 404, 404, 404, 404]);
  for (const res of deletes.filter((r) => r.status === 404)) assertScimError(res, 404);
  const target = users[1]!;
  const race = await Promise.all([
    s.scim(`/Users/${target.id}`, { method: 'DELETE' }),
    ...Array.from({ length: 5 }, (_, i) => s.scim(`/Users/${target.id}`, { method: 'PATCH', body: patch({ op: 'replace', path: 'displayName', value: `race ${i}` }) })),
  ]);
  assert.equal(race[0]!.status, 204);
  for (const res of race.slice(1)) assert.ok(res.status === 200 || res.status === 404, `PATCH racing a DELETE: ${res.status} ${res.text}`);
  assertScimError(await s.scim(`/Users/${target.id}`), 404);
  assert.deepEqual(await memberIds(s, group.id), users.slice(2).map((u) => u.id).sort(), 'deleted users left the group');
}

/**
 * A group deleted while member PATCHes to it are in flight: on PostgreSQL those PATCHes lock the
 * group's row only when they move its version, after their member rows are written, so the
 * version move must fail for a deleted group and take its member rows with it. Opposite orders
 * of the same members must not fail either (row locks taken in id order).
 */
async function concurrentGroupDelete(s: TestServer): Promise<void> {
  const users = await inBatches(Array.from({ length: 24 }, (_, i) => `gone-${i}@example.com`), 12, (name) => create(s, '/Users', minimalUser(name)));
  const ids = users.map((u) => u.id as string);
  const crossed = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Crossed' });
  const forward = ids.slice(0, 8);
  const crossing = await Promise.all(Array.from({ length: 10 }, (_, i) =>
    s.scim(`/Groups/${crossed.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: (i % 2 ? [...forward].reverse() : forward).map((value) => ({ value })) }) })));
  for (const res of crossing) assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
  assert.deepEqual(await memberIds(s, crossed.id), [...forward].sort());

  const doomed = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Doomed', members: ids.slice(0, 4).map((value) => ({ value })) });
  const race = await Promise.all([
    ...ids.slice(4, 14).map((id) => s.scim(`/Groups/${doomed.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: id }] }) })),
    s.scim(`/Groups/${doomed.id}`, { method: 'DELETE' }),
    ...ids.slice(14).map((id) => s.scim(`/Groups/${doomed.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: id }] }) })),
  ]);
  assert.equal(race[10]!.status, 204, race[10]!.text);
  for (const res of [...race.slice(0, 10), ...race.slice(11)]) assert.ok(res.status === 204 || res.status === 404, `PATCH racing a group DELETE: ${res.status} ${res.text}`);
  assertScimError(await s.scim(`/Groups/${doomed.id}`), 404);
  const left = await s.server.app.database.db.selectFrom('group_members').select('member_id').where('group_id', '=', doomed.id).execute();
  assert.deepEqual(left, [], 'no member row outlives its group');
}

/**
 * Member removals racing the group's DELETE: each PATCH deletes a member row and then moves the
 * group's version, while the DELETE takes the group and then its member rows.
 */
async function concurrentRemovalsAndDelete(s: TestServer): Promise<void> {
  const users = await inBatches(Array.from({ length: 10 }, (_, i) => `leaving-${i}@example.com`), 10, (name) => create(s, '/Users', minimalUser(name)));
  const ids = users.map((u) => u.id as string);
  const doomed = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Doomed', members: ids.map((value) => ({ value })) });
  const race = await Promise.all([
    ...ids.slice(0, 5).map((id) => s.scim(`/Groups/${doomed.id}`, { method: 'PATCH', body: patch({ op: 'remove', path: `members[value eq "${id}"]` }) })),
    s.scim(`/Groups/${doomed.id}`, { method: 'DELETE' }),
    ...ids.slice(5).map((id) => s.scim(`/Groups/${doomed.id}`, { method: 'PATCH', body: patch({ op: 'remove', path: `members[value eq "${id}"]` }) })),
  ]);
  assert.equal(race[5]!.status, 204, race[5]!.text);
  for (const res of [...race.slice(0, 5), ...race.slice(6)]) assert.ok(res.status === 204 || res.status === 404, `removal racing a group DELETE: ${res.status} ${res.text}`);
  assertScimError(await s.scim(`/Groups/${doomed.id}`), 404);
}

/**
 * Users deleted while PATCHes add them to a group: the PATCH share-locks the users it adds, and
 * a user's DELETE takes its row and then cascades to its member rows.
 */
async function concurrentUserDeletesAndAdds(s: TestServer): Promise<void> {
  const users = await inBatches(Array.from({ length: 10 }, (_, i) => `quitting-${i}@example.com`), 10, (name) => create(s, '/Users', minimalUser(name)));
  const ids = users.map((u) => u.id as string);
  const group = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Joined' });
  const race = await Promise.all(ids.flatMap((id) => [
    s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: id }] }) }),
    s.scim(`/Users/${id}`, { method: 'DELETE' }),
  ]));
  for (const [i, res] of race.entries()) {
    if (i % 2 === 1) assertStatus(res, 204);
    else assert.ok(res.status === 204 || res.status === 400 || res.status === 404, `add racing the user's DELETE: ${res.status} ${res.text}`);
  }
  assert.deepEqual(await memberIds(s, group.id), [], 'no deleted user stays a member');
}

describe('concurrent member PATCHes to one group', () => {
  it('embedded store: 50 concurrent adds leave exactly 50 members', async () => {
    const s = await startTestServer();
    try {
      await concurrentMembership(s);
      await concurrentUserPatches(s);
      await concurrentDuplicates(s);
      await concurrentMixedWrites(s);
      await concurrentGroupDelete(s);
      await concurrentRemovalsAndDelete(s);
    } finally {
      await s.stop();
    }
  });

  describe('PostgreSQL', () => {
    let drop: (() => Promise<void>) | undefined;
    let s: TestServer | undefined;
    after(async () => {
      await s?.stop();
      await drop?.();
    });

    it('PostgreSQL store: 50 concurrent adds leave exactly 50 members', async (t: TestContext) => {
      if (!(await needPostgres(t))) return;
      const db = await scratchPostgresDatabase('rolecall_http_concurrency');
      drop = db.drop;
      s = await startTestServer({ store: db.url });
      await concurrentMembership(s);
      await concurrentUserPatches(s);
      await concurrentDuplicates(s);
      await concurrentMixedWrites(s);
      await concurrentGroupDelete(s);
      await concurrentRemovalsAndDelete(s);
    });

    it('PostgreSQL store with a policy: the races queue provisioning jobs, and none deadlocks', async (t: TestContext) => {
      if (!(await needPostgres(t))) return;
      const db = await scratchPostgresDatabase('rolecall_http_concurrency_jobs');
      const dir = mkdtempSync(join(tmpdir(), 'rolecall-policy-'));
      let server: TestServer | undefined;
      try {
        // Every group of the races is mapped, so each member change and the group DELETE queue jobs
        // (held for their COMMIT). The target refuses connections: its workers claim, fail and
        // re-queue jobs meanwhile, which only adds job-row locking to the mix.
        const policyFile = join(dir, 'policy.json');
        writeFileSync(policyFile, JSON.stringify({
          version: 1,
          targets: [{ name: 'pg', kind: 'postgres', connection: { url: 'postgres://rolecall@127.0.0.1:1/none' } }],
          mappings: ['Burst', 'Crossed', 'Doomed', 'Joined'].map((group) => ({ group, grants: { pg: ['reader'] } })),
        }));
        server = await startTestServer({ store: db.url, policy: policyFile, reconcileInterval: 0 });
        const store = server.server.app.database.db;
        const deadlocks = async () => {
          // Each backend publishes its statistics at the end of a transaction at least 1 s after its
          // last publication: wait that long, then end a transaction on every pooled connection
          // (ten concurrent statements on a pool of at most ten).
          await sleep(1100);
          await Promise.all(Array.from({ length: 10 }, () => sql`SELECT pg_sleep(0.05)`.execute(store)));
          return Number((await sql<{ n: string }>`SELECT deadlocks AS n FROM pg_stat_database WHERE datname = current_database()`.execute(store)).rows[0]!.n);
        };
        const before = await deadlocks();
        await concurrentMembership(server);
        await concurrentGroupDelete(server);
        await concurrentRemovalsAndDelete(server);
        await concurrentUserDeletesAndAdds(server);
        const jobs = await store.selectFrom('jobs').select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
        assert.ok(Number(jobs.n) > 0, 'the member changes queued jobs');
        assert.equal(await deadlocks(), before, 'no deadlock was detected (each costs a write deadlock_timeout and a retry)');
      } finally {
        await server?.stop();
        await db.drop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
