import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planAccount } from './plan-account.ts';
import type { ActualAccount, DesiredAccount, Step } from './target.ts';

const MANAGED = ['reader', 'writer', 'auditor'];

function desired(state: DesiredAccount['state'], roles: string[] = []): DesiredAccount {
  return { tenantId: 'default', userId: 'u-1', login: 'alice', state, roles };
}

function actual(fields: Partial<ActualAccount> = {}): ActualAccount {
  return { login: 'alice', exists: true, managed: true, canLogin: true, roles: [], sessions: 0, ...fields };
}

const missing = actual({ exists: false, managed: false, canLogin: false });

/** What a target does with each step, so a plan can be replayed to check it converges. */
function applyStep(account: ActualAccount, step: Step): ActualAccount {
  switch (step.op) {
    case 'ensureRole':
      return account;
    case 'createLogin':
      return { ...account, exists: true, managed: true, canLogin: true, roles: [] };
    case 'grant':
      return { ...account, roles: [...account.roles, step.role].sort() };
    case 'revoke':
      return { ...account, roles: account.roles.filter((role) => role !== step.role) };
    case 'lock':
      return { ...account, canLogin: false };
    case 'unlock':
      return { ...account, canLogin: true };
    case 'endSessions':
      return { ...account, sessions: 0 };
    case 'drop':
      // Like MariaDB: the account goes, its open sessions do not.
      return { ...account, exists: false, managed: false, canLogin: false, roles: [] };
  }
}

function steps(want: DesiredAccount, have: ActualAccount, managed = MANAGED): Step[] {
  const verdict = planAccount(want, have, managed);
  assert.equal(verdict.conflict, undefined);
  return verdict.steps;
}

/** Plans, applies, and plans again: the second plan must be empty. */
function assertConverges(want: DesiredAccount, have: ActualAccount, managed = MANAGED): ActualAccount {
  const after = steps(want, have, managed).reduce(applyStep, have);
  assert.deepEqual(steps(want, after, managed), [], 'planning against the post-apply state must yield no steps');
  return after;
}

describe('planAccount: present', () => {
  test('a new login: roles ensured, login created, roles granted', () => {
    assert.deepEqual(steps(desired('present', ['reader', 'writer']), missing), [
      { op: 'ensureRole', role: 'reader' },
      { op: 'ensureRole', role: 'writer' },
      { op: 'createLogin', login: 'alice' },
      { op: 'grant', login: 'alice', role: 'reader' },
      { op: 'grant', login: 'alice', role: 'writer' },
    ]);
    assertConverges(desired('present', ['reader', 'writer']), missing);
  });

  test('roles the target already has need no ensureRole step', () => {
    assert.deepEqual(planAccount(desired('present', ['reader', 'writer']), missing, MANAGED, new Set(['reader'])).steps, [
      { op: 'ensureRole', role: 'writer' },
      { op: 'createLogin', login: 'alice' },
      { op: 'grant', login: 'alice', role: 'reader' },
      { op: 'grant', login: 'alice', role: 'writer' },
    ]);
    assert.deepEqual(planAccount(desired('present', ['reader']), actual(), MANAGED, new Set(['reader', 'writer'])).steps, [
      { op: 'grant', login: 'alice', role: 'reader' },
    ]);
  });

  test('role changes: managed roles no longer desired are revoked before missing ones are granted', () => {
    const have = actual({ roles: ['auditor', 'reader'] });
    assert.deepEqual(steps(desired('present', ['reader', 'writer']), have), [
      { op: 'ensureRole', role: 'writer' },
      { op: 'revoke', login: 'alice', role: 'auditor' },
      { op: 'grant', login: 'alice', role: 'writer' },
    ]);
    assertConverges(desired('present', ['reader', 'writer']), have);
  });

  test('a locked login is unlocked last, after its roles are right', () => {
    const have = actual({ canLogin: false, roles: ['auditor'] });
    assert.deepEqual(steps(desired('present', ['reader']), have), [
      { op: 'ensureRole', role: 'reader' },
      { op: 'revoke', login: 'alice', role: 'auditor' },
      { op: 'grant', login: 'alice', role: 'reader' },
      { op: 'unlock', login: 'alice' },
    ]);
    assertConverges(desired('present', ['reader']), have);
  });

  test('already as desired: nothing to do, open sessions are left alone', () => {
    assert.deepEqual(steps(desired('present', ['reader']), actual({ roles: ['reader'], sessions: 3 })), []);
  });

  test('a revoke ends open sessions, which would keep the revoked role active', () => {
    const have = actual({ roles: ['reader', 'writer'], sessions: 2 });
    assert.deepEqual(steps(desired('present', ['reader']), have), [
      { op: 'revoke', login: 'alice', role: 'writer' },
      { op: 'endSessions', login: 'alice' },
    ]);
    assertConverges(desired('present', ['reader']), have);
  });

  test('unmanaged roles are never revoked', () => {
    const have = actual({ roles: ['dba_tools', 'reader', 'writer'] });
    assert.deepEqual(steps(desired('present', ['reader']), have), [{ op: 'revoke', login: 'alice', role: 'writer' }]);
    assert.deepEqual(assertConverges(desired('present', ['reader']), have).roles, ['dba_tools', 'reader']);
  });
});

