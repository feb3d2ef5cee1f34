/**
 * Reference: a SCIM server built the usual Node way, with SCIMMY + scimmy-routers on Express
 * and in-memory handlers (filters evaluated with SCIMMY's Filter.match). Bench-only.
 */
import { randomUUID } from 'node:crypto';
import express from 'express';
import SCIMMY from 'scimmy';
import SCIMMYRouters from 'scimmy-routers';

const users = new Map<string, Record<string, unknown>>();
const groups = new Map<string, Record<string, unknown>>();
const port = Number(process.env.PORT ?? 0);
const userCount = Number(process.env.USERS ?? 100_000);
const groupCount = Number(process.env.GROUPS ?? 1_000);
const bigMembers = Number(process.env.BIG_GROUP_MEMBERS ?? 10_000);

const now = new Date().toISOString();
const meta = () => ({ created: now, lastModified: now });
for (let i = 0; i < userCount; i++) {
  const id = randomUUID();
  users.set(id, { id, userName: `user${i}@example.com`, active: true, name: { givenName: 'User', familyName: String(i) }, emails: [{ value: `user${i}@example.com`, type: 'work', primary: true }], meta: meta() });
}
const userIds = [...users.keys()];
for (let g = 0; g < groupCount; g++) {
  const id = g === 0 ? 'big' : randomUUID();
  const members = g === 0 ? userIds.slice(0, bigMembers).map((value) => ({ value })) : [];
  groups.set(id, { id, displayName: `group${g}`, members, meta: meta() });
}

function handlers(store: Map<string, Record<string, unknown>>) {
  return {
    egress: (resource: any) => {
      if (resource.id) {
        const found = store.get(resource.id);
        if (!found) throw new SCIMMY.Types.Error(404, "noTarget" as never, `Resource ${resource.id} not found`);
        return found;
      }
      const all = [...store.values()];
      return resource.filter ? resource.filter.match(all) : all;
    },
    ingress: (resource: any, instance: any) => {
      const id = resource.id ?? randomUUID();
      const stored = { ...JSON.parse(JSON.stringify(instance)), id, meta: meta() };
      store.set(id, stored);
      return stored;
    },
    degress: (resource: any) => {
      store.delete(resource.id);
    },
  };
}

const u = handlers(users);
const g = handlers(groups);
SCIMMY.Resources.declare(SCIMMY.Resources.User).egress(u.egress).ingress(u.ingress).degress(u.degress);
SCIMMY.Resources.declare(SCIMMY.Resources.Group).egress(g.egress).ingress(g.ingress).degress(g.degress);

const app = express();
app.use('/scim/v2', new SCIMMYRouters({ type: 'bearer', handler: () => 'bench' }) as unknown as express.Router);
const server = app.listen(port, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`LISTENING ${typeof address === 'object' && address ? address.port : port} ${userIds[bigMembers] ?? ''}\n`);
});
