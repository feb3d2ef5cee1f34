/**
 * Input an attacker (or a broken client) sends: SQL-looking values, LIKE wildcards, oversized,
 * malformed and absurdly nested bodies, filters built to exhaust the parser, oversized bulks.
 * Every answer must be a precise 4xx SCIM error (RFC 7644 §3.12) or a correct result, never a
 * 500, and nothing must be written by a refused request.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it, type TestContext } from 'node:test';
import { needPostgres, scratchPostgresDatabase } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import {
  assertClientError, assertListResponse, assertScimContentType, assertScimError, assertStatus, BULK_REQUEST, BULK_RESPONSE,
  create, GROUP, memberIds, minimalUser, q, SEARCH_REQUEST, USER,
} from './scim-assertions.ts';

const HOSTILE_USERNAMES = [
  "' OR 1=1 --",
  '"; DROP TABLE users; --',
  "Robert'); DROP TABLE groups;--",
  'back\\slash\\\\double',
  '100%_off',
  '%',
  '_',
  '\\%',
  'a_c',
  "O'Brien",
  '$1 $$ :name ?',
  'Zoë Ødegård 李小龍 🙂',
  'x'.repeat(240) + '@example.com',
];

async function userCount(s: TestServer): Promise<number> {
  const res = await s.scim(`/Users${q({ count: 0 })}`);
  assertStatus(res, 200);
  return res.json.totalResults;
}

/**
 * Stores and finds back hostile userNames. Run on both stores: LIKE escaping and Unicode case
 * folding are dialect SQL (src/directory/dialect-sql.ts), so each needs its own proof.
 */
async function injectionChecks(t: TestContext, s: TestServer): Promise<void> {
  const created = new Map<string, string>();
  let bystander: Record<string, any>;
  let group: Record<string, any>;

  await t.test('stores each one exactly as sent', async () => {
    bystander = await create(s, '/Users', minimalUser('bystander@example.com'));
    group = await create(s, '/Groups', { schemas: [GROUP], displayName: 'Bystanders', members: [{ value: bystander.id }] });
    for (const userName of HOSTILE_USERNAMES) {
      const res = await s.scim('/Users', { method: 'POST', body: minimalUser(userName, { displayName: userName }) });
      assertStatus(res, 201);
      assert.equal(res.json.userName, userName);
      assert.equal(res.json.displayName, userName);
      created.set(userName, res.json.id);
      const read = await s.scim(`/Users/${res.json.id}`);
      assert.equal(read.json.userName, userName);
    }
  });

  await t.test('finds each one back exactly by userName eq, and only that one', async () => {
    for (const [userName, id] of created) {
      // RFC 7644 §3.4.2.2: compValue is a JSON string, so JSON escaping is the filter's escaping.
      const found = assertListResponse(await s.scim(`/Users${q({ filter: `userName eq ${JSON.stringify(userName)}` })}`), { totalResults: 1, itemsPerPage: 1 });
      assert.equal(found[0]!.id, id, userName);
      assert.equal(found[0]!.userName, userName);
    }
  });

  await t.test('treats % _ and \\ as literal characters in co / sw / ew', async () => {
    const expect = async (filter: string, names: string[]) => {
      const found = assertListResponse(await s.scim(`/Users${q({ filter, count: 100 })}`), { totalResults: names.length });
      assert.deepEqual(found.map((u) => u.userName).sort(), [...names].sort(), filter);
    };
    await expect('userName co "%"', ['100%_off', '%', '\\%']);
    await expect('userName eq "%"', ['%']);
    await expect('userName sw "_"', ['_']);
    await expect('userName co "_"', ['100%_off', '_', 'a_c']);
    await expect('userName ew "_off"', ['100%_off']);
    await expect('userName co "\\\\"', ['back\\slash\\\\double', '\\%']);
    await expect('userName sw "\\\\%"', ['\\%']);
    await expect('userName co "\'"', ["' OR 1=1 --", "Robert'); DROP TABLE groups;--", "O'Brien"]);
    await expect('userName co "\\""', ['"; DROP TABLE users; --']);
    await expect('userName eq "a%c"', []);
    await expect('userName co "DROP TABLE"', ['"; DROP TABLE users; --', "Robert'); DROP TABLE groups;--"]);
  });

  await t.test('matches Unicode case-insensitively and keeps code points intact', async () => {
    const found = assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "ZOË ØDEGÅRD 李小龍 🙂"' })}`), { totalResults: 1, itemsPerPage: 1 });
    assert.equal(found[0]!.userName, 'Zoë Ødegård 李小龍 🙂');
  });

  await t.test('affected nothing else: every table and row is still there', async () => {
    assert.equal(await userCount(s), HOSTILE_USERNAMES.length + 1);
    assertStatus(await s.scim(`/Users/${bystander.id}`), 200);
    assert.deepEqual(await memberIds(s, group.id), [bystander.id]);
    assertListResponse(await s.scim('/Groups'), { totalResults: 1, itemsPerPage: 1 });
    // The values work in a PATCH path filter as well.
    const res = await s.scim(`/Users/${created.get("' OR 1=1 --")}`, {
      method: 'PATCH',
      body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'emails', value: [{ type: 'work', value: "' OR 1=1 --@example.com" }] }] },
    });
    assertStatus(res, 200);
    const byEmail = assertListResponse(await s.scim(`/Users${q({ filter: 'emails[value eq "\' OR 1=1 --@example.com"]' })}`), { totalResults: 1, itemsPerPage: 1 });
    assert.equal(byEmail[0]!.id, created.get("' OR 1=1 --"));
    for (const [userName, id] of created) {
      assertStatus(await s.scim(`/Users/${id}`, { method: 'DELETE' }), 204);
      assertListResponse(await s.scim(`/Users${q({ filter: `userName eq ${JSON.stringify(userName)}` })}`), { totalResults: 0, itemsPerPage: 0 });
    }
    assert.equal(await userCount(s), 1);
    assert.deepEqual(await memberIds(s, group.id), [bystander.id]);
  });
}

