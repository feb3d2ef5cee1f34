import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RolecallError } from '../domain/errors.ts';
import { executePlan, planStatements } from './execute-plan.ts';
import type { ActualAccount, Step, StepResult, Target } from './target.ts';

/** Records every step it is asked to apply; fails (or throws on) the steps it is told to. */
class FakeTarget implements Target {
  readonly name = 'fake';
  readonly kind = 'fake';
  readonly capabilities = { sessions: true, maxLoginBytes: 63 };
  readonly applied: Step[] = [];

  constructor(
    private readonly failing: (step: Step) => boolean = () => false,
    private readonly throwing: (step: Step) => boolean = () => false,
  ) {}

  async init(): Promise<void> {}
  loginName(raw: string): string {
    return raw;
  }
  async readAccount(login: string): Promise<ActualAccount> {
    return { login, exists: false, managed: false, canLogin: false, roles: [], sessions: 0 };
  }
  // executePlan drives apply() alone; the batch side of the interface is not used here.
  async readAccounts(): Promise<Map<string, ActualAccount>> {
    throw new Error('not used by these tests');
  }
  async applyPlans(): Promise<StepResult[][]> {
    throw new Error('not used by these tests');
  }
  async listManaged(): Promise<ActualAccount[]> {
    return [];
  }
  async existingRoles(): Promise<string[]> {
    return [];
  }
  statements(step: Step): string[] {
    return [[step.op, 'role' in step ? step.role : undefined, 'login' in step ? step.login : undefined].filter(Boolean).join(' ')];
  }
  async apply(step: Step): Promise<StepResult> {
    this.applied.push(step);
    if (this.throwing(step)) throw new RolecallError('conflict', `${step.op} exploded`);
    if (this.failing(step)) return { step, outcome: 'failed', statements: this.statements(step), durationMs: 1, disposition: 'retry', message: 'deadlock' };
    return { step, outcome: 'applied', statements: this.statements(step), durationMs: 1 };
  }
  async missingPrivileges(): Promise<string[]> {
    return [];
  }
  async close(): Promise<void> {}
}

const offboarding: Step[] = [
  { op: 'lock', login: 'alice' },
  { op: 'endSessions', login: 'alice' },
  { op: 'revoke', login: 'alice', role: 'reader' },
  { op: 'revoke', login: 'alice', role: 'writer' },
  { op: 'drop', login: 'alice' },
  { op: 'endSessions', login: 'alice' },
];

const outcomes = (results: StepResult[]) => results.map((result) => `${result.step.op}:${result.outcome}`);

describe('executePlan', () => {
  test('applies every step in order, one result per step', async () => {
    const target = new FakeTarget();
    const results = await executePlan(target, offboarding);
    assert.deepEqual(target.applied, offboarding);
    assert.equal(results.length, offboarding.length);
    assert.ok(results.every((result) => result.outcome === 'applied'));
  });

  test('after a failure, later steps are skipped except lock and endSessions', async () => {
    const target = new FakeTarget((step) => step.op === 'revoke' && step.role === 'reader');
    const results = await executePlan(target, offboarding);
    assert.equal(results.length, offboarding.length);
    assert.deepEqual(outcomes(results), ['lock:applied', 'endSessions:applied', 'revoke:failed', 'revoke:skipped', 'drop:skipped', 'endSessions:applied']);
    assert.deepEqual(
      results.filter((result) => result.outcome === 'skipped').map((result) => result.message),
      ['not run: step 3 failed', 'not run: step 3 failed'],
    );
    assert.deepEqual(target.applied.map((step) => step.op), ['lock', 'endSessions', 'revoke', 'endSessions']);
  });

  test('a failed lock still ends sessions; the first failure is the one named', async () => {
    const target = new FakeTarget((step) => step.op === 'lock' || step.op === 'drop');
    const results = await executePlan(target, offboarding);
    assert.deepEqual(outcomes(results), ['lock:failed', 'endSessions:applied', 'revoke:skipped', 'revoke:skipped', 'drop:skipped', 'endSessions:applied']);
    assert.equal(results[2]?.message, 'not run: step 1 failed');
  });

  test('a failed createLogin skips the grants that depend on it', async () => {
    const plan: Step[] = [
      { op: 'ensureRole', role: 'reader' },
      { op: 'createLogin', login: 'alice' },
      { op: 'grant', login: 'alice', role: 'reader' },
    ];
    const results = await executePlan(new FakeTarget((step) => step.op === 'createLogin'), plan);
    assert.deepEqual(outcomes(results), ['ensureRole:applied', 'createLogin:failed', 'grant:skipped']);
    assert.equal(results[1]?.disposition, 'retry');
  });

  test('a target that throws does not abort the plan: the throw becomes a failed step', async () => {
    const results = await executePlan(new FakeTarget(undefined, (step) => step.op === 'revoke'), offboarding);
    assert.equal(results.length, offboarding.length);
    assert.deepEqual(results[2], { ...results[2], outcome: 'failed', disposition: 'conflict', message: 'revoke exploded', statements: [] });
    assert.equal(results[5]?.outcome, 'applied');
  });

  test('an empty plan has no results', async () => {
    assert.deepEqual(await executePlan(new FakeTarget(), []), []);
  });
});

describe('planStatements', () => {
  test('lists what the plan would send, in order, applying nothing', () => {
    const target = new FakeTarget();
    assert.deepEqual(planStatements(target, offboarding.slice(0, 3)), ['lock alice', 'endSessions alice', 'revoke reader alice']);
    assert.deepEqual(target.applied, []);
  });
});
