import assert from 'node:assert/strict';
import { test } from 'node:test';
import { textBackedResource } from './text-backed-resource.ts';

const FIELDS = { kind: 'User' as const, tenantId: 't1', id: 'u1', version: 1, created: '2026-12-01T10:00:00.000Z', lastModified: '2026-12-01T10:00:00.000Z' };
const CORE = 'urn:ietf:params:scim:schemas:core:2.0:User';
const stored = (data: Record<string, unknown>) => textBackedResource({ ...FIELDS }, JSON.stringify(data));

test('the stored text is offered until the data is read', () => {
  const data = { schemas: [CORE], userName: 'alice' };
  const resource = stored(data);
  assert.equal(resource.dataText, JSON.stringify(data));
  assert.deepEqual(resource.data, data);
  assert.equal(resource.dataText, undefined);
});

test('the stored text is dropped once the data is read or replaced, and never copied', () => {
  const data = { schemas: [CORE], userName: 'alice' };
  const read = stored(data);
  assert.deepEqual(Object.keys(read), ['kind', 'tenantId', 'id', 'version', 'created', 'lastModified', 'data']);
  const copy = { ...stored(data) };
  assert.equal(copy.dataText, undefined, 'a spread copy has the parsed data only');
  assert.deepEqual(copy.data, data);
  (read.data as Record<string, unknown>).userName = 'changed';
  assert.equal(read.dataText, undefined);
  assert.equal(read.data.userName, 'changed');
  const replaced = stored(data);
  replaced.data = { schemas: [CORE], userName: 'bob' };
  assert.equal(replaced.dataText, undefined);
  assert.equal(replaced.data.userName, 'bob');
});
