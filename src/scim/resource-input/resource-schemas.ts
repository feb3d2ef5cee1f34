import type { ResourceTypeDef, SchemaDef } from '../schema/attribute.ts';
import type { ResolvedAttribute } from '../schema/resolve-attribute.ts';
import { findSchema, isExtensionAttribute } from '../schema/resolve-attribute.ts';
import { isPlainObject } from './coerce-value.ts';

/** The extension schema of `type` named by `uri` (case-insensitive), never the core schema. */
export function findExtension(type: ResourceTypeDef, uri: string): SchemaDef | undefined {
  const schema = findSchema(type, uri);
  return schema && schema.id !== type.schema.id ? schema : undefined;
}

/**
 * The object holding a resolved attribute inside stored data: the resource itself for core and
 * common attributes, the object under the extension URN for extension attributes (RFC 7643 §3.3).
 * With `create`, a missing extension object is created.
 */
export function attributeHolder(
  type: ResourceTypeDef,
  data: Record<string, unknown>,
  resolved: ResolvedAttribute,
  create: boolean,
): Record<string, unknown> | undefined {
  if (!isExtensionAttribute(type, resolved)) return data;
  const current = data[resolved.schema];
  if (isPlainObject(current)) return current;
  if (!create) return undefined;
  const holder: Record<string, unknown> = {};
  data[resolved.schema] = holder;
  return holder;
}

/**
 * Drops empty extension objects and rewrites `schemas` as the core URN plus every extension that
 * holds data (RFC 7643 §3: `schemas` lists the schemas the resource uses). URNs the resource type
 * does not serve (Entra adds an ADSCIM Group URN, interop item 9) are not kept.
 */
export function refreshSchemas(type: ResourceTypeDef, data: Record<string, unknown>): void {
  const schemas = [type.schema.id];
  for (const { schema } of type.extensions) {
    const holder = data[schema.id];
    if (isPlainObject(holder) && Object.keys(holder).length > 0) schemas.push(schema.id);
    else delete data[schema.id];
  }
  data.schemas = schemas;
}

/** The object holding `schema`'s attributes in `data`: `data` itself for the core schema. */
export function schemaHolder(type: ResourceTypeDef, data: Record<string, unknown>, schema: SchemaDef): Record<string, unknown> | undefined {
  if (schema.id === type.schema.id) return data;
  const holder = data[schema.id];
  return isPlainObject(holder) ? holder : undefined;
}
