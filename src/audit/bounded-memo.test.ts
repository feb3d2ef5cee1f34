import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedMemo } from './bounded-memo.ts';

test('boundedMemo computes each key once up to its limit, and still answers correctly past it', () => {
  const calls: string[] = [];
  const length = boundedMemo((key) => {
    calls.push(key);
    return key.length;
  }, 2);
  assert.deepEqual([length('a'), length('bb'), length('a'), length('bb')], [1, 2, 1, 2]);
  assert.deepEqual(calls, ['a', 'bb']);
  assert.deepEqual([length('ccc'), length('ccc')], [3, 3]);
  assert.deepEqual(calls, ['a', 'bb', 'ccc', 'ccc'], 'past the limit a new key is computed every time');
  const secret = boundedMemo((key) => (key === 'password' ? false : undefined));
  assert.equal(secret('password'), false);
  assert.equal(secret('other'), undefined);
});
