import type { SchemaDef } from './attribute.ts';
import { defineAttribute as attr } from './define-attribute.ts';

export const GROUP_SCHEMA_ID = 'urn:ietf:params:scim:schemas:core:2.0:Group';

/**
 * RFC 7643 §4.2 and the §8.7.1 schema representation of Group. Rolecall departs from the RFC in
 * one place: displayName is required and unique per tenant, because it names a database role and
 * Entra matches groups on it.
 */
export const GROUP_SCHEMA: SchemaDef = {
  id: GROUP_SCHEMA_ID,
  name: 'Group',
  description: 'Group',
  attributes: [
    attr('displayName', 'A human-readable name for the Group. REQUIRED.', { required: true, uniqueness: 'server' }),
    attr('members', 'A list of members of the Group.', {
      type: 'complex',
      multiValued: true,
      subAttributes: [
        attr('value', 'Identifier of the member of this Group.', { caseExact: true, mutability: 'immutable' }),
        attr('$ref', 'The URI corresponding to a SCIM resource that is a member of this Group.', {
          type: 'reference',
          referenceTypes: ['User', 'Group'],
          mutability: 'immutable',
        }),
        attr('display', 'A human-readable name, primarily used for display purposes. READ-ONLY.', { mutability: 'readOnly' }),
        attr('type', "A label indicating the type of resource, e.g., 'User' or 'Group'.", {
          mutability: 'immutable',
          canonicalValues: ['User', 'Group'],
        }),
      ],
    }),
  ],
};
