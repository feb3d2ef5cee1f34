import type { AttrPath } from '../filter/ast.ts';
import type { AttributeDef, ResourceTypeDef, SchemaDef } from './attribute.ts';
import { COMMON_ATTRIBUTES } from './common-attributes.ts';

/**
 * An attribute path resolved against a resource type. `schema` is the URN of the schema that
 * defines the attribute (the core schema for common attributes); `def`/`sub` carry the schema's
 * own spelling of the names, which is what code should write back.
 */
export interface ResolvedAttribute {
  schema: string;
  def: AttributeDef;
  sub?: AttributeDef;
  /** id, externalId or meta (RFC 7643 §3.1): top-level in the JSON, but listed in no schema. */
  common: boolean;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** Attribute names and URNs are case-insensitive (RFC 7643 §2.1). */
export function findAttribute(attributes: readonly AttributeDef[] | undefined, name: string): AttributeDef | undefined {
  return attributes?.find((a) => same(a.name, name));
}

/** The core schema or an extension of `type`, by case-insensitive URN. */
export function findSchema(type: ResourceTypeDef, uri: string): SchemaDef | undefined {
  return [type.schema, ...type.extensions.map((e) => e.schema)].find((s) => same(s.id, uri));
}

/** The key of `obj` that case-insensitively equals `name` (clients spell keys freely, §2.1). */
export function findKey(obj: Record<string, unknown>, name: string): string | undefined {
  if (Object.hasOwn(obj, name)) return name;
  return Object.keys(obj).find((k) => same(k, name));
}

/** Splits a URN glued to the attribute name (`urn:...:User:manager`) and a dotted `name.sub`. */
function normalize(path: AttrPath): AttrPath {
  let { uri, attr, sub } = path;
  if (uri === undefined && attr.includes(':')) {
    const colon = attr.lastIndexOf(':');
    uri = attr.slice(0, colon);
    attr = attr.slice(colon + 1);
  }
  if (sub === undefined && attr.includes('.')) {
    const dot = attr.indexOf('.');
    sub = attr.slice(dot + 1);
    attr = attr.slice(0, dot);
  }
  return { ...(uri !== undefined && { uri }), attr, ...(sub !== undefined && { sub }) };
}

function withSub(schema: string, def: AttributeDef, common: boolean, sub: string | undefined): ResolvedAttribute | undefined {
  if (sub === undefined) return { schema, def, common };
  const subDef = def.type === 'complex' ? findAttribute(def.subAttributes, sub) : undefined;
  return subDef && { schema, def, sub: subDef, common };
}

/**
 * Resolves a path to its definition, or undefined when the resource type has no such attribute.
 * Unqualified names are looked up in the common attributes, then the core schema, then the
 * extensions: RFC 7644 §3.10 wants extension attributes URN-qualified, but Entra sends bare
 * `manager` paths. A core-URN-qualified common attribute (`urn:...:User:id`) is accepted as well.
 */
export function resolveAttribute(type: ResourceTypeDef, path: AttrPath): ResolvedAttribute | undefined {
  const { uri, attr, sub } = normalize(path);
  const core = type.schema.id;
  if (uri !== undefined) {
    const schema = findSchema(type, uri);
    if (!schema) return undefined;
    const def = findAttribute(schema.attributes, attr);
    if (def) return withSub(schema.id, def, false, sub);
    const common = schema.id === core ? findAttribute(COMMON_ATTRIBUTES, attr) : undefined;
    return common && withSub(core, common, true, sub);
  }
  const common = findAttribute(COMMON_ATTRIBUTES, attr);
  if (common) return withSub(core, common, true, sub);
  for (const schema of [type.schema, ...type.extensions.map((e) => e.schema)]) {
    const def = findAttribute(schema.attributes, attr);
    if (def) return withSub(schema.id, def, false, sub);
  }
  return undefined;
}

/**
 * Resolves a path inside a value filter (`emails[type eq "work"]`), relative to its parent
 * attribute (RFC 7644 §3.4.2.2 valFilter). For a multi-valued attribute of simple values the
 * element itself is addressed as `value`. A path repeating the parent (`emails.type`) is accepted.
 */
export function resolveSubPath(parent: ResolvedAttribute, path: AttrPath): ResolvedAttribute | undefined {
  if (parent.sub) return undefined;
  const name = path.sub !== undefined && same(path.attr, parent.def.name) ? path.sub : path.sub === undefined ? path.attr : undefined;
  if (name === undefined || path.uri !== undefined) return undefined;
  if (parent.def.type !== 'complex') return same(name, 'value') ? parent : undefined;
  const sub = findAttribute(parent.def.subAttributes, name);
  return sub && { ...parent, sub };
}

/**
 * The definition whose values a comparison sees: the sub-attribute if any, else the `value`
 * sub-attribute of a complex attribute (RFC 7644 §3.4.2.2: "emails eq x" compares emails.value),
 * else the attribute itself. Undefined for a complex attribute without `value` (e.g. `name`).
 */
export function leafAttribute(resolved: ResolvedAttribute): AttributeDef | undefined {
  if (resolved.sub) return resolved.sub;
  if (resolved.def.type !== 'complex') return resolved.def;
  return findAttribute(resolved.def.subAttributes, 'value');
}

/** True when the attribute lives in an extension object keyed by its schema URN (RFC 7643 §3.3). */
export function isExtensionAttribute(type: ResourceTypeDef, resolved: ResolvedAttribute): boolean {
  return !resolved.common && resolved.schema !== type.schema.id;
}

/**
 * The canonical spelling of a resolved path: `name.givenName`, `meta.lastModified`, or for an
 * extension `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value`.
 */
export function canonicalPath(type: ResourceTypeDef, resolved: ResolvedAttribute): string {
  const name = resolved.sub ? `${resolved.def.name}.${resolved.sub.name}` : resolved.def.name;
  return isExtensionAttribute(type, resolved) ? `${resolved.schema}:${name}` : name;
}

/** The canonical attribute name of `name` in `attributes`, or `name` unchanged when unknown. */
export function canonicalName(attributes: readonly AttributeDef[] | undefined, name: string): string {
  return findAttribute(attributes, name)?.name ?? name;
}
