import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timeOrderedId } from './time-ordered-id.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const msOf = (id: string) => parseInt(id.replace(/-/g, '').slice(0, 12), 16);

test('a version 7 UUID carrying the time it was made', () => {
  const before = Date.now();
  const id = timeOrderedId();
  assert.match(id, V7);
  assert.ok(msOf(id) >= before && msOf(id) <= Date.now() + 1, id);
});

test('ids sort in the order they were made: within one ms, past the counter, and when the clock steps back', () => {
  const now = Date.now() + 60_000;
  const ids = [
    ...Array.from({ length: 5000 }, () => timeOrderedId(now)),
    ...Array.from({ length: 10 }, () => timeOrderedId(now - 1000)),
    ...Array.from({ length: 10 }, () => timeOrderedId()),
  ];
  for (const id of ids) assert.match(id, V7);
  assert.deepEqual([...ids].sort(), ids);
  assert.equal(new Set(ids).size, ids.length);
  assert.ok(msOf(ids[4999]!) > now, 'more than 4,096 ids in one ms move the time on');
});

test('the random part differs between ids of one ms', () => {
  const now = Date.now() + 120_000;
  const tails = new Set(Array.from({ length: 100 }, () => timeOrderedId(now).slice(19)));
  assert.equal(tails.size, 100);
});
