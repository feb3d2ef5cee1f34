import { sql, type Kysely } from 'kysely';
import type { DirectoryGroup, DirectoryUser, DirectoryView } from '../provisioning/directory-view.ts';
import type { Database } from './database.ts';
import { chunks } from '../domain/chunks.ts';

/**
 * The directory as the provisioning engine reads it. Nested groups are flattened with recursive
 * CTEs whose UNION (not UNION ALL) drops rows already seen, so membership cycles terminate on
 * both SQLite and PostgreSQL.
 */
export class KyselyDirectoryView implements DirectoryView {
  readonly #db: Kysely<any>;

  constructor(database: Database) {
    this.#db = database.db;
  }

  async user(tenantId: string, userId: string): Promise<DirectoryUser | undefined> {
    return (await this.users(tenantId, [userId])).get(userId);
  }

  async users(tenantId: string, userIds: string[]): Promise<Map<string, DirectoryUser>> {
    const found = new Map<string, DirectoryUser>();
    for (const part of chunks([...new Set(userIds)])) {
      const rows = await this.#db
        .selectFrom('users')
        .select(['tenant_id', 'id', 'user_name', 'external_id', 'active'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', part)
        .execute();
      for (const row of rows) {
        found.set(row.id, { tenantId: row.tenant_id, id: row.id, userName: row.user_name, externalId: row.external_id ?? null, active: Boolean(row.active) });
      }
    }
    return found;
  }

  async groupsOfUser(tenantId: string, userId: string): Promise<DirectoryGroup[]> {
    return (await this.groupsOfUsers(tenantId, [userId])).get(userId)!;
  }

  async groupsOfUsers(tenantId: string, userIds: string[]): Promise<Map<string, DirectoryGroup[]>> {
    const out = new Map<string, DirectoryGroup[]>(userIds.map((id) => [id, []]));
    for (const part of chunks([...new Set(userIds)])) {
      // One walk up the group tree for all of them; each row remembers whose ancestor it is.
      const { rows } = await sql<{ user_id: string; tenant_id: string; id: string; display_name: string; external_id: string | null }>`
        WITH RECURSIVE ancestors(user_id, group_id) AS (
          SELECT m.member_id, m.group_id FROM group_members AS m
          WHERE m.tenant_id = ${tenantId} AND m.member_type = 'User' AND m.member_id IN (${sql.join(part)})
          UNION
          SELECT a.user_id, m.group_id FROM group_members AS m JOIN ancestors AS a ON m.member_id = a.group_id
          WHERE m.tenant_id = ${tenantId} AND m.member_type = 'Group'
        )
        SELECT a.user_id, g.tenant_id, g.id, g.display_name, g.external_id
        FROM groups AS g JOIN ancestors AS a ON g.id = a.group_id
        WHERE g.tenant_id = ${tenantId}
        ORDER BY a.user_id, g.id`.execute(this.#db);
      for (const row of rows) {
        out.get(row.user_id)?.push({ tenantId: row.tenant_id, id: row.id, displayName: row.display_name, externalId: row.external_id ?? null });
      }
    }
    return out;
  }

  async usersInGroup(tenantId: string, groupId: string): Promise<string[]> {
    const { rows } = await sql<{ member_id: string }>`
      WITH RECURSIVE nested(group_id) AS (
        SELECT g.id FROM groups AS g WHERE g.tenant_id = ${tenantId} AND g.id = ${groupId}
        UNION
        SELECT m.member_id FROM group_members AS m JOIN nested AS n ON m.group_id = n.group_id
        WHERE m.tenant_id = ${tenantId} AND m.member_type = 'Group'
      )
      SELECT DISTINCT m.member_id FROM group_members AS m JOIN nested AS n ON m.group_id = n.group_id
      WHERE m.tenant_id = ${tenantId} AND m.member_type = 'User'
      ORDER BY m.member_id`.execute(this.#db);
    return rows.map((row) => row.member_id);
  }

  async userIds(tenantId: string, afterId: string | null, limit: number): Promise<string[]> {
    // Keyset paging on the primary key: each page costs the same however deep it is.
    let query = this.#db.selectFrom('users').select('id').where('tenant_id', '=', tenantId);
    if (afterId !== null) query = query.where('id', '>', afterId);
    const rows = await query.orderBy('id').limit(limit).execute();
    return rows.map((row) => row.id as string);
  }

  async tenantIds(): Promise<string[]> {
    // Tenants may be declared in the policy file rather than the tenants table; any tenant
    // holding users must still be reconciled.
    const { rows } = await sql<{ id: string }>`SELECT id FROM tenants UNION SELECT DISTINCT tenant_id FROM users ORDER BY 1`.execute(this.#db);
    return rows.map((row) => row.id);
  }
}
