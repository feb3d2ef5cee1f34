import assert from 'node:assert/strict';
import { test } from 'node:test';
import { JsonText, listResponse, serializeBody } from './messages.ts';
import { renderResource, renderResourceText } from './render-resource.ts';
import { normalizeResource } from './resource-input/normalize-resource.ts';
import { defaultHiddenKeys, projectAttributes } from './schema/project-attributes.ts';
import { USER_RESOURCE_TYPE } from './schema/resource-types.ts';

const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';
const BASE = 'https://rolecall.example/scim/v2';
const FIELDS = { kind: 'User' as const, tenantId: 't1', id: '6f1c0f8e-0000-4000-8000-000000000001', version: 3, created: '2026-12-01T10:00:00.000Z', lastModified: '2026-12-02T11:00:00.000Z' };
const GROUPS = [{ value: 'g1', display: 'Engineers "core"' }, { value: 'g2', display: 'Zoë' }];
const hidden = defaultHiddenKeys(USER_RESOURCE_TYPE)!;

/** What a list page answered for `data` before: the object rendered, projected and serialised. */
const objectText = (data: Record<string, unknown>, groups = GROUPS) =>
  JSON.stringify(projectAttributes(renderResource(USER_RESOURCE_TYPE, { ...FIELDS, data }, BASE, { groups }), USER_RESOURCE_TYPE));
/** A stored user as the embedded store reads it: with the JSON text it keeps. */
const stored = (data: Record<string, unknown>) => ({ ...FIELDS, data, dataText: JSON.stringify(data) });

test('a stored user renders to exactly the text the object render gives, without parsing its data', () => {
  const bodies: Record<string, unknown>[] = [
    { schemas: [CORE], userName: 'alice@example.com', active: true },
    {
      schemas: [CORE, ENTERPRISE], userName: 'Zoë.Ångström@例え.jp', externalId: 'e-1', displayName: 'x\'; DROP TABLE users; -- "q"',
      name: { givenName: 'Zoë', familyName: 'Ångström 🙂', formatted: 'line\nbreak \\ back' },
      emails: [{ value: 'z@example.com', type: 'work', primary: true }], phoneNumbers: [{ value: '+1 555', type: 'mobile' }],
      active: 'True', title: 'id: meta: groups:',
      [ENTERPRISE]: { employeeNumber: '0042', department: 'R&D', manager: { value: 'boss-id' } },
    },
    { schemas: [CORE], userName: 'n', password: 'not stored', nickName: '"id":"x"' },
  ];
  for (const body of bodies) {
    const data = normalizeResource(USER_RESOURCE_TYPE, body, 'create');
    for (const groups of [GROUPS, []]) {
      const resource = stored(data);
      const text = renderResourceText(USER_RESOURCE_TYPE, resource, BASE, { groups }, hidden);
      assert.equal(text, objectText(data, groups), JSON.stringify(body));
    }
  }
});

/** jsonb's output form, as PostgreSQL's `data::text` gives it: keys shorter first, then by bytes; `": "` and `", "`. */
function jsonbText(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(jsonbText).join(', ')}]`;
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  const keys = Object.keys(value).sort((a, b) => Buffer.byteLength(a) - Buffer.byteLength(b) || Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return `{${keys.map((k) => `${JSON.stringify(k)}: ${jsonbText((value as Record<string, unknown>)[k])}`).join(', ')}}`;
}

test("jsonb's text form (PostgreSQL) renders to the same JSON as the object, key for key", () => {
  for (const body of [
    { schemas: [CORE], userName: 'alice@example.com', active: true, name: { givenName: 'A', familyName: 'B' } },
    { schemas: [CORE, ENTERPRISE], userName: 'z', emails: [{ value: 'z@x', primary: true }], [ENTERPRISE]: { department: 'R&D', manager: { value: 'm' } } },
  ]) {
    const normalized = normalizeResource(USER_RESOURCE_TYPE, body, 'create');
    const text = jsonbText(normalized);
    // The object path renders what the driver parsed from that text: keys in jsonb order.
    const data = JSON.parse(text) as Record<string, unknown>;
    const spliced = renderResourceText(USER_RESOURCE_TYPE, { ...FIELDS, data, dataText: text }, BASE, { groups: GROUPS }, hidden);
    assert.ok(spliced !== undefined, body.userName);
    const parsed = JSON.parse(spliced) as Record<string, unknown>;
    const object = JSON.parse(objectText(data)) as Record<string, unknown>;
    assert.deepEqual(parsed, object);
    assert.deepEqual(Object.keys(parsed), Object.keys(object));
  }
  const listedWrong = jsonbText({ schemas: [CORE, ENTERPRISE], userName: 'no extension data' });
  assert.equal(renderResourceText(USER_RESOURCE_TYPE, { ...FIELDS, data: {}, dataText: listedWrong }, BASE, {}, hidden), undefined);
});

test('stored text that does not plainly show the rendered shape renders through the object', () => {
  const cases: Record<string, unknown>[] = [
    { userName: 'no schemas' },
    { userName: 'schemas not first', schemas: [CORE] },
    { schemas: [CORE], userName: 'extension not listed', [ENTERPRISE]: { department: 'x' } },
    { schemas: [CORE, ENTERPRISE], userName: 'extension listed, absent' },
    { schemas: [CORE], userName: 'hidden', Password: 'secret' },
    { schemas: [CORE], userName: 'sets id', id: 'other' },
    { schemas: [CORE], userName: 'nested id', name: { id: 'x' } },
    { schemas: [CORE], userName: 'sets meta', meta: { version: 'W/"9"' } },
    { schemas: [CORE], userName: 'sets groups', groups: [] },
  ];
  for (const data of cases) {
    assert.equal(renderResourceText(USER_RESOURCE_TYPE, stored(data), BASE, { groups: GROUPS }, hidden), undefined, String(data.userName));
  }
  // Without stored text (PostgreSQL rows, or data already read) there is nothing to splice.
  assert.equal(renderResourceText(USER_RESOURCE_TYPE, { ...FIELDS, data: { schemas: [CORE], userName: 'a' } }, BASE, {}, hidden), undefined);
});

test('a list body with text resources serialises to the same JSON as with objects', () => {
  const data = normalizeResource(USER_RESOURCE_TYPE, { schemas: [CORE], userName: 'alice' }, 'create');
  const object = JSON.parse(objectText(data)) as Record<string, unknown>;
  const text = renderResourceText(USER_RESOURCE_TYPE, stored(data), BASE, { groups: GROUPS }, hidden)!;
  const mixed = listResponse(2, 1, [new JsonText(text), object]);
  assert.equal(serializeBody(mixed), JSON.stringify(listResponse(2, 1, [object, object])));
  assert.equal(JSON.stringify(mixed), serializeBody(mixed), 'JSON.stringify writes a JsonText too');
  assert.equal(serializeBody(listResponse(0, 1, [])), JSON.stringify(listResponse(0, 1, [])));
});
