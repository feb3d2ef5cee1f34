import type { DirectoryChange, RequestContext } from '../domain/directory-change.ts';
import type { Filter } from './filter/ast.ts';
import type { ResourceTypeDef } from './schema/attribute.ts';

export type ResourceKind = 'User' | 'Group';

/**
 * A stored SCIM resource. `data` is the client's JSON as accepted (schemas, userName, name, emails,
 * enterprise extension under its URN...) WITHOUT id, meta, members (groups) or groups (users):
 * those are owned by the store.
 */
export interface StoredResource {
  kind: ResourceKind;
  tenantId: string;
  id: string;
  data: Record<string, unknown>;
  /**
   * `data` as the JSON text the store keeps, while `data` has been neither read nor replaced
   * (so the text cannot be stale): list pages splice it into their answer without parsing it.
   * Not enumerable, so a spread copy never carries it.
   */
  readonly dataText?: string;
  /** Incremented on every change, including membership changes of a group; the ETag is W/"<version>". */
  version: number;
  created: string;
  lastModified: string;
  /** A user's direct groups (RFC 7643 §4.1.2), present when the read asked for them. */
  groups?: GroupRef[];
}

/** A group a user or group is a direct member of, with its current displayName. */
export interface GroupRef {
  value: string;
  display: string;
}

/** What a read loads besides the resource row. */
export interface ReadOptions {
  /** Users only: also load `groups` (read in the same query). */
  groups?: boolean;
  /**
   * Inside a write: false reads without locking the row until commit (default: locked, where the
   * store locks rows). The write must then move the resource's version (a versioned update, or
   * touch() after member changes), which locks the row and fails if it is gone.
   */
  lock?: boolean;
}

export interface MemberRef {
  value: string;
  type: 'User' | 'Group';
  /** The member's current userName / displayName, read at query time. */
  display?: string;
}

export interface ListQuery {
  /** Resolved against `schema` by the store; unknown attributes -> ScimError 400 invalidFilter. */
  filter?: Filter;
  sortBy?: string;
  sortOrder?: 'ascending' | 'descending';
  /** 1-based (RFC 7644 §3.4.2.4). */
  startIndex: number;
  /** 0 means: only totalResults. */
  count: number;
  schema: ResourceTypeDef;
  /** Users only: load each resource's `groups` in the same query. */
  groups?: boolean;
}

export interface ListResult {
  totalResults: number;
  resources: StoredResource[];
}

export interface DirectoryReader {
  get(kind: ResourceKind, tenantId: string, id: string, options?: ReadOptions): Promise<StoredResource | undefined>;
  /** Filter, sort and page in the database (indexed SQL); ties broken by id for stable pages. */
  list(kind: ResourceKind, tenantId: string, query: ListQuery): Promise<ListResult>;
  /** Members of one group, for rendering. */
  members(tenantId: string, groupId: string): Promise<MemberRef[]>;
  /** Groups a user or group is a direct member of (User `groups`, RFC 7643 §4.1.2). */
  groupsOf(tenantId: string, memberId: string): Promise<GroupRef[]>;
  /** Which of these ids exist in the tenant, and as what. */
  resolveMembers(tenantId: string, ids: string[]): Promise<Map<string, 'User' | 'Group'>>;
}

/** What addMembersById() did: the ids added, the ids unknown, and the group if its version moved. */
export interface AddedById {
  added: string[];
  unknown: string[];
  touched?: StoredResource;
}

export interface NewResource {
  id: string;
  data: Record<string, unknown>;
}

export interface DirectoryWriter extends DirectoryReader {
  /** Throws ScimError 409 uniqueness for a duplicate userName (case-insensitive) or group displayName. */
  insert(kind: ResourceKind, tenantId: string, resource: NewResource): Promise<StoredResource>;
  /**
   * Replaces `data`. With `expectedVersion`, a different stored version throws ScimError 412.
   * Throws 404 if absent, 409 uniqueness like insert.
   */
  update(kind: ResourceKind, tenantId: string, id: string, data: Record<string, unknown>, expectedVersion?: number): Promise<StoredResource>;
  /** Also removes the resource from every group it belongs to (and, for a group, its member rows). */
  remove(kind: ResourceKind, tenantId: string, id: string): Promise<boolean>;
  /** Adds members that are not members yet; returns the ids actually added. Touches no other member row. */
  addMembers(tenantId: string, groupId: string, members: { value: string; type: 'User' | 'Group' }[]): Promise<string[]>;
  /**
   * Adds the users and groups with these ids that are not members yet (in one statement per
   * chunk on PostgreSQL, where resolving them first cost a round trip); returns the ids added and
   * those naming no user or group of the tenant. A caller that refuses unknown ids must fail the
   * write: the known ones were added. With `touch`, a call that added anyone also moves the
   * group's version, as touch() does (on PostgreSQL in the same statement), and returns the group.
   */
  addMembersById(tenantId: string, groupId: string, ids: string[], options?: { touch?: boolean }): Promise<AddedById>;
  /** Removes these members; returns the ids actually removed. */
  removeMembers(tenantId: string, groupId: string, ids: string[]): Promise<string[]>;
  /** Removes every member; returns the removed ids. */
  clearMembers(tenantId: string, groupId: string): Promise<string[]>;
  /** Bumps version and lastModified (after a membership-only change). */
  touch(kind: ResourceKind, tenantId: string, id: string): Promise<StoredResource>;
  /** Hands a change to every change sink inside this transaction. */
  emit(change: DirectoryChange): Promise<void>;
}

export interface ResourceStore extends DirectoryReader {
  /**
   * Runs `fn` in one transaction: directory writes, outbox jobs and audit events commit together
   * or not at all. Concurrent writes to one group are serialised by the store. `status` is what
   * the request is answered with if the write commits: its changes' audit events record it.
   */
  write<T>(context: RequestContext, fn: (writer: DirectoryWriter) => Promise<T>, status?: number): Promise<T>;
}
