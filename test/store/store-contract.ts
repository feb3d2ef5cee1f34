import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import type { ChangeSink, Database } from '../../src/directory/database.ts';
import { KyselyDirectoryView } from '../../src/directory/kysely-directory-view.ts';
import { KyselyResourceStore } from '../../src/directory/kysely-resource-store.ts';
import { KyselyTenantRepository } from '../../src/directory/kysely-tenant-repository.ts';
import type { DirectoryChange, RequestChange, RequestContext } from '../../src/domain/directory-change.ts';
import { RolecallError, ScimError } from '../../src/domain/errors.ts';
import { parseFilter } from '../../src/scim/filter/parse-filter.ts';
import type { ListQuery, ResourceKind, StoredResource } from '../../src/scim/resource-store.ts';
import type { ResourceTypeDef } from '../../src/scim/schema/attribute.ts';
import { defineAttribute } from '../../src/scim/schema/define-attribute.ts';
import { ENTERPRISE_USER_SCHEMA_ID } from '../../src/scim/schema/enterprise-user-schema.ts';
import { GROUP_SCHEMA_ID } from '../../src/scim/schema/group-schema.ts';
import { GROUP_RESOURCE_TYPE, USER_RESOURCE_TYPE } from '../../src/scim/schema/resource-types.ts';
import { USER_SCHEMA_ID } from '../../src/scim/schema/user-schema.ts';

export interface OpenedStore {
  database: Database;
  cleanup: () => Promise<void>;
}

export interface StoreContractOptions {
  /** Case name -> why this store cannot run it. A skip without a reason is not allowed. */
  skip?: Record<string, string>;
}

const context = (tenantId: string): RequestContext => ({
  requestId: randomUUID(),
  tenantId,
  tokenId: null,
  clientAddress: '127.0.0.1',
  method: 'POST',
  path: '/scim/v2/Users',
});

const newTenant = () => `tenant-${randomUUID()}`;

/** An extension with the attribute types the core schemas lack, to exercise every JSON comparison. */
const TYPED_EXTENSION_ID = 'urn:example:params:scim:schemas:extension:typed:2.0:User';
const TYPED_USER_TYPE: ResourceTypeDef = {
  ...USER_RESOURCE_TYPE,
  extensions: [
    ...USER_RESOURCE_TYPE.extensions,
    {
      required: false,
      schema: {
        id: TYPED_EXTENSION_ID,
        name: 'Typed',
        description: 'test attributes',
        attributes: [
          defineAttribute('level', 'integer', { type: 'integer' }),
          defineAttribute('score', 'decimal', { type: 'decimal' }),
          defineAttribute('vip', 'boolean', { type: 'boolean' }),
          defineAttribute('hired', 'dateTime', { type: 'dateTime' }),
          defineAttribute('tags', 'strings', { multiValued: true }),
          defineAttribute('code', 'case-exact string', { caseExact: true }),
        ],
      },
    },
  ],
};