describe('hostile input', () => {
  let s: TestServer;
  before(async () => {
    // Small bulk limit so that "more than maxOperations" is cheap to send.
    s = await startTestServer({ bulkMaxOperations: 5 });
  });
  after(async () => {
    await s?.stop();
  });

  describe('injection-looking and wildcard userNames', () => {
    it('embedded store', async (t) => {
      await injectionChecks(t, s);
    });
    it('PostgreSQL', async (t) => {
      if (!(await needPostgres(t))) return;
      const db = await scratchPostgresDatabase('rolecall_http_hostile');
      const pgServer = await startTestServer({ store: db.url });
      try {
        await injectionChecks(t, pgServer);
      } finally {
        await pgServer.stop();
        await db.drop();
      }
    });
  });

  describe('bodies', () => {
    it('a 10 MB body is 413 with a SCIM error, and nothing is written', async () => {
      const before = await userCount(s);
      const body = JSON.stringify(minimalUser('huge@example.com', { displayName: 'x'.repeat(10 * 1024 * 1024) }));
      assertScimError(await s.scim('/Users', { method: 'POST', body }), 413);
      // Streamed without Content-Length (chunked): the limit holds while reading.
      const bytes = new TextEncoder().encode(body);
      const stream = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 64 * 1024) controller.enqueue(bytes.subarray(i, i + 64 * 1024));
          controller.close();
        },
      });
      const res = await fetch(`${s.scimUrl}/Users`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/scim+json' },
        body: stream,
        duplex: 'half',
      } as RequestInit);
      const text = await res.text();
      assert.equal(res.status, 413, text);
      assert.equal(JSON.parse(text).status, '413');
      assert.equal(await userCount(s), before);
      assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "huge@example.com"' })}`), { totalResults: 0, itemsPerPage: 0 });
    });

    it('malformed JSON is 400 invalidSyntax', async () => {
      for (const body of ['{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":', '{userName: "x"}', '[1,2', 'nul']) {
        assertScimError(await s.scim('/Users', { method: 'POST', body }), 400, 'invalidSyntax');
      }
    });

    it('a JSON body that is not an object is 400, never 500', async () => {
      for (const body of ['[]', '"user"', '42', 'null', 'true']) {
        const res = await s.scim('/Users', { method: 'POST', body });
        assertScimError(res, 400);
      }
    });

    it('a body that is not valid UTF-8 is 400 invalidSyntax, not stored with replacement characters (RFC 8259 §8.1)', async () => {
      const before = await userCount(s);
      const prefix = Buffer.from(`{"schemas":["${USER}"],"userName":"bad-utf8-`);
      const body = Buffer.concat([prefix, Buffer.from([0xff, 0xfe, 0xc3]), Buffer.from('"}')]);
      const res = await fetch(`${s.scimUrl}/Users`, { method: 'POST', headers: { authorization: `Bearer ${s.token}`, 'content-type': 'application/scim+json' }, body });
      const text = await res.text();
      assert.equal(res.status, 400, text);
      assert.match(res.headers.get('content-type') ?? '', /^application\/scim\+json/);
      const json = JSON.parse(text);
      assert.equal(json.status, '400');
      assert.equal(json.scimType, 'invalidSyntax');
      assert.equal(await userCount(s), before);
      assertListResponse(await s.scim(`/Users${q({ filter: 'userName sw "bad-utf8-"' })}`), { totalResults: 0, itemsPerPage: 0 });
    });

    it('malformed percent-encoding in the path is 400 invalidSyntax, never 500', async () => {
      for (const path of ['/Users/%ZZ', '/Users/%E0%A4%A', '/Groups/%', '/%ZZ']) {
        for (const method of ['GET', 'DELETE']) assertScimError(await s.scim(path, { method }), 400, 'invalidSyntax');
      }
      assertScimError(await s.scim('/Users/%ZZ', { method: 'PATCH', body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] } }), 400, 'invalidSyntax');
    });

    it('echoes a well-formed X-Request-Id and replaces a hostile one (it reaches logs and the audit trail)', async () => {
      const ok = await s.scim('/Users', { headers: { 'x-request-id': 'entra-7f3c.req:42' } });
      assertStatus(ok, 200);
      assert.equal(ok.headers.get('x-request-id'), 'entra-7f3c.req:42');
      for (const hostile of ['id with spaces', '<script>alert(1)</script>', 'x'.repeat(500), '"quoted"']) {
        const res = await s.scim('/Users', { headers: { 'x-request-id': hostile } });
        assertStatus(res, 200);
        assert.match(res.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, `replaced: ${hostile.slice(0, 40)}`);
      }
      const fresh = await s.scim('/Users');
      assert.match(fresh.headers.get('x-request-id') ?? '', /^[0-9a-f-]{36}$/, 'one is generated when none is sent');
    });

    it('a non-JSON content type (text/plain) is 415', async () => {
      const before = await userCount(s);
      const res = await s.scim('/Users', { method: 'POST', body: JSON.stringify(minimalUser('plain@example.com')), headers: { 'content-type': 'text/plain' } });
      assertScimError(res, 415);
      const form = await s.scim('/Users', { method: 'POST', body: 'userName=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
      assertScimError(form, 415);
      assert.equal(await userCount(s), before);
    });

    it('a deeply nested body is 400 and nothing is written', async () => {
      const before = await userCount(s);
      const depth = 100_000;
      const nested = `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
      const body = `{"schemas":["${USER}"],"userName":"deep@example.com","name":${nested}}`;
      assertScimError(await s.scim('/Users', { method: 'POST', body }), 400);
      const arrays = `{"schemas":["${USER}"],"userName":"deep@example.com","emails":${'['.repeat(depth)}${']'.repeat(depth)}}`;
      assertScimError(await s.scim('/Users', { method: 'POST', body: arrays }), 400);
      assert.equal(await userCount(s), before);
    });

    it('an unknown attribute or undeclared extension in a POST is a 4xx and creates nothing (RFC 7644 §3.3)', async () => {
      const before = await userCount(s);
      assertClientError(await s.scim('/Users', { method: 'POST', body: minimalUser('unknown-attr@example.com', { favouriteColour: 'blue' }) }));
      assertClientError(await s.scim('/Users', {
        method: 'POST',
        body: { schemas: [USER, 'urn:example:params:scim:schemas:extension:acme:2.0:User'], userName: 'unknown-ext@example.com', 'urn:example:params:scim:schemas:extension:acme:2.0:User': { badge: 7 } },
      }));
      assertClientError(await s.scim('/Users', { method: 'POST', body: { schemas: [USER], displayName: 'no userName' } }));
      assertClientError(await s.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 42 } }));
      assertClientError(await s.scim('/Users', { method: 'POST', body: { schemas: [USER], userName: 'bad-active@example.com', active: 'maybe' } }));
      assert.equal(await userCount(s), before);
    });
  });

  describe('internal failures', () => {
    it('an unforeseen error is a generic 500 SCIM error (no internals leak) and its cause reaches stderr', async () => {
      const store = s.server.app.store;
      const original = store.list;
      const written: string[] = [];
      const write = process.stderr.write.bind(process.stderr);
      store.list = async () => {
        throw new Error('boom: connection string postgres://admin:hunter2@db');
      };
      process.stderr.write = ((chunk: string | Uint8Array) => {
        written.push(String(chunk));
        return true;
      }) as typeof process.stderr.write;
      let res;
      try {
        res = await s.scim('/Users');
      } finally {
        process.stderr.write = write;
        store.list = original;
      }
      assertScimError(res, 500);
      assert.equal(res.text.includes('hunter2'), false, 'the cause is not sent to the client');
      assert.equal(res.text.includes('boom'), false);
      assert.ok(written.some((line) => line.includes('GET /Users') && line.includes('boom')), `reported: ${written.join('')}`);
      assertStatus(await s.scim('/Users'), 200);
    });
  });

  describe('filters built to exhaust the parser', () => {
    const clauses = Array.from({ length: 10_000 }, (_, i) => `userName eq "u${i}"`).join(' or ');
    const parens = `${'('.repeat(10_000)}userName eq "a"${')'.repeat(10_000)}`;
    const nots = `${'not ('.repeat(10_000)}userName eq "a"${')'.repeat(10_000)}`;
    const valuePaths = `emails[${'value co "a" and '.repeat(5_000)}type eq "work"]`;

    it('POST /Users/.search with a 10,000-clause or 10,000-paren filter is 400 invalidFilter (RFC 7644 §3.4.3)', async () => {
      for (const filter of [clauses, parens, nots, valuePaths]) {
        const res = await s.scim('/Users/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], filter } });
        assertScimError(res, 400, 'invalidFilter');
      }
      const root = await s.scim('/.search', { method: 'POST', body: { schemas: [SEARCH_REQUEST], filter: parens } });
      assertScimError(root, 400, 'invalidFilter');
    });

    it('the same filters in a GET query string get a 4xx, never a 5xx', async () => {
      for (const filter of [clauses, parens]) {
        // Longer than Node's request-head limit: refused by the HTTP parser (431) before Rolecall
        // sees it; the transport may also close the connection while the client still writes.
        const status = await fetch(`${s.scimUrl}/Users${q({ filter })}`, { headers: { authorization: `Bearer ${s.token}` } })
          .then(async (res) => {
            await res.text();
            return res.status;
          })
          .catch(() => 'connection closed');
        assert.ok(status === 'connection closed' || (typeof status === 'number' && status >= 400 && status < 500), `status ${status}`);
      }
      // 2,000 parentheses still fit Node's 16 KiB request-head limit, so this reaches the parser.
      const short = `${'('.repeat(2_000)}userName eq "a"${')'.repeat(2_000)}`;
      assertScimError(await s.scim(`/Users${q({ filter: short })}`), 400, 'invalidFilter');
      assertStatus(await s.scim('/Users'), 200);
    });

    it('syntax errors in a filter are 400 invalidFilter', async () => {
      for (const filter of ['userName eq', 'userName zz "a"', '(userName eq "a"', 'userName eq "a" and', 'emails[type eq "work"', 'userName eq "unterminated', 'nosuchattribute eq "a"']) {
        assertScimError(await s.scim(`/Users${q({ filter })}`), 400, 'invalidFilter');
      }
    });
  });

  describe('bulk (RFC 7644 §3.7)', () => {
    it('more than maxOperations is 413 and nothing is written', async () => {
      const before = await userCount(s);
      const Operations = Array.from({ length: 6 }, (_, i) => ({ method: 'POST', path: '/Users', bulkId: `b${i}`, data: minimalUser(`bulk-over-${i}@example.com`) }));
      assertScimError(await s.scim('/Bulk', { method: 'POST', body: { schemas: [BULK_REQUEST], Operations } }), 413);
      assert.equal(await userCount(s), before);
    });

    it('a bulk body larger than maxPayloadSize is 413', async () => {
      const Operations = [{ method: 'POST', path: '/Users', bulkId: 'big', data: minimalUser('bulk-big@example.com', { displayName: 'y'.repeat(2 * 1024 * 1024) }) }];
      assertScimError(await s.scim('/Bulk', { method: 'POST', body: { schemas: [BULK_REQUEST], Operations } }), 413);
    });

    it('resolves bulkId references, even to operations listed later', async () => {
      const res = await s.scim('/Bulk', {
        method: 'POST',
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'POST', path: '/Groups', bulkId: 'g1', data: { schemas: [GROUP], displayName: 'Bulk Group', members: [{ type: 'User', value: 'bulkId:u1' }, { type: 'User', value: 'bulkId:u2' }] } },
            { method: 'POST', path: '/Users', bulkId: 'u1', data: minimalUser('bulk-u1@example.com') },
            { method: 'POST', path: '/Users', bulkId: 'u2', data: minimalUser('bulk-u2@example.com') },
          ],
        },
      });
      assertStatus(res, 200);
      assertScimContentType(res);
      assert.deepEqual(res.json.schemas, [BULK_RESPONSE]);
      const ops = res.json.Operations as Record<string, any>[];
      assert.equal(ops.length, 3);
      const byId = Object.fromEntries(ops.map((o) => [o.bulkId, o]));
      for (const id of ['g1', 'u1', 'u2']) {
        assert.equal(byId[id].status, '201', `${id}: ${JSON.stringify(byId[id])}`);
        assert.equal(byId[id].method, 'POST');
        assert.match(byId[id].location, new RegExp(`^${s.scimUrl}/(Users|Groups)/[^/]+$`));
        assert.match(byId[id].version, /^W\/".+"$/);
      }
      const idOf = (location: string) => location.slice(location.lastIndexOf('/') + 1);
      const groupId = idOf(byId.g1.location);
      assert.deepEqual(await memberIds(s, groupId), [idOf(byId.u1.location), idOf(byId.u2.location)].sort());
      const u1 = await s.scim(`/Users/${idOf(byId.u1.location)}`);
      assert.equal(u1.json.userName, 'bulk-u1@example.com');
    });

    it('resolves bulkId in operation paths and reports location and version for every operation (§3.7.1, §3.7.3)', async () => {
      const res = await s.scim('/Bulk', {
        method: 'POST',
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'PATCH', path: '/Users/bulkId:p1', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'Patched In Bulk' }] } },
            { method: 'PATCH', path: '/Groups/bulkId:pg', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:p1' }] }] } },
            { method: 'POST', path: '/Users', bulkId: 'p1', data: minimalUser('bulk-path@example.com') },
            { method: 'POST', path: '/Groups', bulkId: 'pg', data: { schemas: [GROUP], displayName: 'Bulk Path Group' } },
            { method: 'DELETE', path: '/Users/bulkId:p1' },
          ],
        },
      });
      assertStatus(res, 200);
      const ops = res.json.Operations as Record<string, any>[];
      assert.equal(ops.length, 5);
      const created = ops.find((o) => o.bulkId === 'p1')!;
      const group = ops.find((o) => o.bulkId === 'pg')!;
      assert.equal(created.status, '201');
      assert.equal(group.status, '201');
      const userLocation = created.location as string;
      const groupLocation = group.location as string;
      // RFC 7644 §3.7: location is REQUIRED in every operation response except a failed POST.
      const byMethodAndLocation = ops.map((o) => [o.method, o.status, o.location]);
      assert.deepEqual(byMethodAndLocation.sort(), [
        ['DELETE', '204', userLocation],
        ['PATCH', '200', userLocation],
        ['PATCH', '204', groupLocation],
        ['POST', '201', groupLocation],
        ['POST', '201', userLocation],
      ].sort());
      for (const o of ops.filter((x) => x.method !== 'DELETE')) assert.match(o.version, /^W\/".+"$/, `${o.method} ${o.location} has a version`);
      // The DELETE ran after the PATCHes that name the same bulkId (all of them resolved).
      const groupId = groupLocation.slice(groupLocation.lastIndexOf('/') + 1);
      assertScimError(await s.scim(`/Users/${userLocation.slice(userLocation.lastIndexOf('/') + 1)}`), 404);
      assert.deepEqual(await memberIds(s, groupId), [], 'deleting the user removed it from the group');
    });

    it('operations waiting on bulkIds in any order all complete (no false circularity)', async () => {
      const res = await s.scim('/Bulk', {
        method: 'POST',
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'PATCH', path: '/Groups/bulkId:og', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'add', path: 'members', value: [{ value: 'bulkId:ou2' }] }] } },
            { method: 'POST', path: '/Groups', bulkId: 'og', data: { schemas: [GROUP], displayName: 'Order Group', members: [{ value: 'bulkId:ou1' }] } },
            { method: 'POST', path: '/Users', bulkId: 'ou1', data: minimalUser('order-1@example.com') },
            { method: 'POST', path: '/Users', bulkId: 'ou2', data: minimalUser('order-2@example.com') },
          ],
        },
      });
      assertStatus(res, 200);
      const ops = res.json.Operations as Record<string, any>[];
      assert.deepEqual(ops.map((o) => `${o.method} ${o.status}`).sort(), ['PATCH 204', 'POST 201', 'POST 201', 'POST 201']);
      const idOf = (bulkId: string) => { const l = ops.find((o) => o.bulkId === bulkId)!.location as string; return l.slice(l.lastIndexOf('/') + 1); };
      assert.deepEqual(await memberIds(s, idOf('og')), [idOf('ou1'), idOf('ou2')].sort());
    });

    it('a bulk operation with a stale version fails with 412 (§3.7, §3.14)', async () => {
      const user = await create(s, '/Users', minimalUser('bulk-versioned@example.com'));
      const res = await s.scim('/Bulk', {
        method: 'POST',
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'PATCH', path: `/Users/${user.id}`, version: 'W/"999"', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'stale' }] } },
            { method: 'PATCH', path: `/Users/${user.id}`, version: user.meta.version, data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'displayName', value: 'fresh' }] } },
          ],
        },
      });
      assertStatus(res, 200);
      assert.deepEqual(res.json.Operations.map((o: any) => o.status), ['412', '200']);
      assert.equal(res.json.Operations[0].response.status, '412');
      assert.equal((await s.scim(`/Users/${user.id}`)).json.displayName, 'fresh');
    });

    it('a circular or unknown bulkId reference fails that operation only, with 409', async () => {
      const res = await s.scim('/Bulk', {
        method: 'POST',
        body: {
          schemas: [BULK_REQUEST],
          Operations: [
            { method: 'POST', path: '/Groups', bulkId: 'loose', data: { schemas: [GROUP], displayName: 'Loose', members: [{ value: 'bulkId:never' }] } },
            { method: 'POST', path: '/Users', bulkId: 'fine', data: minimalUser('bulk-fine@example.com') },
          ],
        },
      });
      assertStatus(res, 200);
      const byId = Object.fromEntries((res.json.Operations as any[]).map((o) => [o.bulkId, o]));
      assert.equal(byId.fine.status, '201');
      assert.equal(byId.loose.status, '409');
      assert.equal(byId.loose.response.status, '409');
      assertListResponse(await s.scim(`/Groups${q({ filter: 'displayName eq "Loose"' })}`), { totalResults: 0, itemsPerPage: 0 });
    });

    it('honours failOnErrors: stops after that many errors (§3.7.3)', async () => {
      const Operations = [
        { method: 'POST', path: '/Users', bulkId: 'dup', data: minimalUser('bulk-u1@example.com') }, // 409: exists
        { method: 'PATCH', path: '/Users/does-not-exist', data: { schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'], Operations: [{ op: 'replace', path: 'active', value: false }] } }, // 404
        { method: 'POST', path: '/Users', bulkId: 'late', data: minimalUser('bulk-late@example.com') },
      ];
      const stopped = await s.scim('/Bulk', { method: 'POST', body: { schemas: [BULK_REQUEST], failOnErrors: 2, Operations } });
      assertStatus(stopped, 200);
      const ops = stopped.json.Operations as any[];
      assert.deepEqual(ops.map((o) => o.status), ['409', '404'], 'processing stopped after the second error');
      assert.equal(ops[0].response.scimType, 'uniqueness');
      assert.equal(ops[0].response.status, '409');
      assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "bulk-late@example.com"' })}`), { totalResults: 0, itemsPerPage: 0 });

      const onlyOne = await s.scim('/Bulk', { method: 'POST', body: { schemas: [BULK_REQUEST], failOnErrors: 1, Operations } });
      assertStatus(onlyOne, 200);
      assert.deepEqual((onlyOne.json.Operations as any[]).map((o) => o.status), ['409']);

      const all = await s.scim('/Bulk', { method: 'POST', body: { schemas: [BULK_REQUEST], Operations } });
      assertStatus(all, 200);
      assert.deepEqual((all.json.Operations as any[]).map((o) => o.status), ['409', '404', '201'], 'without failOnErrors every operation runs');
      assertListResponse(await s.scim(`/Users${q({ filter: 'userName eq "bulk-late@example.com"' })}`), { totalResults: 1, itemsPerPage: 1 });
    });

    it('malformed bulk requests are 400, never 500', async () => {
      for (const body of [
        {},
        { schemas: [BULK_REQUEST], Operations: [] },
        { schemas: [BULK_REQUEST], Operations: 'x' },
        { schemas: [BULK_REQUEST], Operations: [null] },
        { schemas: [BULK_REQUEST], Operations: [{ method: 'GET', path: '/Users' }] },
        { schemas: [BULK_REQUEST], Operations: [{ method: 'POST', path: '/Users', data: minimalUser('no-bulk-id@example.com') }] },
        { schemas: [BULK_REQUEST], Operations: [{ method: 'POST', path: '/Schemas', bulkId: 'x', data: {} }] },
        { schemas: [BULK_REQUEST], failOnErrors: 'one', Operations: [{ method: 'DELETE', path: '/Users/x' }] },
      ]) {
        assertScimError(await s.scim('/Bulk', { method: 'POST', body }), 400);
      }
    });
  });
});
