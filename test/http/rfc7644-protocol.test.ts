/**
 * The "RFC 7644 features the server must have" section of /work/shared/docs/scim-interop.md,
 * over HTTP: filters (§3.4.2.2), sorting (§3.4.2.3), paging parameters (§3.4.2.4), attribute
 * projection (§3.4.2.5), POST /.search (§3.4.3), PUT (§3.5.1), PATCH errors (§3.5.2), error
 * bodies (§3.12), ETags (§3.14), routing errors. Filters are evaluated in SQL, so every check runs
 * on the embedded store and on PostgreSQL.
 */
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import {
  assertListResponse, assertScimError, assertStatus, create, ENTERPRISE, GROUP, memberIds, patch, q, SEARCH_REQUEST, USER, versionNumber,
} from './scim-assertions.ts';

interface Fixture {
  ids: Record<string, string>;
  /** meta.lastModified of `bjensen`, and a moment after it (before the later users). */
  between: string;
}

async function seed(s: TestServer): Promise<Fixture> {
  const ids: Record<string, string> = {};
  const user = async (key: string, body: Record<string, unknown>) => {
    ids[key] = (await create(s, '/Users', { schemas: [USER], ...body })).id;
    // Distinct meta.created values, so that sorting by it has one right answer.
    await sleep(5);
  };
  await user('bjensen', {
    userName: 'bjensen', externalId: 'EXT-b', title: 'Tour Guide', active: true,
    name: { familyName: 'Jensen', givenName: 'Barbara' },
    emails: [{ type: 'work', value: 'bjensen@example.com', primary: true }, { type: 'home', value: 'babs@jensen.org' }],
    [ENTERPRISE]: { employeeNumber: '701984', department: 'Tour Operations' },
  });
  await sleep(20);
  const between = new Date().toISOString();
  await sleep(20);
  await user('jsmith', {
    userName: 'jsmith', externalId: 'ext-s', title: '', active: false,
    name: { familyName: 'Smith', givenName: 'John' },
    emails: [{ type: 'work', value: 'john@x.com' }],
  });
  await user('adoe', {
    userName: 'ADoe', active: true,
    name: { familyName: 'Doe', givenName: 'Ann' },
    // The primary email is not the first: sorting by emails.value must use the primary one.
    emails: [{ type: 'home', value: 'zz-ann@x.com' }, { type: 'work', value: 'ann.doe@example.com', primary: true }],
    [ENTERPRISE]: { department: 'Sales' },
  });
  await user('zed', { userName: 'zed', active: true, name: { familyName: 'Zed' } });
  ids.admins = (await create(s, '/Groups', { schemas: [GROUP], displayName: 'Admins', members: [{ value: ids.bjensen }] })).id;
  ids.staff = (await create(s, '/Groups', { schemas: [GROUP], displayName: 'Staff', members: [{ value: ids.jsmith }, { value: ids.adoe }] })).id;
  return { ids, between };
}

/** Filter → the set of fixture keys it must select. */
async function expectUsers(s: TestServer, fx: Fixture, filter: string, keys: string[]): Promise<void> {
  const res = await s.scim(`/Users${q({ filter, count: 100 })}`);
  const found = assertListResponse(res, { totalResults: keys.length });
  const names = Object.fromEntries(Object.entries(fx.ids).map(([k, v]) => [v, k]));
  assert.deepEqual(found.map((r) => names[r.id] ?? r.id).sort(), [...keys].sort(), `filter ${filter}`);
}

