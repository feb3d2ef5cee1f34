/**
 * Replays what Okta's SCIM 2.0 client sends: user lookup, create, import paging, profile push
 * with full PUT, deactivate/reactivate, group push and membership, and its error expectations.
 * Item numbers refer to the "Okta" list in /work/shared/docs/scim-interop.md.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../support/test-server.ts';
import {
  assertListResponse, assertMeta, assertScimContentType, assertScimError, assertStatus, containsString, create,
  GROUP, inBatches, memberIds, minimalUser, nullPaths, patch, q, USER, versionNumber,
  storeVariants,
} from './scim-assertions.ts';

for (const variant of await storeVariants('rolecall_http_okta')) {
  describe(`Okta provisioning run (${variant.label})`, variant.options, () => {
    let s: TestServer;
    let cleanup: (() => Promise<void>) | undefined;
    before(async () => {
      ({ server: s, cleanup } = await variant.start());
    });
    after(async () => {
      await cleanup?.();
    });

    const tag = randomUUID().slice(0, 8);
    const userName = `Okta.User.${tag}@example.com`;
    const password = `S3cret-${randomUUID()}`;
    let user: Record<string, any>;

    it('looks a userName up case-insensitively with startIndex=1&count=100; no match is an empty 200 (item 1)', async () => {
      assertListResponse(await s.scim(`/Users${q({ filter: `userName eq "${userName}"`, startIndex: 1, count: 100 })}`), { totalResults: 0, itemsPerPage: 0 });
    });

    it('creates a user sent as application/json with password, groups: [], locale -> 201 full user, no password (item 2)', async () => {
      const body = {
        schemas: [USER],
        userName,
        name: { givenName: 'Okta', familyName: 'User' },
        emails: [{ primary: true, value: userName, type: 'work' }],
        displayName: 'Okta User',
        locale: 'en-US',
        externalId: '00u1abcdEFGH',
        groups: [],
        password,
        active: true,
      };
      const res = await s.scim('/Users', { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      assertStatus(res, 201);
      assertScimContentType(res);
      user = res.json;
      assertMeta(user, s.scimUrl, 'User');
      assert.equal(res.headers.get('location'), user.meta.location);
      assert.equal(user.userName, userName);
      assert.deepEqual(user.name, { givenName: 'Okta', familyName: 'User' });
      assert.deepEqual(user.emails, [{ primary: true, value: userName, type: 'work' }]);
      assert.equal(user.displayName, 'Okta User');
      assert.equal(user.locale, 'en-US');
      assert.equal(user.externalId, '00u1abcdEFGH');
      assert.equal(user.active, true);
      assert.deepEqual(user.schemas, [USER]);
      // RFC 7643 §4.1.1: password is writeOnly, returned "never".
      assert.equal('password' in user, false);
      assert.equal(containsString(user, password), false, 'the password appears nowhere in the response');
      assert.ok(!('groups' in user) || (Array.isArray(user.groups) && user.groups.length === 0), 'groups (readOnly) is empty');
      assert.deepEqual(nullPaths(user), []);

      const read = await s.scim(`/Users/${user.id}`);
      assertStatus(read, 200);
      assert.deepEqual(read.json, user);
      assert.equal(containsString(read.json, password), false);
      const listed = await s.scim(`/Users${q({ filter: `userName eq "${userName}"` })}`);
      assert.equal(containsString(listed.json, password), false, 'nor in a list');
      const asked = await s.scim(`/Users/${user.id}${q({ attributes: 'password,userName' })}`);
      assertStatus(asked, 200);
      assert.equal('password' in asked.json, false, 'not even when asked for (returned: never)');
    });

    it('never echoes a password, not even in the error for a malformed one (RFC 7643 §4.1.1 returned "never")', async () => {
      const secret = `Leak-${randomUUID()}`;
      const bodies = [
        { schemas: [USER], userName: `pw-object-${tag}`, password: { value: secret } },
        { schemas: [USER], userName: `pw-array-${tag}`, password: [secret] },
      ];
      for (const body of bodies) {
        const res = await s.scim('/Users', { method: 'POST', body });
        assertScimError(res, 400);
        assert.equal(res.text.includes(secret), false, `the error must not carry the password: ${res.text}`);
      }
      const patched = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'replace', path: 'password', value: { value: secret } }) });
      assertScimError(patched, 400);
      assert.equal(patched.text.includes(secret), false, `the error must not carry the password: ${patched.text}`);
      const put = await s.scim(`/Users/${user.id}`, { method: 'PUT', body: { ...user, password: [secret] } });
      assertScimError(put, 400);
      assert.equal(put.text.includes(secret), false, `the error must not carry the password: ${put.text}`);
      const ok = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'replace', path: 'password', value: secret }) });
      assertStatus(ok, 200);
      assert.equal(ok.text.includes(secret), false);
    });

    it('finds the user by userName in another case (item 1)', async () => {
      for (const variant of [userName.toLowerCase(), userName.toUpperCase()]) {
        const found = assertListResponse(await s.scim(`/Users${q({ filter: `userName eq "${variant}"`, startIndex: 1, count: 100 })}`), { totalResults: 1, itemsPerPage: 1 });
        assert.equal(found[0]!.id, user.id);
        assert.equal(found[0]!.userName, userName, 'returned as stored');
        assert.equal('password' in found[0]!, false);
      }
    });

    it('profile update: GET then full PUT including id, meta and groups -> 200 with the user (item 4)', async () => {
      const read = await s.scim(`/Users/${user.id}`);
      assertStatus(read, 200);
      const body = {
        ...read.json,
        groups: [],
        name: { givenName: 'Okta', familyName: 'Renamed' },
        displayName: 'Okta Renamed',
        title: 'Staff Engineer',
        password: 'Another-Secret-1',
      };
      const res = await s.scim(`/Users/${user.id}`, { method: 'PUT', body });
      assertStatus(res, 200);
      assertScimContentType(res);
      const u = res.json;
      assert.equal(u.id, user.id);
      assert.deepEqual(u.name, { givenName: 'Okta', familyName: 'Renamed' });
      assert.equal(u.displayName, 'Okta Renamed');
      assert.equal(u.title, 'Staff Engineer');
      assert.equal(u.userName, userName);
      assert.equal(u.locale, 'en-US');
      assert.equal('password' in u, false);
      assert.equal(containsString(u, 'Another-Secret-1'), false);
      assertMeta(u, s.scimUrl, 'User');
      assert.equal(u.meta.created, user.meta.created);
      assert.ok(versionNumber(u.meta.version) > versionNumber(user.meta.version));
      const again = await s.scim(`/Users/${user.id}`);
      assert.deepEqual(again.json, u);
      user = u;
    });

    it('PUT replaces: an attribute left out of the body is removed (RFC 7644 §3.5.1)', async () => {
      const { title: _title, ...rest } = user;
      const res = await s.scim(`/Users/${user.id}`, { method: 'PUT', body: rest });
      assertStatus(res, 200);
      assert.equal('title' in res.json, false);
      user = res.json;
    });

    it('deactivates with a path-less replace {"active":false} and reactivates (item 5)', async () => {
      const off = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'replace', value: { active: false } }) });
      assertStatus(off, 200);
      assert.equal(off.json.active, false);
      assert.equal(off.json.userName, userName, 'nothing else changes');
      assert.deepEqual(off.json.name, user.name);
      const found = assertListResponse(await s.scim(`/Users${q({ filter: 'active eq false' })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(found[0]!.id, user.id);
      const on = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'replace', value: { active: true } }) });
      assertStatus(on, 200);
      assert.equal(on.json.active, true);
      user = on.json;
    });

    it('deactivates with a PUT carrying active: false (item 5)', async () => {
      const res = await s.scim(`/Users/${user.id}`, { method: 'PUT', body: { ...user, active: false } });
      assertStatus(res, 200);
      assert.equal(res.json.active, false);
      const read = await s.scim(`/Users/${user.id}`);
      assert.equal(read.json.active, false);
      const back = await s.scim(`/Users/${user.id}`, { method: 'PUT', body: { ...read.json, active: true } });
      assertStatus(back, 200);
      assert.equal(back.json.active, true);
      user = back.json;
    });

    describe('groups (item 6)', () => {
      let u1: Record<string, any>;
      let u2: Record<string, any>;
      let u3: Record<string, any>;
      let group: Record<string, any>;

      it('pushes a group with members: [] -> 201', async () => {
        u1 = await create(s, '/Users', minimalUser(`g1-${tag}@example.com`));
        u2 = await create(s, '/Users', minimalUser(`g2-${tag}@example.com`));
        u3 = await create(s, '/Users', minimalUser(`g3-${tag}@example.com`));
        const res = await s.scim('/Groups', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: { schemas: [GROUP], displayName: `Okta Eng ${tag}`, members: [] },
        });
        assertStatus(res, 201);
        assertScimContentType(res);
        group = res.json;
        assertMeta(group, s.scimUrl, 'Group');
        assert.equal(group.displayName, `Okta Eng ${tag}`);
        assert.ok(!('members' in group) || group.members.length === 0);
      });

      it('pushes a group with initial members -> 201 listing them', async () => {
        const res = await s.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: `Okta Ops ${tag}`, members: [{ value: u1.id, display: u1.userName }] } });
        assertStatus(res, 201);
        assert.deepEqual(res.json.members?.map((m: any) => m.value), [u1.id]);
        assertStatus(await s.scim(`/Groups/${res.json.id}`, { method: 'DELETE' }), 204);
      });

      it('renames with {"op":"replace","value":{"id":gid,"displayName":"New"}}', async () => {
        const res = await s.scim(`/Groups/${group.id}`, {
          method: 'PATCH',
          body: patch({ op: 'replace', value: { id: group.id, displayName: `Okta Eng New ${tag}` } }),
        });
        assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
        const read = await s.scim(`/Groups/${group.id}`);
        assertStatus(read, 200);
        assert.equal(read.json.displayName, `Okta Eng New ${tag}`);
        assert.equal(read.json.id, group.id, 'the id in the value is accepted but never changes the id');
        group = read.json;
      });

      it('membership: adds two, then removes one via members[value eq] and adds another in one request (with the rename resent)', async () => {
        const add = await s.scim(`/Groups/${group.id}`, {
          method: 'PATCH',
          body: patch({ op: 'add', path: 'members', value: [{ value: u1.id, display: u1.userName }, { value: u2.id, display: u2.userName }] }),
        });
        assert.ok(add.status === 204 || add.status === 200, `got ${add.status}: ${add.text}`);
        assert.deepEqual(await memberIds(s, group.id), [u1.id, u2.id].sort());

        const res = await s.scim(`/Groups/${group.id}`, {
          method: 'PATCH',
          body: patch(
            { op: 'replace', value: { id: group.id, displayName: group.displayName } },
            { op: 'remove', path: `members[value eq "${u2.id}"]` },
            { op: 'add', path: 'members', value: [{ value: u3.id, display: u3.userName }] },
          ),
        });
        assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
        assert.deepEqual(await memberIds(s, group.id), [u1.id, u3.id].sort());
      });

      it('membership: a full replace of members', async () => {
        const res = await s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'replace', path: 'members', value: [{ value: u2.id }] }) });
        assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
        assert.deepEqual(await memberIds(s, group.id), [u2.id]);
        const read = await s.scim(`/Groups/${group.id}`);
        assert.equal(read.json.displayName, group.displayName, 'displayName untouched');
      });

      it('a user PUT carrying groups (readOnly) changes no membership (RFC 7643 §4.1.2)', async () => {
        const read = await s.scim(`/Users/${u1.id}`);
        assertStatus(read, 200);
        assert.deepEqual(read.json.groups.map((g: any) => g.value), []);
        const bogus = await s.scim(`/Users/${u1.id}`, { method: 'PUT', body: { ...read.json, groups: [{ value: group.id, display: group.displayName }] } });
        assertStatus(bogus, 200);
        assert.deepEqual(await memberIds(s, group.id), [u2.id], 'readOnly groups in a PUT are ignored');
        assert.ok(!bogus.json.groups || bogus.json.groups.length === 0);
      });

      it('PUT /Groups/{id} replaces displayName and members -> 200', async () => {
        const res = await s.scim(`/Groups/${group.id}`, {
          method: 'PUT',
          body: { schemas: [GROUP], id: group.id, displayName: `Okta Eng Put ${tag}`, members: [{ value: u1.id }, { value: u3.id }] },
        });
        assertStatus(res, 200);
        assertScimContentType(res);
        assert.equal(res.json.id, group.id);
        assert.equal(res.json.displayName, `Okta Eng Put ${tag}`);
        assert.deepEqual(res.json.members.map((m: any) => m.value).sort(), [u1.id, u3.id].sort());
        assertMeta(res.json, s.scimUrl, 'Group');
        assert.deepEqual(await memberIds(s, group.id), [u1.id, u3.id].sort());
      });

      it('DELETE /Groups/{id} -> 204, then 404; its members still exist', async () => {
        const del = await s.scim(`/Groups/${group.id}`, { method: 'DELETE' });
        assertStatus(del, 204);
        assert.equal(del.text, '');
        assertScimError(await s.scim(`/Groups/${group.id}`), 404);
        assertStatus(await s.scim(`/Users/${u1.id}`), 200);
      });
    });

    describe('import (item 3)', () => {
      it('walks Users and Groups with startIndex=1,101,... and JSON-number integers', async () => {
        const before = assertListResponse(await s.scim(`/Users${q({ count: 0 })}`), { totalResults: 4, itemsPerPage: 0 });
        assert.deepEqual(before, []);
        const newUsers = Array.from({ length: 226 }, (_, i) => `import-${tag}-${String(i).padStart(3, '0')}@example.com`);
        await inBatches(newUsers, 8, (name) => create(s, '/Users', minimalUser(name)));
        const groupNames = Array.from({ length: 103 }, (_, i) => `import-group-${tag}-${i}`);
        await inBatches(groupNames, 8, (name) => create(s, '/Groups', { schemas: [GROUP], displayName: name, members: [] }));

        for (const [endpoint, total] of [['/Users', 230], ['/Groups', 103]] as const) {
          const ids: string[] = [];
          for (let startIndex = 1; startIndex <= total; startIndex += 100) {
            const res = await s.scim(`${endpoint}${q({ startIndex, count: 100 })}`);
            const size = Math.min(100, total - startIndex + 1);
            const page = assertListResponse(res, { totalResults: total, startIndex, itemsPerPage: size });
            // Okta parses these as numbers: "100", not "\"100\"".
            assert.match(res.text, new RegExp(`"totalResults":${total}[,}]`));
            assert.match(res.text, new RegExp(`"startIndex":${startIndex}[,}]`));
            ids.push(...page.map((r) => r.id));
          }
          assert.equal(ids.length, total, `${endpoint}: every resource once`);
          assert.equal(new Set(ids).size, total, `${endpoint}: no resource on two pages`);
        }
      });
    });

    describe('errors (item 7)', () => {
      it('a bad token is 401 with the SCIM Error schema, status "401" and a detail', async () => {
        for (const token of ['not-a-token', `${s.token}x`]) {
          const res = await s.scim('/Users', { token });
          assertScimError(res, 401);
          assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer/);
        }
      });

      it('an unknown id is 404 with the SCIM Error schema, status "404" and a detail', async () => {
        assertScimError(await s.scim(`/Users/${randomUUID()}`), 404);
        assertScimError(await s.scim('/Users/00919288221112222'), 404);
        assertScimError(await s.scim(`/Groups/${randomUUID()}`), 404);
        assertScimError(await s.scim(`/Users/${randomUUID()}`, { method: 'PATCH', body: patch({ op: 'replace', value: { active: false } }) }), 404);
        assertScimError(await s.scim(`/Users/${randomUUID()}`, { method: 'PUT', body: minimalUser('nobody@example.com') }), 404);
        assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "nobody@example.com"' })}`), { totalResults: 0, itemsPerPage: 0 });
      });
    });
  });
}
