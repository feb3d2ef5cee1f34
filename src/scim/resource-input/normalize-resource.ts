import type { AttrPath } from '../filter/ast.ts';
import { badRequest } from '../../domain/errors.ts';
import type { AttributeDef, ResourceTypeDef } from '../schema/attribute.ts';
import { canonicalPath, findKey, resolveAttribute } from '../schema/resolve-attribute.ts';
import { coerceValue, isPlainObject } from './coerce-value.ts';
import { parseMembers, type MemberInput } from './member-input.ts';
import { checkRequired } from './check-required.ts';
import { attributeHolder, findExtension, refreshSchemas, schemaHolder } from './resource-schemas.ts';
import { sameValue } from './same-value.ts';

/** Group `members` are stored as member rows, not in `data`; see extractMembers. */
const isMembers = (type: ResourceTypeDef, def: AttributeDef, common: boolean) =>
  type.name === 'Group' && !common && def.name === 'members';

/**
 * Validates one attribute of the body and writes it, in the schema's spelling, to the core
 * object or its extension object. readOnly attributes (id, meta, User `groups`) are ignored as
 * RFC 7644 §3.3 and §3.5.1 require - Okta's PUT echoes them (interop Okta item 4); writeOnly
 * attributes (`password`) are validated but never stored: Rolecall provisions no passwords.
 */
function putAttribute(type: ResourceTypeDef, data: Record<string, unknown>, path: AttrPath, value: unknown, label: string): void {
  const resolved = resolveAttribute(type, path);
  if (!resolved || resolved.sub) {
    const what = label.includes(':') ? `'${label}' is not an attribute of ${type.name} or of its schema extensions` : `Unknown attribute '${label}'`;
    throw badRequest('invalidValue', `${what} (RFC 7643 §2.1)`);
  }
  const { def, common } = resolved;
  if (def.mutability === 'readOnly' || isMembers(type, def, common)) return;
  const name = canonicalPath(type, resolved);
  const coerced = coerceValue(def, value, name);
  if (def.mutability === 'writeOnly' || coerced === undefined) return;
  const holder = attributeHolder(type, data, resolved, true) as Record<string, unknown>;
  if (Object.hasOwn(holder, def.name)) throw badRequest('invalidValue', `Attribute '${name}' is given more than once`);
  holder[def.name] = coerced;
}

function readSchemas(value: unknown): void {
  if (!Array.isArray(value) || !value.every((s) => typeof s === 'string')) {
    throw badRequest('invalidValue', "'schemas' must be an array of schema URNs (RFC 7643 §3)");
  }
}

/**
 * RFC 7644 §3.5.1: an immutable attribute that already has a value must be sent unchanged (else
 * 400 mutability); one left out of the PUT keeps its value, since it cannot be cleared.
 */
function keepImmutable(type: ResourceTypeDef, data: Record<string, unknown>, existing: Record<string, unknown>): void {
  for (const schema of [type.schema, ...type.extensions.map((e) => e.schema)]) {
    const before = schemaHolder(type, existing, schema);
    if (!before) continue;
    for (const def of schema.attributes) {
      if (def.mutability !== 'immutable' || before[def.name] === undefined) continue;
      const holder = schema.id === type.schema.id ? data : ((data[schema.id] ??= {}) as Record<string, unknown>);
      if (holder[def.name] === undefined) holder[def.name] = structuredClone(before[def.name]);
      else if (!sameValue(holder[def.name], before[def.name])) {
        throw badRequest('mutability', `Attribute '${def.name}' is immutable and cannot be changed`);
      }
    }
  }
}

/**
 * Turns a POST (mode 'create') or PUT (mode 'replace', RFC 7644 §3.5.1) body into the `data` to
 * store. Keys are matched case-insensitively and written in the schema's spelling; extension
 * attributes live under their URN. Explicit nulls are unassigned values and are dropped (RFC 7643
 * §2.5; Entra sends `"addresses": null`). Unknown attributes and unknown schema-extension keys
 * are rejected with 400 invalidValue naming the attribute, rather than silently lost.
 * `schemas` is rewritten to the core URN plus the extensions in use. `members` is left to
 * extractMembers.
 */
export function normalizeResource(
  type: ResourceTypeDef,
  body: unknown,
  mode: 'create' | 'replace',
  existing?: Record<string, unknown>,
): Record<string, unknown> {
  if (!isPlainObject(body)) throw badRequest('invalidSyntax', `The ${type.name} must be a JSON object`);
  // `schemas` first, as RFC 7643 examples show it; refreshSchemas fills it in.
  const data: Record<string, unknown> = { schemas: [] };
  for (const [key, value] of Object.entries(body)) {
    if (value === null) continue;
    if (key.toLowerCase() === 'schemas') {
      readSchemas(value);
      continue;
    }
    const extension = findExtension(type, key);
    if (!extension) {
      putAttribute(type, data, { attr: key }, value, key);
      continue;
    }
    if (!isPlainObject(value)) throw badRequest('invalidValue', `'${extension.id}' must be an object of extension attributes`);
    for (const [attr, item] of Object.entries(value)) {
      if (item !== null) putAttribute(type, data, { uri: extension.id, attr }, item, `${extension.id}:${attr}`);
    }
  }
  if (mode === 'replace' && existing) keepImmutable(type, data, existing);
  refreshSchemas(type, data);
  checkRequired(type, data);
  return data;
}

/**
 * The `members` of a Group body (POST/PUT), validated: undefined when absent or null, else the
 * member ids with their optional type. Throws 400 invalidValue for a malformed member.
 */
export function extractMembers(body: unknown): MemberInput[] | undefined {
  if (!isPlainObject(body)) return undefined;
  const key = findKey(body, 'members');
  const value = key === undefined ? undefined : body[key];
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) throw badRequest('invalidValue', "'members' must be an array (RFC 7643 §4.2)");
  return parseMembers(value);
}
