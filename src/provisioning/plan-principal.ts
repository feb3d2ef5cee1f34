import { desiredAccount, managedRoles } from '../policy/desired-state.ts';
import type { Policy, PolicyTarget } from '../policy/policy.ts';
import type { AccountRegistry, ManagedAccount } from './account-registry.ts';
import type { DirectoryView } from './directory-view.ts';
import type { Principal } from './job.ts';
import { planAccount } from './plan-account.ts';
import type { ActualAccount, DesiredAccount, Step, Target } from './target.ts';

/** Everything the planner decided for one principal, for the worker to run and the reconciler to report. */
export interface PrincipalPlan {
  principal: Principal;
  /** False when the directory no longer has the user (deleted). */
  userExists: boolean;
  /** undefined: Rolecall has nothing to do with this user on this target (never provisioned, not mapped). */
  desired: DesiredAccount | undefined;
  /** undefined when `desired` is: the target was not read. */
  actual: ActualAccount | undefined;
  /** The login recorded for this user before this plan, if any. */
  recorded: ManagedAccount | undefined;
  steps: Step[];
  /** Why nothing may be changed (unmanaged account, login recorded for another user). */
  conflict?: string;
}

export interface PlanSources {
  policy: Policy;
  view: DirectoryView;
  accounts: AccountRegistry;
}

/**
 * Desired state (directory + policy + recorded login) vs actual state (target) -> steps.
 * Throws only what reading the directory or the target throws (the caller classifies it);
 * a login template with no value for this user throws a 'reject' RolecallError.
 */
export async function planPrincipal(sources: PlanSources, policyTarget: PolicyTarget, target: Target, principal: Principal): Promise<PrincipalPlan> {
  const { view, accounts, policy } = sources;
  // Independent reads, issued together: this path is on the SCIM-write-to-target latency budget.
  // (A deleted user has no groups left, so reading them regardless costs nothing.)
  const [user, groups, recorded] = await Promise.all([
    view.user(principal.tenantId, principal.userId),
    view.groupsOfUser(principal.tenantId, principal.userId),
    accounts.get(principal.target, principal.tenantId, principal.userId),
  ]);
  const desired = desiredAccount(policy, policyTarget, user, groups, (raw) => target.loginName(raw), recorded?.login, principal.userId);
  if (!desired) return { principal, userExists: user !== undefined, desired, actual: undefined, recorded, steps: [] };

  if (!recorded) {
    const holder = await accounts.byLogin(principal.target, desired.login);
    if (holder && (holder.tenantId !== principal.tenantId || holder.userId !== principal.userId)) {
      return {
        principal,
        userExists: user !== undefined,
        desired,
        actual: undefined,
        recorded,
        steps: [],
        conflict: `login "${desired.login}" is recorded for user ${holder.userId} of tenant ${holder.tenantId}; a new user never inherits another user's login`,
      };
    }
  }
  const actual = await target.readAccount(desired.login);
  const verdict = planAccount(desired, actual, managedRoles(policy, policyTarget.name));
  return { principal, userExists: user !== undefined, desired, actual, recorded, steps: verdict.steps, ...(verdict.conflict === undefined ? {} : { conflict: verdict.conflict }) };
}

/**
 * A managed login on the target that no directory user accounts for (no `accounts` row):
 * offboarded per the target's option, like a deleted user's.
 */
export function planStale(policy: Policy, policyTarget: PolicyTarget, actual: ActualAccount): { desired: DesiredAccount; steps: Step[] } {
  const desired: DesiredAccount = {
    tenantId: policyTarget.tenant,
    userId: '',
    login: actual.login,
    state: policyTarget.offboarding === 'drop' ? 'absent' : 'locked',
    roles: [],
  };
  return { desired, steps: planAccount(desired, actual, managedRoles(policy, policyTarget.name)).steps };
}
