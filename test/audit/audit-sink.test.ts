import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql } from 'kysely';
import { AuditBuffer } from '../../src/audit/audit-buffer.ts';
import { adminEvent, provisionStepEvent, reconcileFindingEvent, scimRequestEvent } from '../../src/audit/audit-events.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import { digestBody } from '../../src/audit/redact.ts';
import type { RequestContext } from '../../src/domain/directory-change.ts';
import { eachAuditStore } from './audit-stores.ts';

const context: RequestContext = {
  requestId: 'req-1',
  tenantId: 'tenant-a',
  tokenId: 'tok-9',
  clientAddress: '203.0.113.7',
  method: 'PATCH',
  path: '/scim/v2/Users/u-1',
};

test('the sink records directory changes in the write transaction, with subjects for querying', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    const sink = new AuditSink(log);

    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await sink.record(tx, database.dialect, context, { kind: 'user.updated', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: false });
        throw new Error('directory write failed after the sink ran');
      }),
    );
    assert.deepEqual(await log.query(), [], 'rolled back with the write');
    assert.deepEqual(await log.head(), { seq: 0, hash: '0'.repeat(64) });

    await database.db.transaction().execute(async (tx) => {
      await sink.record(tx, database.dialect, context, { kind: 'user.updated', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: false });
      await sink.record(tx, database.dialect, context, { kind: 'group.updated', tenantId: 'tenant-a', groupId: 'g-1', displayName: 'Analysts' });
      await sink.record(tx, database.dialect, context, { kind: 'group.members', tenantId: 'tenant-a', groupId: 'g-1', added: [], removed: ['u-1'] });
      await sink.record(tx, database.dialect, { ...context, tokenId: null }, { kind: 'group.members', tenantId: 'tenant-a', groupId: 'g-1', added: ['u-2', 'u-3'], removed: [] });
    });
    const [user, group, oneMember, twoMembers] = await log.query();
    assert.deepEqual(
      { type: user?.type, tenantId: user?.tenantId, requestId: user?.requestId, actor: user?.actor, userId: user?.userId, groupId: user?.groupId },
      { type: 'directory.change', tenantId: 'tenant-a', requestId: 'req-1', actor: 'tok-9', userId: 'u-1', groupId: null },
    );
    assert.deepEqual(user?.payload, {
      kind: 'user.updated',
      userId: 'u-1',
      userName: 'ada',
      active: false,
      request: { method: 'PATCH', path: '/scim/v2/Users/u-1', clientAddress: '203.0.113.7' },
    });
    assert.equal(group?.groupId, 'g-1');
    assert.equal(group?.payload.displayName, 'Analysts');
    assert.equal(oneMember?.userId, 'u-1', 'a one-member change is findable by user');
    assert.deepEqual(oneMember?.payload.removed, ['u-1']);
    assert.equal(twoMembers?.userId, null);
    assert.equal(twoMembers?.actor, 'system');
    assert.deepEqual((await log.query({ userId: 'u-1' })).map((e) => e.seq), [1, 3]);
    assert.ok((await log.verify()).ok);
  }));

test('event builders record the required fields', () => {
  const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] };
  const request = scimRequestEvent(context, { status: 200, resourceIds: ['u-1'], body, userId: 'u-1', durationMs: 12 });
  assert.deepEqual(request, {
    type: 'scim.request',
    tenantId: 'tenant-a',
    requestId: 'req-1',
    actor: 'tok-9',
    userId: 'u-1',
    groupId: null,
    payload: {
      method: 'PATCH',
      path: '/scim/v2/Users/u-1',
      clientAddress: '203.0.113.7',
      status: 200,
      resourceIds: ['u-1'],
      bodyDigest: digestBody(body),
      durationMs: 12,
    },
  });
  assert.equal(scimRequestEvent({ ...context, tokenId: null }, { status: 401 }).actor, 'anonymous');
  assert.equal(scimRequestEvent(context, { status: 200 }).payload?.bodyDigest, null);

  const step = provisionStepEvent({
    tenantId: 'tenant-a',
    target: 'analytics-db',
    userId: 'u-1',
    login: 'ada',
    requestId: 'req-1',
    result: { step: { op: 'lock', login: 'ada' }, outcome: 'failed', statements: ['ALTER ROLE "ada" NOLOGIN'], durationMs: 4, disposition: 'retry', message: 'timeout' },
  });
  assert.equal(step.type, 'provision.step');
  assert.equal(step.target, 'analytics-db');
  assert.equal(step.userId, 'u-1');
  assert.deepEqual(step.payload, {
    target: 'analytics-db',
    login: 'ada',
    userId: 'u-1',
    op: 'lock',
    step: { op: 'lock', login: 'ada' },
    outcome: 'failed',
    statements: ['ALTER ROLE "ada" NOLOGIN'],
    durationMs: 4,
    disposition: 'retry',
    error: 'timeout',
    // Absent members are left out when the payload is stored (canonical JSON).
    grantedBy: undefined,
    jobId: undefined,
  });

  const finding = reconcileFindingEvent({ tenantId: 'tenant-a', target: 'warehouse', finding: 'unmanaged-account', login: 'root' });
  assert.equal(finding.type, 'reconcile.finding');
  assert.equal(finding.target, 'warehouse');
  assert.equal(finding.payload?.finding, 'unmanaged-account');

  assert.deepEqual(adminEvent('admin.token.revoked', { actor: 'cli', tenantId: 'tenant-a', details: { tokenId: 'tok-9' } }), {
    type: 'admin.token.revoked',
    actor: 'cli',
    tenantId: 'tenant-a',
    target: null,
    payload: { tokenId: 'tok-9' },
  });
});

