import type { SchemaDef } from './attribute.ts';
import { defineAttribute as attr, multiValuedSubAttributes } from './define-attribute.ts';

export const USER_SCHEMA_ID = 'urn:ietf:params:scim:schemas:core:2.0:User';

const nameParts: [string, string][] = [
  ['formatted', "The full name, including all middle names, titles, and suffixes as appropriate, formatted for display (e.g., 'Ms. Barbara J Jensen, III')."],
  ['familyName', 'The family name of the User, or last name in most Western languages.'],
  ['givenName', 'The given name of the User, or first name in most Western languages.'],
  ['middleName', 'The middle name(s) of the User.'],
  ['honorificPrefix', "The honorific prefix(es) of the User, or title in most Western languages (e.g., 'Ms.')."],
  ['honorificSuffix', "The honorific suffix(es) of the User, or suffix in most Western languages (e.g., 'III')."],
];

const addressParts: [string, string][] = [
  ['formatted', 'The full mailing address, formatted for display or use with a mailing label.'],
  ['streetAddress', 'The full street address component, which may include house number, street name, P.O. box, and multi-line extended street address information.'],
  ['locality', 'The city or locality component.'],
  ['region', 'The state or region component.'],
  ['postalCode', 'The zip code or postal code component.'],
  ['country', 'The country name component.'],
];

/** RFC 7643 §4.1 and the §8.7.1 schema representation of the core User. */
export const USER_SCHEMA: SchemaDef = {
  id: USER_SCHEMA_ID,
  name: 'User',
  description: 'User Account',
  attributes: [
    attr('userName', 'Unique identifier for the User, typically used by the user to directly authenticate to the service provider. Each User MUST include a non-empty userName value. This identifier MUST be unique across the service provider\'s entire set of Users.', {
      required: true,
      uniqueness: 'server',
    }),
    attr('name', "The components of the user's real name.", {
      type: 'complex',
      subAttributes: nameParts.map(([name, description]) => attr(name, description)),
    }),
    attr('displayName', 'The name of the User, suitable for display to end-users.'),
    attr('nickName', "The casual way to address the user in real life, e.g., 'Bob' or 'Bobby' instead of 'Robert'."),
    attr('profileUrl', "A fully qualified URL pointing to a page representing the User's online profile.", {
      type: 'reference',
      referenceTypes: ['external'],
    }),
    attr('title', "The user's title, such as \"Vice President.\""),
    attr('userType', "Used to identify the relationship between the organization and the user. Typical values used might be 'Contractor', 'Employee', 'Intern', 'Temp', 'External', and 'Unknown', but any value may be used."),
    attr('preferredLanguage', "Indicates the User's preferred written or spoken language, valid values as for the HTTP Accept-Language header (e.g., 'en-US')."),
    attr('locale', "Used to indicate the User's default location for purposes of localizing items such as currency, date time format, or numerical representations."),
    attr('timezone', "The User's time zone in the 'Olson' time zone database format, e.g., 'America/Los_Angeles'."),
    attr('active', "A Boolean value indicating the User's administrative status.", { type: 'boolean' }),
    attr('password', "The User's cleartext password. This attribute is intended to be used as a means to specify an initial password when creating a new User or to reset an existing User's password.", {
      mutability: 'writeOnly',
      returned: 'never',
    }),
    attr('emails', 'Email addresses for the user. The value SHOULD be canonicalized by the service provider, e.g., \'bjensen@example.com\' instead of \'bjensen@EXAMPLE.COM\'.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('email address', {}, ['work', 'home', 'other']),
    }),
    attr('phoneNumbers', 'Phone numbers for the User. The value SHOULD be canonicalized by the service provider according to the format specified in RFC 3966.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('phone number', {}, ['work', 'home', 'mobile', 'fax', 'pager', 'other']),
    }),
    attr('ims', 'Instant messaging addresses for the User.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('instant messaging address', {}, ['aim', 'gtalk', 'icq', 'xmpp', 'msn', 'skype', 'qq', 'yahoo']),
    }),
    attr('photos', 'URLs of photos of the User.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('photo', { type: 'reference', referenceTypes: ['external'] }, ['photo', 'thumbnail']),
    }),
    attr('addresses', 'A physical mailing address for this User.', {
      type: 'complex',
      multiValued: true,
      subAttributes: [
        ...addressParts.map(([name, description]) => attr(name, description)),
        attr('type', "A label indicating the address's function, e.g., 'work' or 'home'.", { canonicalValues: ['work', 'home', 'other'] }),
        attr('primary', "A Boolean value indicating the 'primary' or preferred address for this user.", { type: 'boolean' }),
      ],
    }),
    attr('groups', 'A list of groups to which the user belongs, either through direct membership, through nested groups, or dynamically calculated.', {
      type: 'complex',
      multiValued: true,
      mutability: 'readOnly',
      subAttributes: [
        attr('value', "The identifier of the User's group.", { mutability: 'readOnly' }),
        attr('$ref', "The URI of the corresponding 'Group' resource to which the user belongs.", {
          type: 'reference',
          referenceTypes: ['User', 'Group'],
          mutability: 'readOnly',
        }),
        attr('display', "A human-readable name, primarily used for display purposes. READ-ONLY.", { mutability: 'readOnly' }),
        attr('type', "A label indicating the attribute's function, e.g., 'direct' or 'indirect'.", {
          mutability: 'readOnly',
          canonicalValues: ['direct', 'indirect'],
        }),
      ],
    }),
    attr('entitlements', 'A list of entitlements for the User that represent a thing the User has.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('entitlement', {}, []),
    }),
    attr('roles', 'A list of roles for the User that collectively represent who the User is, e.g., \'Student\', \'Faculty\'.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('role', {}, []),
    }),
    attr('x509Certificates', 'A list of certificates issued to the User.', {
      type: 'complex',
      multiValued: true,
      subAttributes: multiValuedSubAttributes('X.509 certificate', { type: 'binary' }, []),
    }),
  ],
};
