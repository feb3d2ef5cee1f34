/**
 * The directory as the provisioning engine reads it. Declared here, implemented by the stores
 * (src/directory/). Read-only: the engine never writes the directory.
 */
export interface DirectoryUser {
  tenantId: string;
  id: string;
  userName: string;
  externalId: string | null;
  active: boolean;
}

export interface DirectoryGroup {
  tenantId: string;
  id: string;
  displayName: string;
  externalId: string | null;
}

export interface DirectoryView {
  user(tenantId: string, userId: string): Promise<DirectoryUser | undefined>;
  /** user() for many at once; ids the directory does not have are absent from the map. */
  users(tenantId: string, userIds: string[]): Promise<Map<string, DirectoryUser>>;
  /** Every group the user belongs to directly or through nested groups (cycles tolerated). */
  groupsOfUser(tenantId: string, userId: string): Promise<DirectoryGroup[]>;
  /** groupsOfUser() for many at once: every id asked for is in the map, ordered by group id. */
  groupsOfUsers(tenantId: string, userIds: string[]): Promise<Map<string, DirectoryGroup[]>>;
  /** Every user inside the group directly or through nested groups. */
  usersInGroup(tenantId: string, groupId: string): Promise<string[]>;
  /** All user ids of a tenant, in pages (for full reconciles). */
  userIds(tenantId: string, afterId: string | null, limit: number): Promise<string[]>;
  tenantIds(): Promise<string[]>;
}
