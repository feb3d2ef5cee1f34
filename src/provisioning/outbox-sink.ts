import { sql, type Kysely } from 'kysely';
import type { ChangeSink, SqlDialect } from '../directory/database.ts';
import type { DirectoryChange, RequestChange } from '../domain/directory-change.ts';
import type { Policy } from '../policy/policy.ts';
import { enqueueJobs } from './enqueue-jobs.ts';
import type { Principal } from './job.ts';
import { targetsOfTenant } from './targets-of-tenant.ts';

/**
 * The provisioning half of the outbox: turns each directory change into "reconcile user U on
 * target X" jobs inside the SCIM write's own transaction, so a change is acknowledged only with
 * its jobs committed. The principals are found as the change is recorded; their jobs are
 * queued just before the commit.
 *
 * Group changes are expanded to users HERE, with a recursive query on the directory tables in
 * the same transaction, rather than deferred to a worker: the transaction sees exactly the
 * membership the change was made against, and a removed nested group still has its members.
 * Every target of the change's tenant gets a job; a target the change does not affect gets an
 * empty plan when the job runs.
 */
export class OutboxSink implements ChangeSink {
  /** Each recorded change's principals, queued by beforeCommit if its write is kept. */
  readonly #principals = new WeakMap<RequestChange, Principal[]>();

  constructor(private readonly policy: () => Policy) {}

  async record(tx: Kysely<any>, _dialect: SqlDialect, made: RequestChange): Promise<void> {
    this.#principals.set(made, await this.#principalsOf(tx, made.change));
  }

  /**
   * The jobs of every write sharing the transaction (GroupCommit), queued by one call: their
   * upserts then go in the one principal order (inPrincipalOrder), so two committing
   * transactions never wait on each other's job rows in a cycle.
   */
  async beforeCommit(tx: Kysely<any>, _dialect: SqlDialect, changes: readonly RequestChange[]): Promise<void> {
    const principals = changes.flatMap((made) => this.#principals.get(made) ?? []);
    if (principals.length > 0) await enqueueJobs(tx, principals);
  }

  async #principalsOf(tx: Kysely<any>, change: DirectoryChange): Promise<Principal[]> {
    const targets = targetsOfTenant(this.policy(), change.tenantId).map((t) => t.name);
    if (targets.length === 0) return [];
    const tenantId = change.tenantId;
    const forAllTargets = (userIds: string[]) => userIds.flatMap((userId) => targets.map((target): Principal => ({ tenantId, userId, target })));
    switch (change.kind) {
      case 'user.created':
      case 'user.updated':
      case 'user.deleted':
        return forAllTargets([change.userId]);
      case 'group.created':
        // A new group has no members yet; members arrive as a group.members change.
        return [];
      case 'group.updated':
        // A rename can change which mapping matches.
        return forAllTargets(await usersBelow(tx, tenantId, [change.groupId]));
      case 'group.members':
        return forAllTargets(await membersAffected(tx, tenantId, [...change.added, ...change.removed]));
      case 'group.deleted':
        return deletedGroupPrincipals(tx, tenantId, change.groupId, targets);
    }
  }
}

/**
 * A deleted group's users lose its roles. If the store emitted the change before removing the
 * group, its members are still readable. If the group is already gone (the store deletes its
 * member rows with it), they are not: then every user with a login Rolecall made on each target
 * is re-planned there. That is a superset of those affected (a user without an account cannot
 * lose access), bounded, and group deletions are rare.
 */
async function deletedGroupPrincipals(tx: Kysely<any>, tenantId: string, groupId: string, targets: string[]): Promise<Principal[]> {
  const group = await tx.selectFrom('groups').select('id').where('tenant_id', '=', tenantId).where('id', '=', groupId).executeTakeFirst();
  if (group) return (await usersBelow(tx, tenantId, [groupId])).flatMap((userId) => targets.map((target) => ({ tenantId, userId, target })));
  const accounts = await tx.selectFrom('accounts').select(['user_id', 'target']).where('tenant_id', '=', tenantId).where('target', 'in', targets).execute();
  return accounts.map((a) => ({ tenantId, userId: String(a.user_id), target: String(a.target) }));
}

/** Added or removed members are users or groups; a group's users (nested included) are affected. */
async function membersAffected(tx: Kysely<any>, tenantId: string, memberIds: string[]): Promise<string[]> {
  if (memberIds.length === 0) return [];
  const groups = await tx.selectFrom('groups').select('id').where('tenant_id', '=', tenantId).where('id', 'in', memberIds).execute();
  const groupIds = new Set(groups.map((g) => String(g.id)));
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
