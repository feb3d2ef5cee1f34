import type { Kysely } from 'kysely';
import type { ChangeSink, SqlDialect } from '../directory/database.ts';
import type { RequestChange, RequestContext } from '../domain/directory-change.ts';
import type { AuditEventInput, AuditLog } from './audit-log.ts';
import { digestBody } from './redact.ts';

/**
 * Records every directory change as a 'directory.change' event inside the SCIM write's own
 * transaction: the change and its event commit together or not at all. The event also records
 * the request (method, path, client, answered status, body digest), so a write that changed the
 * directory needs no 'scim.request' event of its own (RequestContext.changed).
 *
 * The events of every write that shares a commit (GroupCommit) are written together, as the
 * transaction's last statements, and only those of the writes kept (a write that failed inside
 * the batch left none). On SQLite they are chained there: writes are serialised anyway. On
 * PostgreSQL, chaining inside the write would queue concurrent writers on the chain head for
 * their whole transactions, so the events are recorded as pending (AuditLog.recordMany, sent
 * with the COMMIT) and chained by the next seal; `onPending` tells the sealer, once such a
 * write commits, that there is something to seal.
 */
export class AuditSink implements ChangeSink {
  #recordsPending = false;

  constructor(private readonly log: AuditLog, private readonly onPending: () => void = () => {}) {}

  async beforeCommit(tx: Kysely<any>, dialect: SqlDialect, changes: readonly RequestChange[]): Promise<void> {
    const events = changes.map(changeEvent);
    if (dialect === 'sqlite') {
      await this.log.appendMany(tx, events);
      return;
    }
    this.#recordsPending = true;
    await this.log.recordMany(tx, events);
  }

  afterCommit(): void {
    if (this.#recordsPending) this.onPending();
  }
}

/** The digest of a request's body, computed once per request however many changes it made (a Bulk makes many). */
const bodyDigests = new WeakMap<RequestContext, string | null>();

function bodyDigestOf(context: RequestContext): string | null {
  let digest = bodyDigests.get(context);
  if (digest === undefined) {
    digest = context.body === undefined ? null : digestBody(context.body);
    bodyDigests.set(context, digest);
  }
  return digest;
}

/** The 'directory.change' event of one change, filed under the user or group it is about. */
function changeEvent({ context, change, status }: RequestChange): AuditEventInput {
  const request = { method: context.method, path: context.path, clientAddress: context.clientAddress, status, bodyDigest: bodyDigestOf(context) };
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
        // A single-member change (the usual Entra/Okta PATCH) is also filed under that user.
        userId: change.added.length + change.removed.length === 1 ? (change.added[0] ?? change.removed[0]) : null,
        payload: { kind: change.kind, groupId: change.groupId, added: change.added, removed: change.removed, request },
      };
  }
}
