import { sql, type Compilable, type Kysely } from 'kysely';
import type { DirectoryChange, RequestChange, RequestContext } from '../domain/directory-change.ts';
import { badRequest, notFound, ScimError, uniqueness } from '../domain/errors.ts';
import type { AddedById, DirectoryWriter, NewResource, ReadOptions, ResourceKind, StoredResource } from '../scim/resource-store.ts';
import { ahead, isHeldFailure } from './held-statements.ts';
import type { ChangeSink } from './database.ts';
import type { DialectSql } from './dialect-sql.ts';
import { QueryTemplates, type QueryTemplate } from './query-template.ts';
import { chunks } from '../domain/chunks.ts';
import { KyselyDirectoryReader, RESOURCE_TABLE, type ResourceRow } from './kysely-directory-reader.ts';
import { textBackedResource } from './text-backed-resource.ts';

const RETURNED = ['tenant_id', 'id', 'data', 'version', 'created', 'last_modified'] as const;

const now = () => new Date().toISOString();
const text = (value: unknown): string | null => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null);

/**
 * The writes of one ResourceStore.write call, all on its transaction. On PostgreSQL, get() locks
 * the row it returns until commit: a read-modify-write (PATCH reads, then updates with the read
 * version) waits for a concurrent one instead of failing it with 412; resolveMembers() share-locks
 * the members it finds, so a concurrent delete cannot leave a member row pointing at nothing
 * (SQLite runs one write at a time, so neither race exists there). Uniqueness is enforced by
 * the database's unique indexes (two concurrent inserts cannot both pass a pre-check); on
 * PostgreSQL the violation aborts the transaction, so a 409 must end the write, as it does when
 * it propagates out of `fn`.
 */
/** Compiled inserts, updates and touches by dialect, kind and column list (a handful in all). */
const TEMPLATES = new QueryTemplates();

export class KyselyDirectoryWriter extends KyselyDirectoryReader implements DirectoryWriter {
  constructor(
    tx: Kysely<any>,
    d: DialectSql,
    private readonly context: RequestContext,
    private readonly sinks: readonly ChangeSink[],
    private readonly status?: number,
  ) {
    super(tx, d, d.rowLock);
  }

  /** The columns derived from `data` on every write; required names are checked here too. */
  private columns(kind: ResourceKind, data: Record<string, unknown>): Record<string, unknown> {
    if (kind === 'User') {
      const userName = text(data.userName);
      if (!userName) throw badRequest('invalidValue', 'userName is required');
      // Entra has sent active as the string "False"; anything but an explicit false is active.
      const active = !(data.active === false || (typeof data.active === 'string' && data.active.toLowerCase() === 'false'));
      return {
        user_name: userName,
        user_name_lc: userName.toLowerCase(),
        external_id: text(data.externalId),
        display_name: text(data.displayName),
        active: this.d.bool(active),
      };
    }
    const displayName = text(data.displayName);
    if (!displayName) throw badRequest('invalidValue', 'displayName is required');
    return { display_name: displayName, display_name_lc: displayName.toLowerCase(), external_id: text(data.externalId) };
  }

  /** A unique-index violation as 409 uniqueness (of the held insert when the held statements failed); anything else as it is. */
  private conflictOf(kind: ResourceKind, data: Record<string, unknown>, error: unknown): unknown {
    const constraint = this.d.uniqueViolation(error);
    if (constraint === undefined) return error;
    const held = isHeldFailure(error) ? this.#heldInsert : undefined;
    const subject = held?.data ?? data;
    if (constraint.includes('user_name_lc')) return uniqueness(`userName "${String(subject.userName)}" is already taken`);
    if (constraint.includes('display_name_lc')) return uniqueness(`a group named "${String(subject.displayName)}" already exists`);
    return uniqueness(`a ${held?.kind ?? kind} with this id already exists`);
  }

  private conflict(kind: ResourceKind, data: Record<string, unknown>, error: unknown): never {
    throw this.conflictOf(kind, data, error);
  }

  /**
   * A write's first insert is held until the transaction's next statement (ahead): a POST then
   * costs one round trip on PostgreSQL. Its unique violation surfaces with that statement, or
   * with the COMMIT, tagged as a held statement's failure.
   */
  #heldInsert: { kind: ResourceKind; data: Record<string, unknown> } | undefined;

  /** An error that escaped the write or its commit, with a unique violation of the held insert as 409. */
  failure(error: unknown): unknown {
    const held = this.#heldInsert;
    return held && isHeldFailure(error) ? this.conflictOf(held.kind, held.data, error) : error;
  }

