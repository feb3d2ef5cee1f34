import { badRequest } from '../../domain/errors.ts';
import { findKey } from '../schema/resolve-attribute.ts';
import { isPlainObject } from './coerce-value.ts';

/** A group member as a client names it: the member's id and, optionally, its resource type. */
export interface MemberInput {
  value: string;
  type?: 'User' | 'Group';
}

function memberType(raw: unknown, label: string): 'User' | 'Group' | undefined {
  if (raw === undefined || raw === null) return undefined;
  const lower = typeof raw === 'string' ? raw.toLowerCase() : undefined;
  if (lower === 'user') return 'User';
  if (lower === 'group') return 'Group';
  throw badRequest('invalidValue', `${label}.type must be "User" or "Group" (RFC 7643 §4.2), got ${JSON.stringify(raw)}`);
}

/**
 * Validates a `members` value: an array of `{value, type?, $ref?, display?}` objects (RFC 7643
 * §4.2). `$ref` and `display` are ignored - the member is identified by `value` alone, and Entra
 * sends `"$ref": null` (interop item 10). A single object is accepted as an array of one.
 * Duplicate ids collapse to one. Throws 400 invalidValue.
 */
export function parseMembers(value: unknown, label = 'members'): MemberInput[] {
  const items = Array.isArray(value) ? value : [value];
  const byId = new Map<string, MemberInput>();
  items.forEach((item, i) => {
    const where = `${label}[${i}]`;
    if (!isPlainObject(item)) throw badRequest('invalidValue', `${where} must be an object with a "value"`);
    const valueKey = findKey(item, 'value');
    const id = valueKey === undefined ? undefined : item[valueKey];
    if (typeof id !== 'string' || id === '') throw badRequest('invalidValue', `${where}.value must be a non-empty string`);
    const typeKey = findKey(item, 'type');
    const type = memberType(typeKey === undefined ? undefined : item[typeKey], where);
    byId.set(id, type ? { value: id, type } : { value: id });
  });
  return [...byId.values()];
}
