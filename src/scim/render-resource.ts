import type { ResourceTypeDef } from './schema/attribute.ts';
import type { MemberRef, StoredResource } from './resource-store.ts';
import { etagOf } from './etag.ts';

export interface RenderExtras {
  /** Group members (Groups) or direct groups (Users); omitted when not loaded. */
  members?: MemberRef[];
  groups?: { value: string; display: string }[];
}

/** Turns a stored resource into its SCIM representation (RFC 7643 §3: id, meta, schemas). */
export function renderResource(
  type: ResourceTypeDef,
  stored: StoredResource,
  baseUrl: string,
  extras: RenderExtras = {},
): Record<string, unknown> {
  const resource: Record<string, unknown> = {
    ...stored.data,
    schemas: schemasOf(type, (urn) => stored.data[urn] !== undefined),
    id: stored.id,
  };
  if (extras.members) {
    resource.members = extras.members.map((m) => ({
      value: m.value,
      $ref: `${baseUrl}/${m.type === 'User' ? 'Users' : 'Groups'}/${m.value}`,
      type: m.type,
      ...(m.display === undefined ? {} : { display: m.display }),
    }));
  }
  if (extras.groups) resource.groups = groupsOf(baseUrl, extras.groups);
  resource.meta = metaOf(type, stored, baseUrl);
  return resource;
}

/**
 * renderResource's default view (no `attributes`/`excludedAttributes`) as JSON text, spliced
 * from the stored JSON text (`dataText`) without parsing it: the same JSON as renderResource's
 * object, key for key (and the same bytes for JSON.stringify's text; jsonb's output form keeps
 * its spaces). Undefined when the stored text does not show that plainly: `schemas` not in
 * one of those forms or not the URNs its extension keys imply, a key that rendering sets or
 * the default view hides (`hidden`, lower case) anywhere in the text. Those render through
 * the object. Keys are found as `"name":`, which inside a JSON string value would be
 * `\"name\":`: a string value never matches, a nested key of that name only makes the
 * resource take the object path.
 */
export function renderResourceText(
  type: ResourceTypeDef,
  stored: StoredResource,
  baseUrl: string,
  extras: Pick<RenderExtras, 'groups'>,
  hidden: ReadonlySet<string>,
): string | undefined {
  const text = stored.dataText;
  if (text === undefined || text.charCodeAt(text.length - 1) !== 0x7d /* } */) return undefined;
  const shape = textShapeOf(type, hidden);
  let schemas = shape.prefixes;
  for (const ext of shape.extensions) schemas = (text.includes(ext.key) ? schemas.with : schemas.without)!;
  if (!(text.startsWith(schemas.compact) || text.includes(schemas.spaced)) || shape.setOrHidden.test(text)) return undefined;
  const groups = extras.groups ? `,"groups":${JSON.stringify(groupsOf(baseUrl, extras.groups))}` : '';
  return `${text.slice(0, -1)},"id":${JSON.stringify(stored.id)}${groups},"meta":${JSON.stringify(metaOf(type, stored, baseUrl))}}`;
}

/**
 * A binary tree over the type's extensions (present or not, in order) whose leaves hold how
 * `schemas` with those URNs appears: first in JSON.stringify's text (the embedded store), or
 * anywhere in jsonb's output form (PostgreSQL: `"schemas": ["a", "b"]`, keys in jsonb order).
 */
interface PrefixTree {
  compact: string;
  spaced: string;
  /** Absent at the leaves: one level per extension. */
  with?: PrefixTree;
  without?: PrefixTree;
}

interface TextShape {
  extensions: { key: string }[];
  prefixes: PrefixTree;
  /** Matches a key renderResource sets (besides `schemas`) or the default view hides, in any case. */
  setOrHidden: RegExp;
}

const TEXT_SHAPES = new WeakMap<ResourceTypeDef, Map<ReadonlySet<string>, TextShape>>();

function textShapeOf(type: ResourceTypeDef, hidden: ReadonlySet<string>): TextShape {
  let byHidden = TEXT_SHAPES.get(type);
  if (!byHidden) TEXT_SHAPES.set(type, (byHidden = new Map()));
  let shape = byHidden.get(hidden);
  if (shape) return shape;
  const tree = (schemas: string[], rest: string[]): PrefixTree => {
    const leaf: PrefixTree = { compact: `{"schemas":${JSON.stringify(schemas)}`, spaced: `"schemas": ${JSON.stringify(schemas).replaceAll('","', '", "')}` };
    if (rest.length === 0) return leaf;
    return { ...leaf, with: tree([...schemas, rest[0]!], rest.slice(1)), without: tree(schemas, rest.slice(1)) };
  };
  const urns = type.extensions.map((ext) => ext.schema.id);
  const set = type.name === 'User' ? ['id', 'groups', 'meta'] : ['id', 'members', 'meta'];
  const names = [...set, ...hidden].map((name) => name.replace(/[^a-z0-9]/g, '\\$&'));
  shape = { extensions: urns.map((urn) => ({ key: `${JSON.stringify(urn)}:` })), prefixes: tree([type.schema.id], urns), setOrHidden: new RegExp(`"(?:${names.join('|')})":`, 'i') };
  byHidden.set(hidden, shape);
  return shape;
}

function groupsOf(baseUrl: string, groups: { value: string; display: string }[]) {
  return groups.map((g) => ({ value: g.value, $ref: `${baseUrl}/Groups/${g.value}`, display: g.display, type: 'direct' }));
}

function metaOf(type: ResourceTypeDef, stored: StoredResource, baseUrl: string) {
  return {
    resourceType: type.name,
    created: stored.created,
    lastModified: stored.lastModified,
    location: `${baseUrl}${type.endpoint}/${stored.id}`,
    version: etagOf(stored.version),
  };
}

/** The core schema plus each extension that carries data (RFC 7643 §3). */
function schemasOf(type: ResourceTypeDef, holds: (urn: string) => boolean): string[] {
  const schemas = [type.schema.id];
  for (const ext of type.extensions) {
    if (holds(ext.schema.id)) schemas.push(ext.schema.id);
  }
  return schemas;
}
