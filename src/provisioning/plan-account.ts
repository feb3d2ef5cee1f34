import type { ActualAccount, DesiredAccount, Step } from './target.ts';

/**
 * The planner's answer. `conflict` is set (and `steps` empty) when the login exists on the target
 * without Rolecall's marker: such an account is reported, never changed. A verdict rather than a
 * bare Step[] so the caller cannot mistake "nothing to do" for "not allowed to touch".
 */
export type PlanVerdict = { steps: Step[]; conflict?: string };

/**
 * Diffs desired against actual into the steps that close the gap. Pure and deterministic;
 * planning again against the state the steps produce yields no steps. Only roles listed in
 * `managedRoles` are ever revoked; anything else the account holds is left alone.
 * `existingRoles`, when the target was asked, are roles that need no ensureRole step; without
 * it every role to grant is ensured first.
 */
export function planAccount(desired: DesiredAccount, actual: ActualAccount, managedRoles: string[], existingRoles?: ReadonlySet<string>): PlanVerdict {
  if (actual.exists && !actual.managed) {
    return { steps: [], conflict: `login "${actual.login}" exists on the target but is not managed by Rolecall; left untouched` };
  }
  switch (desired.state) {
    case 'present':
      return { steps: planPresent(desired, actual, managedRoles, existingRoles) };
    case 'locked':
      return { steps: planOffboarding(desired.login, actual, managedRoles, false) };
    case 'absent':
      return { steps: planOffboarding(desired.login, actual, managedRoles, true) };
  }
}

/**
 * ensureRole -> createLogin -> revoke -> (endSessions) -> grant -> unlock. Revokes come before
 * grants and the unlock comes last, so at no point between steps (or after a failed step) does
 * the login hold more than it should or open for login with stale roles. Open sessions are ended
 * after a revoke: a MariaDB session keeps a revoked role active, and a PostgreSQL session that
 * ran SET ROLE keeps the role's rights (targets.md), so only a new session sees the change.
 */
function planPresent(desired: DesiredAccount, actual: ActualAccount, managedRoles: string[], existingRoles: ReadonlySet<string> | undefined): Step[] {
  const login = desired.login;
  const held = actual.exists ? actual.roles : [];
  const missing = desired.roles.filter((role) => !held.includes(role));
  const unwanted = sorted(held.filter((role) => managedRoles.includes(role) && !desired.roles.includes(role)));
  return [
    ...missing.filter((role) => !existingRoles?.has(role)).map((role): Step => ({ op: 'ensureRole', role })),
    ...(actual.exists ? [] : [{ op: 'createLogin', login } satisfies Step]),
    ...unwanted.map((role): Step => ({ op: 'revoke', login, role })),
    ...(unwanted.length > 0 && actual.sessions > 0 ? [{ op: 'endSessions', login } satisfies Step] : []),
    ...missing.map((role): Step => ({ op: 'grant', login, role })),
    ...(actual.exists && !actual.canLogin ? [{ op: 'unlock', login } satisfies Step] : []),
  ];
}

/**
 * Block login -> end sessions -> revoke managed roles -> (drop) -> end sessions again
 * (docs/architecture.md): no engine ends live sessions when a login is disabled, and on
 * MariaDB a revoked role stays active in an open session and a dropped user can still read.
 * Sessions are ended whenever the login could still open one or has one open; the second
 * round runs only when roles were revoked or the account dropped while sessions may remain
 * (a locked login with no sessions cannot gain one).
 */
function planOffboarding(login: string, actual: ActualAccount, managedRoles: string[], drop: boolean): Step[] {
  const endSessions: Step = { op: 'endSessions', login };
  // A dropped MariaDB user's open sessions outlive the account.
  if (!actual.exists) return actual.sessions > 0 ? [endSessions] : [];
  const revokes = sorted(actual.roles.filter((role) => managedRoles.includes(role))).map((role): Step => ({ op: 'revoke', login, role }));
  const sessionsMayExist = actual.canLogin || actual.sessions > 0;
  return [
    ...(actual.canLogin ? [{ op: 'lock', login } satisfies Step] : []),
    ...(sessionsMayExist ? [endSessions] : []),
    ...revokes,
    ...(drop ? [{ op: 'drop', login } satisfies Step] : []),
    ...(sessionsMayExist && (revokes.length > 0 || drop) ? [endSessions] : []),
  ];
}

function sorted(roles: string[]): string[] {
  return [...roles].sort();
}
