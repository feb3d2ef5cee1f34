/**
 * Seeds the embedded store through the app's store API with the provisioning outbox attached, so
 * each seeding transaction queues its "reconcile user U on target X" jobs exactly as the same
 * SCIM writes would (the server is not running yet: nothing is provisioned until it starts).
 */
import { randomUUID } from 'node:crypto';
import { loadServerConfig } from '../../src/app/config.ts';
import { ensureDefaultTenant, openRolecall } from '../../src/app/open-rolecall.ts';
import { PolicyHolder, ProvisioningRuntime, resolvePolicy } from '../../src/app/provisioning-runtime.ts';

const CONTEXT = { requestId: 'bench-seed', tokenId: null, clientAddress: null, method: 'SEED', path: '/' };

export interface SyncDirectory {
  users: number;
  groups: number;
  /** Each user joins this many groups: (i + k * stride) mod groups, k = 0..perUser-1. */
  groupsPerUser: number;
  /** userName = `${prefix}u${i}@example.com`, group displayName = `${prefix}group_${g}`. */
  prefix: string;
}

export const groupsOf = (i: number, d: Pick<SyncDirectory, 'groups' | 'groupsPerUser'>) =>
  Array.from({ length: d.groupsPerUser }, (_, k) => (i + k * 7) % d.groups);

export async function seedWithOutbox(dataDir: string, policyFile: string, d: SyncDirectory): Promise<void> {
  const holder = new PolicyHolder();
  const app = await openRolecall(loadServerConfig({ dataDir, logLevel: 'silent' }), { exclusive: false, sinks: [ProvisioningRuntime.outboxSink(holder)] });
  try {
    if (!(await ensureDefaultTenant(app))) throw new Error('seedWithOutbox needs an empty store');
    holder.current = await resolvePolicy(policyFile, app.tenants);
    const tenant = (await app.tenants.getTenantByName('default'))!;
    const context = { ...CONTEXT, tenantId: tenant.id };
    const userIds: string[] = [];
    for (let start = 0; start < d.users; start += 5000) {
      await app.store.write(context, async (w) => {
        for (let i = start; i < Math.min(d.users, start + 5000); i++) {
          const id = randomUUID();
          userIds.push(id);
          const userName = `${d.prefix}u${i}@example.com`;
          await w.insert('User', tenant.id, {
            id,
            data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName, name: { givenName: 'Bench', familyName: String(i) }, active: true },
          });
          // The change a SCIM POST /Users records (resource-endpoint.ts): the outbox turns it into jobs.
          await w.emit({ kind: 'user.created', tenantId: tenant.id, userId: id, userName, active: true });
        }
      });
    }
    const groupIds = Array.from({ length: d.groups }, () => randomUUID());
    await app.store.write(context, async (w) => {
      for (let g = 0; g < d.groups; g++) {
        const displayName = `${d.prefix}group_${g}`;
        await w.insert('Group', tenant.id, { id: groupIds[g]!, data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName } });
        await w.emit({ kind: 'group.created', tenantId: tenant.id, groupId: groupIds[g]!, displayName });
      }
    });
    const members: string[][] = groupIds.map(() => []);
    userIds.forEach((id, i) => {
      for (const g of groupsOf(i, d)) members[g]!.push(id);
    });
    for (let g = 0; g < d.groups; g++) {
      await app.store.write(context, async (w) => {
        const added = await w.addMembers(tenant.id, groupIds[g]!, members[g]!.map((value) => ({ value, type: 'User' as const })));
        // The change a SCIM PATCH add-members records.
        await w.emit({ kind: 'group.members', tenantId: tenant.id, groupId: groupIds[g]!, added, removed: [] });
      });
    }
  } finally {
    await app.close();
  }
}
