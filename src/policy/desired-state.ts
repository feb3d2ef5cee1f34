import type { DirectoryGroup, DirectoryUser } from '../provisioning/directory-view.ts';
import { renderLogin } from '../provisioning/login-template.ts';
import type { DesiredAccount } from '../provisioning/target.ts';
import type { GroupSelector, Policy, PolicyTarget } from './policy.ts';

/**
 * What one user's account on one target must look like.
 *
 * - active and in at least one group mapped to this target -> 'present' with the union of the
 *   mapped roles (sorted, de-duplicated). `groups` must already include nested groups.
 * - inactive -> 'locked' (never 'absent', whatever the target's offboarding option: a
 *   deactivated user may come back, and reactivation should only need an unlock).
 * - active but no longer in any mapped group, with a login Rolecall made (`knownLogin`) ->
 *   'locked': no mapped access means no usable login. Kept rather than dropped because only
 *   deletion is final; the user may be added to a group again.
 * - deleted (`user` undefined) with a known login -> 'absent' when the target offboards by
 *   'drop', else 'locked'.
 * - never provisioned and not mapped (or deleted with no known login) -> undefined: nothing to
 *   do; Rolecall never creates logins for unmapped users.
 * - a user of another tenant than the one feeding this target -> undefined.
 *
 * The login is `knownLogin` when Rolecall already made one, so a userName change keeps
 * managing the same account instead of creating a second login and orphaning the first (which
 * would keep its roles); otherwise it is the target's template, mapped by `mapLogin`
 * (Target.loginName). `userId` names the directory user when `user` is undefined (deleted),
 * for DesiredAccount.userId; planning does not depend on it.
 */
export function desiredAccount(
  policy: Policy,
  target: PolicyTarget,
  user: DirectoryUser | undefined,
  groups: DirectoryGroup[],
  mapLogin: (raw: string) => string,
  knownLogin?: string,
  userId?: string,
): DesiredAccount | undefined {
  if (user === undefined) return deletedAccount(target, knownLogin, userId ?? '');
  if (user.tenantId !== target.tenant) return undefined;
  const roles = mappedRoles(policy, target.name, groups.filter((group) => group.tenantId === user.tenantId));
  if (roles.length === 0 && knownLogin === undefined) return undefined;
  const login = knownLogin ?? mapLogin(renderLogin(target.login, user));
  const present = user.active && roles.length > 0;
  return { tenantId: target.tenant, userId: user.id, login, state: present ? 'present' : 'locked', roles: present ? roles : [] };
}

/** Every role any mapping grants on the target, sorted: the only roles Rolecall may ever revoke there. */
export function managedRoles(policy: Policy, targetName: string): string[] {
  return sortedUnique(policy.mappings.flatMap((mapping) => mapping.grants[targetName] ?? []));
}

function deletedAccount(target: PolicyTarget, knownLogin: string | undefined, userId: string): DesiredAccount | undefined {
  if (knownLogin === undefined) return undefined;
  const state = target.offboarding === 'drop' ? 'absent' : 'locked';
  return { tenantId: target.tenant, userId, login: knownLogin, state, roles: [] };
}

function mappedRoles(policy: Policy, targetName: string, groups: DirectoryGroup[]): string[] {
  const mapped = policy.mappings.filter((mapping) => groups.some((group) => selects(mapping.group, group)));
  return sortedUnique(mapped.flatMap((mapping) => mapping.grants[targetName] ?? []));
}

/** Exact, case-sensitive match: a looser match could grant access to a look-alike group. */
export function selects(selector: GroupSelector, group: DirectoryGroup): boolean {
  switch (selector.by) {
    case 'displayName':
      return group.displayName === selector.value;
    case 'externalId':
      return group.externalId === selector.value;
    case 'id':
      return group.id === selector.value;
  }
}

function sortedUnique(values: string[]): string[] {
  return [...new Set(values)].sort();
}
