/**
 * What the audit trail holds for SCIM requests (issue 4), through a real server: a write that
 * changed the directory is one 'directory.change' event per change whose `request` member names
 * method, path, client, the status answered and the body digest; every other request (reads,
 * failures, writes that changed nothing) is a 'scim.request' event. Both stores: the embedded
 * store chains change events inside the write's commit, PostgreSQL records them as pending.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { AuditEvent } from '../../src/audit/audit-log.ts';
import { digestBody } from '../../src/audit/redact.ts';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { assertStatus, BULK_REQUEST, GROUP, minimalUser, patch } from './scim-assertions.ts';

const SECRET = 'Corr3ct-Horse-Battery';

/**
 * The request's events. A change's event is committed with the write; a request's own event is
 * group-committed within about 100 ms of the answer (AuditBuffer), so `expected` events are waited for.
 */
async function eventsOf(s: TestServer, requestId: string, expected = 1): Promise<AuditEvent[]> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const events = await s.server.audit!.query({ requestId, limit: 1000 });
    if (events.length >= expected || Date.now() > deadline) return events;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

function requestOf(event: AuditEvent): { clientAddress?: unknown; status?: unknown } {
  return event.payload.request as { clientAddress?: unknown; status?: unknown };
}

async function send(s: TestServer, requestId: string, path: string, init: { method?: string; body?: unknown } = {}) {
  return s.scim(path, { ...init, headers: { 'x-request-id': requestId } });
}

async function requestAudit(s: TestServer): Promise<void> {
  const body = { ...minimalUser('audit-ada@example.com'), password: SECRET };
  const created = await send(s, 'ra-create', '/Users', { method: 'POST', body });
  assertStatus(created, 201);
  const userId = created.json.id as string;
  const [change, ...others] = await eventsOf(s, 'ra-create');
  assert.deepEqual(others, [], 'one event for the write');
  assert.equal(change!.type, 'directory.change');
  assert.equal(change!.userId, userId);
  const clientAddress = requestOf(change!).clientAddress;
  assert.match(String(clientAddress), /127\.0\.0\.1|::1/);
  assert.deepEqual(change!.payload, {
    kind: 'user.created', userId, userName: 'audit-ada@example.com', active: true,
    request: { method: 'POST', path: '/Users', clientAddress, status: 201, bodyDigest: digestBody(body) },
  });

  // A failed write changed nothing: its request is recorded with the status it got.
  const duplicate = await send(s, 'ra-duplicate', '/Users', { method: 'POST', body });
  assertStatus(duplicate, 409);
  assert.deepEqual((await eventsOf(s, 'ra-duplicate')).map((e) => [e.type, e.payload.status, e.payload.bodyDigest]), [['scim.request', 409, digestBody(body)]]);

  // A read, and a PATCH that sets what is already there, change nothing either.
  assertStatus(await send(s, 'ra-read', `/Users/${userId}`), 200);
  assert.deepEqual((await eventsOf(s, 'ra-read')).map((e) => [e.type, e.payload.method, e.payload.status]), [['scim.request', 'GET', 200]]);
  const noop = await send(s, 'ra-noop', `/Users/${userId}`, { method: 'PATCH', body: patch({ op: 'replace', path: 'active', value: true }) });
  assertStatus(noop, 200);
  assert.deepEqual((await eventsOf(s, 'ra-noop')).map((e) => [e.type, e.payload.status]), [['scim.request', 200]]);

  // A group member PATCH answers 204, and its change says so.
  const group = await send(s, 'ra-group', '/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'Audited' } });
  assertStatus(group, 201);
  const addBody = patch({ op: 'add', path: 'members', value: [{ value: userId }] });
  assertStatus(await send(s, 'ra-member', `/Groups/${group.json.id}`, { method: 'PATCH', body: addBody }), 204);
  assert.deepEqual((await eventsOf(s, 'ra-member')).map((e) => [e.type, e.groupId, e.userId, e.payload.kind, requestOf(e).status]), [
    ['directory.change', group.json.id, userId, 'group.members', 204],
  ]);

  // A Bulk request: one change event per operation that changed something, each with the whole request's digest.
  const bulkBody = {
    schemas: [BULK_REQUEST],
    Operations: [
      { method: 'POST', path: '/Users', bulkId: 'b1', data: minimalUser('audit-bulk-1@example.com') },
      { method: 'POST', path: '/Users', bulkId: 'b2', data: minimalUser('audit-bulk-2@example.com') },
      { method: 'DELETE', path: '/Users/00000000-0000-4000-8000-000000000000' },
    ],
  };
  assertStatus(await send(s, 'ra-bulk', '/Bulk', { method: 'POST', body: bulkBody }), 200);
  const bulkRequest = { method: 'POST', path: '/Bulk', clientAddress, status: 201, bodyDigest: digestBody(bulkBody) };
  assert.deepEqual((await eventsOf(s, 'ra-bulk', 2)).map((e) => [e.type, e.payload.kind, e.payload.request]), [
    ['directory.change', 'user.created', bulkRequest],
    ['directory.change', 'user.created', bulkRequest],
  ]);

  // DELETE has no body.
  assertStatus(await send(s, 'ra-delete', `/Users/${userId}`, { method: 'DELETE' }), 204);
  assert.deepEqual((await eventsOf(s, 'ra-delete')).map((e) => [e.type, e.payload.kind, e.payload.request]), [
    ['directory.change', 'user.deleted', { method: 'DELETE', path: `/Users/${userId}`, clientAddress, status: 204, bodyDigest: null }],
  ]);

  // Request events are chained in the order answered: once a later read's event is in, none of
  // the changing writes above can have a request event still to come.
  assertStatus(await send(s, 'ra-last', '/Users?count=1'), 200);
  await eventsOf(s, 'ra-last');
  for (const [requestId, count] of [['ra-create', 1], ['ra-group', 1], ['ra-member', 1], ['ra-bulk', 2], ['ra-delete', 1]] as const) {
    assert.deepEqual((await eventsOf(s, requestId)).map((e) => e.type), Array(count).fill('directory.change'), requestId);
  }

  const all = JSON.stringify(await s.server.audit!.query({ limit: 10_000 }));
  assert.equal(all.includes(SECRET), false, 'the password is in no event');
  assert.ok((await s.server.audit!.verify()).ok);
}

describe('audit events of SCIM requests', () => {
  let embedded: TestServer | undefined;
  let pg: TestServer | undefined;
  let drop: (() => Promise<void>) | undefined;
  after(async () => {
    await embedded?.stop();
    await pg?.stop();
    await drop?.();
  });

  it('embedded store', async () => {
    embedded = await startTestServer();
    await requestAudit(embedded);
  });

  it('PostgreSQL store', async (t: TestContext) => {
    if (!(await needPostgres(t))) return;
    const db = await scratchPostgresDatabase('rolecall_request_audit');
    drop = db.drop;
    pg = await startTestServer({ store: db.url });
    await requestAudit(pg);
  });
});
