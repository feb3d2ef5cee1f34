import { sql, type AliasedRawBuilder, type CompiledQuery, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { DirectoryReader, GroupRef, ListQuery, ListResult, MemberRef, ReadOptions, ResourceKind, StoredResource } from '../scim/resource-store.ts';
import { chunks } from '../domain/chunks.ts';
import type { DialectSql } from './dialect-sql.ts';
import { SAMPLE_EVERY, type ReadCache } from './read-cache.ts';
import { textBackedResource } from './text-backed-resource.ts';
import { compileFilter, compileSort } from './filter-sql.ts';
import type { ListQueryTemplates } from './list-query-templates.ts';

export const RESOURCE_TABLE = { User: 'users', Group: 'groups' } as const satisfies Record<ResourceKind, string>;

/**
 * A page that skips this many rows or more is read as ids first (late row lookup): skipped rows
 * then cost an index step each, not a row read (and on PostgreSQL its groups subquery).
 */
const LATE_LOOKUP_WALK = 100;

/** From this offset on, a cached result's pages start from position samples (ReadCache). */
const SAMPLED_OFFSET = 1000;

/** Names a result (kind, tenant, filter) by its COUNT query's text and values. */
function resultKey(kind: ResourceKind, compiled: CompiledQuery): string {
  return `${kind}\u0000${compiled.sql}\u0000${JSON.stringify(compiled.parameters)}`;
}

interface CacheEntry {
  cache: ReadCache;
  token: string;
  key: string;
}

export interface ResourceRow {
  tenant_id: string;
  id: string;
  data: unknown;
  version: number | string;
  created: string;
  last_modified: string;
  /** JSON array of [id, displayName] pairs, when the read asked for a user's groups. */
  groups?: unknown;
}

const COLUMNS = ['r.tenant_id', 'r.id', 'r.version', 'r.created', 'r.last_modified'] as const;

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
    /** Totals, page cursors and position samples of a tenant's list results while its data is unchanged (the store's plain reads). */
    private readonly cacheOf?: (tenantId: string, kind: ResourceKind) => ReadCache,
    /** Compiled lookups by filter shape (the store's plain reads). */
    private readonly templates?: ListQueryTemplates,
  ) {}

  protected toResource(kind: ResourceKind, row: ResourceRow): StoredResource {
    const fields = { kind, tenantId: row.tenant_id, id: row.id, version: Number(row.version), created: row.created, lastModified: row.last_modified };
    // JSON text (every read; a write's RETURNING brings parsed jsonb on PostgreSQL) is parsed when first read: a list page may never need it.
    const resource: StoredResource = typeof row.data === 'string' ? textBackedResource(fields, row.data) : { ...fields, data: this.d.parseJson(row.data) };
    if (row.groups !== undefined) {
      resource.groups = (this.d.parseJson(row.groups) as unknown as [string, string][]).map(([value, display]) => ({ value, display }));
    }
    return resource;
  }

  /**
   * A user's direct groups as one column of the user's own row (a correlated subquery), so a
   * lookup or a page costs one query rather than one more per page or per user.
   */
  private groupsColumn(): AliasedRawBuilder<unknown, 'groups'> {
    const pairs = this.d.jsonPairs(sql.ref('g.id'), sql.ref('g.display_name'), [sql.ref('g.display_name_lc'), sql.ref('g.id')]);
    return sql`(SELECT ${pairs} FROM group_members AS m
      JOIN groups AS g ON g.tenant_id = m.tenant_id AND g.id = m.group_id
      WHERE m.tenant_id = r.tenant_id AND m.member_id = r.id)`.as('groups');
  }

  private selection(kind: ResourceKind, groups: boolean | undefined) {
    // data as text on both stores: toResource parses it only when it is read (textBackedResource).
    const columns = [...COLUMNS, this.d.jsonAsText(sql.ref('r.data')).as('data')];
    return kind === 'User' && groups ? [...columns, this.groupsColumn()] : columns;
  }

  async get(kind: ResourceKind, tenantId: string, id: string, options: ReadOptions = {}): Promise<StoredResource | undefined> {
    let query = this.db
      .selectFrom(`${RESOURCE_TABLE[kind]} as r`)
      .select(this.selection(kind, options.groups))
      .where('r.tenant_id', '=', tenantId)
      .where('r.id', '=', id);
    // FOR UPDATE OF r: the row lock must not extend to the group rows the subquery reads.
    if (this.lockRows && options.lock !== false) query = query.forUpdate(['r']);
    const row = await query.executeTakeFirst();
    return row && this.toResource(kind, row as ResourceRow);
  }

  async list(kind: ResourceKind, tenantId: string, query: ListQuery): Promise<ListResult> {
    const offset = Math.max(0, query.startIndex - 1);
    // A filtered first page (every lookup by userName, externalId...): compiled once per filter shape.
    let firstPage: ResourceRow[] | undefined;
    if (query.filter && offset === 0 && query.count > 0 && this.templates) {
      const key = `${kind}\u0000${query.groups === true}\u0000${query.sortBy ?? ''}\u0000${query.sortOrder ?? ''}`;
      const compiled = this.templates.compiled(query.schema, key, query.filter, [tenantId, query.count], (filter, tenant, limit) =>
        this.page(kind, this.filtered(kind, tenant, { ...query, filter }), this.order(kind, query), query.groups).limit(limit as unknown as number).offset(0));
      if (compiled) {
        const rows = (await this.db.executeQuery<ResourceRow>(compiled)).rows;
        // A first page that is not full holds the whole result; a full one needs the COUNT below.
        if (rows.length < query.count) return { totalResults: rows.length, resources: rows.map((row) => this.toResource(kind, row)) };
        firstPage = rows;
      }
    }

    // Compile (and so validate) filter and sortBy before touching the database.
    const base = this.filtered(kind, tenantId, query);
    const order = this.order(kind, query);
    const countQuery = base.select((eb) => eb.fn.countAll().as('total'));
    // Asked of the cache only when a COUNT or an OFFSET walk is at stake (never for a lookup's short first page),
    // and only for a result its version covers (one that sees no updates serves unfiltered results only).
    let entry: Promise<CacheEntry> | undefined;
    const scoped = this.cacheOf?.(tenantId, kind);
    const cache = scoped && (scoped.seesUpdates || !query.filter) ? scoped : undefined;
    const cached = () => {
      if (!cache) return undefined;
      entry ??= cache.validate().then((token) => ({ cache, token, key: resultKey(kind, countQuery.compile()) }));
      return entry;
    };
    const count = async () => {
      if (!query.filter && this.d.keptCounts) return this.keptCount(kind, tenantId);
      const c = await cached();
      const known = c?.cache.count(c.key);
      if (known !== undefined) return known;
      const total = Number((await countQuery.executeTakeFirstOrThrow()).total);
      c?.cache.setCount(c.token, c.key, total);
      return total;
    };
    if (query.count <= 0) return { totalResults: await count(), resources: [] };

    // In the default order (by id), a page that continues one served before starts after its last id.
    // The cache is asked before the page is read, so a cursor is only ever stored under the data
    // version it was read at; a filtered first page (a lookup) does without, its next page walks.
    const byId = query.sortBy === undefined;
    const c = byId && (offset > 0 || !query.filter) ? await cached() : undefined;
    let after = offset > 0 ? c?.cache.cursor(c.key, offset) : undefined;
    let skip = after === undefined ? offset : 0;
    // A deep page nothing ended at: start from the position sample below it.
    if (c && after === undefined && offset >= SAMPLED_OFFSET && !firstPage) ({ after, skip } = await this.sampled(base, order, c, offset));
    let rows: ResourceRow[];
    if (firstPage) {
      rows = firstPage;
    } else if (skip < LATE_LOOKUP_WALK) {
      // Near the start, or just after a known id: one query.
      rows = (await this.page(kind, base, order, query.groups, after).limit(query.count).offset(skip).execute()) as ResourceRow[];
    } else {
      rows = await this.lateLookup(kind, tenantId, after === undefined ? base : base.where('r.id', '>', after), order, query.count, skip, query.groups);
    }
    // A full page may have a next one: remember where it ended.
    if (c && rows.length === query.count) c.cache.setCursor(c.token, c.key, offset + rows.length, rows[rows.length - 1]!.id);
    // A short page that is not empty ends the result: its size gives the total without a COUNT.
    const totalResults = rows.length > 0 && rows.length < query.count ? offset + rows.length : await count();
    return { totalResults, resources: rows.map((row) => this.toResource(kind, row)) };
  }

  /** A tenant's users or groups, as the triggers of DialectSql.keptCounts keep the number. */
  private async keptCount(kind: ResourceKind, tenantId: string): Promise<number> {
    const row = await this.db
      .selectFrom('resource_counts')
      .select((eb) => eb.fn.sum('n').as('total'))
      .where('tenant_id', '=', tenantId)
      .where('kind', '=', kind)
      .executeTakeFirst();
    return Number(row?.total ?? 0);
  }

  /**
   * Where a deep page of a cached result starts: after the position sample at or below
   * `offset`, walking the rest. Samples are read at most once per data version, when enough
   * such pages asked (ReadCache.shouldSample): one window query over the result's ids, about as
   * dear as 20-30 deep pages.
   */
  private async sampled(base: SelectQueryBuilder<any, any, {}>, order: RawBuilder<unknown>[], c: CacheEntry, offset: number): Promise<{ after: string | undefined; skip: number }> {
    let ids = c.cache.samples(c.key);
    if (!ids && c.cache.shouldSample(c.token)) {
      const numbered = base.select(['r.id', sql<number>`row_number() over (order by ${sql.join(order)})`.as('pos')]).as('p');
      ids = (await this.db.selectFrom(numbered).select('p.id').where(sql`p.pos % ${SAMPLE_EVERY}`, '=', 0).orderBy('p.pos').execute()).map((row) => row.id as string);
      c.cache.setSamples(c.token, c.key, ids);
    }
    const below = ids ? Math.min(Math.floor(offset / SAMPLE_EVERY), ids.length) : 0;
    return below === 0 ? { after: undefined, skip: offset } : { after: ids![below - 1], skip: offset - below * SAMPLE_EVERY };
  }

  /** The tenant's resources matching the filter (validated here: 400 invalidFilter before any read). */
  private filtered(kind: ResourceKind, tenantId: unknown, query: Pick<ListQuery, 'filter' | 'schema'>) {
    const where = query.filter && compileFilter(query.filter, query.schema, kind, this.d);
    const base = this.db.selectFrom(`${RESOURCE_TABLE[kind]} as r`).where('r.tenant_id', '=', tenantId);
    return where ? base.where(where) : base;
  }

  private order(kind: ResourceKind, query: Pick<ListQuery, 'sortBy' | 'sortOrder' | 'schema'>): RawBuilder<unknown>[] {
    return compileSort(query.sortBy, query.sortOrder, query.schema, kind, this.d);
  }

  /** A page's rows in order (before LIMIT/OFFSET), optionally after a known last id. */
  private page(kind: ResourceKind, base: ReturnType<KyselyDirectoryReader['filtered']>, order: RawBuilder<unknown>[], groups: boolean | undefined, after?: string) {
    let page = base.select(this.selection(kind, groups));
    if (after !== undefined) page = page.where('r.id', '>', after);
    for (const term of order) page = page.orderBy(term);
    return page;
  }

  /**
   * Late row lookup for deep pages: page through ids only (an index walk that neither reads nor
   * sorts JSON), then load the page's rows by primary key, so a full import stays cheap.
   */
  private async lateLookup(
    kind: ResourceKind, tenantId: string, base: SelectQueryBuilder<any, any, {}>, order: RawBuilder<unknown>[], limit: number, offset: number, groups: boolean | undefined,
  ): Promise<ResourceRow[]> {
    let page = base.select('r.id');
    for (const term of order) page = page.orderBy(term);
    const ids = (await page.limit(limit).offset(offset).execute()).map((row) => row.id as string);
    const byId = new Map<string, ResourceRow>();
    for (const part of chunks(ids)) {
      const found = await this.db
        .selectFrom(`${RESOURCE_TABLE[kind]} as r`)
        .select(this.selection(kind, groups))
        .where('r.tenant_id', '=', tenantId)
        .where('r.id', 'in', part)
        .execute();
      for (const row of found) byId.set(row.id as string, row as ResourceRow);
    }
    // A row deleted between the two reads is left out of the page rather than failing it.
    return ids.flatMap((id) => byId.get(id) ?? []);
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

  async groupsOf(tenantId: string, memberId: string): Promise<GroupRef[]> {
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
    // FOR SHARE keeps a member from being deleted between this check and the member row insert.
    // PostgreSQL allows no locking clause beside UNION, but does inside WITH: one round trip.
    const ofKind = (kind: ResourceKind, part: string[]) =>
      this.db.selectFrom(RESOURCE_TABLE[kind]).select('id').where('tenant_id', '=', tenantId).where('id', 'in', part).$if(this.lockRows, (q) => q.forShare());
    for (const part of chunks([...new Set(ids)])) {
      const rows = await this.db
        .with('u', () => ofKind('User', part))
        .with('g', () => ofKind('Group', part))
        .selectFrom('u')
        .select(['id', sql<string>`'User'`.as('kind')])
        .unionAll((eb) => eb.selectFrom('g').select(['id', sql<string>`'Group'`.as('kind')]))
        .execute();
      for (const row of rows) found.set(row.id as string, row.kind as 'User' | 'Group');
    }
    return found;
  }
}
