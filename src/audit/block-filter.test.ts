import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BlockFilter } from './block-filter.ts';

const keys = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}\u0000${i}-${(i * 2654435761) >>> 0}`);

test('a block filter holds every key it was built from', () => {
  const held = keys('u', 3000);
  const filter = BlockFilter.of(held);
  assert.ok(held.every((key) => filter.mightHold(BlockFilter.probe(key))));
  const stored = BlockFilter.from(Uint8Array.from(filter.bytes));
  assert.ok(held.every((key) => stored.mightHold(BlockFilter.probe(key))));
});

test('false positives stay near 1% and an empty filter holds nothing', () => {
  const filter = BlockFilter.of(keys('u', 2000));
  const others = keys('g', 20_000);
  const hits = others.filter((key) => filter.mightHold(BlockFilter.probe(key))).length;
  assert.ok(hits / others.length < 0.03, `false positive rate ${hits / others.length}`);
  const empty = BlockFilter.of([]);
  assert.equal(empty.bytes.length, 8);
  assert.equal(others.some((key) => empty.mightHold(BlockFilter.probe(key))), false);
});

test('a stored filter too short to be one is refused', () => {
  assert.throws(() => BlockFilter.from(new Uint8Array(3)), RangeError);
});
