import { selects } from './desired-state.ts';
import type { Policy } from './policy.ts';
import type { DirectoryGroup } from '../provisioning/directory-view.ts';

/**
 * displayNames of the user's groups (nested groups already flattened, as DirectoryView
 * returns them) whose mapping grants `role` on `targetName`, sorted and de-duplicated.
 * Recorded with each applied grant so an access review can name WHY a login holds a role,
 * not only that it does. Several groups may grant the same role; all are named. Groups match
 * exactly as they do for the roles themselves (desired-state.ts), never more loosely.
 */
export function grantingGroups(policy: Policy, targetName: string, role: string, userGroups: DirectoryGroup[]): string[] {
  const granting = policy.mappings.filter((mapping) => (mapping.grants[targetName] ?? []).includes(role));
  const names = userGroups.filter((group) => granting.some((mapping) => selects(mapping.group, group))).map((group) => group.displayName);
  return [...new Set(names)].sort();
}
