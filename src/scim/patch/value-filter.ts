import type { Filter } from '../filter/ast.ts';
import { coerceBoolean, coerceValue } from '../resource-input/coerce-value.ts';
import { leafAttribute, resolveSubPath, type ResolvedAttribute } from '../schema/resolve-attribute.ts';

/**
 * Rewrites string booleans compared with boolean sub-attributes as booleans: Entra targets
 * `roles[primary eq "True"].value` (interop item 14), which must match the stored `primary: true`
 * rather than miss it and create a second role on every update.
 */
export function coerceFilterBooleans(filter: Filter, parent: ResolvedAttribute): Filter {
  switch (filter.kind) {
    case 'compare': {
      const resolved = resolveSubPath(parent, filter.path);
      const leaf = resolved && leafAttribute(resolved);
      const bool = leaf?.type === 'boolean' ? coerceBoolean(filter.value) : undefined;
      return bool === undefined ? filter : { ...filter, value: bool };
    }
    case 'and':
    case 'or':
      return { ...filter, left: coerceFilterBooleans(filter.left, parent), right: coerceFilterBooleans(filter.right, parent) };
    case 'not':
      return { ...filter, filter: coerceFilterBooleans(filter.filter, parent) };
    default:
      return filter;
  }
}

function collect(filter: Filter, parent: ResolvedAttribute, into: Record<string, unknown>): boolean {
  if (filter.kind === 'and') return collect(filter.left, parent, into) && collect(filter.right, parent, into);
  if (filter.kind !== 'compare' || filter.op !== 'eq') return false;
  const sub = resolveSubPath(parent, filter.path)?.sub;
  if (!sub) return false;
  const value = coerceValue(sub, filter.value, `${parent.def.name}.${sub.name}`);
  if (value === undefined) return false;
  into[sub.name] = value;
  return true;
}

/**
 * The element a value filter describes, for an add/replace whose filter matches nothing: Entra
 * sends `{"op":"Add","path":"emails[type eq \"work\"].value","value":"x"}` to a user without a
 * work email and expects `{type: "work", value: "x"}` (interop item 5). Only `eq` comparisons
 * joined by `and` describe an element; any other filter yields undefined.
 */
export function elementFromFilter(filter: Filter, parent: ResolvedAttribute): Record<string, unknown> | undefined {
  const element: Record<string, unknown> = {};
  return collect(filter, parent, element) ? element : undefined;
}
