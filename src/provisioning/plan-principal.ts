import { RolecallError } from '../domain/errors.ts';
import { desiredAccount, managedRoles } from '../policy/desired-state.ts';
import type { Policy, PolicyTarget } from '../policy/policy.ts';
import type { AccountRegistry, ManagedAccount } from './account-registry.ts';
import type { DirectoryGroup, DirectoryUser, DirectoryView } from './directory-view.ts';
import type { Principal } from './job.ts';
import { planAccount } from './plan-account.ts';
import type { ActualAccount, DesiredAccount, Step, Target } from './target.ts';

/** Everything the planner decided for one principal, for the worker to run and the reconciler to report. */
export interface PrincipalPlan {
  principal: Principal;
  /** False when the directory no longer has the user (deleted). */
  userExists: boolean;
  /** The user's groups, nested ones included (why each role is granted). */
  groups: DirectoryGroup[];
  /** undefined: Rolecall has nothing to do with this user on this target (never provisioned, not mapped). */
  desired: DesiredAccount | undefined;
  /** undefined when `desired` is: the target was not read. */
  actual: ActualAccount | undefined;
  /** The login recorded for this user before this plan, if any. */
  recorded: ManagedAccount | undefined;
  steps: Step[];
  /** Why nothing may be changed (unmanaged account, login recorded for another user). */
  conflict?: string;
  /** Why this principal could not be planned (a login template with no value for the user): its own problem, not the target's. */
  error?: RolecallError;
}

export interface PlanSources {
  policy: Policy;
  view: DirectoryView;
  accounts: AccountRegistry;
}

/**
 * Desired state (directory + policy + recorded login) vs actual state (target) -> steps, for
 * many principals of one target with one round of bulk reads for all of them: users, groups
 * and recorded logins per tenant, holders of the new logins, and the target's accounts and
 * existing roles. One plan per principal, in order; a principal whose login cannot be rendered
 * gets `error` and no plan, the others are planned. Throws only what the reads throw (the
 * caller classifies it).
 */
export async function planPrincipals(sources: PlanSources, policyTarget: PolicyTarget, target: Target, principals: Principal[]): Promise<PrincipalPlan[]> {
  const { view, accounts, policy } = sources;
  const byTenant = new Map<string, string[]>();
  for (const p of principals) byTenant.set(p.tenantId, [...(byTenant.get(p.tenantId) ?? []), p.userId]);
  const reads = new Map<string, { users: Map<string, DirectoryUser>; groups: Map<string, DirectoryGroup[]>; recorded: Map<string, ManagedAccount> }>();
  // Independent reads, issued together: this path is on the SCIM-write-to-target latency budget.
  // (A deleted user has no groups left, so reading them regardless costs nothing.)
  await Promise.all([...byTenant].map(async ([tenantId, userIds]) => {
    const [users, groups, recorded] = await Promise.all([
      view.users(tenantId, userIds),
      view.groupsOfUsers(tenantId, userIds),
      accounts.getMany(policyTarget.name, tenantId, userIds),
    ]);
    reads.set(tenantId, { users, groups, recorded });
  }));

  const plans: PrincipalPlan[] = principals.map((principal) => {
    const read = reads.get(principal.tenantId)!;
    const user = read.users.get(principal.userId);
    const groups = read.groups.get(principal.userId) ?? [];
    const recorded = read.recorded.get(principal.userId);
    const base = { principal, userExists: user !== undefined, groups, actual: undefined, recorded, steps: [] };
    try {
      const desired = desiredAccount(policy, policyTarget, user, groups, (raw) => target.loginName(raw), recorded?.login, principal.userId);
      return { ...base, desired };
    } catch (error) {
      if (!(error instanceof RolecallError && error.disposition === 'reject')) throw error;
      return { ...base, desired: undefined, error };
    }
  });

  const fresh = plans.filter((p) => p.desired && !p.recorded).map((p) => p.desired!.login);
  const holders = fresh.length > 0 ? await accounts.byLogins(policyTarget.name, fresh) : new Map<string, ManagedAccount>();
  const managed = managedRoles(policy, policyTarget.name);
  const toRead: PrincipalPlan[] = [];
  for (const plan of plans) {
    if (!plan.desired) continue;
    const holder = plan.recorded ? undefined : holders.get(plan.desired.login);
    if (holder && (holder.tenantId !== plan.principal.tenantId || holder.userId !== plan.principal.userId)) {
      plan.conflict = `login "${plan.desired.login}" is recorded for user ${holder.userId} of tenant ${holder.tenantId}; a new user never inherits another user's login`;
      continue;
    }
    toRead.push(plan);
  }
  if (toRead.length === 0) return plans;
  // Which of the roles to grant already exist: a plan ensures only the others (and shows only their CREATE ROLE).
  const wanted = [...new Set(toRead.flatMap((p) => p.desired!.roles))];
  const [actual, existing] = await Promise.all([
    target.readAccounts(toRead.map((p) => p.desired!.login)),
    wanted.length > 0 ? target.existingRoles(wanted) : Promise.resolve([]),
  ]);
  const existingRoles = new Set(existing);
  for (const plan of toRead) {
    plan.actual = actual.get(plan.desired!.login)!;
    const verdict = planAccount(plan.desired!, plan.actual, managed, existingRoles);
    plan.steps = verdict.steps;
    if (verdict.conflict !== undefined) plan.conflict = verdict.conflict;
  }
  return plans;
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
