import { parseAttrPath } from '../filter/parse-attr-path.ts';
import type { AttributeDef, ResourceTypeDef, SchemaDef } from './attribute.ts';
import { COMMON_ATTRIBUTES } from './common-attributes.ts';
import { isObject } from './read-attribute.ts';
import { findAttribute, findSchema, resolveAttribute } from './resolve-attribute.ts';

/** Which parts of one attribute a request names: all of it, or some sub-attributes (lower case). */
interface Pick {
  whole: boolean;
  subs: Set<string>;
}

/** `attributes` or `excludedAttributes` resolved against the resource type. */
interface Selection {
  /** Keyed by `<schema urn>|<attribute>`, lower case. */
  attributes: Map<string, Pick>;
  /** Extension URNs named on their own (`attributes=urn:...:enterprise:2.0:User`), lower case. */
  schemas: Set<string>;
}

const keyOf = (schema: string, def: AttributeDef) => `${schema}|${def.name}`.toLowerCase();

const DEFAULT_SHAPES = new WeakMap<ResourceTypeDef, ReadonlySet<string> | null>();

/**
 * With no attributes/excludedAttributes the default set is every attribute but those returned
 * "never" or "request" (RFC 7643 §7). When such attributes are all top-level core ones (User:
 * password), the default view is the resource minus those keys: no walk of the whole resource on
 * every list entry. null when the type has nested or extension ones (then the full walk runs).
 */
function defaultShape(type: ResourceTypeDef): ReadonlySet<string> | null {
  let shape = DEFAULT_SHAPES.get(type);
  if (shape !== undefined) return shape;
  const hidden = (def: AttributeDef) => def.returned === 'never' || def.returned === 'request';
  const nestedHidden = (defs: AttributeDef[] | undefined): boolean => (defs ?? []).some((d) => hidden(d) || nestedHidden(d.subAttributes));
  const simple = !type.schema.attributes.some((d) => nestedHidden(d.subAttributes)) && !type.extensions.some((e) => nestedHidden(e.schema.attributes));
  shape = simple ? new Set(type.schema.attributes.filter(hidden).map((d) => d.name.toLowerCase())) : null;
  DEFAULT_SHAPES.set(type, shape);
  return shape;
}

/**
 * The top-level attribute names (lower case) the default view leaves out, or null when the
 * default view needs the full walk (see defaultShape).
 */
export function defaultHiddenKeys(type: ResourceTypeDef): ReadonlySet<string> | null {
  return defaultShape(type);
}

/**
 * Keys are matched case-insensitively, as attribute names are (RFC 7643 §2.1). A resource that
 * holds none of them (nearly every one: a password is seldom stored) is returned as it is.
 */
function withoutKeys(resource: Record<string, unknown>, lower: ReadonlySet<string>): Record<string, unknown> {
  if (!Object.keys(resource).some((key) => lower.has(key.toLowerCase()))) return resource;
  return Object.fromEntries(Object.entries(resource).filter(([key]) => !lower.has(key.toLowerCase())));
}

/** Splits an `attributes`/`excludedAttributes` query parameter (RFC 7644 §3.4.2.5): comma separated. */
export function parseAttributeList(param: string | undefined): string[] | undefined {
  const items = param?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  return items && items.length > 0 ? items : undefined;
}

/** Unknown names are ignored: RFC 7644 §3.4.2.5 defines no error for them. */
function selection(type: ResourceTypeDef, paths: string[]): Selection {
  const result: Selection = { attributes: new Map(), schemas: new Set() };
  for (const text of paths) {
    const schema = findSchema(type, text);
    if (schema) {
      result.schemas.add(schema.id.toLowerCase());
      continue;
    }
    const path = parseAttrPath(text);
    const resolved = path && resolveAttribute(type, path);
    if (!resolved) continue;
    const key = keyOf(resolved.schema, resolved.def);
    const pick = result.attributes.get(key) ?? { whole: false, subs: new Set<string>() };
    if (resolved.sub) pick.subs.add(resolved.sub.name.toLowerCase());
    else pick.whole = true;
    result.attributes.set(key, pick);
  }
  return result;
}

function pickOf(sel: Selection | undefined, schema: string, def: AttributeDef): Pick | undefined {
  if (!sel) return undefined;
  if (sel.schemas.has(schema.toLowerCase())) return { whole: true, subs: new Set() };
  return sel.attributes.get(keyOf(schema, def));
}

