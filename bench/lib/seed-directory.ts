import { timeOrderedId } from '../../src/scim/time-ordered-id.ts';
import { sql } from 'kysely';
import type { ServerConfig } from '../../src/app/config.ts';
import { ensureDefaultTenant, openRolecall } from '../../src/app/open-rolecall.ts';

const CONTEXT = { requestId: 'bench-seed', tenantId: '', tokenId: null, clientAddress: null, method: 'SEED', path: '/' };

/** Seeds users and groups straight through the store (the bench measures requests, not seeding), with ids as SCIM creates assign them (UUIDv7). */
export async function seedDirectory(config: ServerConfig, sizes: { users: number; groups: number; bigGroupMembers: number }) {
  const app = await openRolecall(config, { exclusive: false });
  try {
    const first = await ensureDefaultTenant(app);
    if (!first) throw new Error('seedDirectory needs an empty store');
    const tenant = (await app.tenants.getTenantByName('default'))!;
    const userIds: string[] = [];
    const context = { ...CONTEXT, tenantId: tenant.id };
    for (let start = 0; start < sizes.users; start += 5000) {
      await app.store.write(context, async (w) => {
        for (let i = start; i < Math.min(sizes.users, start + 5000); i++) {
          const id = timeOrderedId();
          userIds.push(id);
          await w.insert('User', tenant.id, {
            id,
            data: {
              schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'],
              userName: `user${i}@example.com`,
              name: { givenName: 'User', familyName: String(i) },
              emails: [{ value: `user${i}@example.com`, type: 'work', primary: true }],
              active: true,
            },
          });
        }
      });
    }
    const bigGroupId = timeOrderedId();
    await app.store.write(context, async (w) => {
      for (let g = 0; g < sizes.groups; g++) {
        await w.insert('Group', tenant.id, { id: g === 0 ? bigGroupId : timeOrderedId(), data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: `group${g}` } });
      }
    });
    for (let start = 0; start < sizes.bigGroupMembers; start += 5000) {
      const batch = userIds.slice(start, Math.min(sizes.bigGroupMembers, start + 5000));
      await app.store.write(context, (w) => w.addMembers(tenant.id, bigGroupId, batch.map((value) => ({ value, type: 'User' as const }))));
    }
    // What autovacuum does shortly after a bulk load: statistics (without them the planner picks
    // plans for empty tables; a user's groups read took 3 ms instead of 0.06 ms) and the
    // visibility map (index-only COUNTs and OFFSET walks otherwise visit the heap).
    if (app.database.dialect === 'postgres') await sql`VACUUM ANALYZE`.execute(app.database.db);
    return { token: first.secret, bigGroupId, nonMemberIds: userIds.slice(sizes.bigGroupMembers) };
  } finally {
    await app.close();
  }
}
