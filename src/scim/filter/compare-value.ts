import type { AttributeDef } from '../schema/attribute.ts';
import type { CompareOp, FilterValue } from './ast.ts';
import { coerceFilterValue } from './resolve-filter.ts';

type Ordered = string | number;

/** Maps both sides to comparable primitives by attribute type; undefined when `actual` does not fit. */
function operands(leaf: AttributeDef, actual: unknown, expected: Exclude<FilterValue, null>): [Ordered, Ordered] | undefined {
  switch (leaf.type) {
    case 'dateTime': {
      // RFC 7643 §2.3.5: xsd:dateTime values are instants; compare them as such, not as text.
      const a = typeof actual === 'string' ? Date.parse(actual) : Number.NaN;
      return Number.isNaN(a) ? undefined : [a, Date.parse(String(expected))];
    }
    case 'integer':
    case 'decimal': {
      const a = typeof actual === 'number' ? actual : typeof actual === 'string' ? Number(actual) : Number.NaN;
      return Number.isNaN(a) ? undefined : [a, expected as number];
    }
    case 'boolean': {
      const a = typeof actual === 'boolean' ? actual : typeof actual === 'string' ? actual.toLowerCase() === 'true' : undefined;
      return a === undefined ? undefined : [Number(a), Number(expected)];
    }
    default: {
      if (typeof actual !== 'string' && typeof actual !== 'number' && typeof actual !== 'boolean') return undefined;
      // RFC 7644 §3.4.2.2: string comparisons respect caseExact; otherwise they ignore case.
      const fold = (s: string) => (leaf.caseExact ? s : s.toLowerCase());
      return [fold(String(actual)), fold(String(expected))];
    }
  }
}

/**
 * Compares one attribute value with a filter value under `op`. `expected` must have passed
 * checkOperator; strings order lexicographically (RFC 7644 §3.4.2.2 gt/ge/lt/le).
 */
export function compareValue(leaf: AttributeDef, op: CompareOp, actual: unknown, expected: Exclude<FilterValue, null>): boolean {
  const pair = operands(leaf, actual, coerceFilterValue(leaf, op, expected) as Exclude<FilterValue, null>);
  if (!pair) return false;
  const [a, b] = pair;
  switch (op) {
    case 'eq':
      return a === b;
    case 'ne':
      return a !== b;
    case 'co':
      return String(a).includes(String(b));
    case 'sw':
      return String(a).startsWith(String(b));
    case 'ew':
      return String(a).endsWith(String(b));
    case 'gt':
      return a > b;
    case 'ge':
      return a >= b;
    case 'lt':
      return a < b;
    case 'le':
      return a <= b;
  }
}