async function scimError(promise: Promise<unknown>, status: number, scimType?: string): Promise<ScimError> {
  const error = await promise.then(
    () => assert.fail(`expected ScimError ${status}`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof ScimError, `expected a ScimError, got ${String(error)}`);
  assert.equal(error.status, status, error.message);
  if (scimType !== undefined) assert.equal(error.scimType, scimType);
  return error;
}

/**
 * One suite for every store (Hono's common.case.test.ts habit): each store's test file calls it
 * with a function opening a fresh, migrated database. Cases share that database but each uses
 * its own tenant, which doubles as a check of tenant isolation.
 */
export function runStoreContract(name: string, open: () => Promise<OpenedStore>, options: StoreContractOptions = {}): void {
  describe(`store contract: ${name}`, () => {
    let opened: OpenedStore | undefined;
    let store: KyselyResourceStore;
    const database = () => (opened as OpenedStore).database;

    before(async () => {
      opened = await open();
      store = new KyselyResourceStore(opened.database, []);
    });
    after(async () => {
      await opened?.cleanup();
    });

    const test = (caseName: string, fn: () => Promise<void>) => {
      const reason = options.skip?.[caseName];
      if (reason !== undefined) {
        assert.ok(reason.trim().length > 0, `skipping "${caseName}" needs a written reason`);
        it(caseName, { skip: `${name}: ${reason}` }, () => {});
        return;
      }
      it(caseName, fn);
    };

    const insert = (tenantId: string, kind: ResourceKind, data: Record<string, unknown>, id: string = randomUUID()) =>
      store.write(context(tenantId), (w) => w.insert(kind, tenantId, { id, data }));
    const addUser = (tenantId: string, userName: string, extra: Record<string, unknown> = {}) =>
      insert(tenantId, 'User', { schemas: [USER_SCHEMA_ID], userName, ...extra });
    const addGroup = (tenantId: string, displayName: string, extra: Record<string, unknown> = {}) =>
      insert(tenantId, 'Group', { schemas: [GROUP_SCHEMA_ID], displayName, ...extra });
    const addMembers = (tenantId: string, groupId: string, members: StoredResource[]) =>
      store.write(context(tenantId), (w) => w.addMembers(tenantId, groupId, members.map((m) => ({ value: m.id, type: m.kind }))));

    const query = (kind: ResourceKind, extra: Partial<ListQuery> = {}): ListQuery => ({
      startIndex: 1,
      count: 1000,
      schema: kind === 'User' ? USER_RESOURCE_TYPE : GROUP_RESOURCE_TYPE,
      ...extra,
    });
    const userNames = async (tenantId: string, filter: string, extra: Partial<ListQuery> = {}) => {
      const result = await store.list('User', tenantId, query('User', { filter: parseFilter(filter), ...extra }));
      assert.equal(result.totalResults, result.resources.length);
      return result.resources.map((r) => String(r.data.userName)).sort();
    };

    test("insert returns its own copy: the caller's later changes to its data reach neither it nor the store", async () => {
      const t = newTenant();
      const data: Record<string, unknown> = { schemas: [USER_SCHEMA_ID], userName: 'copied', name: { givenName: 'A' } };
      const created = await store.write(context(t), (w) => w.insert('User', t, { id: randomUUID(), data }));
      data.userName = 'changed';
      (data.name as Record<string, unknown>).givenName = 'B';
      assert.deepEqual(created.data, { schemas: [USER_SCHEMA_ID], userName: 'copied', name: { givenName: 'A' } });
      assert.deepEqual((await store.get('User', t, created.id))!.data, created.data);
    });

    test('CRUD: insert, get, update, remove', async () => {
      const t = newTenant();
      const created = await addUser(t, 'alice', { displayName: 'Alice', emails: [{ value: 'alice@example.com', type: 'work' }] });
      assert.equal(created.version, 1);
      assert.match(created.created, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(created.created, created.lastModified);

      const read = await store.get('User', t, created.id);
      assert.deepEqual(read, created);
      assert.equal(await store.get('Group', t, created.id), undefined, 'a user is not a group');

      const data = { ...created.data, displayName: 'Alice L.' };
      const updated = await store.write(context(t), (w) => w.update('User', t, created.id, data));
      assert.equal(updated.version, 2);
      assert.equal(updated.created, created.created);
      assert.ok(updated.lastModified >= created.lastModified, 'lastModified does not go back');
      assert.deepEqual(updated.data, data);
      assert.deepEqual((await store.get('User', t, created.id))?.data, data);

      assert.equal(await store.write(context(t), (w) => w.remove('User', t, created.id)), true);
      assert.equal(await store.get('User', t, created.id), undefined);
      assert.equal(await store.write(context(t), (w) => w.remove('User', t, created.id)), false);
      await scimError(store.write(context(t), (w) => w.update('User', t, created.id, data)), 404);
      await scimError(store.write(context(t), (w) => w.touch('User', t, created.id)), 404);
    });

    test('userName is unique per tenant, case-insensitively, enforced by the database', async () => {
      const t = newTenant();
      await addUser(t, 'alice');
      await scimError(addUser(t, 'ALICE'), 409, 'uniqueness');
      await scimError(addUser(t, 'Alice'), 409, 'uniqueness');
      const bob = await addUser(t, 'bob');
      await scimError(
        store.write(context(t), (w) => w.update('User', t, bob.id, { ...bob.data, userName: 'aLiCe' })),
        409,
        'uniqueness',
      );
      // Two racing inserts of one name: exactly one wins, the other gets 409 (no pre-check race).
      const results = await Promise.allSettled([addUser(t, 'carol'), addUser(t, 'CAROL')]);
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      const rejected = results.find((r) => r.status === 'rejected') as PromiseRejectedResult;
      assert.equal((rejected.reason as ScimError).status, 409);
      assert.equal((await store.list('User', t, query('User'))).totalResults, 3);
    });

    // On PostgreSQL a write's first insert goes out with its next statement or its COMMIT, so
    // its violation surfaces there: the 409 must still name the insert that caused it.
    test('a 409 names the insert that broke uniqueness, whichever statement of the write reveals it', async () => {
      const t = newTenant();
      await addUser(t, 'alice');
      const newUser = (userName: string) => ({ id: randomUUID(), data: { schemas: [USER_SCHEMA_ID], userName } });
      const first = await scimError(store.write(context(t), async (w) => {
        await w.insert('User', t, newUser('ALICE'));
        await w.insert('User', t, newUser('dave'));
      }), 409, 'uniqueness');
      assert.match(first.message, /"ALICE"/);
      const second = await scimError(store.write(context(t), async (w) => {
        await w.insert('User', t, newUser('erin'));
        await w.insert('User', t, newUser('Alice'));
      }), 409, 'uniqueness');
      assert.match(second.message, /"Alice"/);
      const beforeRead = await scimError(store.write(context(t), async (w) => {
        await w.insert('User', t, newUser('aLICE'));
        await w.get('User', t, randomUUID());
      }), 409, 'uniqueness');
      assert.match(beforeRead.message, /"aLICE"/);
      const group = await addGroup(t, 'staff');
      const beforeMembers = await scimError(store.write(context(t), async (w) => {
        await w.insert('Group', t, { id: randomUUID(), data: { schemas: [GROUP_SCHEMA_ID], displayName: 'STAFF' } });
        await w.addMembers(t, group.id, []);
      }), 409, 'uniqueness');
      assert.match(beforeMembers.message, /"STAFF"/);
      const names = (await store.list('User', t, query('User'))).resources.map((r) => r.data.userName);
      assert.deepEqual(names, ['alice'], 'none of the failed writes left a user behind');
    });

    test('a user created in a write is seen by the rest of that write', async () => {
      const t = newTenant();
      const group = await addGroup(t, 'readers');
      const id = randomUUID();
      const members = await store.write(context(t), async (w) => {
        await w.insert('User', t, { id, data: { schemas: [USER_SCHEMA_ID], userName: 'gina' } });
        assert.equal((await w.get('User', t, id))?.data.userName, 'gina');
        return w.addMembers(t, group.id, [{ value: id, type: 'User' }]);
      });
      assert.deepEqual(members, [id]);
    });

    test('group displayName is unique per tenant, case-insensitively', async () => {
      const t = newTenant();
      await addGroup(t, 'Admins');
      await scimError(addGroup(t, 'admins'), 409, 'uniqueness');
      const other = await addGroup(t, 'Readers');
      await scimError(
        store.write(context(t), (w) => w.update('Group', t, other.id, { ...other.data, displayName: 'ADMINS' })),
        409,
        'uniqueness',
      );
      await addGroup(newTenant(), 'Admins');
    });

    test('a failed write leaves nothing behind', async () => {
      const t = newTenant();
      await addUser(t, 'alice');
      await scimError(
        store.write(context(t), async (w) => {
          await w.insert('User', t, { id: randomUUID(), data: { userName: 'bob' } });
          await w.insert('User', t, { id: randomUUID(), data: { userName: 'ALICE' } });
        }),
        409,
      );
      assert.deepEqual(await userNames(t, 'userName pr'), ['alice']);
    });

    test('tenants are isolated', async () => {
      const t1 = newTenant();
      const t2 = newTenant();
      const a1 = await addUser(t1, 'alice', { title: 'one' });
      const a2 = await addUser(t2, 'alice', { title: 'two' });
      const g1 = await addGroup(t1, 'Admins');
      await addGroup(t2, 'Admins');
      await addMembers(t1, g1.id, [a1]);

      assert.equal(await store.get('User', t2, a1.id), undefined);
      assert.equal((await store.get('User', t2, a2.id))?.data.title, 'two');
      assert.deepEqual(await userNames(t1, 'userName eq "alice"'), ['alice']);
      const inT2 = await store.list('User', t2, query('User'));
      assert.deepEqual(
        inT2.resources.map((r) => r.id),
        [a2.id],
      );
      assert.deepEqual(await store.members(t2, g1.id), []);
      assert.deepEqual(await store.groupsOf(t2, a1.id), []);
      assert.deepEqual([...(await store.resolveMembers(t2, [a1.id, a2.id]))], [[a2.id, 'User']]);
      // Writes name their tenant too: another tenant's resources cannot be changed.
      await scimError(store.write(context(t2), (w) => w.update('User', t2, a1.id, { userName: 'x' })), 404);
      await scimError(store.write(context(t2), (w) => w.addMembers(t2, g1.id, [{ value: a2.id, type: 'User' }])), 404);
      assert.equal(await store.write(context(t2), (w) => w.remove('User', t2, a1.id)), false);
      assert.ok(await store.get('User', t1, a1.id));
    });

    test('update with expectedVersion: match succeeds, mismatch is 412', async () => {
      const t = newTenant();
      const user = await addUser(t, 'alice');
      const v2 = await store.write(context(t), (w) => w.update('User', t, user.id, { ...user.data, title: 'a' }, 1));
      assert.equal(v2.version, 2);
      await scimError(
        store.write(context(t), (w) => w.update('User', t, user.id, { ...user.data, title: 'b' }, 1)),
        412,
      );
      assert.equal((await store.get('User', t, user.id))?.data.title, 'a');
      await scimError(store.write(context(t), (w) => w.update('User', t, randomUUID(), user.data, 1)), 404);
    });

    describe('filters', () => {
      const t = newTenant();
      const ids: Record<string, string> = {};
      let groupId = '';
      const before0 = new Date(Date.now() - 60_000).toISOString();

      before(async () => {
        const people: [string, Record<string, unknown>][] = [
          [
            'alice',
            {
              displayName: 'Alice Liddell',
              name: { givenName: 'Alice', familyName: 'Liddell' },
              emails: [
                { value: 'alice@example.com', type: 'work', primary: true },
                { value: 'al@home.org', type: 'home' },
              ],
              title: 'Engineer',
              active: true,
              externalId: 'ext-A',
              [ENTERPRISE_USER_SCHEMA_ID]: { employeeNumber: '100', department: 'R&D', manager: { value: 'bob-id' } },
            },
          ],
          ['Bob', { emails: [{ value: 'bob@x.com', type: 'home' }], active: false, title: "O'Brien ' OR 1=1 --", externalId: 'ext-b', name: { familyName: 'Anders' } }],
          ['carol_100%', { displayName: 'Carol \\ backslash', emails: [{ value: 'carol@example.com', type: 'work' }], title: '%', nickName: '', name: { familyName: 'Zed' } }],
          ['Élodie', { displayName: 'ÅSA Öberg', title: '"; DROP TABLE users; --', emails: [] }],
          ['eve', {}],
        ];
        for (const [userName, extra] of people) ids[userName] = (await addUser(t, userName, extra)).id;
        groupId = (await addGroup(t, 'Admins')).id;
        await store.write(context(t), (w) =>
          w.addMembers(t, groupId, [
            { value: ids.alice as string, type: 'User' },
            { value: ids.Bob as string, type: 'User' },
          ]),
        );
        await addGroup(t, 'Empty');
      });

      const cases: [string, string[]][] = [
        ['userName eq "ALICE"', ['alice']],
        ['userName eq "élodie"', ['Élodie']],
        ['userName ne "alice"', ['Bob', 'carol_100%', 'eve', 'Élodie']],
        ['userName sw "CAR"', ['carol_100%']],
        ['userName ew "100%"', ['carol_100%']],
        ['userName co "_"', ['carol_100%']],
        ['userName co "%"', ['carol_100%']],
        ['userName sw "a_i"', []],
        ['userName co "e%e"', []],
        ['userName sw "%"', []],
        ['userName gt "c"', ['carol_100%', 'eve', 'Élodie']],
        ['userName ge "bob"', ['Bob', 'carol_100%', 'eve', 'Élodie']],
        ['userName lt "b"', ['alice']],
        ['userName le "BOB"', ['Bob', 'alice']],
        ['displayName co "åsa"', ['Élodie']],
        ['displayName sw "ås"', ['Élodie']],
        ['displayName co "\\\\"', ['carol_100%']],
        ['displayName eq "alice liddell"', ['alice']],
        ['displayName pr', ['alice', 'carol_100%', 'Élodie']],
        ['title eq "O\'Brien \' OR 1=1 --"', ['Bob']],
        ['title eq "\' OR 1=1 --"', []],
        ['title co "\' OR 1=1 --"', ['Bob']],
        ['title eq "\\"; DROP TABLE users; --"', ['Élodie']],
        ['title eq "%"', ['carol_100%']],
        ['title co "%"', ['carol_100%']],
        ['title ew "--"', ['Bob', 'Élodie']],
        ['title eq "engineer"', ['alice']],
        ['title ne "Engineer"', ['Bob', 'carol_100%', 'eve', 'Élodie']],
        ['title pr', ['Bob', 'alice', 'carol_100%', 'Élodie']],
        ['not (title pr)', ['eve']],
        ['title eq null', ['eve']],
        ['nickName pr', []],
        ['emails pr', ['Bob', 'alice', 'carol_100%']],
        ['emails.value pr', ['Bob', 'alice', 'carol_100%']],
        ['emails.value eq "ALICE@example.com"', ['alice']],
        ['emails eq "bob@x.com"', ['Bob']],
        ['emails co "example.com"', ['alice', 'carol_100%']],
        ['emails.value ne "bob@x.com"', ['alice', 'carol_100%', 'eve', 'Élodie']],
        ['emails.type eq "work"', ['alice', 'carol_100%']],
        ['emails[type eq "work" and value co "@example.com"]', ['alice', 'carol_100%']],
        ['emails[type eq "home" and value co "@example.com"]', []],
        ['emails[type eq "work"].value eq "alice@example.com"', ['alice']],
        ['emails[type eq "home"].value eq "alice@example.com"', []],
        ['emails[primary eq true]', ['alice']],
        ['emails[not (type eq "work")]', ['Bob', 'alice']],
        ['emails[type eq "work" or type eq "home"] and not (userName eq "alice")', ['Bob', 'carol_100%']],
        ['active eq false', ['Bob']],
        ['active eq true', ['alice', 'carol_100%', 'eve', 'Élodie']],
        ['active ne true', ['Bob']],
        ['active eq "False"', ['Bob']],
        ['name.givenName eq "alice"', ['alice']],
        ['name pr', ['Bob', 'alice', 'carol_100%']],
        ['name[givenName sw "Al" and familyName eq "liddell"]', ['alice']],
        [`${ENTERPRISE_USER_SCHEMA_ID}:employeeNumber eq "100"`, ['alice']],
        ['employeeNumber eq "100"', ['alice']],
        [`${ENTERPRISE_USER_SCHEMA_ID}:department eq "r&d"`, ['alice']],
        [`${ENTERPRISE_USER_SCHEMA_ID}:manager.value eq "bob-id"`, ['alice']],
        [`${ENTERPRISE_USER_SCHEMA_ID}:manager pr`, ['alice']],
        ['externalId eq "ext-A"', ['alice']],
        ['externalId eq "EXT-A"', []],
        ['externalId sw "ext-"', ['Bob', 'alice']],
        ['externalId pr', ['Bob', 'alice']],
        ['not (externalId eq "ext-A")', ['Bob', 'carol_100%', 'eve', 'Élodie']],
        ['userName eq "alice" or userName eq "bob" and active eq true', ['alice']],
        ['(userName eq "alice" or userName eq "bob") and active eq false', ['Bob']],
        ['not (userName eq "alice" or userName eq "bob")', ['carol_100%', 'eve', 'Élodie']],
        ['not userName eq "alice" and not userName eq "bob"', ['carol_100%', 'eve', 'Élodie']],
        [`meta.created gt "${before0}"`, ['Bob', 'alice', 'carol_100%', 'eve', 'Élodie']],
        ['meta.created lt "2000-01-01T00:00:00Z"', []],
        ['meta.lastModified ge "2999-01-01T00:00:00+02:00"', []],
        ['meta.resourceType eq "User"', ['Bob', 'alice', 'carol_100%', 'eve', 'Élodie']],
        ['meta.resourceType eq "Group"', []],
        ['groups.value pr', ['Bob', 'alice']],
        ['groups.display eq "admins"', ['Bob', 'alice']],
        ['groups[display eq "Admins" and type eq "direct"] and active eq true', ['alice']],
      ];
      for (const [filter, expected] of cases) {
        test(`filter ${filter}`, async () => {
          assert.deepEqual(await userNames(t, filter), [...expected].sort());
        });
      }

      test('filter by id and by group membership id', async () => {
        assert.deepEqual(await userNames(t, `id eq "${ids.alice}"`), ['alice']);
        assert.deepEqual(await userNames(t, `groups.value eq "${groupId}"`), ['Bob', 'alice']);
        assert.deepEqual(await userNames(t, `groups[value eq "${groupId}"]`), ['Bob', 'alice']);
      });

      test('injection-looking values are data: the tables are intact', async () => {
        await userNames(t, 'userName eq "x\'); DROP TABLE users; --"');
        await userNames(t, 'displayName co "\'||(SELECT 1)||\'"');
        assert.equal((await store.list('User', t, query('User'))).totalResults, 5);
      });

      test('group filters: displayName, members', async () => {
        const names = async (filter: string) =>
          (await store.list('Group', t, query('Group', { filter: parseFilter(filter) }))).resources.map((r) => String(r.data.displayName)).sort();
        assert.deepEqual(await names('displayName eq "ADMINS"'), ['Admins']);
        assert.deepEqual(await names(`members.value eq "${ids.alice}"`), ['Admins']);
        assert.deepEqual(await names(`members[value eq "${ids.alice}" and type eq "User"]`), ['Admins']);
        assert.deepEqual(await names(`members[value eq "${ids.alice}" and type eq "Group"]`), []);
        assert.deepEqual(await names('members pr'), ['Admins']);
        assert.deepEqual(await names('not (members pr)'), ['Empty']);
        assert.deepEqual(await names('members.display eq "bob"'), ['Admins']);
        assert.deepEqual(await names('members eq "nobody"'), []);
      });

      test('unknown attributes and misapplied operators are 400 invalidFilter', async () => {
        for (const filter of ['foo eq "x"', 'emails.foo eq "x"', 'active gt true', 'name eq "x"', `${ENTERPRISE_USER_SCHEMA_ID}:nope pr`]) {
          await scimError(store.list('User', t, query('User', { filter: parseFilter(filter) })), 400, 'invalidFilter');
        }
      });

      test('sortBy: ascending, descending, absent values last, ties by id', async () => {
        const sorted = async (sortBy: string, sortOrder?: 'ascending' | 'descending') =>
          (await store.list('User', t, query('User', { sortBy, ...(sortOrder && { sortOrder }) }))).resources.map((r) => String(r.data.userName));
        assert.deepEqual(await sorted('userName'), ['alice', 'Bob', 'carol_100%', 'eve', 'Élodie']);
        assert.deepEqual(await sorted('USERNAME', 'descending'), ['Élodie', 'eve', 'carol_100%', 'Bob', 'alice']);
        // Resources without the attribute come last, in id order.
        const byId = (names: string[]) => [...names].sort((a, b) => ((ids[a] as string) < (ids[b] as string) ? -1 : 1));
        assert.deepEqual(await sorted('name.familyName'), ['Bob', 'alice', 'carol_100%', ...byId(['eve', 'Élodie'])]);
        assert.deepEqual((await sorted('title')).slice(-1), ['eve']);
        assert.deepEqual((await sorted('title', 'descending'))[0], 'eve');
        assert.deepEqual(await sorted('externalId'), ['alice', 'Bob', ...byId(['carol_100%', 'eve', 'Élodie'])]);
        assert.equal((await sorted('meta.created')).length, 5);
        assert.deepEqual(await sorted(`${ENTERPRISE_USER_SCHEMA_ID}:employeeNumber`).then((r) => r[0]), 'alice');
        await scimError(store.list('User', t, query('User', { sortBy: 'nope' })), 400, 'invalidValue');
        await scimError(store.list('User', t, query('User', { sortBy: 'groups.display' })), 400, 'invalidValue');
      });
    });

    test('filters on integer, decimal, boolean, dateTime, case-exact and multi-valued simple JSON attributes', async () => {
      const t = newTenant();
      const typed = (values: Record<string, unknown>) => ({ [TYPED_EXTENSION_ID]: values });
      await addUser(t, 'a', typed({ level: 3, score: 2.5, vip: true, hired: '2021-05-01T00:00:00.000Z', tags: ['Alpha', 'beta'], code: 'AbC' }));
      await addUser(t, 'b', typed({ level: 10, score: 0.5, vip: false, hired: '2019-12-31T23:59:59.000Z', tags: ['gamma'], code: 'abc' }));
      await addUser(t, 'c', typed({ level: '7', tags: [] }));
      await addUser(t, 'd');
      const names = (filter: string) => userNames(t, filter, { schema: TYPED_USER_TYPE });
      const cases: [string, string[]][] = [
        ['level eq 3', ['a']],
        ['level gt 5', ['b']],
        ['level ge 3', ['a', 'b']],
        ['level lt 10', ['a']],
        ['level le "10"', ['a', 'b']],
        ['level ne 3', ['b', 'c', 'd']],
        ['level pr', ['a', 'b', 'c']],
        ['score gt 1', ['a']],
        ['score le 0.5', ['b']],
        ['vip eq true', ['a']],
        ['vip eq false', ['b']],
        ['vip ne true', ['b', 'c', 'd']],
        ['vip pr', ['a', 'b']],
        ['hired gt "2020-01-01T00:00:00Z"', ['a']],
        ['hired lt "2020-01-01T01:00:00+01:00"', ['b']],
        ['tags eq "alpha"', ['a']],
        ['tags co "MM"', ['b']],
        ['tags[value sw "BE"]', ['a']],
        ['tags pr', ['a', 'b']],
        ['not (tags pr)', ['c', 'd']],
        ['code eq "abc"', ['b']],
        ['code sw "Ab"', ['a']],
        ['code gt "B"', ['b']],
      ];
      for (const [filter, expected] of cases) assert.deepEqual(await names(filter), expected, filter);
      const sorted = await store.list('User', t, query('User', { schema: TYPED_USER_TYPE, sortBy: `${TYPED_EXTENSION_ID}:level`, sortOrder: 'descending' }));
      // Descending puts resources without a number first ('7' is a string, not a number), by id.
      assert.deepEqual(sorted.resources.slice(2).map((r) => r.data.userName), ['b', 'a']);
    });

    test('sortBy a multi-valued attribute: the primary value, else the first, missing last', async () => {
      const t = newTenant();
      await addUser(t, 'p1', { emails: [{ value: 'z@x.org', type: 'home' }, { value: 'A@x.org', primary: true }] });
      await addUser(t, 'p2', { emails: [{ value: 'm@x.org' }] });
      await addUser(t, 'p3', { emails: [{ value: 'b@x.org' }, { value: 'c@x.org' }] });
      await addUser(t, 'p4', { emails: [] });
      const sorted = async (sortBy: string, sortOrder: 'ascending' | 'descending') =>
        (await store.list('User', t, query('User', { sortBy, sortOrder }))).resources.map((r) => String(r.data.userName));
      assert.deepEqual(await sorted('emails.value', 'ascending'), ['p1', 'p3', 'p2', 'p4']);
      assert.deepEqual(await sorted('emails', 'descending'), ['p4', 'p2', 'p3', 'p1']);
    });

    test('a filtered first page that is full, empty or short gives the right total (compiled once per filter shape)', async () => {
      const t = newTenant();
      for (const name of ['Same.A', 'same.b', 'SAME.c', 'other']) await addUser(t, name, { displayName: 'Same Team' });
      const first = await store.list('User', t, query('User', { filter: parseFilter('displayName eq "Same Team"'), count: 2 }));
      assert.equal(first.totalResults, 4, 'a full first page counts the rest');
      assert.equal(first.resources.length, 2);
      for (const [value, total] of [['Same Team', 4], ['Nobody', 0]] as const) {
        const again = await store.list('User', t, query('User', { filter: parseFilter(`displayName eq "${value}"`), count: 10 }));
        assert.equal(again.totalResults, total);
        assert.equal(again.resources.length, total);
      }
      // Same shape, other value, case-insensitive attribute: bound lower-cased, as compiled per request.
      assert.deepEqual(await userNames(t, 'userName eq "SAME.A"'), ['Same.A']);
      assert.deepEqual(await userNames(t, 'userName eq "same.c"'), ['SAME.c']);
    });

    test('deep pages (late row lookup) return the same rows and totals as shallow ones', async () => {
      const t = newTenant();
      await store.write(context(t), async (w) => {
        for (let i = 0; i < 1010; i += 1) {
          await w.insert('User', t, { id: randomUUID(), data: { schemas: [USER_SCHEMA_ID], userName: `deep${String(i).padStart(4, '0')}` } });
        }
      });
      const deep = await store.list('User', t, query('User', { startIndex: 1001, count: 10, sortBy: 'userName' }));
      assert.equal(deep.totalResults, 1010);
      assert.deepEqual(deep.resources.map((r) => r.data.userName), Array.from({ length: 10 }, (_, i) => `deep${1000 + i}`));
      const tail = await store.list('User', t, query('User', { startIndex: 1006, count: 10, sortBy: 'userName' }));
      assert.equal(tail.totalResults, 1010);
      assert.deepEqual(tail.resources.map((r) => r.data.userName), ['deep1005', 'deep1006', 'deep1007', 'deep1008', 'deep1009']);
      const shallow = await store.list('User', t, query('User', { startIndex: 996, count: 10, sortBy: 'userName' }));
      assert.deepEqual(shallow.resources.map((r) => r.data.userName), Array.from({ length: 10 }, (_, i) => `deep${String(995 + i).padStart(4, '0')}`));
    });

    test('deep pages in id order (position samples) match the rows, and follow inserts, deletes and updates', async () => {
      const t = newTenant();
      const names = new Map<string, string>();
      const addMany = (n: number, prefix: string) => store.write(context(t), async (w) => {
        for (let i = 0; i < n; i += 1) {
          const id = randomUUID();
          names.set(id, `${prefix}${i}`);
          await w.insert('User', t, { id, data: { schemas: [USER_SCHEMA_ID], userName: `${prefix}${i}` } });
        }
      });
      await addMany(3200, 's');
      // Ids compare in binary order on both stores, as JavaScript compares ASCII strings.
      const expected = () => [...names.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const check = async (startIndex: number, filter?: string) => {
        const all = expected().filter((id) => filter === undefined || names.get(id)!.startsWith('s'));
        const page = await store.list('User', t, query('User', { startIndex, count: 25, ...(filter ? { filter: parseFilter(filter) } : {}) }));
        assert.equal(page.totalResults, all.length, `total at ${startIndex}`);
        assert.deepEqual(page.resources.map((r) => r.id), all.slice(startIndex - 1, startIndex - 1 + 25), `page at ${startIndex}${filter ? ` (${filter})` : ''}`);
      };
      // Several deep pages under one version: the second builds the samples, the rest use them.
      for (const startIndex of [1001, 2999, 1500, 3190, 2000, 1999, 2001, 1100]) await check(startIndex);
      // Deletes and inserts move every later position.
      const doomed = expected().filter((_, i) => i % 97 === 5).slice(0, 12);
      for (const id of doomed) {
        await store.write(context(t), (w) => w.remove('User', t, id));
        names.delete(id);
      }
      await addMany(40, 'n');
      for (const startIndex of [1001, 2999, 1500, 3190, 2000, 3228]) await check(startIndex);
      // An update that takes users out of a filter: a filtered deep page must not keep them.
      const renamed = expected().slice(1200, 1210);
      for (const id of renamed) {
        await store.write(context(t), (w) => w.update('User', t, id, { schemas: [USER_SCHEMA_ID], userName: `renamed-${id}` }));
        names.set(id, `renamed-${id}`);
      }
      for (const startIndex of [1001, 1180, 2500, 1001]) await check(startIndex, 'userName sw "s"');
      for (const startIndex of [1001, 1190, 2999]) await check(startIndex);
    });

    test('paging: stable pages, accurate totalResults, count=0', async () => {
      const t = newTenant();
      for (let i = 0; i < 25; i += 1) await addUser(t, `user${String(i).padStart(2, '0')}`, { displayName: 'Same' });
      const seen: string[] = [];
      for (const startIndex of [1, 11, 21]) {
        // All displayNames tie: the order comes from the id tie-breaker and must not shift.
        const page = await store.list('User', t, query('User', { startIndex, count: 10, sortBy: 'displayName' }));
        assert.equal(page.totalResults, 25);
        assert.equal(page.resources.length, startIndex === 21 ? 5 : 10);
        seen.push(...page.resources.map((r) => r.id));
      }
      assert.equal(new Set(seen).size, 25);
      assert.deepEqual(seen, [...seen].sort());
      const filtered = await store.list('User', t, query('User', { filter: parseFilter('userName sw "user1"'), startIndex: 2, count: 3 }));
      assert.equal(filtered.totalResults, 10);
      assert.equal(filtered.resources.length, 3);
      const countOnly = await store.list('User', t, query('User', { count: 0 }));
      assert.deepEqual(countOnly, { totalResults: 25, resources: [] });
      assert.deepEqual(await store.list('User', t, query('User', { startIndex: 26, count: 10 })), { totalResults: 25, resources: [] });
    });

    test('membership: add, remove, clear, touch, members, groupsOf, resolveMembers', async () => {
      const t = newTenant();
      const alice = await addUser(t, 'alice');
      const bob = await addUser(t, 'bob');
      const admins = await addGroup(t, 'Admins');
      const nested = await addGroup(t, 'Nested');

      assert.deepEqual((await addMembers(t, admins.id, [alice, nested, alice])).sort(), [alice.id, nested.id].sort());
      assert.deepEqual(await addMembers(t, admins.id, [alice, bob]), [bob.id]);
      const members = await store.members(t, admins.id);
      assert.deepEqual(
        members.sort((a, b) => a.value.localeCompare(b.value)),
        [
          { value: alice.id, type: 'User', display: 'alice' },
          { value: bob.id, type: 'User', display: 'bob' },
          { value: nested.id, type: 'Group', display: 'Nested' },
        ].sort((a, b) => a.value.localeCompare(b.value)),
      );
      assert.deepEqual(await store.groupsOf(t, alice.id), [{ value: admins.id, display: 'Admins' }]);
      assert.deepEqual(await store.groupsOf(t, nested.id), [{ value: admins.id, display: 'Admins' }]);
      // Read with the user in the same query: by get and by list, ordered by displayName; none for a group.
      const zeta = await addGroup(t, 'aardvarks');
      await addMembers(t, zeta.id, [alice]);
      const aliceGroups = [{ value: zeta.id, display: 'aardvarks' }, { value: admins.id, display: 'Admins' }];
      assert.deepEqual((await store.get('User', t, alice.id, { groups: true }))?.groups, aliceGroups);
      assert.equal((await store.get('User', t, alice.id))?.groups, undefined);
      assert.equal((await store.get('Group', t, nested.id, { groups: true }))?.groups, undefined);
      const page = await store.list('User', t, { startIndex: 1, count: 10, schema: USER_RESOURCE_TYPE, groups: true });
      assert.deepEqual(Object.fromEntries(page.resources.map((r) => [r.id, r.groups])), { [alice.id]: aliceGroups, [bob.id]: [{ value: admins.id, display: 'Admins' }] });
      await store.write(context(t), (w) => w.removeMembers(t, zeta.id, [alice.id]));

      const resolved = await store.resolveMembers(t, [alice.id, nested.id, 'missing', alice.id]);
      assert.deepEqual(Object.fromEntries(resolved), { [alice.id]: 'User', [nested.id]: 'Group' });

      assert.deepEqual(await store.write(context(t), (w) => w.removeMembers(t, admins.id, [bob.id, 'missing'])), [bob.id]);
      assert.deepEqual(await store.write(context(t), (w) => w.removeMembers(t, admins.id, [bob.id])), []);
      const touched = await store.write(context(t), (w) => w.touch('Group', t, admins.id));
      assert.equal(touched.version, admins.version + 1);
      assert.deepEqual(touched.data, admins.data);
      assert.deepEqual((await store.write(context(t), (w) => w.clearMembers(t, admins.id))).sort(), [alice.id, nested.id].sort());
      assert.deepEqual(await store.members(t, admins.id), []);
      await scimError(store.write(context(t), (w) => w.addMembers(t, randomUUID(), [{ value: alice.id, type: 'User' }])), 404);
    });

    test('addMembersById: adds the users and groups not yet members, by id, and names the unknown ids', async () => {
      const t = newTenant();
      const other = newTenant();
      const alice = await addUser(t, 'alice');
      const bob = await addUser(t, 'bob');
      const stranger = await addUser(other, 'alice');
      const admins = await addGroup(t, 'Admins');
      const nested = await addGroup(t, 'Nested');
      await addMembers(t, admins.id, [alice]);
      const result = await store.write(context(t), (w) => w.addMembersById(t, admins.id, [bob.id, alice.id, nested.id, 'missing', bob.id, stranger.id]));
      assert.deepEqual(result.added.sort(), [bob.id, nested.id].sort(), 'alice was a member already');
      assert.deepEqual(result.unknown.sort(), ['missing', stranger.id].sort(), "another tenant's user is unknown here");
      const members = (await store.members(t, admins.id)).map((m) => `${m.display}:${m.type}`).sort();
      assert.deepEqual(members, ['Nested:Group', 'alice:User', 'bob:User']);
      assert.deepEqual(await store.write(context(t), (w) => w.addMembersById(t, admins.id, [])), { added: [], unknown: [] });
      await scimError(store.write(context(t), (w) => w.addMembersById(t, randomUUID(), [alice.id])), 404);
      // Failing the write after it (as a PATCH naming an unknown id does) undoes what it added.
      await assert.rejects(store.write(context(t), async (w) => {
        const { unknown } = await w.addMembersById(t, nested.id, [alice.id, 'missing']);
        if (unknown.length > 0) throw new Error('unknown member');
      }), /unknown member/);
      assert.deepEqual(await store.members(t, nested.id), []);
    });

    test('addMembersById with touch moves the group\'s version once if it added anyone, and returns the group', async () => {
      const t = newTenant();
      const alice = await addUser(t, 'alice');
      const bob = await addUser(t, 'bob');
      const group = await addGroup(t, 'Touched');
      await addMembers(t, group.id, [alice]);
      const before = (await store.get('Group', t, group.id))!;
      const none = await store.write(context(t), (w) => w.addMembersById(t, group.id, [alice.id], { touch: true }));
      assert.deepEqual(none, { added: [], unknown: [] }, 'nothing added: no touch');
      assert.equal((await store.get('Group', t, group.id))!.version, before.version);

      const some = await store.write(context(t), (w) => w.addMembersById(t, group.id, [bob.id, 'missing'], { touch: true }));
      assert.deepEqual([some.added, some.unknown], [[bob.id], ['missing']]);
      const after = (await store.get('Group', t, group.id))!;
      assert.equal(after.version, before.version + 1);
      assert.deepEqual([some.touched?.id, some.touched?.version, some.touched?.lastModified], [group.id, after.version, after.lastModified]);
      assert.equal((some.touched?.data as { displayName?: string }).displayName, 'Touched');

      // More ids than one statement takes: still one move of the version.
      const carol = await addUser(t, 'carol');
      const many = [...Array.from({ length: 600 }, () => randomUUID()), carol.id];
      const chunked = await store.write(context(t), (w) => w.addMembersById(t, group.id, many, { touch: true }));
      assert.deepEqual([chunked.added, chunked.unknown.length, chunked.touched?.version], [[carol.id], 600, before.version + 2]);
      assert.equal((await store.get('Group', t, group.id))!.version, before.version + 2);
      assert.equal((await store.write(context(t), (w) => w.addMembersById(t, group.id, [carol.id], { touch: true }))).touched, undefined);
    });

    test('addMembersById with touch fails the write when the group was deleted since it was read, leaving no member row', async () => {
      const t = newTenant();
      const user = await addUser(t, 'u');
      const group = await addGroup(t, 'Gone');
      await scimError(store.write(context(t), async (w) => {
        assert.ok(await w.get('Group', t, group.id, { lock: false }));
        // Another instance deletes the group after this write read it without a lock (as a member PATCH does).
        assert.equal(await new KyselyResourceStore(database(), []).write(context(t), (other) => other.remove('Group', t, group.id)), true);
        return w.addMembersById(t, group.id, [user.id], { touch: true });
      }), 404);
      assert.equal(await store.get('Group', t, group.id), undefined);
      assert.deepEqual(await store.members(t, group.id), []);
    });

    test('a member deleted by another instance while addMembersById adds it leaves no member row behind', async () => {
      const t = newTenant();
      const group = await addGroup(t, 'G');
      const user = await addUser(t, 'u');
      let added: () => void = () => {};
      const memberAdded = new Promise<void>((resolve) => {
        added = resolve;
      });
      const adding = store.write(context(t), async (w) => {
        const result = await w.addMembersById(t, group.id, [user.id]);
        added();
        // Give the delete time to run (or, on a correct store, to wait for this write).
        await new Promise((resolve) => setTimeout(resolve, 200));
        return result;
      });
      await memberAdded;
      const removing = new KyselyResourceStore(database(), []).write(context(t), (w) => w.remove('User', t, user.id));
      assert.deepEqual((await adding).added, [user.id]);
      assert.equal(await removing, true);
      assert.equal(await store.get('User', t, user.id), undefined);
      assert.deepEqual(await store.members(t, group.id), []);
    });

    test('remove cascades memberships and moves the groups\' versions', async () => {
      const t = newTenant();
      const alice = await addUser(t, 'alice');
      const bob = await addUser(t, 'bob');
      const parent = await addGroup(t, 'Parent');
      const child = await addGroup(t, 'Child');
      await addMembers(t, parent.id, [alice, child]);
      await addMembers(t, child.id, [bob]);

      assert.equal(await store.write(context(t), (w) => w.remove('User', t, alice.id)), true);
      assert.deepEqual(
        (await store.members(t, parent.id)).map((m) => m.value),
        [child.id],
      );
      // Every assert.ok here carries a message: without one, a failure makes node:assert re-parse
      // this large file for the expression's text, which took minutes under tsx.
      const moved = ((await store.get('Group', t, parent.id)) as StoredResource).version;
      assert.ok(moved > parent.version, `the group that lost a member moved from version ${parent.version} (now ${moved})`);

      assert.equal(await store.write(context(t), (w) => w.remove('Group', t, child.id)), true);
      assert.deepEqual(await store.members(t, parent.id), []);
      assert.deepEqual(await store.groupsOf(t, bob.id), []);
      const rows = await database().db.selectFrom('group_members').select('member_id').where('tenant_id', '=', t).execute();
      assert.deepEqual(rows, []);
    });

    test('50 concurrent member-add writes to one group: 50 members, 50 version bumps', async () => {
      const t = newTenant();
      const group = await addGroup(t, 'Busy');
      const users: StoredResource[] = [];
      for (let i = 0; i < 50; i += 1) users.push(await addUser(t, `u${i}`));
      await Promise.all(
        users.map((user) =>
          store.write(context(t), async (w) => {
            const added = await w.addMembers(t, group.id, [{ value: user.id, type: 'User' }]);
            assert.deepEqual(added, [user.id]);
            await w.touch('Group', t, group.id);
          }),
        ),
      );
      assert.equal((await store.members(t, group.id)).length, 50);
      assert.equal((await store.get('Group', t, group.id))?.version, 1 + 50);
    });

    test('concurrent read-modify-write of one resource: none is lost, none fails with 412', async () => {
      const t = newTenant();
      const user = await addUser(t, 'alice', { title: '' });
      await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.write(context(t), async (w) => {
            const current = (await w.get('User', t, user.id)) as StoredResource;
            return w.update('User', t, user.id, { ...current.data, title: `${String(current.data.title)}${i},` }, current.version);
          }),
        ),
      );
      const final = (await store.get('User', t, user.id)) as StoredResource;
      assert.equal(final.version, 11);
      assert.deepEqual(String(final.data.title).split(',').filter(Boolean).map(Number).sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    test('a member deleted while a write adds it leaves no member row behind', async () => {
      const t = newTenant();
      const group = await addGroup(t, 'G');
      const user = await addUser(t, 'u');
      let checked: () => void = () => {};
      const memberChecked = new Promise<void>((resolve) => {
        checked = resolve;
      });
      const adding = store.write(context(t), async (w) => {
        const known = await w.resolveMembers(t, [user.id]);
        checked();
        // Give the delete time to run (or, on a correct store, to block on this write).
        await new Promise((resolve) => setTimeout(resolve, 200));
        return w.addMembers(t, group.id, [{ value: user.id, type: known.get(user.id) ?? 'User' }]);
      });
      await memberChecked;
      const removing = store.write(context(t), (w) => w.remove('User', t, user.id));
      await Promise.all([adding, removing]);
      assert.equal(await store.get('User', t, user.id), undefined);
      assert.deepEqual(await store.members(t, group.id), []);
    });

    test('writes of two instances locking two groups in opposite orders both complete (deadlock retried)', async () => {
      // One instance runs its writes one batch at a time (GroupCommit), so the lock cycle needs two,
      // as two Rolecall processes sharing one database are.
      const t = newTenant();
      const a = await addGroup(t, 'A');
      const b = await addGroup(t, 'B');
      const alice = await addUser(t, 'alice');
      const bob = await addUser(t, 'bob');
      // Each write locks its first group, then waits until the other has locked its own: the
      // database sees a lock cycle, aborts one, and write() re-runs the aborted one.
      let arrived = 0;
      let release: () => void = () => {};
      const bothLocked = new Promise<void>((resolve) => {
        release = resolve;
      });
      const meet = async () => {
        arrived += 1;
        if (arrived === 2) release();
        await bothLocked;
      };
      const instances = [store, new KyselyResourceStore(database(), [])];
      const crossing = (instance: number, first: StoredResource, second: StoredResource, member: StoredResource) =>
        instances[instance]!.write(context(t), async (w) => {
          await w.addMembers(t, first.id, [{ value: member.id, type: 'User' }]);
          await meet();
          await w.addMembers(t, second.id, [{ value: member.id, type: 'User' }]);
        });
      await Promise.all([crossing(0, a, b, alice), crossing(1, b, a, bob)]);
      assert.equal((await store.members(t, a.id)).length, 2);
      assert.equal((await store.members(t, b.id)).length, 2);
    });

    test('change sinks run inside the write transaction; a failing sink rolls it back', async () => {
      const t = newTenant();
      const seen: { change: DirectoryChange; visible: boolean; context: RequestContext }[] = [];
      const recording: ChangeSink = {
        async record(tx, dialect, { context: ctx, change }) {
          assert.equal(dialect, database().dialect);
          // The sink's executor is the write's transaction: it sees the uncommitted user.
          const userId = change.kind === 'user.created' ? change.userId : '';
          const row = await tx.selectFrom('users').select('id').where('tenant_id', '=', t).where('id', '=', userId).executeTakeFirst();
          seen.push({ change, visible: row !== undefined, context: ctx });
          await sql`SELECT 1`.execute(tx);
        },
      };
      const withSink = new KyselyResourceStore(database(), [recording]);
      const ctx = context(t);
      const alice = await withSink.write(ctx, async (w) => {
        const user = await w.insert('User', t, { id: randomUUID(), data: { userName: 'alice' } });
        await w.emit({ kind: 'user.created', tenantId: t, userId: user.id, userName: 'alice', active: true });
        return user;
      });
      assert.equal(seen.length, 1);
      assert.equal(seen[0]?.visible, true);
      assert.equal(seen[0]?.context, ctx);

      const failing: ChangeSink = {
        async record(tx) {
          await tx.insertInto('group_members').values({ tenant_id: t, group_id: 'g', member_id: 'm', member_type: 'User' }).execute();
          throw new Error('outbox is full');
        },
      };
      const broken = new KyselyResourceStore(database(), [recording, failing]);
      await assert.rejects(
        broken.write(context(t), async (w) => {
          await w.update('User', t, alice.id, { userName: 'alice2' });
          const bob = await w.insert('User', t, { id: randomUUID(), data: { userName: 'bob' } });
          await w.emit({ kind: 'user.created', tenantId: t, userId: bob.id, userName: 'bob', active: true });
        }),
        /outbox is full/,
      );
      assert.deepEqual(await userNames(t, 'userName pr'), ['alice']);
      assert.equal((await store.get('User', t, alice.id))?.version, 1);
      const orphan = await database().db.selectFrom('group_members').select('member_id').where('tenant_id', '=', t).execute();
      assert.deepEqual(orphan, [], "the failing sink's own write is rolled back too");
    });

    test('beforeCommit gets every change of a write with its status, last in its transaction; the context learns it changed', async () => {
      const t = newTenant();
      const calls: { changes: RequestChange[]; usersVisible: number }[] = [];
      const collecting: ChangeSink = {
        async beforeCommit(tx, dialect, changes) {
          assert.equal(dialect, database().dialect);
          const users = await tx.selectFrom('users').select('id').where('tenant_id', '=', t).execute();
          calls.push({ changes: [...changes], usersVisible: users.length });
        },
      };
      const withSink = new KyselyResourceStore(database(), [collecting]);
      const ctx = context(t);
      await withSink.write(ctx, async (w) => {
        for (const userName of ['carol', 'dave']) {
          const user = await w.insert('User', t, { id: randomUUID(), data: { userName } });
          await w.emit({ kind: 'user.created', tenantId: t, userId: user.id, userName, active: true });
        }
      }, 201);
      assert.equal(calls.length, 1);
      assert.deepEqual(calls[0]!.changes.map((c) => [c.context === ctx, c.status, c.change.kind]), [[true, 201, 'user.created'], [true, 201, 'user.created']]);
      assert.equal(calls[0]!.usersVisible, 2, 'runs after the writes, inside their transaction');
      assert.equal(ctx.changed, true);

      // A write that changes nothing reaches no sink and leaves the context unmarked.
      const quiet = context(t);
      await withSink.write(quiet, (w) => w.get('User', t, randomUUID()));
      assert.equal(calls.length, 1);
      assert.equal(quiet.changed, undefined);

      // A failing beforeCommit rolls the write back; the context is not marked.
      const refusing = new KyselyResourceStore(database(), [{ beforeCommit: async () => { throw new Error('audit refused'); } }]);
      const failed = context(t);
      await assert.rejects(refusing.write(failed, async (w) => {
        const user = await w.insert('User', t, { id: randomUUID(), data: { userName: 'erin' } });
        await w.emit({ kind: 'user.created', tenantId: t, userId: user.id, userName: 'erin', active: true });
      }), /audit refused/);
      assert.deepEqual(await userNames(t, 'userName pr'), ['carol', 'dave']);
      assert.equal(failed.changed, undefined);
    });

    test('DirectoryView: user, nested groups flattened with a cycle, user ids, tenant ids', async () => {
      const t = newTenant();
      const view = new KyselyDirectoryView(database());
      const u = await addUser(t, 'u', { externalId: 'x-u' });
      const v = await addUser(t, 'v', { active: false });
      const outsider = await addUser(t, 'outsider');
      const a = await addGroup(t, 'A', { externalId: 'x-a' });
      const b = await addGroup(t, 'B');
      const c = await addGroup(t, 'C');
      await addGroup(t, 'Unrelated');
      await addMembers(t, a.id, [b, v]);
      await addMembers(t, b.id, [c]);
      await addMembers(t, c.id, [a, u]); // A -> B -> C -> A

      assert.deepEqual(await view.user(t, u.id), { tenantId: t, id: u.id, userName: 'u', externalId: 'x-u', active: true });
      assert.equal((await view.user(t, v.id))?.active, false);
      assert.equal(await view.user(newTenant(), u.id), undefined);

      const groups = await view.groupsOfUser(t, u.id);
      assert.deepEqual(groups.map((g) => g.displayName).sort(), ['A', 'B', 'C']);
      assert.deepEqual(groups.find((g) => g.id === a.id), { tenantId: t, id: a.id, displayName: 'A', externalId: 'x-a' });
      assert.deepEqual((await view.groupsOfUser(t, v.id)).map((g) => g.displayName).sort(), ['A', 'B', 'C']);
      assert.deepEqual(await view.groupsOfUser(t, outsider.id), []);
      assert.deepEqual(await view.usersInGroup(t, a.id), [u.id, v.id].sort());
      assert.deepEqual(await view.usersInGroup(t, c.id), [u.id, v.id].sort());
      assert.deepEqual(await view.usersInGroup(newTenant(), a.id), []);

      // Many at once, as a batch of provisioning jobs reads them: the same answers as one by one.
      const users = await view.users(t, [u.id, v.id, 'missing', u.id]);
      assert.deepEqual([...users.keys()].sort(), [u.id, v.id].sort());
      assert.deepEqual(users.get(u.id), await view.user(t, u.id));
      const many = await view.groupsOfUsers(t, [u.id, v.id, outsider.id, 'missing']);
      assert.deepEqual([...many.keys()], [u.id, v.id, outsider.id, 'missing']);
      for (const id of [u.id, v.id, outsider.id]) assert.deepEqual(many.get(id), await view.groupsOfUser(t, id));
      assert.deepEqual(many.get('missing'), []);
      assert.deepEqual((await view.groupsOfUsers(newTenant(), [u.id])).get(u.id), []);

      const all = [u.id, v.id, outsider.id].sort();
      assert.deepEqual(await view.userIds(t, null, 2), all.slice(0, 2));
      assert.deepEqual(await view.userIds(t, all[1] as string, 2), all.slice(2));
      assert.ok((await view.tenantIds()).includes(t), 'the tenant is listed');
    });

    test('tenants and API tokens', async () => {
      const repo = new KyselyTenantRepository(database());
      const before1 = await repo.countTenants();
      const name = `acme-${randomUUID()}`;
      const tenant = await repo.createTenant({ name, jwtIssuer: 'https://issuer' });
      assert.equal(tenant.jwtIssuer, 'https://issuer');
      assert.equal(tenant.jwtAudience, null);
      assert.deepEqual(await repo.getTenant(tenant.id), tenant);
      assert.deepEqual(await repo.getTenantByName(name), tenant);
      assert.equal(await repo.getTenantByName(`${name}-no`), undefined);
      assert.equal(await repo.countTenants(), before1 + 1);
      assert.ok((await repo.listTenants()).some((x) => x.id === tenant.id), 'the tenant is listed');
      await assert.rejects(repo.createTenant({ name }), (e: unknown) => e instanceof RolecallError && e.disposition === 'conflict');

      const updated = await repo.updateTenant(tenant.id, { jwtAudience: 'api://rolecall', jwks: '/keys.json' });
      assert.deepEqual(updated, { ...tenant, jwtAudience: 'api://rolecall', jwks: '/keys.json' });
      assert.equal((await repo.updateTenant(tenant.id, { jwtIssuer: null })).jwtIssuer, null);
      await scimError(repo.updateTenant(randomUUID(), { jwks: null }), 404);

      const hash = randomUUID().replaceAll('-', '');
      const token = await repo.createToken({ tenantId: tenant.id, name: 'entra', hash, expiresAt: null });
      assert.deepEqual(await repo.findTokenByHash(hash), token);
      assert.equal(await repo.findTokenByHash('nope'), undefined);
      await assert.rejects(
        repo.createToken({ tenantId: tenant.id, name: 'dup', hash, expiresAt: null }),
        (e: unknown) => e instanceof RolecallError && e.disposition === 'conflict',
      );
      assert.deepEqual(await repo.listTokens(tenant.id), [token]);
      assert.ok((await repo.listTokens()).some((x) => x.id === token.id), 'the token is listed');
      await repo.touchToken(token.id, '2030-01-01T00:00:00.000Z');
      const revoked = await repo.revokeToken(token.id);
      assert.equal(revoked?.lastUsedAt, '2030-01-01T00:00:00.000Z');
      assert.ok(revoked?.revokedAt, 'the token has a revocation time');
      assert.equal((await repo.revokeToken(token.id))?.revokedAt, revoked.revokedAt);
      assert.equal(await repo.revokeToken(randomUUID()), undefined);
      assert.deepEqual(await repo.findTokenByHash(hash), revoked);
    });
  });
}
