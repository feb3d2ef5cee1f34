import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { test } from 'node:test';
import { sql } from 'kysely';
import { KyselyDirectoryReader } from '../../src/directory/kysely-directory-reader.ts';
import { startTestServer } from '../support/test-server.ts';

const MEMBERS = 50_000;

/**
 * Issue requirement: adding one member to a group of 50,000 must not read or rewrite the other
 * 49,999. Proof: the member list is never loaded during the PATCH (no members() call), and every
 * existing member row keeps its SQLite rowid (a delete-and-reinsert would renumber them).
 */
test('adding one member to a 50,000-member group reads no member list and rewrites no member row', { timeout: 120_000 }, async () => {
  const server = await startTestServer();
  try {
    const { app } = server.server;
    const tenant = (await app.tenants.getTenantByName('default'))!;
    const context = { requestId: 'seed', tenantId: tenant.id, tokenId: null, clientAddress: null, method: 'SEED', path: '/' };
    const ids: string[] = [];
    await app.store.write(context, async (w) => {
      for (let i = 0; i <= MEMBERS; i++) {
        const id = randomUUID();
        ids.push(id);
        await w.insert('User', tenant.id, { id, data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: `member${i}@example.com` } });
      }
    });
    const group = await server.scim('/Groups', { method: 'POST', body: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: 'Everyone' } });
    assert.equal(group.status, 201);
    const groupId = group.json.id as string;
    await app.store.write(context, (w) => w.addMembers(tenant.id, groupId, ids.slice(0, MEMBERS).map((value) => ({ value, type: 'User' as const }))));
    const rowids = async () =>
      (await sql<{ rowid: number; member_id: string }>`SELECT rowid, member_id FROM group_members WHERE group_id = ${groupId} ORDER BY member_id`.execute(app.database.db)).rows;
    const before = await rowids();
    assert.equal(before.length, MEMBERS);
    const version = (await server.scim(`/Groups/${groupId}?excludedAttributes=members`)).json.meta.version as string;

    const original = KyselyDirectoryReader.prototype.members;
    let memberReads = 0;
    KyselyDirectoryReader.prototype.members = function (...args) {
      memberReads += 1;
      return original.apply(this, args);
    };
    let patched;
    try {
      patched = await server.scim(`/Groups/${groupId}`, {
        method: 'PATCH',
        body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'Add', path: 'members', value: [{ value: ids[MEMBERS] }] }] },
      });
    } finally {
      KyselyDirectoryReader.prototype.members = original;
    }
    assert.equal(patched.status, 204);
    assert.equal(patched.text, '');
    assert.equal(memberReads, 0, 'the PATCH loaded the member list');

    const after = await rowids();
    assert.equal(after.length, MEMBERS + 1);
    const untouched = new Map(before.map((r) => [r.member_id, r.rowid]));
    assert.equal(after.filter((r) => untouched.get(r.member_id) === r.rowid).length, MEMBERS, 'an existing member row was rewritten');
    const bumped = (await server.scim(`/Groups/${groupId}?excludedAttributes=members`)).json.meta.version as string;
    assert.equal(Number(/\d+/.exec(bumped)![0]), Number(/\d+/.exec(version)![0]) + 1);
  } finally {
    await server.stop();
  }
});
