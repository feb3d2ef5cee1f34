import type { AttributeDef, SchemaDef } from './attribute.ts';
import { ENTERPRISE_USER_SCHEMA } from './enterprise-user-schema.ts';
import { GROUP_SCHEMA } from './group-schema.ts';
import { RESOURCE_TYPES } from './resource-types.ts';
import { USER_SCHEMA } from './user-schema.ts';

/**
 * Discovery documents (RFC 7644 §4, RFC 7643 §5-7). Entra reads them when an app is configured
 * and rejects nulls, so every optional member is omitted rather than null, and names are camelCase.
 */

const SERVICE_PROVIDER_CONFIG_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig';
const RESOURCE_TYPE_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:ResourceType';
const SCHEMA_SCHEMA = 'urn:ietf:params:scim:schemas:core:2.0:Schema';

export const SERVED_SCHEMAS: SchemaDef[] = [USER_SCHEMA, ENTERPRISE_USER_SCHEMA, GROUP_SCHEMA];

const trimSlash = (baseUrl: string) => baseUrl.replace(/\/+$/, '');

/** RFC 7643 §5. */
export function serviceProviderConfig(options: {
  baseUrl: string;
  bulk: { maxOperations: number; maxPayloadSize: number };
  filterMaxResults: number;
  documentationUri?: string;
}): Record<string, unknown> {
  const { documentationUri } = options;
  return {
    schemas: [SERVICE_PROVIDER_CONFIG_SCHEMA],
    ...(documentationUri !== undefined && { documentationUri }),
    patch: { supported: true },
    bulk: { supported: true, maxOperations: options.bulk.maxOperations, maxPayloadSize: options.bulk.maxPayloadSize },
    filter: { supported: true, maxResults: options.filterMaxResults },
    changePassword: { supported: false },
    sort: { supported: true },
    etag: { supported: true },
    authenticationSchemes: [
      {
        type: 'oauthbearertoken',
        name: 'OAuth Bearer Token',
        description: 'Authentication with a bearer token: a long-lived secret token or an Entra-issued JWT.',
        specUri: 'https://www.rfc-editor.org/info/rfc6750',
        ...(documentationUri !== undefined && { documentationUri }),
        primary: true,
      },
    ],
    meta: { resourceType: 'ServiceProviderConfig', location: `${trimSlash(options.baseUrl)}/ServiceProviderConfig` },
  };
}

/** RFC 7643 §7: every characteristic spelled out, `canonicalValues` as [] when there are none. */
function renderAttribute(def: AttributeDef): Record<string, unknown> {
  return {
    name: def.name,
    type: def.type,
    multiValued: def.multiValued,
    description: def.description,
    required: def.required,
    caseExact: def.caseExact,
    mutability: def.mutability,
    returned: def.returned,
    uniqueness: def.uniqueness,
    canonicalValues: def.canonicalValues ?? [],
    ...(def.type === 'reference' && { referenceTypes: def.referenceTypes ?? [] }),
    ...(def.type === 'complex' && { subAttributes: (def.subAttributes ?? []).map(renderAttribute) }),
  };
}

/** One RFC 7643 §7 Schema resource per served schema. */
export function schemasResource(baseUrl: string): Record<string, unknown>[] {
  return SERVED_SCHEMAS.map((schema) => ({
    schemas: [SCHEMA_SCHEMA],
    id: schema.id,
    name: schema.name,
    description: schema.description,
    attributes: schema.attributes.map(renderAttribute),
    meta: { resourceType: 'Schema', location: `${trimSlash(baseUrl)}/Schemas/${schema.id}` },
  }));
}

/** One RFC 7643 §6 ResourceType resource per resource type. */
export function resourceTypesResource(baseUrl: string): Record<string, unknown>[] {
  return RESOURCE_TYPES.map((type) => ({
    schemas: [RESOURCE_TYPE_SCHEMA],
    id: type.name,
    name: type.name,
    endpoint: type.endpoint,
    description: type.description,
    schema: type.schema.id,
    schemaExtensions: type.extensions.map((e) => ({ schema: e.schema.id, required: e.required })),
    meta: { resourceType: 'ResourceType', location: `${trimSlash(baseUrl)}/ResourceTypes/${type.name}` },
  }));
}