/** The sub-attribute rules of RFC 7643 §7 `returned`, applied to one element of a complex attribute. */
function projectElement(element: unknown, def: AttributeDef, include: Pick | undefined, exclude: Pick | undefined): unknown {
  if (!isObject(element)) return element;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(element)) {
    const sub = findAttribute(def.subAttributes, key);
    const name = (sub?.name ?? key).toLowerCase();
    const named = include !== undefined && (include.whole || include.subs.has(name));
    const keep =
      sub?.returned === 'always' ||
      (sub?.returned !== 'never' &&
        (include === undefined || include.whole || include.subs.has(name)) &&
        (sub?.returned !== 'request' || named) &&
        !exclude?.subs.has(name));
    if (keep) out[key] = value;
  }
  return out;
}

const isEmpty = (value: unknown) =>
  (Array.isArray(value) && value.length === 0) || (isObject(value) && Object.keys(value).length === 0);

/**
 * One attribute under RFC 7643 §7 `returned`: `always` regardless of the request, `never` never,
 * `request` only when named, `default` unless `attributes` leaves it out or `excludedAttributes`
 * names it. `selective` is true when the request has an `attributes` parameter.
 */
function projectAttribute(def: AttributeDef, value: unknown, selective: boolean, include: Pick | undefined, exclude: Pick | undefined): unknown {
  if (def.returned === 'always') return value;
  if (def.returned === 'never' || exclude?.whole) return undefined;
  if (selective ? include === undefined : def.returned === 'request') return undefined;
  if (def.type !== 'complex') return value;
  const projected = Array.isArray(value)
    ? value.map((e) => projectElement(e, def, include, exclude)).filter((e) => !isEmpty(e))
    : projectElement(value, def, include, exclude);
  const narrowed = (include !== undefined && !include.whole) || (exclude?.subs.size ?? 0) > 0;
  return narrowed && isEmpty(projected) ? undefined : projected;
}

/** Projects the attributes of `obj` defined by `attributes` (a schema's, or the common ones). */
function projectObject(
  obj: Record<string, unknown>,
  schema: string,
  attributes: readonly AttributeDef[],
  include: Selection | undefined,
  exclude: Selection | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(obj)) {
    const def = findAttribute(attributes, key);
    if (!def) {
      // Not in the schema: keep what the client sent unless a specific projection was asked for.
      if (!include) out[key] = value;
      continue;
    }
    const projected = projectAttribute(def, value, include !== undefined, pickOf(include, schema, def), pickOf(exclude, schema, def));
    if (projected !== undefined) out[key] = projected;
  }
  return out;
}

function projectExtension(value: unknown, schema: SchemaDef, include: Selection | undefined, exclude: Selection | undefined): unknown {
  if (exclude?.schemas.has(schema.id.toLowerCase())) return undefined;
  if (!isObject(value)) return include ? undefined : value;
  const projected = projectObject(value, schema.id, schema.attributes, include, exclude);
  return Object.keys(projected).length > 0 ? projected : undefined;
}

/**
 * Applies `attributes` / `excludedAttributes` (RFC 7644 §3.4.2.5) and the `returned`
 * characteristic (RFC 7643 §7) to a rendered resource. Paths may be URN-qualified or name
 * sub-attributes (`name.givenName`, `emails.value`) and are case-insensitive. `schemas` and `id`
 * are always returned, `password` never; `meta` is returned unless `attributes` omits it.
 */
export function projectAttributes(
  resource: Record<string, unknown>,
  type: ResourceTypeDef,
  attributes?: string[],
  excludedAttributes?: string[],
): Record<string, unknown> {
  if (!attributes?.length && !excludedAttributes?.length) {
    const fast = defaultShape(type);
    if (fast) return fast.size === 0 ? resource : withoutKeys(resource, fast);
  }
  const include = attributes && attributes.length > 0 ? selection(type, attributes) : undefined;
  const exclude = excludedAttributes && excludedAttributes.length > 0 ? selection(type, excludedAttributes) : undefined;
  const core = type.schema;
  const topLevel = [...COMMON_ATTRIBUTES, ...core.attributes];
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(resource)) {
    const extension = findSchema(type, key);
    const projected =
      key.toLowerCase() === 'schemas'
        ? value
        : extension && extension !== core
          ? projectExtension(value, extension, include, exclude)
          : projectObject({ [key]: value }, core.id, topLevel, include, exclude)[key];
    if (projected !== undefined) out[key] = projected;
  }
  return out;
}
