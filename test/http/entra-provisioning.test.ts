/**
 * Replays what the Microsoft Entra provisioning service sends over a provisioning run, in its
 * order: test connection, match-before-create, create, PATCH (both dialects), manager, soft and
 * hard delete, groups and membership, discovery, paging, ETags. Item numbers refer to the
 * "Microsoft Entra ID provisioning service" list in /work/shared/docs/scim-interop.md.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { TestServer } from '../support/test-server.ts';
import {
  ADSCIM_GROUP, allKeys, assertListResponse, assertMeta, assertScimContentType, assertScimError, assertStatus,
  create, ENTERPRISE, GROUP, memberIds, minimalUser, nullPaths, patch, q, USER, versionNumber,
  storeVariants,
} from './scim-assertions.ts';

for (const variant of await storeVariants('rolecall_http_entra')) {
  describe(`Entra ID provisioning run (${variant.label})`, variant.options, () => {
    let s: TestServer;
    let cleanup: (() => Promise<void>) | undefined;
    before(async () => {
      ({ server: s, cleanup } = await variant.start());
    });
    after(async () => {
      await cleanup?.();
    });

    const tag = randomUUID().slice(0, 8);
    const userName = `Test_User_${tag}@contoso.com`;
    const externalId = randomUUID();
    let user: Record<string, any>;
    let manager1: Record<string, any>;
    let manager2: Record<string, any>;

    it('test connection: filter on a random userName is 200 with an empty ListResponse, never 404 (item 1)', async () => {
      const res = await s.scim(`/Users${q({ filter: `userName eq "${randomUUID()}"` })}`);
      const resources = assertListResponse(res, { totalResults: 0, startIndex: 1 });
      // Entra reads Resources; it must be an empty array, not missing.
      assert.deepEqual(res.json.Resources, []);
      assert.deepEqual(resources, []);
    });

    it('creates the user with core + enterprise schemas, explicit nulls and roles: [] -> 201 with id, meta, Location (item 3)', async () => {
      const body = {
        schemas: [USER, ENTERPRISE],
        externalId,
        userName,
        active: true,
        addresses: null,
        displayName: 'Test User',
        title: 'Engineer',
        emails: [{ primary: true, type: 'work', value: userName }],
        meta: { resourceType: 'User' },
        name: { formatted: 'Test User', familyName: 'User', givenName: 'Test' },
        roles: [],
        [ENTERPRISE]: { employeeNumber: 'E-1001', department: 'Sales' },
      };
      const res = await s.scim('/Users', { method: 'POST', body });
      assertStatus(res, 201);
      assertScimContentType(res);
      user = res.json;
      assertMeta(user, s.scimUrl, 'User');
      assert.equal(res.headers.get('location'), user.meta.location, 'Location header equals meta.location (RFC 7644 §3.3)');
      assert.equal(res.headers.get('etag'), user.meta.version, 'ETag header equals meta.version (§3.14)');
      assert.notEqual(user.id, externalId, 'id is assigned by the service provider, not the client (RFC 7643 §3.1)');
      // "Store values as sent" (item 3): case kept, every sent attribute returned as sent.
      assert.equal(user.userName, userName);
      assert.equal(user.externalId, externalId);
      assert.equal(user.active, true);
      assert.equal(user.displayName, 'Test User');
      assert.equal(user.title, 'Engineer');
      assert.deepEqual(user.emails, [{ primary: true, type: 'work', value: userName }]);
      assert.deepEqual(user.name, { formatted: 'Test User', familyName: 'User', givenName: 'Test' });
      assert.deepEqual(user[ENTERPRISE], { employeeNumber: 'E-1001', department: 'Sales' });
      assert.deepEqual([...user.schemas].sort(), [ENTERPRISE, USER].sort());
      // RFC 7643 §2.5: null and [] make an attribute unassigned; unassigned attributes are not returned.
      assert.equal('addresses' in user, false, 'addresses: null is unassigned');
      assert.ok(!('roles' in user) || (Array.isArray(user.roles) && user.roles.length === 0), 'roles: [] stays empty');
      assert.deepEqual(nullPaths(user), [], 'no nulls in the returned user');
      // The client's meta is readOnly and ignored except for what the server owns.
      assert.equal(user.meta.resourceType, 'User');

      const read = await s.scim(`/Users/${user.id}`);
      assertStatus(read, 200);
      assertScimContentType(read);
      assert.deepEqual(read.json, user, 'GET returns exactly what POST returned');
    });

    it('matches before create by userName (any case), externalId and emails[type eq "work"].value (item 2)', async () => {
      const filters = [
        `userName eq "${userName}"`,
        `userName eq "${userName.toUpperCase()}"`, // userName is caseExact false (RFC 7643 §4.1.1)
        `externalId eq "${externalId}"`,
        `emails[type eq "work"].value eq "${userName}"`,
        `userName eq "${userName}" and active eq true`,
        `USERNAME EQ "${userName}"`, // attribute names and operators are case-insensitive (§3.4.2.2)
      ];
      for (const filter of filters) {
        const resources = assertListResponse(await s.scim(`/Users${q({ filter })}`), { totalResults: 1, itemsPerPage: 1 });
        assert.equal(resources[0]!.id, user.id, filter);
        assert.equal(resources[0]!.userName, userName, filter);
      }
      // Entra examples sometimes leave a value unquoted (item 2: parse leniently).
      const lenient = assertListResponse(await s.scim(`/Users${q({ filter: `externalId eq ${externalId}` })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(lenient[0]!.id, user.id);
      // A different work email matches nothing.
      assertListResponse(await s.scim(`/Users${q({ filter: `emails[type eq "work"].value eq "other-${userName}"` })}`), { totalResults: 0, itemsPerPage: 0 });
    });

    it('refuses a duplicate userName in a different case with 409 uniqueness and creates nothing (item 4)', async () => {
      const res = await s.scim('/Users', { method: 'POST', body: minimalUser(userName.toLowerCase()) });
      assertScimError(res, 409, 'uniqueness');
      const res2 = await s.scim('/Users', { method: 'POST', body: minimalUser(userName.toUpperCase(), { externalId: randomUUID() }) });
      assertScimError(res2, 409, 'uniqueness');
      assertListResponse(await s.scim(`/Users${q({ filter: `userName eq "${userName}"` })}`), { totalResults: 1, itemsPerPage: 1 });
    });

    it('applies the default PATCH dialect: capitalised ops, string booleans, filtered and URN paths (item 5)', async () => {
      const before = user;
      const res = await s.scim(`/Users/${user.id}`, {
        method: 'PATCH',
        body: patch(
          { op: 'Replace', path: 'emails[type eq "work"].value', value: `renamed-${userName}` },
          { op: 'Replace', path: 'emails[type eq "work"].primary', value: 'True' },
          { op: 'Replace', path: 'name.familyName', value: 'Smith' },
          { op: 'Add', path: `${ENTERPRISE}:employeeNumber`, value: '701984' },
          { op: 'Replace', path: `${ENTERPRISE}:department`, value: 'Finance' },
          // A filtered path that matches nothing creates the element (item 5).
          { op: 'Add', path: 'phoneNumbers[type eq "mobile"].value', value: '+1 555 0100' },
          { op: 'Replace', path: 'addresses[type eq "work"].locality', value: 'Redmond' },
          { op: 'Replace', path: 'displayName', value: 'Test Smith' },
        ),
      });
      assertStatus(res, 200);
      assertScimContentType(res);
      const u = res.json;
      assert.equal(u.id, before.id);
      assert.deepEqual(u.emails, [{ primary: true, type: 'work', value: `renamed-${userName}` }]);
      assert.deepEqual(u.name, { formatted: 'Test User', familyName: 'Smith', givenName: 'Test' }, 'other name parts are untouched');
      assert.deepEqual(u[ENTERPRISE], { employeeNumber: '701984', department: 'Finance' });
      assert.deepEqual(u.phoneNumbers, [{ type: 'mobile', value: '+1 555 0100' }]);
      assert.deepEqual(u.addresses, [{ type: 'work', locality: 'Redmond' }]);
      assert.equal(u.displayName, 'Test Smith');
      assert.equal(u.userName, userName, 'userName untouched');
      assert.equal(u.active, true);
      assertMeta(u, s.scimUrl, 'User');
      assert.ok(versionNumber(u.meta.version) > versionNumber(before.meta.version), 'version advanced');
      assert.equal(res.headers.get('etag'), u.meta.version);
      assert.equal(u.meta.created, before.meta.created, 'created never changes');
      // Filtering sees the new email at once.
      const found = assertListResponse(await s.scim(`/Users${q({ filter: `emails[type eq "work"].value eq "renamed-${userName}"` })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(found[0]!.id, user.id);
      user = u;
    });

    it('applies the newer dialect: path-less replace with dotted keys sets nested values; aadOptscim062020 is ignored (item 6)', async () => {
      const res = await s.scim(`/Users/${user.id}?aadOptscim062020`, {
        method: 'PATCH',
        body: patch({
          op: 'replace',
          value: { 'name.givenName': 'Kim', 'name.familyName': 'Lee', [`${ENTERPRISE}:employeeNumber`]: 'A7', displayName: 'Kim Lee', active: true },
        }),
      });
      assertStatus(res, 200);
      const u = res.json;
      assert.deepEqual(u.name, { formatted: 'Test User', familyName: 'Lee', givenName: 'Kim' });
      assert.deepEqual(u[ENTERPRISE], { employeeNumber: 'A7', department: 'Finance' });
      assert.equal(u.displayName, 'Kim Lee');
      for (const { key, path } of allKeys(u)) {
        // A dotted key would be a new attribute literally named "name.givenName" (item 6 forbids it);
        // the extension's own URN ("...:2.0:User") is the one key that legitimately has dots.
        assert.ok(key === ENTERPRISE || !key.includes('.'), `no dotted key in the resource: ${path}`);
        assert.ok(!key.startsWith(`${ENTERPRISE}:`), `no URN-path key in the resource: ${path}`);
      }
      const read = await s.scim(`/Users/${user.id}`);
      assert.deepEqual(read.json, u, 'the change is stored, not only echoed');
      user = u;
    });

    it('accepts a roles PATCH whose value is JSON inside a string, stored as sent (item 14)', async () => {
      // The shape Entra's AppRoleAssignmentsComplex mapping sends: the role is a JSON document
      // serialised into the element's string `value`.
      const roles = [{ primary: false, type: 'WindowsAzureActiveDirectoryRole', value: JSON.stringify({ id: randomUUID(), value: '25', displayName: 'Role1234' }) }];
      const res = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'Add', path: 'roles', value: roles }) });
      assertStatus(res, 200);
      assert.deepEqual(res.json.roles, roles);
      const byRole = assertListResponse(await s.scim(`/Users${q({ filter: `roles[type eq "WindowsAzureActiveDirectoryRole"]` })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(byRole[0]!.id, user.id);
      // The default dialect sends the element's booleans as strings too (item 5).
      const more = await s.scim(`/Users/${user.id}`, {
        method: 'PATCH',
        body: patch({ op: 'Add', path: 'roles', value: [{ primary: 'False', type: 'WindowsAzureActiveDirectoryRole', value: 'Reader' }] }),
      });
      assertStatus(more, 200);
      assert.deepEqual(more.json.roles, [...roles, { primary: false, type: 'WindowsAzureActiveDirectoryRole', value: 'Reader' }]);
      user = more.json;
    });

    it('accepts manager in every Entra shape and always returns it as an object (item 8)', async () => {
      manager1 = await create(s, '/Users', minimalUser(`manager1-${tag}@contoso.com`));
      manager2 = await create(s, '/Users', minimalUser(`manager2-${tag}@contoso.com`));
      const managerOf = async (body: Record<string, unknown>) => {
        const res = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body });
        assertStatus(res, 200);
        const read = await s.scim(`/Users/${user.id}`);
        assert.deepEqual(read.json, res.json, 'PATCH returns the stored user');
        return res.json[ENTERPRISE]?.manager;
      };
      const assertManager = (manager: unknown, id: string) => {
        assert.ok(manager && typeof manager === 'object' && !Array.isArray(manager), `manager is an object, got ${JSON.stringify(manager)}`);
        assert.equal((manager as { value: unknown }).value, id);
      };

      // 1. Short path, value an array with $ref.
      assertManager(await managerOf(patch({ op: 'Add', path: 'manager', value: [{ $ref: `${s.scimUrl}/Users/${manager1.id}`, value: manager1.id }] })), manager1.id);
      // 2. Full URN path, plain string value.
      assertManager(await managerOf(patch({ op: 'Replace', path: `${ENTERPRISE}:manager`, value: manager2.id })), manager2.id);
      // 3. Full URN path, object value.
      assertManager(await managerOf(patch({ op: 'Add', path: `${ENTERPRISE}:manager`, value: { value: manager1.id } })), manager1.id);
      // 4. Removal by value filter.
      assert.equal(await managerOf(patch({ op: 'Remove', path: `manager[value eq "${manager1.id}"]` })), undefined);
      // 5. Plain string on the short path, then removal by Replace with an empty value.
      assertManager(await managerOf(patch({ op: 'Replace', path: 'manager', value: manager2.id })), manager2.id);
      assert.equal(await managerOf(patch({ op: 'Replace', path: `${ENTERPRISE}:manager`, value: '' })), undefined);
      // The rest of the extension survives every manager change.
      const read = await s.scim(`/Users/${user.id}`);
      assert.deepEqual(read.json[ENTERPRISE], { employeeNumber: 'A7', department: 'Finance' });
      user = read.json;
    });

    it('soft-deletes with active "False": the user stays readable and filterable, then is re-enabled (item 7)', async () => {
      const res = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'Replace', path: 'active', value: 'False' }) });
      assertStatus(res, 200);
      assert.equal(res.json.active, false, 'the string "False" is stored as the boolean false');
      const read = await s.scim(`/Users/${user.id}`);
      assertStatus(read, 200);
      assert.equal(read.json.active, false);
      const inactive = assertListResponse(await s.scim(`/Users${q({ filter: 'active eq false' })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(inactive[0]!.id, user.id);
      const both = assertListResponse(await s.scim(`/Users${q({ filter: `userName eq "${userName}" and active eq false` })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(both[0]!.id, user.id);
      const active = assertListResponse(await s.scim(`/Users${q({ filter: 'active eq true', count: 100 })}`), { totalResults: 2 });
      assert.deepEqual(active.map((u) => u.id).sort(), [manager1.id, manager2.id].sort());

      const back = await s.scim(`/Users/${user.id}`, { method: 'PATCH', body: patch({ op: 'Replace', path: 'active', value: 'True' }) });
      assertStatus(back, 200);
      assert.equal(back.json.active, true);
      assertListResponse(await s.scim(`/Users${q({ filter: 'active eq false' })}`), { totalResults: 0, itemsPerPage: 0 });
      user = back.json;
    });

    describe('groups', () => {
      let group: Record<string, any>;
      let u1: Record<string, any>;
      let u2: Record<string, any>;
      let u3: Record<string, any>;

      it('creates a group with the ADSCIM schema and no members -> 201 (item 9)', async () => {
        u1 = await create(s, '/Users', minimalUser(`u1-${tag}@contoso.com`));
        u2 = await create(s, '/Users', minimalUser(`u2-${tag}@contoso.com`));
        u3 = await create(s, '/Users', minimalUser(`u3-${tag}@contoso.com`));
        const groupExternalId = randomUUID();
        const res = await s.scim('/Groups', {
          method: 'POST',
          body: { schemas: [GROUP, ADSCIM_GROUP], externalId: groupExternalId, displayName: 'Sales', meta: { resourceType: 'Group' } },
        });
        assertStatus(res, 201);
        assertScimContentType(res);
        group = res.json;
        assertMeta(group, s.scimUrl, 'Group');
        assert.equal(res.headers.get('location'), group.meta.location);
        assert.equal(group.displayName, 'Sales');
        assert.equal(group.externalId, groupExternalId);
        assert.ok(group.schemas.includes(GROUP));
        assert.ok(!('members' in group) || (Array.isArray(group.members) && group.members.length === 0), 'no members');
        assert.deepEqual(nullPaths(group), []);
      });

      it('refuses a second group named "Sales" with 409 uniqueness (item 9)', async () => {
        assertScimError(await s.scim('/Groups', { method: 'POST', body: { schemas: [GROUP], displayName: 'Sales' } }), 409, 'uniqueness');
      });

      it('finds the group by displayName with excludedAttributes=members (item 2)', async () => {
        const resources = assertListResponse(
          await s.scim(`/Groups${q({ excludedAttributes: 'members', filter: 'displayName eq "Sales"' })}`),
          { totalResults: 1, itemsPerPage: 1 },
        );
        assert.equal(resources[0]!.id, group.id);
        assert.equal(resources[0]!.displayName, 'Sales');
        assert.equal('members' in resources[0]!, false);
        assertListResponse(await s.scim(`/Groups${q({ excludedAttributes: 'members', filter: 'displayName eq "Marketing"' })}`), { totalResults: 0, itemsPerPage: 0 });
      });

      it('adds members in the Entra shape ($ref null) -> 204 and they read back as Users (item 10)', async () => {
        const res = await s.scim(`/Groups/${group.id}`, {
          method: 'PATCH',
          body: patch({ op: 'Add', path: 'members', value: [{ $ref: null, value: u1.id }, { value: u2.id }, { value: u3.id }] }),
        });
        assert.ok(res.status === 204 || res.status === 200, `204 (200 tolerated), got ${res.status}: ${res.text}`);
        if (res.status === 204) assert.equal(res.text, '', '204 has no body');
        const read = await s.scim(`/Groups/${group.id}`);
        assertStatus(read, 200);
        const members = [...read.json.members].sort((a: any, b: any) => a.value.localeCompare(b.value));
        const expected = [u1, u2, u3].sort((a, b) => a.id.localeCompare(b.id));
        assert.deepEqual(members.map((m: any) => m.value), expected.map((u) => u.id));
        for (const m of members) {
          assert.equal(m.type, 'User');
          assert.equal(m.$ref, `${s.scimUrl}/Users/${m.value}`);
        }
        assert.ok(versionNumber(read.json.meta.version) > versionNumber(group.meta.version), 'membership changes advance the group version');
        // RFC 7643 §4.1.2: a user's groups attribute lists its direct groups.
        const member = await s.scim(`/Users/${u1.id}`);
        assert.deepEqual(member.json.groups?.map((g: any) => g.value), [group.id]);
      });

      it('GET /Groups/{id}?excludedAttributes=members has no members (item 9)', async () => {
        const res = await s.scim(`/Groups/${group.id}${q({ excludedAttributes: 'members' })}`);
        assertStatus(res, 200);
        assert.equal('members' in res.json, false);
        assert.equal(res.json.displayName, 'Sales');
        assert.equal(res.json.id, group.id);
        assertMeta(res.json, s.scimUrl, 'Group');
      });

      it('old-shape remove removes ONLY the listed member (item 11)', async () => {
        const res = await s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'Remove', path: 'members', value: [{ value: u1.id }] }) });
        assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
        assert.deepEqual(await memberIds(s, group.id), [u2.id, u3.id].sort());
      });

      it('new-shape remove members[value eq "U"] removes that member (item 11)', async () => {
        const res = await s.scim(`/Groups/${group.id}`, { method: 'PATCH', body: patch({ op: 'remove', path: `members[value eq "${u2.id}"]` }) });
        assert.ok(res.status === 204 || res.status === 200, `got ${res.status}: ${res.text}`);
        assert.deepEqual(await memberIds(s, group.id), [u3.id]);
      });

      it('an unknown member id is 400 invalidValue, never 5xx, and changes nothing (item 15)', async () => {
        const res = await s.scim(`/Groups/${group.id}`, {
          method: 'PATCH',
          body: patch({ op: 'Add', path: 'members', value: [{ value: u1.id }, { value: randomUUID() }] }),
        });
        assertScimError(res, 400, 'invalidValue');
        assert.deepEqual(await memberIds(s, group.id), [u3.id], 'the known member of the same request was not added either');
      });

      it('hard-deletes a member user: 204, then 404, and the group no longer lists it (item 7)', async () => {
        const del = await s.scim(`/Users/${u3.id}`, { method: 'DELETE' });
        assertStatus(del, 204);
        assert.equal(del.text, '');
        assertScimError(await s.scim(`/Users/${u3.id}`), 404);
        assertScimError(await s.scim(`/Users/${u3.id}`, { method: 'DELETE' }), 404);
        assert.deepEqual(await memberIds(s, group.id), []);
        assertListResponse(await s.scim(`/Users${q({ filter: `userName eq "${u3.userName}"` })}`), { totalResults: 0, itemsPerPage: 0 });
      });

      it('deletes the group: 204, then 404', async () => {
        assertStatus(await s.scim(`/Groups/${group.id}`, { method: 'DELETE' }), 204);
        assertScimError(await s.scim(`/Groups/${group.id}`), 404);
        const u1Read = await s.scim(`/Users/${u1.id}`);
        assertStatus(u1Read, 200);
        assert.ok(!u1Read.json.groups || u1Read.json.groups.length === 0, 'a deleted group is gone from groups');
      });
    });

    describe('discovery (item 13)', () => {
      const camel = /^\$?[a-z][A-Za-z0-9]*$/;
      const assertCamelNoNull = (body: unknown) => {
        assert.deepEqual(nullPaths(body), [], 'no nulls anywhere');
        for (const { key, path } of allKeys(body)) {
          // "Resources" is the ListResponse member name (RFC 7644 §3.4.2); URNs are extension keys.
          if (key === 'Resources' || key.startsWith('urn:')) continue;
          assert.match(key, camel, `camelCase key at ${path}`);
        }
      };

      it('/ServiceProviderConfig is camelCase, null-free and advertises what the server does', async () => {
        const res = await s.scim('/ServiceProviderConfig');
        assertStatus(res, 200);
        assertScimContentType(res);
        const c = res.json;
        assertCamelNoNull(c);
        assert.deepEqual(c.schemas, ['urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig']);
        assert.equal(c.patch.supported, true);
        assert.equal(c.bulk.supported, true);
        assert.equal(c.bulk.maxOperations, 1000);
        assert.equal(c.bulk.maxPayloadSize, 1_048_576);
        assert.equal(c.filter.supported, true);
        assert.equal(typeof c.filter.maxResults, 'number');
        assert.equal(c.etag.supported, true);
        assert.equal(c.sort.supported, true);
        assert.equal(typeof c.changePassword.supported, 'boolean');
        assert.ok(Array.isArray(c.authenticationSchemes) && c.authenticationSchemes.length > 0);
        for (const scheme of c.authenticationSchemes) {
          assert.equal(typeof scheme.type, 'string');
          assert.equal(typeof scheme.name, 'string');
          assert.equal(typeof scheme.description, 'string');
        }
      });

      it('/Schemas lists User, EnterpriseUser and Group, camelCase and null-free', async () => {
        const res = await s.scim('/Schemas');
        const list = assertListResponse(res, { totalResults: 3, itemsPerPage: 3 });
        assertCamelNoNull(res.json);
        assert.deepEqual(list.map((x) => x.id).sort(), [ENTERPRISE, GROUP, USER].sort());
        const userSchema = list.find((x) => x.id === USER)!;
        const userNameAttr = userSchema.attributes.find((a: any) => a.name === 'userName');
        assert.equal(userNameAttr.uniqueness, 'server');
        assert.equal(userNameAttr.required, true);
        assert.equal(userNameAttr.caseExact, false);
        const password = userSchema.attributes.find((a: any) => a.name === 'password');
        assert.equal(password.returned, 'never');
        const one = await s.scim(`/Schemas/${USER}`);
        assertStatus(one, 200);
        assert.equal(one.json.id, USER);
        assertCamelNoNull(one.json);
      });

      it('/ResourceTypes lists User (with the enterprise extension) and Group', async () => {
        const res = await s.scim('/ResourceTypes');
        const list = assertListResponse(res, { totalResults: 2, itemsPerPage: 2 });
        assertCamelNoNull(res.json);
        const byName = Object.fromEntries(list.map((r) => [r.name, r]));
        assert.equal(byName.User.endpoint, '/Users');
        assert.equal(byName.User.schema, USER);
        assert.deepEqual(byName.User.schemaExtensions, [{ schema: ENTERPRISE, required: false }]);
        assert.equal(byName.Group.endpoint, '/Groups');
        assert.equal(byName.Group.schema, GROUP);
        assert.ok(list.every((r) => Array.isArray(r.schemas) && r.schemas.includes('urn:ietf:params:scim:schemas:core:2.0:ResourceType')));
      });

      it('a filter on a discovery endpoint is 403 (RFC 7644 §4)', async () => {
        for (const path of ['/Schemas', '/ResourceTypes', '/ServiceProviderConfig']) {
          assertScimError(await s.scim(`${path}${q({ filter: 'id eq "x"' })}`), 403);
        }
      });

      it('/Me is 501 Not Implemented (RFC 7644 §3.11)', async () => {
        assertScimError(await s.scim('/Me'), 501);
      });
    });

    describe('pagination (item 12)', () => {
      const prefix = `page-${tag}-`;
      let ids: string[] = [];

      it('pages with startIndex/count, accurate totalResults and stable order', async () => {
        for (let i = 0; i < 7; i++) ids.push((await create(s, '/Users', minimalUser(`${prefix}${i}@contoso.com`))).id);
        ids = ids.sort();
        const filter = `userName sw "${prefix}"`;
        const seen: string[] = [];
        for (const [startIndex, size] of [[1, 3], [4, 3], [7, 1]] as const) {
          const page = assertListResponse(await s.scim(`/Users${q({ filter, startIndex, count: 3 })}`), { totalResults: 7, startIndex, itemsPerPage: size });
          const again = assertListResponse(await s.scim(`/Users${q({ filter, startIndex, count: 3 })}`), { totalResults: 7, startIndex, itemsPerPage: size });
          assert.deepEqual(again.map((u) => u.id), page.map((u) => u.id), 'the same page twice has the same order');
          seen.push(...page.map((u) => u.id));
        }
        assert.equal(new Set(seen).size, 7, 'no resource on two pages');
        assert.deepEqual([...seen].sort(), ids, 'every resource on some page');
        // Past the end: empty page, totalResults still accurate.
        const beyond = assertListResponse(await s.scim(`/Users${q({ filter, startIndex: 8, count: 3 })}`), { totalResults: 7, startIndex: 8, itemsPerPage: 0 });
        assert.deepEqual(beyond, []);
        // §3.4.2.4: count=0 returns only totalResults; startIndex < 1 is read as 1.
        assertListResponse(await s.scim(`/Users${q({ filter, count: 0 })}`), { totalResults: 7, itemsPerPage: 0 });
        assertListResponse(await s.scim(`/Users${q({ filter, startIndex: 0, count: 2 })}`), { totalResults: 7, startIndex: 1, itemsPerPage: 2 });
      });

      it('sortBy=userName orders pages (RFC 7644 §3.4.2.3)', async () => {
        const filter = `userName sw "${prefix}"`;
        const asc = assertListResponse(await s.scim(`/Users${q({ filter, sortBy: 'userName', count: 10 })}`), { totalResults: 7, itemsPerPage: 7 });
        assert.deepEqual(asc.map((u) => u.userName), Array.from({ length: 7 }, (_, i) => `${prefix}${i}@contoso.com`));
        const desc = assertListResponse(await s.scim(`/Users${q({ filter, sortBy: 'userName', sortOrder: 'descending', count: 2, startIndex: 1 })}`), { totalResults: 7, itemsPerPage: 2 });
        assert.deepEqual(desc.map((u) => u.userName), [`${prefix}6@contoso.com`, `${prefix}5@contoso.com`]);
      });

      it('integers in the ListResponse are JSON numbers', async () => {
        const res = await s.scim(`/Users${q({ filter: `userName sw "${prefix}"`, startIndex: 2, count: 2 })}`);
        assert.match(res.text, /"totalResults":7[,}]/);
        assert.match(res.text, /"startIndex":2[,}]/);
        assert.match(res.text, /"itemsPerPage":2[,}]/);
      });
    });

    describe('ETags (RFC 7644 §3.14)', () => {
      it('If-None-Match with the current ETag is 304; If-Match mismatch is 412 and changes nothing', async () => {
        const read = await s.scim(`/Users/${user.id}`);
        assertStatus(read, 200);
        const etag = read.headers.get('etag')!;
        assert.equal(etag, read.json.meta.version);

        const notModified = await s.scim(`/Users/${user.id}`, { headers: { 'if-none-match': etag } });
        assertStatus(notModified, 304);
        assert.equal(notModified.text, '');
        const modified = await s.scim(`/Users/${user.id}`, { headers: { 'if-none-match': 'W/"stale"' } });
        assertStatus(modified, 200);

        const stale = `W/"${versionNumber(etag) + 100}"`;
        const refused = await s.scim(`/Users/${user.id}`, {
          method: 'PATCH',
          headers: { 'if-match': stale },
          body: patch({ op: 'replace', path: 'displayName', value: 'Should Not Stick' }),
        });
        assertScimError(refused, 412);
        const put = await s.scim(`/Users/${user.id}`, {
          method: 'PUT',
          headers: { 'if-match': stale },
          body: { schemas: [USER], userName, displayName: 'Should Not Stick' },
        });
        assertScimError(put, 412);
        assertScimError(await s.scim(`/Users/${user.id}`, { method: 'DELETE', headers: { 'if-match': stale } }), 412);
        const unchanged = await s.scim(`/Users/${user.id}`);
        assert.deepEqual(unchanged.json, read.json, 'nothing changed');

        const ok = await s.scim(`/Users/${user.id}`, {
          method: 'PATCH',
          headers: { 'if-match': etag },
          body: patch({ op: 'replace', path: 'displayName', value: 'Matched' }),
        });
        assertStatus(ok, 200);
        assert.equal(ok.json.displayName, 'Matched');
        assert.notEqual(ok.headers.get('etag'), etag);
      });
    });

    it('ignores the aadOptscim062020 query parameter on lists', async () => {
      const res = await s.scim(`/Users?aadOptscim062020&${q({ filter: `userName eq "${userName}"` }).slice(1)}`);
      const resources = assertListResponse(res, { totalResults: 1, itemsPerPage: 1 });
      assert.equal(resources[0]!.id, user.id);
    });

    it('hard-deletes the user: 204, then GET 404 (item 7)', async () => {
      const del = await s.scim(`/Users/${user.id}`, { method: 'DELETE' });
      assertStatus(del, 204);
      assert.equal(del.text, '');
      const gone = await s.scim(`/Users/${user.id}`);
      assertScimError(gone, 404);
      assertListResponse(await s.scim(`/Users${q({ filter: `externalId eq "${externalId}"` })}`), { totalResults: 0, itemsPerPage: 0 });
    });
  });
}