  /** A statement every write of its kind runs, built and compiled once per shape (`key`) and dialect. */
  private template(key: string, arity: number, build: (db: Kysely<any>, ...values: unknown[]) => Compilable): QueryTemplate<unknown[]> {
    return TEMPLATES.get(`${this.d.name}\u0000${key}`, this.db, arity, build);
  }

  async insert(kind: ResourceKind, tenantId: string, resource: NewResource): Promise<StoredResource> {
    const at = now();
    const text = JSON.stringify(resource.data);
    const row = {
      tenant_id: tenantId,
      id: resource.id,
      ...this.columns(kind, resource.data),
      data: text,
      version: 1,
      created: at,
      last_modified: at,
    };
    const columns = Object.keys(row);
    const template = this.template(`insert\u0000${kind}\u0000${columns.join(',')}`, columns.length, (db, ...values) =>
      db.insertInto(RESOURCE_TABLE[kind]).values(Object.fromEntries(columns.map((column, i) => [column, values[i]]))));
    const values = Object.values(row);
    const sent = this.#heldInsert === undefined ? template.executeAhead(this.db, ...values) : template.execute(this.db, ...values);
    this.#heldInsert ??= { kind, data: resource.data };
    await sent.catch((error: unknown) => this.conflict(kind, resource.data, error));
    // The stored text, parsed if read: a copy the caller's later changes to resource.data cannot reach.
    return textBackedResource({ kind, tenantId, id: resource.id, version: 1, created: at, lastModified: at }, text);
  }

  async update(kind: ResourceKind, tenantId: string, id: string, data: Record<string, unknown>, expectedVersion?: number): Promise<StoredResource> {
    const set = { ...this.columns(kind, data), data: JSON.stringify(data), last_modified: now() };
    const columns = Object.keys(set);
    const checked = expectedVersion !== undefined;
    const template = this.template(`update\u0000${kind}\u0000${columns.join(',')}\u0000${checked}`, columns.length + (checked ? 3 : 2), (db, ...values) => {
      let query = db
        .updateTable(RESOURCE_TABLE[kind])
        .set({ ...Object.fromEntries(columns.map((column, i) => [column, values[i]])), version: sql`version + 1` })
        .where('tenant_id', '=', values[columns.length])
        .where('id', '=', values[columns.length + 1]);
      if (checked) query = query.where('version', '=', values[columns.length + 2]);
      return query.returning(RETURNED);
    });
    const values = [...Object.values(set), tenantId, id, ...(checked ? [expectedVersion] : [])];
    const [row] = (await template.execute<ResourceRow>(this.db, ...values).catch((error: unknown) => this.conflict(kind, data, error))).rows;
    if (row) return this.toResource(kind, row as ResourceRow);
    const current = await this.get(kind, tenantId, id);
    if (!current) throw notFound(`${kind} ${id} not found`);
    throw new ScimError(412, `${kind} ${id} is at version ${current.version}, not ${String(expectedVersion)}`);
  }

  async remove(kind: ResourceKind, tenantId: string, id: string): Promise<boolean> {
    const deleted = await this.db.deleteFrom(RESOURCE_TABLE[kind]).where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
    if (Number(deleted.numDeletedRows) === 0) return false;
    // The rest returns nothing this write reads, so it is held for the next statement (ahead):
    // on PostgreSQL a DELETE's clean-up travels with its COMMIT. In this order: the groups that
    // lose this member change too (their ETags must move), then the member rows go.
    const later = (query: Compilable) => this.db.executeQuery(ahead(query.compile()));
    await later(this.db
      .updateTable('groups')
      .set({ version: sql`version + 1`, last_modified: now() })
      .where('tenant_id', '=', tenantId)
      .where(
        'id',
        'in',
        this.db.selectFrom('group_members').select('group_id').where('tenant_id', '=', tenantId).where('member_id', '=', id).where('member_type', '=', kind),
      ));
    await later(this.db.deleteFrom('group_members').where('tenant_id', '=', tenantId).where('member_id', '=', id).where('member_type', '=', kind));
    if (kind === 'Group') await later(this.db.deleteFrom('group_members').where('tenant_id', '=', tenantId).where('group_id', '=', id));
    return true;
  }

  /**
   * Groups this write has read, and of those the ones it holds locked until commit (every read on
   * SQLite, which runs one write at a time). A group read without a lock (ReadOptions.lock) is
   * serialised by the touch() that must follow its member changes, which also fails if the group
   * was deleted meanwhile.
   */
  readonly #readGroups = new Set<string>();
  readonly #lockedGroups = new Set<string>();

