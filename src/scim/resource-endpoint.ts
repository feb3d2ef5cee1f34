import { setTimeout as sleep } from 'node:timers/promises';
import type { DirectoryChange, RequestContext } from '../domain/directory-change.ts';
import { badRequest, notFound, ScimError } from '../domain/errors.ts';
import { checkIfMatch, etagMatches, etagOf } from './etag.ts';
import { parseFilter } from './filter/parse-filter.ts';
import { parseListParams, type ListParams, type PagingLimits } from './list-params.ts';
import { JsonText, listResponse, type ListedResource, type ScimResponse } from './messages.ts';
import { applyPatch, type MemberDelta } from './patch/apply-patch.ts';
import { renderResource, renderResourceText, type RenderExtras } from './render-resource.ts';
import { extractMembers, normalizeResource } from './resource-input/normalize-resource.ts';
import type { DirectoryReader, DirectoryWriter, ReadOptions, ResourceStore, StoredResource } from './resource-store.ts';
import type { ResourceTypeDef } from './schema/attribute.ts';
import { defaultHiddenKeys, projectAttributes } from './schema/project-attributes.ts';
import { timeOrderedId } from './time-ordered-id.ts';

/**
 * Attempts of one read-modify-write (PUT, PATCH) that lost a race to a concurrent writer. Each
 * write re-reads the resource and updates it only at the version it read; on PostgreSQL another
 * transaction may commit in between (SQLite runs one write at a time, so it never loses).
 */
const MAX_WRITE_ATTEMPTS = 30;

/** One SCIM call's identity and preconditions; no HTTP in here. */
export interface ScimCall {
  tenantId: string;
  /** SCIM base URL, e.g. https://host/scim/v2, for meta.location. */
  baseUrl: string;
  context: RequestContext;
  ifMatch?: string;
  ifNoneMatch?: string;
}

/** RFC 7644 §3.2-§3.6 operations on one resource type (Users or Groups). */
export class ResourceEndpoint {
  constructor(
    readonly type: ResourceTypeDef,
    private readonly store: ResourceStore,
    private readonly paging: PagingLimits,
  ) {}

  private get kind() {
    return this.type.name;
  }

  async get(call: ScimCall, id: string, query: Record<string, unknown>): Promise<ScimResponse> {
    const params = parseListParams(query, this.paging);
    const stored = await this.mustGet(this.store, call.tenantId, id, { groups: this.loadsGroups(params) });
    if (call.ifNoneMatch !== undefined && etagMatches(call.ifNoneMatch, stored.version)) {
      return { status: 304, etag: etagOf(stored.version) };
    }
    const body = await this.render(this.store, call, stored, params);
    return { status: 200, body, etag: etagOf(stored.version) };
  }

  async list(call: ScimCall, raw: Record<string, unknown>): Promise<ScimResponse> {
    const params = parseListParams(raw, this.paging);
    const result = await this.store.list(this.kind, call.tenantId, {
      ...(params.filter === undefined ? {} : { filter: parseFilter(params.filter) }),
      ...(params.sortBy === undefined ? {} : { sortBy: params.sortBy }),
      ...(params.sortOrder === undefined ? {} : { sortOrder: params.sortOrder }),
      startIndex: params.startIndex,
      count: params.count,
      schema: this.type,
      groups: this.loadsGroups(params),
    });
    const resources = await Promise.all(result.resources.map((r) => this.renderListed(call, r, params)));
    return { status: 200, body: listResponse(result.totalResults, params.startIndex, resources) };
  }

  async create(call: ScimCall, body: unknown): Promise<ScimResponse> {
    const data = normalizeResource(this.type, body, 'create');
    const members = this.kind === 'Group' ? extractMembers(body) : undefined;
    const stored = await this.store.write(call.context, async (w) => {
      // Time-ordered ids (UUIDv7): a new resource's primary-key and member-row index entries go
      // to the end of their indexes instead of a random page each, so a group commit writes a
      // few index pages to the WAL instead of one per write and index (RFC 7643 §3.1 asks only
      // for a unique, stable, server-assigned id).
      const created = await w.insert(this.kind, call.tenantId, { id: timeOrderedId(), data });
      await w.emit(this.change(created, 'created'));
      if (members && members.length > 0) {
        await this.applyMembers(w, call.tenantId, created.id, { clear: false, add: members, remove: [] }, false);
        return w.touch(this.kind, call.tenantId, created.id);
      }
      // A new user is in no group yet (`groups` is readOnly).
      return this.kind === 'User' ? { ...created, groups: [] } : created;
    }, 201);
    return this.written(call, stored, 201);
  }

