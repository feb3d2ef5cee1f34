import { badRequest } from '../../domain/errors.ts';
import type { ResourceTypeDef } from '../schema/attribute.ts';
import { attributeValues, isPresent, readAttribute, valuesOf } from '../schema/read-attribute.ts';
import type { ResolvedAttribute } from '../schema/resolve-attribute.ts';
import type { AttrPath, CompareOp, Filter, FilterValue } from './ast.ts';
import { compareValue } from './compare-value.ts';
import {
  checkFilter,
  checkValueFilter,
  comparedAttribute,
  resolveElementPath,
  resolveFilterPath,
  resolveValuePathParent,
} from './resolve-filter.ts';

/** Where a filter's paths point: the whole resource, or one element of a multi-valued attribute. */
interface Scope {
  resolve(path: AttrPath): ResolvedAttribute;
  /** Raw values for `pr`: the attribute itself (or its sub-attribute), not its `value`. */
  raw(resolved: ResolvedAttribute): unknown[];
  /** Values a comparison sees (see attributeValues). */
  values(resolved: ResolvedAttribute): unknown[];
  valuePath(path: AttrPath, filter: Filter): boolean;
}

/**
 * A comparison matches when ANY value matches (RFC 7644 §3.4.2.2 multi-valued attributes).
 * `ne` is the negation of `eq`, so an absent attribute is "not equal"; `eq null` means absent.
 */
function compare(scope: Scope, path: AttrPath, op: CompareOp, value: FilterValue): boolean {
  const resolved = scope.resolve(path);
  const leaf = comparedAttribute(resolved);
  const values = scope.values(resolved).filter(isPresent);
  if (value === null) return op === 'eq' ? values.length === 0 : values.length > 0;
  if (op === 'ne') return !values.some((v) => compareValue(leaf, 'eq', v, value));
  return values.some((v) => compareValue(leaf, op, v, value));
}

function evaluate(filter: Filter, scope: Scope): boolean {
  switch (filter.kind) {
    case 'compare':
      return compare(scope, filter.path, filter.op, filter.value);
    case 'present':
      return scope.raw(scope.resolve(filter.path)).some(isPresent);
    case 'and':
      return evaluate(filter.left, scope) && evaluate(filter.right, scope);
    case 'or':
      return evaluate(filter.left, scope) || evaluate(filter.right, scope);
    case 'not':
      return !evaluate(filter.filter, scope);
    case 'valuePath':
      return scope.valuePath(filter.path, filter.filter);
  }
}

const list = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * Evaluates a filter against a rendered SCIM resource (id, externalId, meta, extension objects
 * under their URN). Throws 400 invalidFilter for unknown attributes and misapplied operators,
 * checked up front so the answer never depends on which branch of an `or` the data reaches.
 */
export function matchesFilter(filter: Filter, resource: Record<string, unknown>, type: ResourceTypeDef): boolean {
  checkFilter(filter, type);
  const scope: Scope = {
    resolve: (path) => resolveFilterPath(type, path),
    raw: (resolved) => {
      const value = readAttribute(resource, type, resolved);
      return resolved.sub ? valuesOf(value, resolved) : [value];
    },
    values: (resolved) => attributeValues(resource, type, resolved),
    valuePath: (path, inner) => {
      const parent = resolveValuePathParent(type, path);
      return list(readAttribute(resource, type, parent)).some((element) => matchesElement(inner, element, parent, type));
    },
  };
  return evaluate(filter, scope);
}

/**
 * Evaluates the inner filter of a value path (`emails[type eq "work"]`) against one element of
 * `parent`; paths are sub-attributes of the element, or `value` for a multi-valued attribute of
 * simple values, whose element is the value itself.
 */
export function matchesElement(filter: Filter, element: unknown, parent: ResolvedAttribute, type: ResourceTypeDef): boolean {
  checkValueFilter(filter, parent);
  const read = (resolved: ResolvedAttribute) => (resolved.sub ? valuesOf(element, resolved) : [element]);
  const scope: Scope = {
    resolve: (path) => resolveElementPath(parent, path),
    raw: read,
    values: read,
    valuePath: () => {
      throw badRequest('invalidFilter', 'Value filters cannot be nested');
    },
  };
  return evaluate(filter, scope);
}
