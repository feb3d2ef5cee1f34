import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ReadCache } from './read-cache.ts';

/** How many deep misses under the current token it takes until shouldSample says yes. */
function missesUntilSampling(cache: ReadCache, token: string): number {
  for (let n = 1; n <= 100; n += 1) if (cache.shouldSample(token)) return n;
  return Infinity;
}

test('position samples: built after two misses; a write that drops them early makes the next build wait longer', async () => {
  let version = 'v1';
  const cache = new ReadCache(async () => version);
  const rebuild = async (uses: number) => {
    const token = await cache.validate();
    const misses = missesUntilSampling(cache, token);
    cache.setSamples(token, 'users', ['a', 'b']);
    for (let i = 0; i < uses; i += 1) assert.deepEqual(cache.samples('users'), ['a', 'b']);
    return misses;
  };
  assert.equal(await rebuild(3), 2);
  version = 'v2';
  await cache.validate();
  assert.equal(cache.samples('users'), undefined, 'a new version drops the samples');
  // The samples served 3 pages before the data changed: not worth their query, so wait longer.
  assert.equal(await rebuild(3), 4);
  version = 'v3';
  assert.equal(await rebuild(100), 8);
  // These paid off: back to building after two misses.
  version = 'v4';
  assert.equal(await rebuild(0), 2);
  for (const v of ['v5', 'v6', 'v7', 'v8', 'v9', 'v10', 'v11']) {
    version = v;
    await rebuild(0);
  }
  version = 'v12';
  assert.equal(await rebuild(0), 64, 'the wait is capped');
});

test('a miss under a token other than the current one never asks for samples', async () => {
  let version = 'v1';
  const cache = new ReadCache(async () => version);
  const old = await cache.validate();
  version = 'v2';
  await cache.validate();
  assert.equal(cache.shouldSample(old), false);
  assert.equal(cache.shouldSample(old), false);
  cache.setSamples(old, 'users', ['a']);
  assert.equal(cache.samples('users'), undefined, 'samples read under an old version are not kept');
});
