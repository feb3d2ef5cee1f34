import { badRequest } from '../../domain/errors.ts';
import type { AttributeDef, ResourceTypeDef } from '../schema/attribute.ts';
import {
  leafAttribute,
  resolveAttribute,
  resolveSubPath,
  type ResolvedAttribute,
} from '../schema/resolve-attribute.ts';
import type { AttrPath, CompareOp, Filter, FilterValue } from './ast.ts';

const ORDERING = new Set<CompareOp>(['gt', 'ge', 'lt', 'le']);
const SUBSTRING = new Set<CompareOp>(['co', 'sw', 'ew']);

export function formatPath(path: AttrPath): string {
  const name = path.sub === undefined ? path.attr : `${path.attr}.${path.sub}`;
  return path.uri === undefined ? name : `${path.uri}:${name}`;
}

const invalid = (detail: string) => badRequest('invalidFilter', detail);

/** Resolves a filter path or throws 400 invalidFilter (RFC 7644 §3.4.2.2 unknown attribute). */
export function resolveFilterPath(type: ResourceTypeDef, path: AttrPath): ResolvedAttribute {
  const resolved = resolveAttribute(type, path);
  if (!resolved) throw invalid(`Unknown attribute "${formatPath(path)}"`);
  return resolved;
}

/** Resolves a path inside a value filter relative to its parent, or throws 400 invalidFilter. */
export function resolveElementPath(parent: ResolvedAttribute, path: AttrPath): ResolvedAttribute {
  const resolved = resolveSubPath(parent, path);
  if (!resolved) throw invalid(`Unknown attribute "${formatPath(path)}" in a value filter on "${parent.def.name}"`);
  return resolved;
}

/** The attribute a comparison on `resolved` compares, or 400 for a complex attribute without `value`. */
export function comparedAttribute(resolved: ResolvedAttribute): AttributeDef {
  const leaf = leafAttribute(resolved);
  if (!leaf) throw invalid(`Attribute "${resolved.def.name}" is complex: compare one of its sub-attributes`);
  return leaf;
}

const BOOLEAN_TEXT = /^(true|false)$/i;
const NUMBER_TEXT = /^-?\d+(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * The filter value converted to the attribute's type, tolerating the client dialects of
 * scim-interop.md: unquoted numbers for string attributes (`externalId eq 12345`), "True"/"false"
 * strings for booleans, numeric strings for numbers. Throws 400 invalidFilter when it cannot fit.
 */
export function coerceFilterValue(leaf: AttributeDef, op: CompareOp, value: FilterValue): FilterValue {
  if (value === null) return null;
  switch (leaf.type) {
    case 'boolean':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string' && BOOLEAN_TEXT.test(value)) return value.toLowerCase() === 'true';
      break;
    case 'integer':
    case 'decimal':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && NUMBER_TEXT.test(value)) return Number(value);
      break;
    case 'dateTime':
      if (typeof value === 'string' && !Number.isNaN(Date.parse(value))) return value;
      break;
    default:
      return String(value);
  }
  throw invalid(`"${leaf.name}" ${op} ${JSON.stringify(value)}: the value is not a ${leaf.type}`);
}

/**
 * RFC 7644 §3.4.2.2 operator rules: booleans (and binary) are not ordered, `co`/`sw`/`ew` apply
 * to strings only, `null` only to eq/ne ("eq null" means "not present").
 */
export function checkOperator(leaf: AttributeDef, op: CompareOp, value: FilterValue): void {
  const fail = (why: string) => invalid(`Operator "${op}" cannot be used on "${leaf.name}": ${why}`);
  if (value === null && op !== 'eq' && op !== 'ne') throw fail('only eq and ne accept null');
  if (leaf.type === 'boolean' && op !== 'eq' && op !== 'ne') throw fail('boolean attributes support only eq and ne');
  if (leaf.type === 'binary' && ORDERING.has(op)) throw fail('binary attributes cannot be ordered');
  const isText = leaf.type === 'string' || leaf.type === 'reference' || leaf.type === 'binary';
  if (SUBSTRING.has(op) && !isText) throw fail(`it is a ${leaf.type} attribute, and ${op} applies to strings only`);
  coerceFilterValue(leaf, op, value);
}

/** checkFilter for the inner filter of a value path, whose paths are relative to `parent`. */
export function checkValueFilter(filter: Filter, parent: ResolvedAttribute): void {
  switch (filter.kind) {
    case 'compare':
      checkOperator(comparedAttribute(resolveElementPath(parent, filter.path)), filter.op, filter.value);
      return;
    case 'present':
      resolveElementPath(parent, filter.path);
      return;
    case 'and':
    case 'or':
      checkValueFilter(filter.left, parent);
      checkValueFilter(filter.right, parent);
      return;
    case 'not':
      checkValueFilter(filter.filter, parent);
      return;
    case 'valuePath':
      throw invalid('Value filters cannot be nested');
  }
}

/** The parent of a value filter must be multi-valued or complex (RFC 7644 §3.4.2.2 valuePath). */
export function resolveValuePathParent(type: ResourceTypeDef, path: AttrPath): ResolvedAttribute {
  const parent = resolveFilterPath(type, path);
  if (parent.sub || (!parent.def.multiValued && parent.def.type !== 'complex')) {
    throw invalid(`"${formatPath(path)}" is neither multi-valued nor complex, so it cannot take a value filter`);
  }
  return parent;
}

/**
 * Checks that every path of `filter` exists on `type` and every operator fits its attribute,
 * throwing 400 invalidFilter otherwise; stores call it before compiling a filter to SQL.
 */
export function checkFilter(filter: Filter, type: ResourceTypeDef): void {
  switch (filter.kind) {
    case 'compare':
      checkOperator(comparedAttribute(resolveFilterPath(type, filter.path)), filter.op, filter.value);
      return;
    case 'present':
      resolveFilterPath(type, filter.path);
      return;
    case 'and':
    case 'or':
      checkFilter(filter.left, type);
      checkFilter(filter.right, type);
      return;
    case 'not':
      checkFilter(filter.filter, type);
      return;
    case 'valuePath':
      checkValueFilter(filter.filter, resolveValuePathParent(type, filter.path));
  }
}
