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
  const location = `${baseUrl}${type.endpoint}/${stored.id}`;
  const resource: Record<string, unknown> = {
    ...stored.data,
    schemas: schemasOf(type, stored.data),
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
  if (extras.groups) {
    resource.groups = extras.groups.map((g) => ({
      value: g.value,
      $ref: `${baseUrl}/Groups/${g.value}`,
      display: g.display,
      type: 'direct',
    }));
  }
  resource.meta = {
    resourceType: type.name,
    created: stored.created,
    lastModified: stored.lastModified,
    location,
    version: etagOf(stored.version),
  };
  return resource;
}

/** The core schema plus each extension that carries data (RFC 7643 §3). */
function schemasOf(type: ResourceTypeDef, data: Record<string, unknown>): string[] {
  const schemas = [type.schema.id];
  for (const ext of type.extensions) {
    if (data[ext.schema.id] !== undefined) schemas.push(ext.schema.id);
  }
  return schemas;
}
