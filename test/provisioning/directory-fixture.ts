import type { ChangeSink, Database } from '../../src/directory/database.ts';
import { KyselyResourceStore } from '../../src/directory/kysely-resource-store.ts';
import type { RequestContext } from '../../src/domain/directory-change.ts';
import type { Policy, PolicyTarget } from '../../src/policy/policy.ts';

/**
 * Writes the directory through the real store the way the SCIM endpoints do (change, then emit
 * in the same transaction), so the sinks see what they see in production.
 */
export class DirectoryFixture {
  readonly store: KyselyResourceStore;
  /** Called after each write commits, as the app calls WorkerPool.notify(). */
  afterCommit: () => void = () => {};
  constructor(database: Database, sinks: ChangeSink[], private readonly tenantId = 't1') {
    this.store = new KyselyResourceStore(database, sinks);
  }

  private async write(fn: Parameters<KyselyResourceStore['write']>[1]): Promise<void> {
    await this.store.write(this.context(), fn);
    this.afterCommit();
  }

  private context(): RequestContext {
    return { requestId: 'test', tenantId: this.tenantId, tokenId: null, clientAddress: null, method: 'TEST', path: '/' };
  }

  async user(id: string, userName: string, active = true): Promise<void> {
    const tenantId = this.tenantId;
    await this.write(async (w) => {
      const existing = await w.get('User', tenantId, id);
      const data = { userName, active };
      if (existing) await w.update('User', tenantId, id, data);
      else await w.insert('User', tenantId, { id, data });
      await w.emit({ kind: existing ? 'user.updated' : 'user.created', tenantId, userId: id, userName, active });
    });
  }

  async deleteUser(id: string): Promise<void> {
    const tenantId = this.tenantId;
    await this.write(async (w) => {
      await w.remove('User', tenantId, id);
      await w.emit({ kind: 'user.deleted', tenantId, userId: id, userName: id, active: false });
    });
  }

  async group(id: string, displayName: string): Promise<void> {
    const tenantId = this.tenantId;
    await this.write(async (w) => {
      const existing = await w.get('Group', tenantId, id);
      if (existing) await w.update('Group', tenantId, id, { displayName });
      else await w.insert('Group', tenantId, { id, data: { displayName } });
      await w.emit({ kind: existing ? 'group.updated' : 'group.created', tenantId, groupId: id, displayName });
    });
  }

  /** Deletes like the SCIM endpoint: remove (member rows go with the group), then emit. */
  async deleteGroup(id: string): Promise<void> {
    const tenantId = this.tenantId;
    await this.write(async (w) => {
      await w.remove('Group', tenantId, id);
      await w.emit({ kind: 'group.deleted', tenantId, groupId: id, displayName: id });
    });
  }

  async members(groupId: string, change: { add?: { value: string; type: 'User' | 'Group' }[]; remove?: string[] }): Promise<void> {
    const tenantId = this.tenantId;
    await this.write(async (w) => {
      const removed = change.remove ? await w.removeMembers(tenantId, groupId, change.remove) : [];
      const added = change.add ? await w.addMembers(tenantId, groupId, change.add) : [];
      await w.emit({ kind: 'group.members', tenantId, groupId, added, removed });
    });
  }
}

export function policyTarget(name: string, overrides: Partial<PolicyTarget> = {}): PolicyTarget {
  return {
    name,
    kind: 'postgres',
    connection: { url: 'postgres://unused', source: 'inline' },
    offboarding: 'lock',
    login: '{userName}',
    tenant: 't1',
    concurrency: 4,
    ...overrides,
  };
}

export function policyOf(targets: PolicyTarget[], mappings: Policy['mappings']): Policy {
  return { version: 1, targets, mappings };
}
