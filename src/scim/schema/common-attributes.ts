import type { AttributeDef } from './attribute.ts';
import { defineAttribute } from './define-attribute.ts';

/**
 * RFC 7643 §3.1 common attributes: part of every resource but of no schema, so /Schemas does not
 * list them (§8.7.1). Filters, sorting and projection still need their characteristics.
 */
export const ID_ATTRIBUTE: AttributeDef = defineAttribute('id', 'A unique identifier for a SCIM resource as defined by the service provider.', {
  caseExact: true,
  mutability: 'readOnly',
  returned: 'always',
  uniqueness: 'server',
});

export const EXTERNAL_ID_ATTRIBUTE: AttributeDef = defineAttribute(
  'externalId',
  'A String that is an identifier for the resource as defined by the provisioning client.',
  { caseExact: true },
);

const readOnly = { mutability: 'readOnly' } as const;

export const META_ATTRIBUTE: AttributeDef = defineAttribute('meta', 'A complex attribute containing resource metadata.', {
  type: 'complex',
  mutability: 'readOnly',
  subAttributes: [
    defineAttribute('resourceType', 'The name of the resource type of the resource.', { ...readOnly, caseExact: true }),
    defineAttribute('created', 'The "DateTime" that the resource was added to the service provider.', { ...readOnly, type: 'dateTime' }),
    defineAttribute('lastModified', 'The most recent DateTime that the details of this resource were updated at the service provider.', {
      ...readOnly,
      type: 'dateTime',
    }),
    defineAttribute('location', 'The URI of the resource being returned.', {
      ...readOnly,
      type: 'reference',
      caseExact: true,
      referenceTypes: ['uri'],
    }),
    defineAttribute('version', 'The version of the resource being returned (an ETag, RFC 7644 §3.14).', { ...readOnly, caseExact: true }),
  ],
});

export const COMMON_ATTRIBUTES: AttributeDef[] = [ID_ATTRIBUTE, EXTERNAL_ID_ATTRIBUTE, META_ATTRIBUTE];
