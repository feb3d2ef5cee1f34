import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AccessRow } from './access-row.ts';
import { accessReview, accessReviewCsv, accessReviewJson } from './access-review.ts';

const row = (fields: Partial<AccessRow>): AccessRow => ({
  target: 'pg-a',
  tenantId: 't1',
  userId: 'u1',
  userName: 'alice@contoso.com',
  login: 'alice',
  role: 'reader',
  grantedBy: ['Analysts'],
  since: '2026-05-04T08:10:00.000Z',
  lastChange: '2026-05-04T08:10:00.000Z',
  canLogin: true,
  held: true,
  desired: true,
  matchesDirectory: true,
  ...fields,
});

const rows: AccessRow[] = [
  row({ role: 'writer', grantedBy: ['Data Engineers', 'Ops, "EU"'] }),
  row({ role: 'admin', grantedBy: [], since: null, desired: false, matchesDirectory: false, note: 'role held but not granted by the directory: the next reconcile revokes it' }),
  row({ role: 'auditor', grantedBy: ['Audit'], since: null, held: false, matchesDirectory: false, note: 'role granted by the directory but not held' }),
  row({}),
  row({
    target: 'maria-b',
    login: 'old\nlogin',
    userId: undefined,
    userName: undefined,
    tenantId: undefined,
    role: null,
    grantedBy: [],
    since: null,
    lastChange: null,
    canLogin: false,
    held: false,
    desired: false,
    note: 'stale: no directory user accounts for this login',
  }),
];

test('accessReview folds role rows into one entry per account, held roles with their groups, missing roles apart', () => {
  assert.deepEqual(accessReview(rows), [
    {
      target: 'maria-b',
      login: 'old\nlogin',
      tenantId: null,
      userName: null,
      userId: null,
      roles: [],
      grantedBy: {},
      missingRoles: [],
      lastChange: null,
      matchesDirectory: true,
      canLogin: false,
      notes: ['stale: no directory user accounts for this login'],
    },
    {
      target: 'pg-a',
      login: 'alice',
      tenantId: 't1',
      userName: 'alice@contoso.com',
      userId: 'u1',
      roles: ['admin', 'reader', 'writer'],
      grantedBy: { admin: [], reader: ['Analysts'], writer: ['Data Engineers', 'Ops, "EU"'] },
      missingRoles: ['auditor'],
      lastChange: '2026-05-04T08:10:00.000Z',
      matchesDirectory: false,
      canLogin: true,
      notes: ['admin: role held but not granted by the directory: the next reconcile revokes it', 'auditor: role granted by the directory but not held'],
    },
  ]);
});

test('accessReviewCsv: header, CRLF, RFC 4180 quoting of commas, quotes and line breaks', () => {
  assert.equal(
    accessReviewCsv(rows),
    [
      'target,login,userName,userId,roles,grantedBy,lastChange,matchesDirectory,canLogin,notes',
      'maria-b,"old\nlogin",,,,,,true,false,stale: no directory user accounts for this login',
      'pg-a,alice,alice@contoso.com,u1,admin;reader;writer,"admin: (none); reader: Analysts; writer: Data Engineers, Ops, ""EU""",2026-05-04T08:10:00.000Z,false,true,' +
        'admin: role held but not granted by the directory: the next reconcile revokes it; auditor: role granted by the directory but not held',
      '',
    ].join('\r\n'),
  );
  assert.equal(accessReviewCsv([]), 'target,login,userName,userId,roles,grantedBy,lastChange,matchesDirectory,canLogin,notes\r\n');
});

test('accessReviewJson is the entries as JSON', () => {
  assert.deepEqual(JSON.parse(accessReviewJson(rows)), accessReview(rows));
});

test('a note shared by several roles is listed once with all of them', () => {
  const locked = 'login locked although the directory grants access';
  const entry = accessReview([row({ role: 'reader', matchesDirectory: false, note: locked }), row({ role: 'writer', matchesDirectory: false, note: locked })])[0];
  assert.deepEqual(entry?.notes, [`reader, writer: ${locked}`]);
});