test('passwords never reach the stored events', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const secret = 'Tr0ub4dor&3';
    const log = new AuditLog(database);
    await log.append(
      database.db,
      scimRequestEvent({ ...context, method: 'POST', path: '/scim/v2/Users' }, { status: 201, body: { userName: 'ada', password: secret }, resourceIds: ['u-1'] }),
    );
    await log.append(
      database.db,
      scimRequestEvent(context, { status: 200, body: { Operations: [{ op: 'replace', path: 'password', value: secret }] } }),
    );
    await log.append(
      database.db,
      provisionStepEvent({
        tenantId: 'tenant-a',
        target: 'analytics-db',
        userId: 'u-1',
        login: 'ada',
        result: {
          step: { op: 'createLogin', login: 'ada' },
          outcome: 'failed',
          statements: [`CREATE ROLE "ada" LOGIN PASSWORD '${secret}'`],
          durationMs: 3,
          disposition: 'fatal',
          message: `could not connect to postgres://admin:${secret}@db:5432/app`,
        },
      }),
    );
    // A careless caller: secret-named members are dropped by append itself.
    await log.append(database.db, adminEvent('admin.token.created', { actor: 'cli', details: { tokenId: 't', Password: secret, nested: { clientSecret: secret } } }));

    const rows = await sql<Record<string, unknown>>`SELECT * FROM audit_events`.execute(database.db);
    assert.equal(rows.rows.length, 4);
    assert.ok(!JSON.stringify(rows.rows).includes(secret), 'the secret is in no stored column');
    let exported = '';
    await log.exportJsonl({}, (chunk) => void (exported += chunk));
    await log.exportCsv({}, (chunk) => void (exported += chunk));
    assert.ok(!exported.includes(secret));
    assert.match(exported, /PASSWORD '\*\*\*'/);
    assert.ok((await log.verify()).ok);
  }));

test("a write's request event completes its change event: one event per SCIM write that changed the directory", (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    const sink = new AuditSink(log);
    const buffer = new AuditBuffer(log, database.db, { onError: (error) => assert.fail(String(error)) });
    const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] };
    const change = (ctx: RequestContext) => database.db.transaction().execute((tx) =>
      sink.record(tx, database.dialect, ctx, { kind: 'user.updated', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: false }));

    await change(context);
    // The same client-chosen request id on another path, and on the same path by another token: not this write's.
    await change({ ...context, requestId: 'shared', path: '/scim/v2/Users/u-2' });
    buffer.add(scimRequestEvent({ ...context, requestId: 'shared' }, { status: 200, body }));
    buffer.add(scimRequestEvent({ ...context, tokenId: 'tok-other' }, { status: 200, body }));
    buffer.add(scimRequestEvent(context, { status: 200, resourceIds: ['u-1'], body, userId: 'u-1', durationMs: 4 }));
    buffer.add(scimRequestEvent({ ...context, requestId: 'read-1', method: 'GET' }, { status: 200 }));
    await buffer.flush();

    const events = await log.query();
    assert.deepEqual(events.map((e) => [e.type, e.requestId, e.actor]), [
      ['directory.change', 'req-1', 'tok-9'],
      ['directory.change', 'shared', 'tok-9'],
      ['scim.request', 'shared', 'tok-9'],
      ['scim.request', 'req-1', 'tok-other'],
      ['scim.request', 'read-1', 'tok-9'],
    ]);
    assert.deepEqual(events[0]!.payload, {
      kind: 'user.updated', userId: 'u-1', userName: 'ada', active: false,
      request: { method: 'PATCH', path: '/scim/v2/Users/u-1', clientAddress: '203.0.113.7', status: 200, resourceIds: ['u-1'], bodyDigest: digestBody(body), durationMs: 4 },
    });
    assert.deepEqual(events[1]!.payload.request, { method: 'PATCH', path: '/scim/v2/Users/u-2', clientAddress: '203.0.113.7' }, 'left as recorded');
    assert.equal(events[0]!.userId, 'u-1');
    assert.ok((await log.verify()).ok);

    // A change already chained before its request's event arrives keeps both events.
    await change({ ...context, requestId: 'req-2' });
    await log.seal();
    buffer.add(scimRequestEvent({ ...context, requestId: 'req-2' }, { status: 200, body }));
    await buffer.flush();
    assert.deepEqual((await log.query({ requestId: 'req-2' })).map((e) => e.type), ['directory.change', 'scim.request']);
    assert.ok((await log.verify()).ok);
  }));
