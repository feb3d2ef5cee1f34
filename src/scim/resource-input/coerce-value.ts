import { badRequest } from '../../domain/errors.ts';
import type { AttributeDef } from '../schema/attribute.ts';
import { findAttribute } from '../schema/resolve-attribute.ts';

export const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * A single-valued complex attribute with a `value` sub-attribute is a reference to another
 * resource (the enterprise `manager`, RFC 7643 §4.3). Entra sends it as a plain id string, as an
 * object, or as an array of one object (interop item 8); all three mean the same reference.
 */
export const isReferenceAttribute = (def: AttributeDef): boolean =>
  def.type === 'complex' && !def.multiValued && findAttribute(def.subAttributes, 'value') !== undefined;

/**
 * Names the kind of value received, never the value: it may be a secret (password is returned
 * "never", RFC 7643 §4.1.1) and error details end up in client logs.
 */
const kindOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `a ${typeof value}`;

const invalid = (label: string, expected: string, value: unknown) =>
  badRequest('invalidValue', `Attribute '${label}' must be ${expected}, got ${kindOf(value)}`);

/** xsd:dateTime as RFC 7643 §2.3.5 requires: date, time, optional fraction and zone. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?$/;

/** Entra's default dialect sends booleans as "True"/"False" strings (interop item 5). */
function coerceBoolean(value: unknown): boolean | undefined {
  if (typeof value === 'boolean') return value;
  if (typeof value !== 'string') return undefined;
  const lower = value.toLowerCase();
  return lower === 'true' ? true : lower === 'false' ? false : undefined;
}

function coerceSimple(def: AttributeDef, value: unknown, label: string): unknown {
  switch (def.type) {
    case 'boolean': {
      const bool = coerceBoolean(value);
      if (bool === undefined) throw invalid(label, 'a boolean', value);
      return bool;
    }
    case 'integer':
      if (!Number.isInteger(value)) throw invalid(label, 'an integer', value);
      return value;
    case 'decimal':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw invalid(label, 'a number', value);
      return value;
    case 'dateTime':
      if (typeof value !== 'string' || !DATE_TIME.test(value) || Number.isNaN(Date.parse(value))) {
        throw invalid(label, 'an xsd:dateTime string', value);
      }
      return value;
    default:
      if (typeof value !== 'string') throw invalid(label, 'a string', value);
      return value;
  }
}

/** A reference as an object: `"M1"` and `[{"value":"M1"}]` become `{"value":"M1"}`; "" and [] are unassigned. */
function referenceShape(value: unknown, label: string): unknown {
  const single = Array.isArray(value) ? value : [value];
  if (single.length > 1) throw invalid(label, 'a single value', value);
  const [item] = single;
  if (typeof item === 'string') return item === '' ? undefined : { value: item };
  return item;
}

function coerceComplex(def: AttributeDef, raw: unknown, label: string, reference: boolean): Record<string, unknown> | undefined {
  const value = reference ? referenceShape(raw, label) : raw;
  if (value === undefined || value === null) return undefined;
  if (!isPlainObject(value)) throw invalid(label, 'an object', value);
  const out: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) {
    if (item === null) continue;
    const sub = findAttribute(def.subAttributes, key);
    if (!sub) throw badRequest('invalidValue', `Unknown sub-attribute '${label}.${key}'`);
    // RFC 7644 §3.3/§3.5.1: readOnly values sent by a client are ignored; writeOnly ones are never stored.
    if (sub.mutability === 'readOnly' || sub.mutability === 'writeOnly') continue;
    const coerced = coerceValue(sub, item, `${label}.${sub.name}`);
    if (coerced !== undefined) out[sub.name] = coerced;
  }
  if (reference && (out.value === undefined || out.value === '')) return undefined;
  return Object.keys(out).length > 0 ? out : undefined;
}

/** RFC 7643 §2.4: "The primary attribute value 'true' MUST appear no more than once." */
export function assertSinglePrimary(elements: readonly unknown[], label: string): void {
  const primaries = elements.filter((e) => isPlainObject(e) && e.primary === true).length;
  if (primaries > 1) throw badRequest('invalidValue', `Attribute '${label}' has more than one value with primary true`);
}

/**
 * Validates `value` against `def` and returns it as it is stored: sub-attribute names in the
 * schema's spelling, string booleans as booleans, references as objects. Returns undefined for
 * an unassigned value - null, an empty array, an empty object (RFC 7643 §2.5 treats all three as
 * unassigned) - so callers drop the key. Throws 400 invalidValue naming `label`.
 */
export function coerceValue(def: AttributeDef, value: unknown, label: string = def.name): unknown {
  if (value === null || value === undefined) return undefined;
  if (def.multiValued) {
    if (!Array.isArray(value)) throw invalid(label, 'an array', value);
    const elements = value.map((item, i) => coerceElement(def, item, `${label}[${i}]`)).filter((e) => e !== undefined);
    assertSinglePrimary(elements, label);
    return elements.length > 0 ? elements : undefined;
  }
  return def.type === 'complex' ? coerceComplex(def, value, label, isReferenceAttribute(def)) : coerceSimple(def, value, label);
}

/**
 * One element of the multi-valued attribute `def`, like coerceValue. Elements are never
 * references in the `manager` sense: an email given as a bare string is invalid, not `{value}`.
 */
export function coerceElement(def: AttributeDef, value: unknown, label: string = def.name): unknown {
  if (value === null || value === undefined) return undefined;
  if (def.type !== 'complex') return coerceSimple(def, value, label);
  if (!isPlainObject(value)) throw invalid(label, 'an object', value);
  return coerceComplex(def, value, label, false);
}
