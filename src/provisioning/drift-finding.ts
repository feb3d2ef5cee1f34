import type { Step } from './target.ts';

/**
 * What a reconcile found for one account, most urgent first:
 * - unmanaged-conflict: the login exists on the target without Rolecall's marker (never changed);
 * - login-conflict: the login is recorded for another directory user;
 * - stale: a managed login whose user is gone or that no user accounts for, not yet offboarded;
 * - should-be-locked: can still log in but must not; sessions: open sessions that must end;
 * - extra-grant: holds a managed role it should not; should-be-dropped: offboarding is 'drop';
 * - missing-login / missing-grant: access the directory grants is not there yet;
 * - should-be-unlocked: a reactivated user's login is still locked;
 * - error: the account could not be planned (target unreachable, bad login template);
 * - in-sync: nothing to do.
 */
export type DriftFinding =
  | 'unmanaged-conflict'
  | 'login-conflict'
  | 'stale'
  | 'should-be-locked'
  | 'sessions'
  | 'extra-grant'
  | 'should-be-dropped'
  | 'missing-login'
  | 'missing-grant'
  | 'should-be-unlocked'
  | 'error'
  | 'in-sync';

const ORDER: DriftFinding[] = [
  'error',
  'unmanaged-conflict',
  'login-conflict',
  'stale',
  'should-be-locked',
  'sessions',
  'extra-grant',
  'should-be-dropped',
  'missing-login',
  'missing-grant',
  'should-be-unlocked',
  'in-sync',
];

const BY_OP: Record<Step['op'], DriftFinding> = {
  createLogin: 'missing-login',
  ensureRole: 'missing-grant',
  grant: 'missing-grant',
  revoke: 'extra-grant',
  lock: 'should-be-locked',
  unlock: 'should-be-unlocked',
  endSessions: 'sessions',
  drop: 'should-be-dropped',
};

/**
 * The findings a plan's steps reveal (each step exists because of one kind of drift), plus
 * 'stale' when the account has no live directory user, sorted most urgent first.
 */
export function driftFindings(steps: Step[], options: { stale?: boolean; conflict?: 'unmanaged-conflict' | 'login-conflict' | 'error' } = {}): DriftFinding[] {
  if (options.conflict) return [options.conflict];
  if (steps.length === 0) return ['in-sync'];
  const found = new Set(steps.map((s) => BY_OP[s.op]));
  if (options.stale) found.add('stale');
  return ORDER.filter((f) => found.has(f));
}
