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

/** The definition written the obvious way (integer-like keys such as "9" and "10" rule out a sorted copy and JSON.stringify: objects list those first). */
function reference(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(reference).join(',')}]`;
  if (value === null || value === undefined) return 'null';
  if (typeof value !== 'object') return JSON.stringify(value);
  const record = value as Record<string, unknown>;
  const members = Object.keys(record).sort().filter((key) => record[key] !== undefined);
  return `{${members.map((key) => `${JSON.stringify(key)}:${reference(record[key])}`).join(',')}}`;
}

test('canonical JSON equals a plain sorted-keys rendering, for random nested values', () => {
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const keys = ['a', 'B', 'b', 'é', 'z', 'aa', '_', '10', '9', 'ключ', '\u{1F600}', 'x"y', 'value', 'path'];
  const make = (depth: number): unknown => {
    const r = random();
    if (depth > 3 || r < 0.3) return [null, true, false, 0, -1.5, 1e21, 'text', 'q"\\\n', undefined][Math.floor(random() * 9)];
    if (r < 0.55) return Array.from({ length: Math.floor(random() * 4) }, () => make(depth + 1));
    const object: Record<string, unknown> = {};
    for (let i = Math.floor(random() * 6); i > 0; i--) object[keys[Math.floor(random() * keys.length)]!] = make(depth + 1);
    return object;
  };
  for (let i = 0; i < 2000; i++) {
    const value = make(0);
    assert.equal(canonicalJson(value), reference(value), JSON.stringify(value));
  }
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
