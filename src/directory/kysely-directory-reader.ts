import type { Kysely } from 'kysely';
import type { DirectoryReader, ListQuery, ListResult, MemberRef, ResourceKind, StoredResource } from '../scim/resource-store.ts';
import type { DialectSql } from './dialect-sql.ts';
import { compileFilter, compileSort } from './filter-sql.ts';

export const RESOURCE_TABLE = { User: 'users', Group: 'groups' } as const satisfies Record<ResourceKind, string>;

/** Bound on ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits. */
const ID_CHUNK = 500;

export function chunks<T>(items: readonly T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += ID_CHUNK) out.push(items.slice(i, i + ID_CHUNK));
  return out;
}

export interface ResourceRow {
  tenant_id: string;
  id: string;
  data: unknown;
  version: number | string;
  created: string;
  last_modified: string;
}

/**
 * The read side of the directory over a Kysely executor: the database for plain reads, or the
 * write transaction inside ResourceStore.write so a writer sees its own changes.
 */
export class KyselyDirectoryReader implements DirectoryReader {
  constructor(
    protected readonly db: Kysely<any>,
    protected readonly d: DialectSql,
    /** Inside a write on PostgreSQL: reads lock the rows they return (see KyselyDirectoryWriter). */
    private readonly lockRows = false,
  ) {}

  protected toResource(kind: ResourceKind, row: ResourceRow): StoredResource {
    return {
      kind,
      tenantId: row.tenant_id,
      id: row.id,
      data: this.d.parseJson(row.data),
      version: Number(row.version),
      created: row.created,
      lastModified: row.last_modified,
    };
  }

  async get(kind: ResourceKind, tenantId: string, id: string): Promise<StoredResource | undefined> {
    let query = this.db
      .selectFrom(RESOURCE_TABLE[kind])
      .select(['tenant_id', 'id', 'data', 'version', 'created', 'last_modified'])
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id);
    if (this.lockRows) query = query.forUpdate();
    const row = await query.executeTakeFirst();
    return row && this.toResource(kind, row as ResourceRow);
  }

  async list(kind: ResourceKind, tenantId: string, query: ListQuery): Promise<ListResult> {
    // Compile (and so validate) filter and sortBy before touching the database.
    const where = query.filter && compileFilter(query.filter, query.schema, kind, this.d);
    const order = compileSort(query.sortBy, query.sortOrder, query.schema, kind, this.d);
    let base = this.db.selectFrom(`${RESOURCE_TABLE[kind]} as r`).where('r.tenant_id', '=', tenantId);
    if (where) base = base.where(where);

    const counted = await base.select((eb) => eb.fn.countAll().as('total')).executeTakeFirstOrThrow();
    const totalResults = Number(counted.total);
    const offset = Math.max(0, query.startIndex - 1);
    if (query.count <= 0 || offset >= totalResults) return { totalResults, resources: [] };

    // Late row lookup: page through ids only (an index walk that neither reads nor sorts JSON), then load
    // the page's rows by primary key. Deep pages of a full import stay cheap on both stores.
    let page = base.select('r.id');
    for (const term of order) page = page.orderBy(term);
    const ids = (await page.limit(query.count).offset(offset).execute()).map((row) => row.id as string);
    if (ids.length === 0) return { totalResults, resources: [] };
    const byId = new Map<string, ResourceRow>();
    for (const part of chunks(ids)) {
      const rows = await this.db
        .selectFrom(RESOURCE_TABLE[kind])
        .select(['tenant_id', 'id', 'data', 'version', 'created', 'last_modified'])
        .where('tenant_id', '=', tenantId)
        .where('id', 'in', part)
        .execute();
      for (const row of rows) byId.set(row.id as string, row as ResourceRow);
    }
    // A row deleted between the two reads is left out of the page rather than failing it.
    const resources = ids.flatMap((id) => {
      const row = byId.get(id);
      return row ? [this.toResource(kind, row)] : [];
    });
    return { totalResults, resources };
  }

  async members(tenantId: string, groupId: string): Promise<MemberRef[]> {
    // One query: each member's current userName / displayName comes from a join, not a lookup per member.
    const rows = await this.db
      .selectFrom('group_members as m')
      .leftJoin('users as u', (join) => join.onRef('u.tenant_id', '=', 'm.tenant_id').onRef('u.id', '=', 'm.member_id').on('m.member_type', '=', 'User'))
      .leftJoin('groups as g', (join) => join.onRef('g.tenant_id', '=', 'm.tenant_id').onRef('g.id', '=', 'm.member_id').on('m.member_type', '=', 'Group'))
      .select(['m.member_id', 'm.member_type', 'u.user_name', 'g.display_name'])
      .where('m.tenant_id', '=', tenantId)
      .where('m.group_id', '=', groupId)
      .orderBy('m.member_id')
      .execute();
    return rows.map((row) => {
      const display = (row.user_name ?? row.display_name) as string | null;
      return { value: row.member_id as string, type: row.member_type as 'User' | 'Group', ...(display !== null && { display }) };
    });
  }

  async groupsOf(tenantId: string, memberId: string): Promise<{ value: string; display: string }[]> {
    const rows = await this.db
      .selectFrom('group_members as m')
      .innerJoin('groups as g', (join) => join.onRef('g.tenant_id', '=', 'm.tenant_id').onRef('g.id', '=', 'm.group_id'))
      .select(['g.id', 'g.display_name'])
      .where('m.tenant_id', '=', tenantId)
      .where('m.member_id', '=', memberId)
      .orderBy('g.display_name_lc')
      .orderBy('g.id')
      .execute();
    return rows.map((row) => ({ value: row.id as string, display: row.display_name as string }));
  }

  async resolveMembers(tenantId: string, ids: string[]): Promise<Map<string, 'User' | 'Group'>> {
    const found = new Map<string, 'User' | 'Group'>();
    for (const part of chunks([...new Set(ids)])) {
      for (const kind of ['User', 'Group'] as const) {
        let query = this.db.selectFrom(RESOURCE_TABLE[kind]).select('id').where('tenant_id', '=', tenantId).where('id', 'in', part);
        // FOR SHARE keeps a member from being deleted between this check and the member row insert.
        if (this.lockRows) query = query.forShare();
        for (const row of await query.execute()) found.set(row.id as string, kind);
      }
    }
    return found;
  }
}
