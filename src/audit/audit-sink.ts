import type { Kysely } from 'kysely';
import type { ChangeSink, SqlDialect } from '../directory/database.ts';
import type { DirectoryChange, RequestContext } from '../domain/directory-change.ts';
import type { AuditEventInput, AuditLog } from './audit-log.ts';

/**
 * Records every directory change as a 'directory.change' event inside the SCIM write's own
 * transaction: the change and its audit event commit together or not at all. The event is
 * recorded as pending (AuditLog.record) and chained by the next seal, so writes never wait on
 * the chain head; `onCommitted` tells the sealer, once the write commits, that there may be
 * something to seal.
 */
export class AuditSink implements ChangeSink {
  constructor(private readonly log: AuditLog, private readonly onCommitted: () => void = () => {}) {}

  async record(tx: Kysely<any>, _dialect: SqlDialect, context: RequestContext, change: DirectoryChange): Promise<void> {
    await this.log.record(tx, changeEvent(context, change));
  }

  afterCommit(): void {
    this.onCommitted();
  }
}

/** The 'directory.change' event of one change, indexed by the user or group it is about. */
function changeEvent(context: RequestContext, change: DirectoryChange): AuditEventInput {
  const request = { method: context.method, path: context.path, clientAddress: context.clientAddress };
  const common = { type: 'directory.change' as const, tenantId: change.tenantId, requestId: context.requestId, actor: context.tokenId ?? 'system' };
  switch (change.kind) {
    case 'user.created':
    case 'user.updated':
    case 'user.deleted':
      // `active` is kept so offboarding (deactivation or deletion) can be found and timed later.
      return {
        ...common,
        userId: change.userId,
        payload: { kind: change.kind, userId: change.userId, userName: change.userName, active: change.active, request },
      };
    case 'group.created':
    case 'group.updated':
    case 'group.deleted':
      return {
        ...common,
        groupId: change.groupId,
        payload: { kind: change.kind, groupId: change.groupId, displayName: change.displayName, request },
      };
    case 'group.members':
      return {
        ...common,
        groupId: change.groupId,
        // A single-member change (the usual Entra/Okta PATCH) is also indexed by that user.
        userId: change.added.length + change.removed.length === 1 ? (change.added[0] ?? change.removed[0]) : null,
        payload: { kind: change.kind, groupId: change.groupId, added: change.added, removed: change.removed, request },
      };
  }
}
