import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAttrName, parseAttrPath } from './parse-attr-path.ts';

const ENTERPRISE = 'urn:ietf:params:scim:schemas:extension:enterprise:2.0:User';

describe('parseAttrPath', () => {
  it('parses attr, attr.sub and URN-qualified forms', () => {
    assert.deepEqual(parseAttrPath('userName'), { attr: 'userName' });
    assert.deepEqual(parseAttrPath('name.givenName'), { attr: 'name', sub: 'givenName' });
    assert.deepEqual(parseAttrPath('members.$ref'), { attr: 'members', sub: '$ref' });
    assert.deepEqual(parseAttrPath(`${ENTERPRISE}:department`), { uri: ENTERPRISE, attr: 'department' });
    assert.deepEqual(parseAttrPath(`${ENTERPRISE}:manager.value`), { uri: ENTERPRISE, attr: 'manager', sub: 'value' });
  });

  it('rejects what is no attribute path', () => {
    for (const text of ['', '1abc', 'a.b.c', 'a.', '.a', 'a b', 'foo:bar', 'urn:x:', 'http://example.com:a', 'na-me.$x', 'a[b]']) {
      assert.equal(parseAttrPath(text), undefined, text);
    }
  });

  it('isAttrName', () => {
    assert.equal(isAttrName('value'), true);
    assert.equal(isAttrName('$ref'), true);
    assert.equal(isAttrName('x-y_z9'), true);
    assert.equal(isAttrName('9x'), false);
    assert.equal(isAttrName(''), false);
  });
});
