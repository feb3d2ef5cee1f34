import { badRequest } from '../../domain/errors.ts';
import type { Filter } from '../filter/ast.ts';
import { parseMembers } from '../resource-input/member-input.ts';
import type { MemberRef } from '../resource-store.ts';
import type { MemberDeltaBuilder } from './member-delta.ts';
import type { PatchOpName } from './patch-request.ts';

export interface MemberTarget {
  filter?: Filter;
  sub?: string;
}

export interface MemberContext {
  delta: MemberDeltaBuilder;
  /** Reads the stored members, at most once per request. */
  loadMembers: () => Promise<MemberRef[]>;
  matches: (filter: Filter, element: unknown) => boolean;
}

const isValuePath = (filter: Filter & { kind: 'compare' }) => {
  const { attr, sub, uri } = filter.path;
  if (uri !== undefined) return false;
  const name = sub !== undefined && attr.toLowerCase() === 'members' ? sub : sub === undefined ? attr : undefined;
  return name?.toLowerCase() === 'value';
};

/**
 * The ids named by `value eq "a"` or `value eq "a" or value eq "b"`: such removals need not read
 * the group's members. Undefined for any other filter.
 */
function memberIdsOf(filter: Filter): string[] | undefined {
  if (filter.kind === 'compare') {
    return filter.op === 'eq' && typeof filter.value === 'string' && isValuePath(filter) ? [filter.value] : undefined;
  }
  if (filter.kind !== 'or') return undefined;
  const left = memberIdsOf(filter.left);
  const right = left && memberIdsOf(filter.right);
  return left && right && [...left, ...right];
}

const isEmpty = (value: unknown) => value === undefined || value === null || (Array.isArray(value) && value.length === 0);

/**
 * One operation on Group `members` (RFC 7644 §3.5.2), folded into the delta:
 * - add: the listed members join.
 * - replace: membership becomes exactly the listed members.
 * - remove with a filter: the matching members leave; a filter matching no member is a no-op,
 *   so that Entra's and Okta's retries of a removal stay harmless.
 * - remove with a value array (Entra's old shape, interop item 11): ONLY the listed members leave.
 *   Reading RFC 7644 §3.5.2.2 literally would remove every member, a known destructive bug.
 * - remove with neither: every member leaves.
 */
export async function applyMemberOperation(op: PatchOpName, value: unknown, target: MemberTarget, context: MemberContext): Promise<void> {
  if (target.sub !== undefined) {
    throw badRequest('invalidPath', `'members.${target.sub}' cannot be patched: add or remove whole members`);
  }
  if (op !== 'remove' && target.filter) {
    throw badRequest('invalidPath', `A value filter on members is only supported with remove, not ${op}`);
  }
  const { delta } = context;
  switch (op) {
    case 'add':
      if (!isEmpty(value)) delta.add(parseMembers(value));
      return;
    case 'replace':
      delta.clear();
      if (!isEmpty(value)) delta.add(parseMembers(value));
      return;
    case 'remove': {
      if (target.filter) {
        const ids = memberIdsOf(target.filter);
        if (ids) return delta.remove(ids);
        const current = delta.current(await context.loadMembers());
        const filter = target.filter;
        return delta.remove(current.filter((m) => context.matches(filter, m)).map((m) => m.value));
      }
      if (value === undefined || value === null) return delta.clear();
      return delta.remove(parseMembers(value).map((m) => m.value));
    }
  }
}
