import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalJson } from './canonical-json.ts';
import { eventHash, type HashedFields } from './event-hash.ts';
import { createHash } from 'node:crypto';

test('canonical JSON sorts keys at every depth and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: null, c: 'x' }], u: undefined }), '{"a":[{"c":"x","d":null}],"b":1}');
  assert.equal(canonicalJson({ z: { y: 1, x: 2 } }), canonicalJson({ z: { x: 2, y: 1 } }));
  assert.equal(canonicalJson('é"\n'), '"é\\"\\n"');
  assert.equal(canonicalJson(undefined), 'null');
  assert.equal(canonicalJson(new Date('2026-01-02T03:04:05Z')), '"2026-01-02T03:04:05.000Z"');
  assert.throws(() => canonicalJson({ n: Number.NaN }), TypeError);
  assert.throws(() => canonicalJson(Infinity), TypeError);
});

test('eventHash is SHA-256 of the canonical JSON of the hashed fields', () => {
  const fields: HashedFields = {
    seq: 7,
    at: '2026-01-01T00:00:00.000Z',
    type: 'directory.change',
    tenantId: 't1',
    requestId: null,
    actor: 'tok-1',
    userId: 'u1',
    groupId: null,
    target: null,
    payload: '{"active":false,"kind":"user.updated"}',
    prevHash: 'ab'.repeat(32),
  };
  const expected = createHash('sha256').update(canonicalJson(fields)).digest('hex');
  assert.equal(eventHash(fields), expected);
  assert.notEqual(eventHash({ ...fields, seq: 8 }), expected);
  assert.notEqual(eventHash({ ...fields, groupId: 'g' }), expected);
});
