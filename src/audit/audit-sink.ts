import type { Kysely } from 'kysely';
import type { ChangeSink, SqlDialect } from '../directory/database.ts';
import type { DirectoryChange, RequestContext } from '../domain/directory-change.ts';
import type { AuditLog } from './audit-log.ts';

/**
 * Records every directory change as a 'directory.change' event inside the SCIM write's own
 * transaction: the change and its audit event commit together or not at all. Register it as
 * the last sink, since the append holds the audit head lock until the write commits.
 */
export class AuditSink implements ChangeSink {
  constructor(private readonly log: AuditLog) {}

  async record(tx: Kysely<any>, _dialect: SqlDialect, context: RequestContext, change: DirectoryChange): Promise<void> {
    const request = { method: context.method, path: context.path, clientAddress: context.clientAddress };
    const common = { type: 'directory.change' as const, tenantId: change.tenantId, requestId: context.requestId, actor: context.tokenId ?? 'system' };
    switch (change.kind) {
      case 'user.created':
      case 'user.updated':
      case 'user.deleted':
        // `active` is kept so offboarding (deactivation or deletion) can be found and timed later.
        await this.log.append(tx, {
          ...common,
          userId: change.userId,
          payload: { kind: change.kind, userId: change.userId, userName: change.userName, active: change.active, request },
        });
        return;
      case 'group.created':
      case 'group.updated':
      case 'group.deleted':
        await this.log.append(tx, {
          ...common,
          groupId: change.groupId,
          payload: { kind: change.kind, groupId: change.groupId, displayName: change.displayName, request },
        });
        return;
      case 'group.members':
        await this.log.append(tx, {
          ...common,
          groupId: change.groupId,
          // A single-member change (the usual Entra/Okta PATCH) is also indexed by that user.
          userId: change.added.length + change.removed.length === 1 ? (change.added[0] ?? change.removed[0]) : null,
          payload: { kind: change.kind, groupId: change.groupId, added: change.added, removed: change.removed, request },
        });
        return;
    }
  }
}
