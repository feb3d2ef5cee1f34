import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Policy } from './policy.ts';
import type { DirectoryGroup } from '../provisioning/directory-view.ts';
import { grantingGroups } from './granting-groups.ts';

const policy: Policy = {
  version: 1,
  targets: [],
  mappings: [
    { group: { by: 'displayName', value: 'Analysts' }, grants: { 'pg-a': ['reader'] } },
    { group: { by: 'externalId', value: 'ext-eng' }, grants: { 'pg-a': ['reader', 'writer'], 'maria-b': ['writer'] } },
    { group: { by: 'id', value: 'g-ops' }, grants: { 'maria-b': ['admin'] } },
    { group: { by: 'displayName', value: 'Nobody' }, grants: { 'pg-a': ['reader'] } },
  ],
};

const group = (id: string, displayName: string, externalId: string | null = null): DirectoryGroup => ({ tenantId: 't1', id, displayName, externalId });
const analysts = group('g-an', 'Analysts');
const engineers = group('g-eng', 'Data Engineers', 'ext-eng');
const ops = group('g-ops', 'Operations');

test('grantingGroups names every group of the user whose mapping grants the role on the target, sorted', () => {
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'reader', [engineers, analysts, ops]), ['Analysts', 'Data Engineers']);
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'writer', [engineers, analysts]), ['Data Engineers'], 'selected by externalId');
  assert.deepEqual(grantingGroups(policy, 'maria-b', 'admin', [ops]), ['Operations'], 'selected by id');
});

test('grantingGroups: another target, an ungranted role, or no matching group gives none', () => {
  assert.deepEqual(grantingGroups(policy, 'maria-b', 'reader', [analysts, engineers]), []);
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'admin', [analysts, engineers, ops]), []);
  assert.deepEqual(grantingGroups(policy, 'nowhere', 'reader', [analysts]), []);
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'reader', []), []);
});

test('grantingGroups matches selectors exactly, like the desired state does', () => {
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'reader', [group('g-x', 'analysts'), group('g-y', 'Analysts ')]), []);
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'writer', [group('ext-eng', 'Eng by id only')]), [], 'an id is not an externalId');
});

test('grantingGroups lists a displayName once when two groups share it', () => {
  assert.deepEqual(grantingGroups(policy, 'pg-a', 'reader', [analysts, group('g-an2', 'Analysts')]), ['Analysts']);
});