  /** PUT (§3.5.1): replaces every writable attribute; for Groups a `members` array replaces membership. */
  async replace(call: ScimCall, id: string, body: unknown): Promise<ScimResponse> {
    const stored = await this.readModifyWrite(call, async (w) => {
      const current = await this.mustGet(w, call.tenantId, id, { groups: this.kind === 'User' });
      checkIfMatch(call.ifMatch, current.version);
      const data = normalizeResource(this.type, body, 'replace', current.data);
      let updated = await w.update(this.kind, call.tenantId, id, data, current.version);
      await w.emit(this.change(updated, 'updated'));
      const members = this.kind === 'Group' ? extractMembers(body) : undefined;
      if (members !== undefined) {
        updated = (await this.applyMembers(w, call.tenantId, id, { clear: true, add: members, remove: [] }, true)) ?? updated;
      }
      return withGroupsOf(current, updated);
    }, 200);
    return this.written(call, stored, 200);
  }

  /**
   * PATCH (§3.5.2). Users answer 200 with the resource; Groups answer 204, so that a member
   * change to a 50,000-member group never reads or renders the other members.
   */
  async patch(call: ScimCall, id: string, body: unknown): Promise<ScimResponse> {
    // A group's member changes need no lock on its row until its version moves (touch, last), so
    // concurrent member PATCHes (Entra's bursts) hold it for a round trip or two, not the whole
    // write. A change of the group's own attributes, or an If-Match, reads it locked.
    const lateLock = this.kind === 'Group' && call.ifMatch === undefined;
    const status = this.kind === 'Group' ? 204 : 200;
    const stored = await this.readModifyWrite(call, async (w) => {
      const read = (lock: boolean) => this.mustGet(w, call.tenantId, id, { groups: this.kind === 'User', lock });
      const apply = (resource: StoredResource) =>
        // The id lets the engine accept Okta's resent own id and refuse a different one (400 mutability).
        applyPatch(this.type, resource.data, body, () => w.members(call.tenantId, id), { id: resource.id });
      const changesData = (patched: { data: unknown }, resource: StoredResource) => JSON.stringify(patched.data) !== JSON.stringify(resource.data);
      let current = await read(!lateLock);
      checkIfMatch(call.ifMatch, current.version);
      let result = await apply(current);
      let dataChanged = result.changed && changesData(result, current);
      if (lateLock && dataChanged) {
        current = await read(true);
        result = await apply(current);
        dataChanged = result.changed && changesData(result, current);
      }
      if (!result.changed) return current;
      let updated = current;
      if (dataChanged) {
        updated = await w.update(this.kind, call.tenantId, id, result.data, current.version);
        await w.emit(this.change(updated, 'updated'));
      }
      if (result.members) {
        // A data change moved the version already (update); a member change alone moves it here.
        updated = (await this.applyMembers(w, call.tenantId, id, result.members, updated === current)) ?? updated;
      }
      return withGroupsOf(current, updated);
    }, status);
    if (this.kind === 'Group') return { status, etag: etagOf(stored.version) };
    return this.written(call, stored, status);
  }

  async delete(call: ScimCall, id: string): Promise<ScimResponse> {
    await this.store.write(call.context, async (w) => {
      const current = await this.mustGet(w, call.tenantId, id);
      checkIfMatch(call.ifMatch, current.version);
      await w.remove(this.kind, call.tenantId, id);
      await w.emit(this.change(current, 'deleted'));
    }, 204);
    return { status: 204 };
  }

