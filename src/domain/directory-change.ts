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
  /** The request body as parsed: the audit trail keeps only its digest. */
  body?: unknown;
  /**
   * Set by the store once a write of this request committed a change. The change's audit event
   * then records the request (method, path, client, body digest), so no second event is needed.
   */
  changed?: boolean;
}

/** A change and the request that made it, as a write hands them to sinks before its commit. */
export interface RequestChange {
  context: RequestContext;
  change: DirectoryChange;
  /** The status the request is answered with once the change commits, when the writer said. */
  status?: number;
}
