/**
 * What a SCIM write changed in the directory. The store hands each change, inside the
 * write's own transaction, to the registered change sinks (provisioning outbox, audit).
 */
export type DirectoryChange =
  | { kind: 'user.created' | 'user.updated' | 'user.deleted'; tenantId: string; userId: string; userName: string; active: boolean }
  | { kind: 'group.created' | 'group.updated' | 'group.deleted'; tenantId: string; groupId: string; displayName: string }
  | { kind: 'group.members'; tenantId: string; groupId: string; added: string[]; removed: string[] };

/** Who asked for a change: carried into audit events and logs. */
export interface RequestContext {
  requestId: string;
  tenantId: string;
  tokenId: string | null;
  clientAddress: string | null;
  method: string;
  path: string;
}
