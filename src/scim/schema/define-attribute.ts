import type { AttributeDef } from './attribute.ts';

/**
 * Builds an attribute definition with the RFC 7643 §2.2 defaults (string, single-valued, not
 * required, caseExact false, readWrite, returned default, uniqueness none), so schema files only
 * spell out what differs from them.
 */
export function defineAttribute(name: string, description: string, overrides: Partial<AttributeDef> = {}): AttributeDef {
  return {
    name,
    type: 'string',
    multiValued: false,
    description,
    required: false,
    caseExact: false,
    mutability: 'readWrite',
    returned: 'default',
    uniqueness: 'none',
    ...overrides,
  };
}

/**
 * The sub-attributes RFC 7643 §2.4 gives every multi-valued attribute: value, display, type and
 * primary. `value` is customised per attribute (reference, binary...).
 */
export function multiValuedSubAttributes(
  noun: string,
  value: Partial<AttributeDef>,
  typeValues: string[],
): AttributeDef[] {
  return [
    defineAttribute('value', `The value of the ${noun}.`, value),
    defineAttribute('display', `A human-readable name for the ${noun}, primarily used for display purposes. READ-ONLY.`),
    defineAttribute('type', `A label indicating the ${noun}'s function.`, typeValues.length > 0 ? { canonicalValues: typeValues } : {}),
    defineAttribute('primary', `A Boolean value indicating the 'primary' or preferred ${noun} for this user.`, { type: 'boolean' }),
  ];
}
