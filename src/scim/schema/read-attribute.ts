import type { ResourceTypeDef } from './attribute.ts';
import { findKey, isExtensionAttribute, leafAttribute, type ResolvedAttribute } from './resolve-attribute.ts';

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function field(obj: unknown, name: string): unknown {
  if (!isObject(obj)) return undefined;
  const key = findKey(obj, name);
  return key === undefined ? undefined : obj[key];
}

const elements = (value: unknown): unknown[] => (value === undefined ? [] : Array.isArray(value) ? value : [value]);

/**
 * The raw value of the resolved top-level attribute in rendered SCIM JSON: core and common
 * attributes are top-level keys, extension attributes sit in an object keyed by the extension URN
 * (RFC 7643 §3.3). Keys are matched case-insensitively.
 */
export function readAttribute(resource: Record<string, unknown>, type: ResourceTypeDef, resolved: ResolvedAttribute): unknown {
  const container = isExtensionAttribute(type, resolved) ? field(resource, resolved.schema) : resource;
  return field(container, resolved.def.name);
}

/**
 * The values a comparison on `resolved` sees, flattened across a multi-valued attribute: the
 * sub-attribute of each element, or for a complex attribute without sub-attribute each element's
 * `value` (leafAttribute). A simple value where an object was expected (a `manager` stored as a
 * plain id) counts as its `value` sub-attribute.
 */
export function attributeValues(resource: Record<string, unknown>, type: ResourceTypeDef, resolved: ResolvedAttribute): unknown[] {
  return valuesOf(readAttribute(resource, type, resolved), resolved);
}

/** attributeValues for an already read raw attribute value (an array element, for instance). */
export function valuesOf(raw: unknown, resolved: ResolvedAttribute): unknown[] {
  const leaf = leafAttribute(resolved);
  if (leaf === resolved.def) return elements(raw).flatMap(elements);
  const sub = leaf?.name ?? 'value';
  const simpleIsValue = sub.toLowerCase() === 'value';
  return elements(raw).flatMap((e) => (isObject(e) ? elements(field(e, sub)) : simpleIsValue ? [e] : []));
}

/** RFC 7644 §3.4.2.2 `pr`: not null, not "", not an empty array, not an object without values. */
export function isPresent(value: unknown): boolean {
  if (value === null || value === undefined || value === '') return false;
  if (Array.isArray(value)) return value.some(isPresent);
  if (isObject(value)) return Object.values(value).some(isPresent);
  return true;
}
