import { badRequest } from '../../domain/errors.ts';
import type { ResourceTypeDef } from '../schema/attribute.ts';
import { isPlainObject } from './coerce-value.ts';
import { schemaHolder } from './resource-schemas.ts';

/**
 * Required attributes (RFC 7643 §2.2: User `userName`, Group `displayName`) and required
 * extensions (§6) must be present and non-empty, after a POST or PUT (400 invalidValue) and after
 * a PATCH alike: RFC 7644 §3.5.2.2 answers a required attribute that "is removed or becomes
 * unassigned" with 400 mutability. Group `members` live outside `data`.
 */
export function checkRequired(type: ResourceTypeDef, data: Record<string, unknown>, scimType: 'invalidValue' | 'mutability' = 'invalidValue'): void {
  for (const extension of type.extensions) {
    if (extension.required && !isPlainObject(data[extension.schema.id])) {
      throw badRequest(scimType, `Schema extension '${extension.schema.id}' is required for ${type.name}`);
    }
  }
  for (const schema of [type.schema, ...type.extensions.map((e) => e.schema)]) {
    const holder = schemaHolder(type, data, schema);
    if (!holder) continue;
    for (const def of schema.attributes) {
      if (!def.required || def.mutability === 'readOnly' || (type.name === 'Group' && def.name === 'members')) continue;
      const value = holder[def.name];
      if (value === undefined || value === '') throw badRequest(scimType, `Attribute '${def.name}' is required for ${type.name}`);
    }
  }
}
