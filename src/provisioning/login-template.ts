import { RolecallError } from '../domain/errors.ts';
import type { DirectoryUser } from './directory-view.ts';

/** The placeholders a target's `login` template may use; the policy loader rejects any other. */
export const LOGIN_PLACEHOLDERS = ['userName', 'externalId', 'id', 'localPart'] as const;
export type LoginPlaceholder = (typeof LOGIN_PLACEHOLDERS)[number];

const PLACEHOLDER = /\{([^{}]*)\}/g;

/** Placeholder names in `template` that renderLogin does not know, in order of appearance. */
export function unknownPlaceholders(template: string): string[] {
  const known: readonly string[] = LOGIN_PLACEHOLDERS;
  return [...template.matchAll(PLACEHOLDER)].map((m) => m[1] ?? '').filter((name) => !known.includes(name));
}

/**
 * Renders a login name from a policy template, e.g. "{localPart}_ro" -> "alice_ro".
 * Throws a 'reject' error when a placeholder has no value for this user (a user without
 * externalId under "{externalId}") or the result is empty: provisioning a login called ""
 * or "null" would be worse than surfacing the gap.
 */
export function renderLogin(template: string, user: DirectoryUser): string {
  const login = template.replace(PLACEHOLDER, (_match, name: string) => placeholderValue(name, user));
  if (login === '') throw new RolecallError('reject', `login template "${template}" renders an empty login for user ${user.id}`);
  return login;
}

function placeholderValue(name: string, user: DirectoryUser): string {
  const value = valueOf(name, user);
  if (value === undefined || value === '') {
    throw new RolecallError('reject', `login template placeholder {${name}} has no value for user ${user.id}`);
  }
  return value;
}

function valueOf(name: string, user: DirectoryUser): string | undefined {
  switch (name) {
    case 'userName':
      return user.userName;
    case 'externalId':
      return user.externalId ?? undefined;
    case 'id':
      return user.id;
    case 'localPart':
      return localPart(user.userName);
    default:
      // The policy loader rejects unknown placeholders; reaching here means an unvalidated template.
      throw new RolecallError('fatal', `login template placeholder {${name}} is not one of ${LOGIN_PLACEHOLDERS.join(', ')}`);
  }
}

/** The part of a UPN/e-mail before the last "@" ("a@b"@corp.com keeps its quoted "@"); the whole name if there is none. */
function localPart(userName: string): string {
  const at = userName.lastIndexOf('@');
  return at === -1 ? userName : userName.slice(0, at);
}
