import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RolecallError } from '../domain/errors.ts';
import type { DirectoryUser } from './directory-view.ts';
import { renderLogin, unknownPlaceholders } from './login-template.ts';

const alice: DirectoryUser = { tenantId: 'default', id: 'u-1', userName: 'alice.smith@contoso.com', externalId: 'oid-1', active: true };

test('renders every placeholder', () => {
  assert.equal(renderLogin('{userName}', alice), 'alice.smith@contoso.com');
  assert.equal(renderLogin('{localPart}_ro', alice), 'alice.smith_ro');
  assert.equal(renderLogin('{externalId}', alice), 'oid-1');
  assert.equal(renderLogin('id-{id}', alice), 'id-u-1');
});

test('localPart is the whole name when there is no "@", and stops at the last "@"', () => {
  assert.equal(renderLogin('{localPart}', { ...alice, userName: 'alice' }), 'alice');
  assert.equal(renderLogin('{localPart}', { ...alice, userName: '"a@b"@contoso.com' }), '"a@b"');
});

test('a placeholder without a value is rejected, not rendered as "null"', () => {
  assert.throws(
    () => renderLogin('{externalId}', { ...alice, externalId: null }),
    (error: unknown) => error instanceof RolecallError && error.disposition === 'reject' && /\{externalId\} has no value for user u-1/.test(error.message),
  );
});

test('unknownPlaceholders lists what the policy loader must reject', () => {
  assert.deepEqual(unknownPlaceholders('{userName}-{upn}-{}'), ['upn', '']);
  assert.deepEqual(unknownPlaceholders('plain'), []);
});
