import type { SchemaDef } from './attribute.ts';
import { defineAttribute as attr } from './define-attribute.ts';

export const ENTERPRISE_USER_SCHEMA_ID = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

/** RFC 7643 §4.3 and the §8.7.1 schema representation of the Enterprise User extension. */
export const ENTERPRISE_USER_SCHEMA: SchemaDef = {
  id: ENTERPRISE_USER_SCHEMA_ID,
  name: 'EnterpriseUser',
  description: 'Enterprise User',
  attributes: [
    attr('employeeNumber', 'Numeric or alphanumeric identifier assigned to a person, typically based on order of hire or association with an organization.'),
    attr('costCenter', 'Identifies the name of a cost center.'),
    attr('organization', 'Identifies the name of an organization.'),
    attr('division', 'Identifies the name of a division.'),
    attr('department', 'Identifies the name of a department.'),
    attr('manager', "The User's manager. A complex type that optionally allows service providers to represent organizational hierarchy by referencing the 'id' attribute of another User.", {
      type: 'complex',
      subAttributes: [
        attr('value', 'The id of the SCIM resource representing the User\'s manager.', { caseExact: true }),
        attr('$ref', 'The URI of the SCIM resource representing the User\'s manager.', {
          type: 'reference',
          referenceTypes: ['User'],
        }),
        attr('displayName', "The displayName of the User's manager. OPTIONAL and READ-ONLY.", { mutability: 'readOnly' }),
      ],
    }),
  ],
};