  /**
   * Runs a read-modify-write transaction. Without If-Match the client asked for no concurrency
   * check: a PATCH applies to the resource as it is when applied (RFC 7644 §3.5.2), so losing the
   * race to a concurrent writer (the store's 412 for a moved version) re-runs the whole
   * transaction on the fresh resource instead of answering 412 to a client that sent no
   * precondition (Entra sends bursts of concurrent PATCHes, interop item 14). With If-Match the
   * 412 is the answer the client asked for (§3.14).
   */
  private async readModifyWrite(call: ScimCall, fn: (w: DirectoryWriter) => Promise<StoredResource>, status: number): Promise<StoredResource> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.store.write(call.context, fn, status);
      } catch (error) {
        const lostRace = error instanceof ScimError && error.status === 412 && call.ifMatch === undefined;
        if (!lostRace) throw error;
        if (attempt >= MAX_WRITE_ATTEMPTS) {
          throw new ScimError(503, `${this.kind} is being changed by too many concurrent requests; retry later`);
        }
        await sleep(Math.random() * 3 * attempt);
      }
    }
  }

  /**
   * Applies a member delta; unknown member ids are 400 invalidValue, never 5xx (Entra retries 5xx
   * forever). With `touch`, a delta that changed the members moves the group's version and
   * returns the group (an add alone does it with its insert); otherwise returns nothing.
   */
  private async applyMembers(w: DirectoryWriter, tenantId: string, groupId: string, delta: MemberDelta, touch: boolean): Promise<StoredResource | undefined> {
    const removed = delta.clear ? await w.clearMembers(tenantId, groupId) : delta.remove.length > 0 ? await w.removeMembers(tenantId, groupId, delta.remove) : [];
    let added: string[] = [];
    let touched: StoredResource | undefined;
    if (delta.add.length > 0) {
      const ids = [...new Set(delta.add.map((m) => m.value))];
      if (ids.includes(groupId)) throw badRequest('invalidValue', 'A group cannot be a member of itself');
      // Removed and re-added members would move the version without a change: such a delta touches after.
      const result = await w.addMembersById(tenantId, groupId, ids, { touch: touch && removed.length === 0 });
      // The write fails, so the known ids added with them are undone.
      if (result.unknown.length > 0) throw badRequest('invalidValue', `Unknown member id(s): ${result.unknown.slice(0, 10).join(', ')}`);
      added = result.added;
      touched = result.touched;
    }
    // A member removed and re-added in one request did not change.
    const readded = new Set(added);
    const netRemoved = removed.filter((id) => !readded.has(id));
    const removedSet = new Set(removed);
    const netAdded = added.filter((id) => !removedSet.has(id));
    if (netAdded.length === 0 && netRemoved.length === 0) return undefined;
    await w.emit({ kind: 'group.members', tenantId, groupId, added: netAdded, removed: netRemoved });
    if (!touch) return undefined;
    return touched ?? w.touch(this.kind, tenantId, groupId);
  }

  private async mustGet(reader: DirectoryReader, tenantId: string, id: string, options?: ReadOptions): Promise<StoredResource> {
    const stored = await reader.get(this.kind, tenantId, id, options);
    if (!stored) throw notFound(`${this.kind} ${id} not found`);
    return stored;
  }

  private async written(call: ScimCall, stored: StoredResource, status: number): Promise<ScimResponse> {
    const body = await this.render(this.store, call, stored, {});
    return { status, body, etag: etagOf(stored.version), ...(status === 201 ? { location: (body.meta as { location: string }).location } : {}) };
  }

  /** Users' groups are read with the user (one query) when the response will show them. */
  private loadsGroups(params: Pick<ListParams, 'attributes' | 'excludedAttributes'>): boolean {
    return this.kind === 'User' && wants('groups', params);
  }

  private async render(
    reader: DirectoryReader, call: ScimCall, stored: StoredResource, params: Pick<ListParams, 'attributes' | 'excludedAttributes'>,
  ): Promise<Record<string, unknown>> {
    return this.renderWith(call, stored, params, await this.extrasOf(reader, call, stored, params));
  }

  /** What a resource's answer shows besides its row: a group's members, a user's groups. */
  private async extrasOf(
    reader: DirectoryReader, call: ScimCall, stored: StoredResource, params: Pick<ListParams, 'attributes' | 'excludedAttributes'>,
  ): Promise<RenderExtras> {
    const extras: RenderExtras = {};
    if (this.kind === 'Group' && wants('members', params)) extras.members = await reader.members(call.tenantId, stored.id);
    if (this.loadsGroups(params)) extras.groups = stored.groups ?? await reader.groupsOf(call.tenantId, stored.id);
    return extras;
  }

  private renderWith(call: ScimCall, stored: StoredResource, params: Pick<ListParams, 'attributes' | 'excludedAttributes'>, extras: RenderExtras): Record<string, unknown> {
    const full = renderResource(this.type, stored, call.baseUrl, extras);
    return projectAttributes(full, this.type, params.attributes, params.excludedAttributes);
  }

  /**
   * A list page's resource: in the default view, a user's text spliced from the stored text when
   * it can be (renderResourceText), else the object render() gives; the extras are read once for either.
   */
  private async renderListed(call: ScimCall, stored: StoredResource, params: Pick<ListParams, 'attributes' | 'excludedAttributes'>): Promise<ListedResource> {
    const extras = await this.extrasOf(this.store, call, stored, params);
    const hidden = params.attributes || params.excludedAttributes || this.kind !== 'User' ? null : defaultHiddenKeys(this.type);
    const text = hidden && renderResourceText(this.type, stored, call.baseUrl, extras, hidden);
    return text ? new JsonText(text) : this.renderWith(call, stored, params, extras);
  }

  private change(r: StoredResource, verb: 'created' | 'updated' | 'deleted'): DirectoryChange {
    if (this.kind === 'User') {
      return { kind: `user.${verb}`, tenantId: r.tenantId, userId: r.id, userName: String(r.data.userName ?? ''), active: r.data.active !== false };
    }
    return { kind: `group.${verb}`, tenantId: r.tenantId, groupId: r.id, displayName: String(r.data.displayName ?? '') };
  }
}

/** A user's groups, read with `current`, still hold after a write to the user itself (they are readOnly). */
function withGroupsOf(current: StoredResource, updated: StoredResource): StoredResource {
  return current.groups === undefined || updated.groups !== undefined ? updated : { ...updated, groups: current.groups };
}

/** Whether an attribute will survive projection, so that expensive parts are loaded only when returned. */
function wants(name: string, params: Pick<ListParams, 'attributes' | 'excludedAttributes'>): boolean {
  const matches = (path: string) => {
    const bare = path.toLowerCase().replace(/^urn:ietf:params:scim:schemas:core:2\.0:(user|group):/, '');
    return bare === name || bare.startsWith(`${name}.`);
  };
  if (params.attributes) return params.attributes.some(matches);
  if (params.excludedAttributes) return !params.excludedAttributes.some(matches);
  return true;
}