  override async get(kind: ResourceKind, tenantId: string, id: string, options?: ReadOptions): Promise<StoredResource | undefined> {
    const found = await super.get(kind, tenantId, id, options);
    if (found && kind === 'Group') this.#heldGroup(tenantId, id, options?.lock !== false);
    return found;
  }

  #heldGroup(tenantId: string, groupId: string, locked: boolean): void {
    const key = `${tenantId}\u0000${groupId}`;
    this.#readGroups.add(key);
    if (locked || !this.d.rowLock) this.#lockedGroups.add(key);
  }

  /**
   * Before a write of a group's member rows: rejects an unknown group and, where `lock` says so,
   * locks its row until commit (PostgreSQL). A group this write has read (a PATCH reads it
   * first), or holds locked, needs no second round trip.
   *
   * Adding members needs no lock first: each inserted row's foreign key share-locks the group's
   * key, so a concurrent DELETE of the group waits for the insert's commit. Removing them does:
   * a removal holds its member rows and only then moves the group's version (touch), while a
   * group DELETE holds the group and then deletes its member rows, so unlocked removals racing a
   * DELETE deadlocked (PostgreSQL detects it after deadlock_timeout and one write is retried).
   * Locking the group first puts both in the same order.
   */
  private async lockGroup(tenantId: string, groupId: string, lock: boolean): Promise<void> {
    const key = `${tenantId}\u0000${groupId}`;
    if (this.#lockedGroups.has(key) || (!lock && this.#readGroups.has(key))) return;
    let query = this.db.selectFrom('groups').select('id').where('tenant_id', '=', tenantId).where('id', '=', groupId);
    if (this.d.rowLock && lock) query = query.forUpdate();
    if (!(await query.executeTakeFirst())) throw notFound(`Group ${groupId} not found`);
    this.#heldGroup(tenantId, groupId, lock);
  }

  async addMembers(tenantId: string, groupId: string, members: { value: string; type: 'User' | 'Group' }[]): Promise<string[]> {
    await this.lockGroup(tenantId, groupId, false);
    // In id order: concurrent member changes of one group take row locks in the same order, so
    // two of them cannot deadlock on each other's member rows.
    const unique = [...new Map(members.map((m) => [m.value, m])).values()].sort((a, b) => (a.value < b.value ? -1 : a.value > b.value ? 1 : 0));
    const added: string[] = [];
    for (const part of chunks(unique)) {
      const rows = await this.db
        .insertInto('group_members')
        .values(part.map((m) => ({ tenant_id: tenantId, group_id: groupId, member_id: m.value, member_type: m.type })))
        .onConflict((oc) => oc.columns(['group_id', 'member_id']).doNothing())
        .returning('member_id')
        .execute();
      added.push(...rows.map((row) => row.member_id as string));
    }
    return added;
  }

  async addMembersById(tenantId: string, groupId: string, ids: string[], options: { touch?: boolean } = {}): Promise<AddedById> {
    const unique = [...new Set(ids)].sort();
    if (!this.d.writableWith) {
      const known = await this.resolveMembers(tenantId, unique);
      const added = await this.addMembers(tenantId, groupId, unique.flatMap((value) => {
        const type = known.get(value);
        return type ? [{ value, type }] : [];
      }));
      const touched = options.touch && added.length > 0 ? await this.touch('Group', tenantId, groupId) : undefined;
      return { added, unknown: unique.filter((id) => !known.has(id)), ...(touched ? { touched } : {}) };
    }
    await this.lockGroup(tenantId, groupId, false);
    const found = new Set<string>();
    const added: string[] = [];
    const parts = chunks(unique);
    // The usual PATCH adds one member: its statement moves the group's version too, if it added
    // anyone, so the write takes one round trip less.
    const touchWith = options.touch === true && parts.length === 1;
    let touched: StoredResource | undefined;
    // As resolveMembers() and addMembers() do, in one statement: the members found are
    // share-locked (a concurrent delete waits), then their rows are inserted in id order. Built
    // once per id count (at most CHUNK shapes): building it cost more than running it.
    for (const part of parts) {
      const template = this.template(`addMembersById\u0000${part.length}\u0000${touchWith}`, part.length + (touchWith ? 3 : 2), (db, tenant, group, ...rest) => {
        const ids = touchWith ? rest.slice(0, -1) : rest;
        const ofKind = (kind: ResourceKind) =>
          db.selectFrom(RESOURCE_TABLE[kind]).select('id').where('tenant_id', '=', tenant).where('id', 'in', ids).forShare();
        const adding = db
          .with('u', () => ofKind('User'))
          .with('g', () => ofKind('Group'))
          .with('known', (qc) => qc.selectFrom('u').select(['id', sql<string>`'User'`.as('kind')])
            .unionAll(qc.selectFrom('g').select(['id', sql<string>`'Group'`.as('kind')])))
          .with('ins', (qc) => qc
            .insertInto('group_members')
            .columns(['tenant_id', 'group_id', 'member_id', 'member_type'])
            .expression(qc.selectFrom('known').select([sql`cast(${tenant} as text)`.as('t'), sql`cast(${group} as text)`.as('g'), 'id', 'kind']).orderBy('id'))
            .onConflict((oc) => oc.columns(['group_id', 'member_id']).doNothing())
            .returning('member_id'));
        if (!touchWith) return adding.selectFrom('known').leftJoin('ins', 'ins.member_id', 'known.id').select(['known.id as id', 'ins.member_id as added']);
        return adding
          .with('upd', (qc) => qc
            .updateTable('groups')
            .set({ version: sql`version + 1`, last_modified: rest.at(-1) })
            .where('tenant_id', '=', tenant)
            .where('id', '=', group)
            .where((eb) => eb.exists(eb.selectFrom('ins').select('member_id')))
            .returning(RETURNED))
          .selectFrom('known')
          .leftJoin('ins', 'ins.member_id', 'known.id')
          .leftJoin('upd', (join) => join.onTrue())
          .select(['known.id as id', 'ins.member_id as added', ...RETURNED.map((column) => `upd.${column} as touched_${column}` as const)]);
      });
      const { rows } = await template.execute<Record<string, unknown> & { id: string; added: string | null }>(this.db, tenantId, groupId, ...part, ...(touchWith ? [now()] : []));
      for (const row of rows) {
        found.add(row.id);
        if (row.added !== null) added.push(row.id);
        if (touchWith && row.touched_version !== null && touched === undefined) {
          touched = this.toResource('Group', Object.fromEntries(RETURNED.map((column) => [column, row[`touched_${column}`]])) as unknown as ResourceRow);
        }
      }
    }
    // As touch() does: a group deleted since it was read fails the write.
    if (touchWith && added.length > 0 && touched === undefined) throw notFound(`Group ${groupId} not found`);
    if (options.touch && !touchWith && added.length > 0) touched = await this.touch('Group', tenantId, groupId);
    return { added, unknown: unique.filter((id) => !found.has(id)), ...(touched ? { touched } : {}) };
  }

  async removeMembers(tenantId: string, groupId: string, ids: string[]): Promise<string[]> {
    await this.lockGroup(tenantId, groupId, true);
    const removed: string[] = [];
    for (const part of chunks([...new Set(ids)].sort())) {
      const rows = await this.db
        .deleteFrom('group_members')
        .where('tenant_id', '=', tenantId)
        .where('group_id', '=', groupId)
        .where('member_id', 'in', part)
        .returning('member_id')
        .execute();
      removed.push(...rows.map((row) => row.member_id as string));
    }
    return removed;
  }

  async clearMembers(tenantId: string, groupId: string): Promise<string[]> {
    await this.lockGroup(tenantId, groupId, true);
    const rows = await this.db.deleteFrom('group_members').where('tenant_id', '=', tenantId).where('group_id', '=', groupId).returning('member_id').execute();
    return rows.map((row) => row.member_id as string);
  }

  async touch(kind: ResourceKind, tenantId: string, id: string): Promise<StoredResource> {
    // One atomic UPDATE: concurrent touches each add one, none is lost.
    const template = this.template(`touch\u0000${kind}`, 3, (db, lastModified, tenant, resource) => db
      .updateTable(RESOURCE_TABLE[kind])
      .set({ version: sql`version + 1`, last_modified: lastModified })
      .where('tenant_id', '=', tenant)
      .where('id', '=', resource)
      .returning(RETURNED));
    const [row] = (await template.execute<ResourceRow>(this.db, now(), tenantId, id)).rows;
    if (!row) throw notFound(`${kind} ${id} not found`);
    return this.toResource(kind, row as ResourceRow);
  }

  /** The changes emitted so far, for the sinks' beforeCommit (see KyselyResourceStore). */
  readonly changes: RequestChange[] = [];

  async emit(change: DirectoryChange): Promise<void> {
    const made: RequestChange = { context: this.context, change, ...(this.status === undefined ? {} : { status: this.status }) };
    for (const sink of this.sinks) await sink.record?.(this.db, this.d.name, made);
    this.changes.push(made);
  }
}
