import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sql, type Kysely } from 'kysely';
import { adminEvent, provisionStepEvent, reconcileFindingEvent, scimRequestEvent } from '../../src/audit/audit-events.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import type { ChangeSink, SqlDialect } from '../../src/directory/database.ts';
import { digestBody } from '../../src/audit/redact.ts';
import type { DirectoryChange, RequestChange, RequestContext } from '../../src/domain/directory-change.ts';
import { eachAuditStore } from './audit-stores.ts';
import { auditMigrations } from '../../src/audit/audit-migrations.ts';
import { directoryMigrations } from '../../src/directory/directory-migrations.ts';
import { KyselyResourceStore } from '../../src/directory/kysely-resource-store.ts';
import { jobMigrations } from '../../src/provisioning/job-migrations.ts';
import { eachStore, migrate } from '../provisioning/store-databases.ts';

const context: RequestContext = {
  requestId: 'req-1',
  tenantId: 'tenant-a',
  tokenId: 'tok-9',
  clientAddress: '203.0.113.7',
  method: 'PATCH',
  path: '/scim/v2/Users/u-1',
};

/** As the store hands changes to a sink: each as it is made, then all of them before the commit. */
async function hand(sink: ChangeSink, tx: Kysely<any>, dialect: SqlDialect, changes: RequestChange[]): Promise<void> {
  for (const made of changes) await sink.record?.(tx, dialect, made);
  await sink.beforeCommit?.(tx, dialect, changes);
}

const change = (c: DirectoryChange, ctx: RequestContext = context, status?: number): RequestChange => ({ context: ctx, change: c, ...(status === undefined ? {} : { status }) });

test('the sink records directory changes in the write transaction, with subjects for querying', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    const sink = new AuditSink(log);

    await assert.rejects(
      database.db.transaction().execute(async (tx) => {
        await hand(sink, tx, database.dialect, [change({ kind: 'user.updated', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: false })]);
        throw new Error('directory write failed after the sink ran');
      }),
    );
    assert.deepEqual(await log.query(), [], 'rolled back with the write');
    assert.deepEqual(await log.head(), { seq: 0, hash: '0'.repeat(64) });

    await database.db.transaction().execute((tx) => hand(sink, tx, database.dialect, [
      change({ kind: 'user.updated', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: false }, context, 200),
      change({ kind: 'group.updated', tenantId: 'tenant-a', groupId: 'g-1', displayName: 'Analysts' }),
      change({ kind: 'group.members', tenantId: 'tenant-a', groupId: 'g-1', added: [], removed: ['u-1'] }),
      change({ kind: 'group.members', tenantId: 'tenant-a', groupId: 'g-1', added: ['u-2', 'u-3'], removed: [] }, { ...context, tokenId: null }),
    ]));
    // The embedded store chains them in the commit; PostgreSQL leaves them pending for the next seal (which query runs).
    assert.equal((await log.head()).seq, database.dialect === 'sqlite' ? 4 : 0);
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
      request: { method: 'PATCH', path: '/scim/v2/Users/u-1', clientAddress: '203.0.113.7', status: 200, bodyDigest: null },
    });
    assert.deepEqual(group?.payload.request, { method: 'PATCH', path: '/scim/v2/Users/u-1', clientAddress: '203.0.113.7', bodyDigest: null }, 'no status when the writer gave none');
    assert.equal(group?.groupId, 'g-1');
    assert.equal(group?.payload.displayName, 'Analysts');
    assert.equal(oneMember?.userId, 'u-1', 'a one-member change is findable by user');
    assert.deepEqual(oneMember?.payload.removed, ['u-1']);
    assert.equal(twoMembers?.userId, null);
    assert.equal(twoMembers?.actor, 'system');
    assert.deepEqual((await log.query({ userId: 'u-1' })).map((e) => e.seq), [1, 3]);
    assert.ok((await log.verify()).ok);
  }));

test('writes sharing a commit record the events of the writes kept, in order, not of one rolled back', (t) =>
  eachStore(t, async ({ database }) => {
    await migrate(database, [directoryMigrations, jobMigrations, auditMigrations]);
    const log = new AuditLog(database);
    const store = new KyselyResourceStore(database, [new AuditSink(log)]);
    const create = (id: string, fail: boolean) =>
      store.write({ ...context, requestId: `req-${id}`, method: 'POST', path: '/Users' }, async (w) => {
        await w.insert('User', 'tenant-a', { id, data: { userName: `${id}@example.com` } });
        await w.emit({ kind: 'user.created', tenantId: 'tenant-a', userId: id, userName: `${id}@example.com`, active: true });
        if (fail) throw new Error('rolled back');
      });
    // Submitted in one turn of the event loop: one transaction, each write in its own savepoint.
    const outcomes = await Promise.allSettled(['u1', 'u2', 'u3', 'u4', 'u5'].map((id) => create(id, id === 'u2' || id === 'u4')));
    assert.deepEqual(outcomes.map((o) => o.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    const events = await log.query();
    assert.deepEqual(events.map((e) => [e.seq, e.userId, e.requestId]), [[1, 'u1', 'req-u1'], [2, 'u3', 'req-u3'], [3, 'u5', 'req-u5']]);
    assert.ok((await log.verify()).ok);
  }));

test('a change event digests its request body once per request, without the secrets in it', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const log = new AuditLog(database);
    const sink = new AuditSink(log);
    const body = { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: [{ method: 'POST', path: '/Users', data: { userName: 'ada', password: 'Tr0ub4dor&3' } }] };
    const bulk: RequestContext = { ...context, method: 'POST', path: '/Bulk', body };
    await database.db.transaction().execute((tx) => hand(sink, tx, database.dialect, [
      change({ kind: 'user.created', tenantId: 'tenant-a', userId: 'u-1', userName: 'ada', active: true }, bulk, 201),
      change({ kind: 'user.created', tenantId: 'tenant-a', userId: 'u-2', userName: 'bob', active: true }, bulk, 201),
    ]));
    const events = await log.query();
    assert.deepEqual(events.map((e) => e.payload.request), [0, 1].map(() => ({ method: 'POST', path: '/Bulk', clientAddress: '203.0.113.7', status: 201, bodyDigest: digestBody(body) })));
    assert.equal(digestBody(body), digestBody({ ...body, Operations: [{ method: 'POST', path: '/Users', data: { userName: 'ada' } }] }), 'the password is not digested');
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