describe('planAccount: locked (offboarding, login kept)', () => {
  test('exact order: lock -> end sessions -> revoke -> end sessions again', () => {
    const have = actual({ roles: ['reader', 'writer'], sessions: 2 });
    assert.deepEqual(steps(desired('locked'), have), [
      { op: 'lock', login: 'alice' },
      { op: 'endSessions', login: 'alice' },
      { op: 'revoke', login: 'alice', role: 'reader' },
      { op: 'revoke', login: 'alice', role: 'writer' },
      { op: 'endSessions', login: 'alice' },
    ]);
    assertConverges(desired('locked'), have);
  });

  test('a login that can log in has its sessions ended even when none were seen', () => {
    assert.deepEqual(steps(desired('locked'), actual()), [
      { op: 'lock', login: 'alice' },
      { op: 'endSessions', login: 'alice' },
    ]);
  });

  test('already locked with sessions open: end sessions, revoke, end sessions again', () => {
    const have = actual({ canLogin: false, roles: ['reader'], sessions: 1 });
    assert.deepEqual(steps(desired('locked'), have), [
      { op: 'endSessions', login: 'alice' },
      { op: 'revoke', login: 'alice', role: 'reader' },
      { op: 'endSessions', login: 'alice' },
    ]);
  });

  test('already locked, no sessions: only revokes (no session can appear on a locked login)', () => {
    assert.deepEqual(steps(desired('locked'), actual({ canLogin: false, roles: ['reader'] })), [{ op: 'revoke', login: 'alice', role: 'reader' }]);
  });

  test('already locked, no sessions, no managed roles: nothing to do; unmanaged roles stay', () => {
    assert.deepEqual(steps(desired('locked'), actual({ canLogin: false, roles: ['dba_tools'] })), []);
    const have = actual({ roles: ['dba_tools', 'reader'], sessions: 1 });
    assert.deepEqual(assertConverges(desired('locked'), have).roles, ['dba_tools']);
  });

  test('no login on the target: nothing to do', () => {
    assert.deepEqual(steps(desired('locked'), missing), []);
  });
});

describe('planAccount: absent (offboarding, login dropped)', () => {
  test('exact order: lock -> end sessions -> revoke -> drop -> end sessions again', () => {
    const have = actual({ roles: ['reader', 'writer'], sessions: 1 });
    assert.deepEqual(steps(desired('absent'), have), [
      { op: 'lock', login: 'alice' },
      { op: 'endSessions', login: 'alice' },
      { op: 'revoke', login: 'alice', role: 'reader' },
      { op: 'revoke', login: 'alice', role: 'writer' },
      { op: 'drop', login: 'alice' },
      { op: 'endSessions', login: 'alice' },
    ]);
    assertConverges(desired('absent'), have);
  });

  test('a locked login with no roles and no sessions is just dropped', () => {
    assert.deepEqual(steps(desired('absent'), actual({ canLogin: false })), [{ op: 'drop', login: 'alice' }]);
  });

  test('unmanaged roles are not revoked; the drop removes the account with them', () => {
    assert.deepEqual(steps(desired('absent'), actual({ canLogin: false, roles: ['dba_tools', 'reader'] })), [
      { op: 'revoke', login: 'alice', role: 'reader' },
      { op: 'drop', login: 'alice' },
    ]);
  });

  test('sessions outliving a dropped login are still ended', () => {
    const dropped = { ...missing, sessions: 2 };
    assert.deepEqual(steps(desired('absent'), dropped), [{ op: 'endSessions', login: 'alice' }]);
    assertConverges(desired('absent'), dropped);
  });

  test('already gone: nothing to do', () => {
    assert.deepEqual(steps(desired('absent'), missing), []);
  });
});

describe('planAccount: ownership and idempotency', () => {
  test('an existing account without the marker is a conflict, never changed', () => {
    const superuser = actual({ managed: false, roles: ['reader', 'superuser'], sessions: 1 });
    for (const state of ['present', 'locked', 'absent'] as const) {
      const verdict = planAccount(desired(state, state === 'present' ? ['reader'] : []), superuser, MANAGED);
      assert.deepEqual(verdict.steps, []);
      assert.match(verdict.conflict ?? '', /login "alice" exists on the target but is not managed by Rolecall/);
    }
  });

  test('any plan, once applied, plans to nothing (all transitions)', () => {
    const wants = [desired('present', ['reader']), desired('present', ['auditor', 'writer']), desired('present'), desired('locked'), desired('absent')];
    const haves = [
      missing,
      { ...missing, sessions: 1 },
      actual(),
      actual({ roles: ['reader'], sessions: 4 }),
      actual({ canLogin: false, roles: ['dba_tools', 'writer'] }),
      actual({ canLogin: false, sessions: 1 }),
    ];
    for (const want of wants) for (const have of haves) assertConverges(want, have);
  });

  test('the plan is deterministic whatever order the target lists roles in', () => {
    const have = actual({ roles: ['writer', 'auditor', 'reader'] });
    assert.deepEqual(steps(desired('locked'), have), steps(desired('locked'), { ...have, roles: ['reader', 'auditor', 'writer'] }));
  });
});