async function protocolChecks(t: TestContext, s: TestServer): Promise<void> {
  const fx = await seed(s);
  const { ids } = fx;

  await t.test('filter operators eq ne co sw ew pr gt ge lt le (§3.4.2.2)', async () => {
    await expectUsers(s, fx, 'userName eq "BJENSEN"', ['bjensen']);
    await expectUsers(s, fx, 'userName ne "bjensen"', ['jsmith', 'adoe', 'zed']);
    await expectUsers(s, fx, 'userName co "ENS"', ['bjensen']);
    await expectUsers(s, fx, 'userName sw "a"', ['adoe']);
    await expectUsers(s, fx, 'userName ew "OE"', ['adoe']);
    await expectUsers(s, fx, 'name.givenName sw "J"', ['jsmith']);
    // pr: present and not empty ("" is unassigned-equivalent, RFC 7643 §2.5).
    await expectUsers(s, fx, 'title pr', ['bjensen']);
    await expectUsers(s, fx, `${ENTERPRISE}:department pr`, ['bjensen', 'adoe']);
    await expectUsers(s, fx, 'userName gt "jsmith"', ['zed']);
    await expectUsers(s, fx, 'userName ge "jsmith"', ['jsmith', 'zed']);
    await expectUsers(s, fx, 'userName lt "bjensen"', ['adoe']);
    await expectUsers(s, fx, 'userName le "bjensen"', ['adoe', 'bjensen']);
    await expectUsers(s, fx, 'active eq false', ['jsmith']);
    await expectUsers(s, fx, 'active ne false', ['bjensen', 'adoe', 'zed']);
    await expectUsers(s, fx, `${ENTERPRISE}:employeeNumber eq "701984"`, ['bjensen']);
    await expectUsers(s, fx, `id eq "${ids.zed}"`, ['zed']);
  });

  await t.test('a listed user is the user GET returns: with its groups, extension and meta (§3.4.2)', async () => {
    // On the embedded store list pages splice the stored text; GET renders the object.
    const res = await s.scim(`/Users${q({ count: 100 })}`);
    const listed = assertListResponse(res, { totalResults: 4 });
    for (const user of listed) {
      const one = await s.scim(`/Users/${user.id as string}`);
      assertStatus(one, 200);
      assert.deepEqual(user, one.json, String(user.userName));
    }
    const bjensen = listed.find((u) => u.id === ids.bjensen)!;
    assert.deepEqual((bjensen.groups as { display: string }[]).map((g) => g.display), ['Admins']);
    assert.deepEqual(bjensen.schemas, [USER, ENTERPRISE]);
  });

  await t.test('ids are time-ordered UUIDs (version 7): each created resource sorts after the ones before it', async () => {
    const made = [];
    for (const name of ['order-1', 'order-2', 'order-3']) made.push((await create(s, '/Users', { schemas: [USER], userName: name })).id as string);
    made.push((await create(s, '/Groups', { schemas: [GROUP], displayName: 'Ordered' })).id as string);
    for (const id of made) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.deepEqual([...made].sort(), made);
    for (const id of made) assertStatus(await s.scim(`/${id === made[3] ? 'Groups' : 'Users'}/${id}`, { method: 'DELETE' }), 204);
  });

  await t.test('dateTime comparisons on meta (§3.4.2.2)', async () => {
    await expectUsers(s, fx, `meta.lastModified gt "${fx.between}"`, ['jsmith', 'adoe', 'zed']);
    await expectUsers(s, fx, `meta.created lt "${fx.between}"`, ['bjensen']);
    await expectUsers(s, fx, 'meta.resourceType eq "User"', ['bjensen', 'jsmith', 'adoe', 'zed']);
  });

  await t.test('caseExact per attribute: externalId and id are case-exact, userName is not (RFC 7643 §3.1, §4.1.1)', async () => {
    await expectUsers(s, fx, 'externalId eq "EXT-b"', ['bjensen']);
    await expectUsers(s, fx, 'externalId eq "ext-b"', []);
    await expectUsers(s, fx, 'externalId eq "ext-s"', ['jsmith']);
    await expectUsers(s, fx, 'externalId sw "EXT"', ['bjensen']);
    await expectUsers(s, fx, `id eq "${ids.zed!.toUpperCase()}"`, ids.zed === ids.zed!.toUpperCase() ? ['zed'] : []);
    await expectUsers(s, fx, 'userName eq "adoe"', ['adoe']);
  });

  await t.test('logical operators, precedence not > and > or, parentheses', async () => {
    await expectUsers(s, fx, 'userName eq "zed" or userName eq "jsmith" and active eq true', ['zed']);
    await expectUsers(s, fx, '(userName eq "zed" or userName eq "jsmith") and active eq false', ['jsmith']);
    await expectUsers(s, fx, 'not (active eq true)', ['jsmith']);
    await expectUsers(s, fx, 'not (userName eq "zed") and not (userName eq "adoe")', ['bjensen', 'jsmith']);
    await expectUsers(s, fx, 'userName eq "zed" OR userName eq "adoe"', ['zed', 'adoe']);
    await expectUsers(s, fx, 'title pr and (emails[type eq "work"] or userName eq "nobody")', ['bjensen']);
  });

  await t.test('value paths: emails[type eq "work" and value ew "@x.com"]', async () => {
    await expectUsers(s, fx, 'emails[type eq "work" and value ew "@x.com"]', ['jsmith']);
    // Both conditions must hold on the SAME element: adoe has a work email and an @x.com email, but not one that is both.
    await expectUsers(s, fx, 'emails[type eq "work" and value ew "@example.com"]', ['bjensen', 'adoe']);
    await expectUsers(s, fx, 'emails[type eq "home" and value ew "@example.com"]', []);
    await expectUsers(s, fx, 'emails[type eq "home"]', ['bjensen', 'adoe']);
    await expectUsers(s, fx, 'emails.value co "jensen"', ['bjensen']);
    await expectUsers(s, fx, 'emails.type eq "home" and emails.value ew "@x.com"', ['adoe']);
    await expectUsers(s, fx, 'EMAILS[TYPE EQ "work"].VALUE SW "JOHN"', ['jsmith']);
    await expectUsers(s, fx, 'emails pr', ['bjensen', 'jsmith', 'adoe']);
    await expectUsers(s, fx, 'not (emails pr)', ['zed']);
  });

  await t.test('filter errors are 400 invalidFilter (§3.4.2.2, §3.12)', async () => {
    for (const filter of ['userName eq', 'userName equals "a"', 'emails[type eq "work"', '((userName eq "a")', 'userName eq "a" and', 'and', 'noSuchAttribute eq "x"', 'name.noSuchPart eq "x"', 'userName eq "a" bogus', 'emails[value[type eq "a"]]']) {
      assertScimError(await s.scim(`/Users${q({ filter })}`), 400, 'invalidFilter');
    }
  });

  await t.test('groups filter on displayName and members.value', async () => {
    const byMember = assertListResponse(await s.scim(`/Groups${q({ filter: `members[value eq "${ids.adoe}"]` })}`), { totalResults: 1, itemsPerPage: 1 });
    assert.equal(byMember[0]!.id, ids.staff);
    const byName = assertListResponse(await s.scim(`/Groups${q({ filter: 'displayName eq "admins"' })}`), { totalResults: 1, itemsPerPage: 1 });
    assert.equal(byName[0]!.id, ids.admins);
    assertListResponse(await s.scim(`/Groups${q({ filter: `members.value eq "${ids.zed}"` })}`), { totalResults: 0, itemsPerPage: 0 });
  });

  await t.test('sortBy / sortOrder (§3.4.2.3)', async () => {
    const sorted = async (params: Record<string, string>) =>
      assertListResponse(await s.scim(`/Users${q({ ...params, count: 100 })}`), { totalResults: 4 }).map((r) => r.userName);
    assert.deepEqual(await sorted({ sortBy: 'userName' }), ['ADoe', 'bjensen', 'jsmith', 'zed'], 'userName sorts case-insensitively (caseExact false)');
    assert.deepEqual(await sorted({ sortBy: 'userName', sortOrder: 'descending' }), ['zed', 'jsmith', 'bjensen', 'ADoe']);
    assert.deepEqual(await sorted({ sortBy: 'name.familyName' }), ['ADoe', 'bjensen', 'jsmith', 'zed']);
    assert.deepEqual(await sorted({ sortBy: 'meta.created' }), ['bjensen', 'jsmith', 'ADoe', 'zed']);
    // §3.4.2.3: a multi-valued attribute sorts by its primary value, else its first; resources
    // without a value come last ascending and first descending.
    assert.deepEqual(await sorted({ sortBy: 'emails.value' }), ['ADoe', 'bjensen', 'jsmith', 'zed'], 'ADoe by its primary ann.doe@, not its first zz-ann@');
    assert.deepEqual(await sorted({ sortBy: 'emails.value', sortOrder: 'descending' }), ['zed', 'jsmith', 'bjensen', 'ADoe']);
    assert.deepEqual(await sorted({ sortBy: 'emails' }), ['ADoe', 'bjensen', 'jsmith', 'zed'], 'a complex multi-valued attribute sorts by its value sub-attribute');
    assertScimError(await s.scim(`/Users${q({ sortBy: 'userName', sortOrder: 'sideways' })}`), 400);
  });

  await t.test('paging parameters: bad integers are 400, count is capped (§3.4.2.4)', async () => {
    assertScimError(await s.scim(`/Users${q({ count: 'ten' })}`), 400, 'invalidValue');
    assertScimError(await s.scim(`/Users${q({ startIndex: '1.5' })}`), 400, 'invalidValue');
    assertListResponse(await s.scim(`/Users${q({ count: -3 })}`), { totalResults: 4, itemsPerPage: 0 });
    assertListResponse(await s.scim(`/Users${q({ startIndex: -10, count: 1 })}`), { totalResults: 4, startIndex: 1, itemsPerPage: 1 });
    assertListResponse(await s.scim(`/Users${q({ count: 1_000_000 })}`), { totalResults: 4, itemsPerPage: 4 });
  });

  await t.test('attributes / excludedAttributes (§3.4.2.5)', async () => {
    const one = await s.scim(`/Users/${ids.bjensen}${q({ attributes: 'userName' })}`);
    assertStatus(one, 200);
    assert.equal(one.json.id, ids.bjensen, 'id is returned always');
    assert.equal(one.json.userName, 'bjensen');
    for (const absent of ['name', 'emails', 'title', 'active', 'externalId', ENTERPRISE, 'groups']) assert.equal(absent in one.json, false, absent);

    const sub = await s.scim(`/Users/${ids.bjensen}${q({ attributes: 'name.givenName,emails.value' })}`);
    assert.deepEqual(sub.json.name, { givenName: 'Barbara' });
    assert.deepEqual(sub.json.emails, [{ value: 'bjensen@example.com' }, { value: 'babs@jensen.org' }]);

    const ext = await s.scim(`/Users/${ids.bjensen}${q({ attributes: `${ENTERPRISE}:department` })}`);
    assert.deepEqual(ext.json[ENTERPRISE], { department: 'Tour Operations' });

    const excluded = await s.scim(`/Users/${ids.bjensen}${q({ excludedAttributes: 'emails,name.familyName,id' })}`);
    assert.equal('emails' in excluded.json, false);
    assert.deepEqual(excluded.json.name, { givenName: 'Barbara' });
    assert.equal(excluded.json.id, ids.bjensen, 'id cannot be excluded (returned: always)');
    assert.equal(excluded.json.title, 'Tour Guide');

    const listed = assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "zed"', attributes: 'active' })}`), { totalResults: 1, itemsPerPage: 1 });
    assert.equal(listed[0]!.active, true);
    assert.equal('userName' in listed[0]!, false);
  });

  await t.test('POST /.search on /Users, /Groups and the root (§3.4.3)', async () => {
    const users = await s.scim('/Users/.search', {
      method: 'POST',
      body: { schemas: [SEARCH_REQUEST], filter: 'active eq true', sortBy: 'userName', sortOrder: 'descending', startIndex: 2, count: 2, attributes: ['userName'] },
    });
    const page = assertListResponse(users, { totalResults: 3, startIndex: 2, itemsPerPage: 2 });
    assert.deepEqual(page.map((u) => u.userName), ['bjensen', 'ADoe']);
    assert.equal('emails' in page[0]!, false);

    const groups = await s.scim('/Groups/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], filter: 'displayName sw "Sta"', excludedAttributes: ['members'] } });
    const g = assertListResponse(groups, { totalResults: 1, itemsPerPage: 1 });
    assert.equal(g[0]!.id, ids.staff);
    assert.equal('members' in g[0]!, false);

    // Root search spans both types; paging walks Users then Groups.
    const all = new Set<string>();
    for (let startIndex = 1; startIndex <= 6; startIndex += 4) {
      const res = await s.scim('/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], startIndex, count: 4 } });
      const part = assertListResponse(res, { totalResults: 6, startIndex, itemsPerPage: startIndex === 1 ? 4 : 2 });
      for (const r of part) all.add(r.id);
    }
    assert.deepEqual([...all].sort(), Object.values(ids).sort());
    // externalId and displayName exist on both types; each type contributes its matches.
    const named = assertListResponse(await s.scim('/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], filter: 'externalId eq "EXT-b" or displayName eq "Admins"' } }), { totalResults: 2, itemsPerPage: 2 });
    assert.deepEqual(named.map((r) => r.id).sort(), [ids.admins, ids.bjensen].sort());
    assertScimError(await s.scim('/Users/.search', { method: 'GET' }), 405);
    assertScimError(await s.scim('/Users/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], filter: 'userName eq' } }), 400, 'invalidFilter');
  });

  await t.test('PUT (§3.5.1): replaces, ignores readOnly id/meta, requires userName, keeps uniqueness', async () => {
    const res = await s.scim(`/Users/${ids.zed}`, {
      method: 'PUT',
      body: { schemas: [USER], id: 'client-chosen-id', userName: 'zed', displayName: 'Zed', meta: { created: '2000-01-01T00:00:00Z' } },
    });
    assertStatus(res, 200);
    assert.equal(res.json.id, ids.zed, 'readOnly id in the body is ignored (RFC 7643 §3.1)');
    assert.notEqual(res.json.meta.created, '2000-01-01T00:00:00Z');
    assert.equal(res.json.displayName, 'Zed');
    assert.equal('name' in res.json, false, 'name was not in the PUT body, so it is gone');
    assert.equal('active' in res.json, false);
    assertScimError(await s.scim(`/Users/${ids.zed}`, { method: 'PUT', body: { schemas: [USER], displayName: 'no userName' } }), 400);
    assertScimError(await s.scim(`/Users/${ids.zed}`, { method: 'PUT', body: { schemas: [USER], userName: 'BJENSEN' } }), 409, 'uniqueness');
    assertScimError(await s.scim(`/Groups/${ids.staff}`, { method: 'PUT', body: { schemas: [GROUP], displayName: 'ADMINS' } }), 409, 'uniqueness');
    const read = await s.scim(`/Users/${ids.zed}`);
    assert.equal(read.json.userName, 'zed');
    assert.deepEqual(await memberIds(s, ids.staff!), [ids.jsmith, ids.adoe].sort(), 'a refused group PUT leaves members alone');
  });

  await t.test('PATCH errors: noTarget, invalidPath, mutability, uniqueness, bad ops (§3.5.2)', async () => {
    const before = await s.scim(`/Users/${ids.bjensen}`);
    // Every case is tried and the mismatches reported together.
    const problems: string[] = [];
    const bad = async (body: unknown, status: number, scimType?: string) => {
      const res = await s.scim(`/Users/${ids.bjensen}`, { method: 'PATCH', body });
      try {
        assertScimError(res, status, scimType);
      } catch {
        problems.push(`${JSON.stringify(body)} -> expected ${status}${scimType ? ` ${scimType}` : ''}, got ${res.status} ${res.text.slice(0, 300)}`);
      }
    };
    await bad(patch({ op: 'remove' }), 400, 'noTarget');
    await bad(patch({ op: 'remove', path: 'emails[type eq "fax"]' }), 400, 'noTarget');
    await bad(patch({ op: 'replace', path: 'noSuchAttribute', value: 'x' }), 400, 'invalidPath');
    await bad(patch({ op: 'replace', path: 'emails[type eq ', value: 'x' }), 400, 'invalidPath');
    // RFC 7644 §3.5.2: "a client MUST NOT modify an attribute that has mutability readOnly ...
    // An operation that is not compatible with an attribute's mutability ... SHALL return" an error.
    await bad(patch({ op: 'replace', path: 'meta.created', value: '2000-01-01T00:00:00Z' }), 400, 'mutability');
    await bad(patch({ op: 'replace', path: 'id', value: 'mine-now' }), 400, 'mutability');
    await bad(patch({ op: 'add', path: 'groups', value: [{ value: ids.staff }] }), 400, 'mutability');
    await bad(patch({ op: 'replace', path: 'userName', value: 'JSmith' }), 409, 'uniqueness');
    await bad(patch({ op: 'replace', path: 'active', value: 'maybe' }), 400, 'invalidValue');
    await bad(patch({ op: 'frobnicate', path: 'title', value: 'x' }), 400);
    await bad({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'] }, 400);
    await bad({ schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [] }, 400);
    await bad(patch({ op: 'replace', path: 'userName' }), 400);
    // A PATCH is atomic (§3.5.2): a valid operation before a failing one is not applied either.
    await bad(patch({ op: 'replace', path: 'title', value: 'Changed' }, { op: 'replace', path: 'noSuchAttribute', value: 'x' }), 400, 'invalidPath');
    assert.deepEqual(problems, []);
    const after = await s.scim(`/Users/${ids.bjensen}`);
    assert.deepEqual(after.json, before.json, 'a PATCH is all or nothing');
  });

  await t.test('PATCH add of an existing value changes nothing, not even lastModified (§3.5.2.1)', async () => {
    const before = await s.scim(`/Users/${ids.bjensen}`);
    const res = await s.scim(`/Users/${ids.bjensen}`, { method: 'PATCH', body: patch({ op: 'add', path: 'emails', value: [{ type: 'home', value: 'babs@jensen.org' }] }) });
    assertStatus(res, 200);
    assert.deepEqual(res.json, before.json);
    const group = await s.scim(`/Groups/${ids.admins}`);
    const again = await s.scim(`/Groups/${ids.admins}`, { method: 'PATCH', body: patch({ op: 'add', path: 'members', value: [{ value: ids.bjensen }] }) });
    assert.ok(again.status === 204 || again.status === 200);
    const groupAfter = await s.scim(`/Groups/${ids.admins}`);
    assert.equal(groupAfter.json.meta.version, group.json.meta.version);
    assert.equal(groupAfter.json.meta.lastModified, group.json.meta.lastModified);
  });

  await t.test('PATCH on a group answers with its new ETag; If-Match works on groups (§3.14)', async () => {
    const group = await s.scim(`/Groups/${ids.admins}`);
    const etag = group.headers.get('etag')!;
    const stale = await s.scim(`/Groups/${ids.admins}`, { method: 'PATCH', headers: { 'if-match': `W/"${versionNumber(etag) + 7}"` }, body: patch({ op: 'add', path: 'members', value: [{ value: ids.zed }] }) });
    assertScimError(stale, 412);
    assert.deepEqual(await memberIds(s, ids.admins!), [ids.bjensen]);
    const ok = await s.scim(`/Groups/${ids.admins}`, { method: 'PATCH', headers: { 'if-match': etag }, body: patch({ op: 'add', path: 'members', value: [{ value: ids.zed }] }) });
    assert.ok(ok.status === 204 || ok.status === 200, ok.text);
    const after = await s.scim(`/Groups/${ids.admins}`);
    assert.equal(ok.headers.get('etag'), after.json.meta.version);
    assert.notEqual(after.json.meta.version, etag);
    const star = await s.scim(`/Groups/${ids.admins}`, { method: 'PATCH', headers: { 'if-match': '*' }, body: patch({ op: 'remove', path: `members[value eq "${ids.zed}"]` }) });
    assert.ok(star.status === 204 || star.status === 200, star.text);
    assert.deepEqual(await memberIds(s, ids.admins!), [ids.bjensen]);
  });

  await t.test('routing errors are SCIM errors: unknown endpoint 404, wrong method 405', async () => {
    assertScimError(await s.scim('/Widgets'), 404);
    assertScimError(await s.scim(`/Users/${ids.zed}/extra`), 404);
    assertScimError(await s.scim('/Users', { method: 'DELETE' }), 405);
    assertScimError(await s.scim('/Users', { method: 'PUT', body: { schemas: [USER], userName: 'x' } }), 405);
    assertScimError(await s.scim('/Bulk'), 405);
    assertScimError(await s.scim('/ServiceProviderConfig', { method: 'POST', body: {} }), 405);
    assertScimError(await s.scim('/Users/%20'), 404);
    assertScimError(await s.scim('/Users/..%2F..%2Fetc%2Fpasswd'), 404);
  });

  await t.test('a client-chosen id in POST is ignored (RFC 7643 §3.1)', async () => {
    const res = await s.scim('/Users', { method: 'POST', body: { schemas: [USER], id: 'my-own-id', userName: 'idchooser' } });
    assertStatus(res, 201);
    assert.notEqual(res.json.id, 'my-own-id');
    assertScimError(await s.scim('/Users/my-own-id'), 404);
    assertStatus(await s.scim(`/Users/${res.json.id}`, { method: 'DELETE' }), 204);
  });
}

describe('RFC 7644 protocol features', () => {
  it('on the embedded store', async (t) => {
    const s = await startTestServer();
    try {
      await protocolChecks(t, s);
    } finally {
      await s.stop();
    }
  });

  it('on PostgreSQL', async (t) => {
    if (!(await needPostgres(t))) return;
    const db = await scratchPostgresDatabase('rolecall_http_protocol');
    const s = await startTestServer({ store: db.url });
    try {
      await protocolChecks(t, s);
    } finally {
      await s.stop();
      await db.drop();
    }
  });
});
