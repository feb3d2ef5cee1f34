import type { GroupSelector, Policy } from '../policy/policy.ts';
import type { DirectoryGroup } from '../provisioning/directory-view.ts';

/**
 * displayNames of the user's groups (nested groups already flattened, as DirectoryView
 * returns them) whose mapping grants `role` on `targetName`, sorted and de-duplicated.
 * Recorded with each applied grant so an access review can name WHY a login holds a role,
 * not only that it does. Several groups may grant the same role; all are named.
 */
export function grantingGroups(policy: Policy, targetName: string, role: string, userGroups: DirectoryGroup[]): string[] {
  const granting = policy.mappings.filter((mapping) => (mapping.grants[targetName] ?? []).includes(role));
  const names = userGroups.filter((group) => granting.some((mapping) => selects(mapping.group, group))).map((group) => group.displayName);
  return [...new Set(names)].sort();
}

/**
 * The same exact, case-sensitive match desired-state.ts uses to compute the roles (kept in
 * step with it): a looser match here would name a group that does not actually grant the role.
 */
function selects(selector: GroupSelector, group: DirectoryGroup): boolean {
  switch (selector.by) {
    case 'displayName':
      return group.displayName === selector.value;
    case 'externalId':
      return group.externalId === selector.value;
    case 'id':
      return group.id === selector.value;
  }
}
