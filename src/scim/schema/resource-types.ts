import type { ResourceTypeDef } from './attribute.ts';
import { ENTERPRISE_USER_SCHEMA } from './enterprise-user-schema.ts';
import { GROUP_SCHEMA } from './group-schema.ts';
import { USER_SCHEMA } from './user-schema.ts';

/** RFC 7643 §6: Users carry the optional Enterprise User extension. */
export const USER_RESOURCE_TYPE: ResourceTypeDef = {
  name: 'User',
  endpoint: '/Users',
  description: 'User Account',
  schema: USER_SCHEMA,
  extensions: [{ schema: ENTERPRISE_USER_SCHEMA, required: false }],
};

export const GROUP_RESOURCE_TYPE: ResourceTypeDef = {
  name: 'Group',
  endpoint: '/Groups',
  description: 'Group',
  schema: GROUP_SCHEMA,
  extensions: [],
};

export const RESOURCE_TYPES: ResourceTypeDef[] = [USER_RESOURCE_TYPE, GROUP_RESOURCE_TYPE];
