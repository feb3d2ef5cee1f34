import assert from 'node:assert/strict';
import { test } from 'node:test';
import { provisionStepEvent } from '../../src/audit/audit-events.ts';
import { AuditLog } from '../../src/audit/audit-log.ts';
import { AuditSink } from '../../src/audit/audit-sink.ts';
import { timeToRevoke } from '../../src/audit/time-to-revoke.ts';
import type { RequestContext } from '../../src/domain/directory-change.ts';
import type { Step, StepOutcome } from '../../src/provisioning/target.ts';
import { eachAuditStore } from './audit-stores.ts';

test('time to revoke: from the offboarding request to the last revoking step per target, slowest first', (t) =>
  eachAuditStore(t, async ({ database }) => {
    const start = Date.parse('2026-04-01T09:00:00.000Z');
    let now = start;
    const log = new AuditLog(database, { clock: () => new Date(now) });
    const sink = new AuditSink(log);
    const at = (seconds: number) => {
      now = start + seconds * 1000;
    };
    const context = (requestId: string): RequestContext => ({ requestId, tenantId: 't', tokenId: 'tok', clientAddress: null, method: 'PATCH', path: '/Users' });
    const user = async (requestId: string, userId: string, kind: 'user.updated' | 'user.deleted', active: boolean) =>
      database.db.transaction().execute((tx) => sink.beforeCommit(tx, 'sqlite', [{ context: context(requestId), change: { kind, tenantId: 't', userId, userName: userId, active } }]));
    const step = async (userId: string, target: string, s: Step, outcome: StepOutcome) =>
      log.append(
        database.db,
        provisionStepEvent({ tenantId: 't', target, userId, login: userId, result: { step: s, outcome, statements: [], durationMs: 1 } }),
      );

    at(0);
    await user('r1', 'u1', 'user.updated', false);
    at(2);
    await step('u1', 'db-a', { op: 'lock', login: 'u1' }, 'applied');
    at(3);
    await step('u1', 'db-b', { op: 'lock', login: 'u1' }, 'failed');
    at(5);
    await step('u1', 'db-a', { op: 'endSessions', login: 'u1' }, 'applied');
    at(6);
    await step('u1', 'db-a', { op: 'revoke', login: 'u1', role: 'reader' }, 'applied');
    at(10);
    await user('r2', 'u2', 'user.deleted', false);
    at(11);
    await step('u2', 'db-a', { op: 'drop', login: 'u2' }, 'applied');
    at(20);
    await user('r3', 'u3', 'user.updated', false);
    at(21);
    await user('r4', 'u3', 'user.updated', true);
    // After reactivation: a lock here belongs to no offboarding of u3.
    at(30);
    await step('u3', 'db-a', { op: 'lock', login: 'u3' }, 'applied');
    at(40);
    // Deleting the already-deactivated u1 does not restart its clock.
    await user('r5', 'u1', 'user.deleted', false);
    at(60);
    await step('u1', 'db-b', { op: 'lock', login: 'u1' }, 'applied');
    at(61);
    await step('u1', 'db-b', { op: 'endSessions', login: 'u1' }, 'skipped');
    // A directory change that is not an offboarding.
    await user('r6', 'u4', 'user.updated', true);

    const results = await timeToRevoke(log);
    assert.deepEqual(
      results.map((r) => [r.userId, r.target, r.ms, r.requestId]),
      [
        ['u1', 'db-b', 61_000, 'r1'],
        ['u1', 'db-a', 5_000, 'r1'],
        ['u2', 'db-a', 1_000, 'r2'],
      ],
    );
    assert.equal(results[0]?.requestedAt, '2026-04-01T09:00:00.000Z');
    assert.equal(results[0]?.revokedAt, '2026-04-01T09:01:01.000Z');
    assert.deepEqual(
      // From 09:00:05 on, u1's offboarding starts with the deletion at +40 s.
      (await timeToRevoke(log, { since: '2026-04-01T09:00:05Z' })).map((r) => [r.userId, r.target, r.ms]),
      [
        ['u1', 'db-b', 21_000],
        ['u2', 'db-a', 1_000],
      ],
    );
  }));
