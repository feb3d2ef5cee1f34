import type { Filter } from '../filter/ast.ts';
import { coerceFilterValue } from '../filter/resolve-filter.ts';
import { coerceValue } from '../resource-input/coerce-value.ts';
import { resolveSubPath, type ResolvedAttribute } from '../schema/resolve-attribute.ts';

function collect(filter: Filter, parent: ResolvedAttribute, into: Record<string, unknown>): boolean {
  if (filter.kind === 'and') return collect(filter.left, parent, into) && collect(filter.right, parent, into);
  if (filter.kind !== 'compare' || filter.op !== 'eq') return false;
  const sub = resolveSubPath(parent, filter.path)?.sub;
  if (!sub) return false;
  // The filter's own leniency first (`value eq 12345` on a string), then the stored form.
  const value = coerceValue(sub, coerceFilterValue(sub, 'eq', filter.value), `${parent.def.name}.${sub.name}`);
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
