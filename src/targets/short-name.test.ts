import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shortName } from './short-name.ts';

const bytes = (limit: number) => (name: string) => Buffer.byteLength(name, 'utf8') <= limit;

test('names that fit are returned unchanged', () => {
  assert.equal(shortName('alice', bytes(63)), 'alice');
});

test('long names become <prefix>_<hash>, deterministic and distinct', () => {
  const a = shortName('x'.repeat(100), bytes(63));
  assert.equal(Buffer.byteLength(a), 63);
  assert.equal(a, shortName('x'.repeat(100), bytes(63)));
  assert.notEqual(a, shortName('x'.repeat(101), bytes(63)));
});

test('never cuts a multibyte character or a surrogate pair', () => {
  for (const ch of ['é', '例', '🙂']) {
    const name = shortName(ch.repeat(50), bytes(63));
    assert.ok(Buffer.byteLength(name) <= 63);
    assert.ok(!name.includes('\uFFFD'));
    assert.equal(name.replace(/_[0-9a-f]{16}$/, '').replaceAll(ch, ''), '');
  }
});

test('disallowed code points force the hashed form and are left out of the prefix', () => {
  const name = shortName('a🙂b', (n) => n.length <= 128, (c) => (c.codePointAt(0) ?? 0) <= 0xffff);
  assert.match(name, /^ab_[0-9a-f]{16}$/);
});
