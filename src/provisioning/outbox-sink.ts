import { sql, type Kysely } from 'kysely';
import type { ChangeSink, SqlDialect } from '../directory/database.ts';
import type { DirectoryChange, RequestContext } from '../domain/directory-change.ts';
import type { Policy } from '../policy/policy.ts';
import { enqueueJobs } from './enqueue-jobs.ts';
import type { Principal } from './job.ts';
import { targetsOfTenant } from './targets-of-tenant.ts';

/**
 * The provisioning half of the outbox: turns each directory change into "reconcile user U on
 * target X" jobs inside the SCIM write's own transaction, so a change is acknowledged only with
 * its jobs committed.
 *
 * Group changes are expanded to users HERE, with a recursive query on `group_members` in the
 * same transaction, rather than deferred to a worker: at commit time the membership a deleted
 * group or a removed nested group had is still visible to this transaction (the store emits
 * the change before deleting member rows), whereas a worker running later would find it gone
 * and could never revoke what it granted. A full reconcile repairs anything missed.
 *
 * Every target of the change's tenant gets a job; a target the change does not affect gets an
 * empty plan when the job runs.
 */
export class OutboxSink implements ChangeSink {
  constructor(private readonly policy: () => Policy) {}

  async record(tx: Kysely<any>, _dialect: SqlDialect, _context: RequestContext, change: DirectoryChange): Promise<void> {
    const targets = targetsOfTenant(this.policy(), change.tenantId).map((t) => t.name);
    if (targets.length === 0) return;
    const userIds = await affectedUsers(tx, change);
    const principals: Principal[] = [];
    for (const userId of userIds) {
      for (const target of targets) principals.push({ tenantId: change.tenantId, userId, target });
    }
    await enqueueJobs(tx, principals);
  }
}

async function affectedUsers(tx: Kysely<any>, change: DirectoryChange): Promise<string[]> {
  switch (change.kind) {
    case 'user.created':
    case 'user.updated':
    case 'user.deleted':
      return [change.userId];
    case 'group.created':
      // A new group has no members yet; members arrive as a group.members change.
      return [];
    case 'group.updated':
    case 'group.deleted':
      // A rename can change which mapping matches; a deletion takes the group's roles away.
      return usersBelow(tx, change.tenantId, [change.groupId]);
    case 'group.members':
      return membersAffected(tx, change.tenantId, [...change.added, ...change.removed]);
  }
}

/**
 * Added or removed member ids may be users or groups. An id that has members of its own is a
 * group: its users are affected. Any other id is taken as a user (an empty nested group then
 * yields a job that finds no such user and does nothing).
 */
async function membersAffected(tx: Kysely<any>, tenantId: string, memberIds: string[]): Promise<string[]> {
  if (memberIds.length === 0) return [];
  const groups = await tx
    .selectFrom('group_members')
    .select('group_id')
    .distinct()
    .where('tenant_id', '=', tenantId)
    .where('group_id', 'in', memberIds)
    .execute();
  const groupIds = new Set(groups.map((g) => String(g.group_id)));
  const users = memberIds.filter((id) => !groupIds.has(id));
  return [...new Set([...users, ...(await usersBelow(tx, tenantId, [...groupIds]))])];
}

/** Every user inside these groups, directly or through nested groups; UNION stops at cycles. */
async function usersBelow(tx: Kysely<any>, tenantId: string, groupIds: string[]): Promise<string[]> {
  if (groupIds.length === 0) return [];
  const result = await sql<{ member_id: string }>`
    with recursive below(member_id, member_type) as (
      select member_id, member_type from group_members
       where tenant_id = ${tenantId} and group_id in (${sql.join(groupIds)})
      union
      select gm.member_id, gm.member_type from group_members gm
        join below b on b.member_type = 'Group' and gm.group_id = b.member_id
       where gm.tenant_id = ${tenantId}
    )
    select distinct member_id from below where member_type = 'User'`.execute(tx);
  return result.rows.map((r) => String(r.member_id));
}
