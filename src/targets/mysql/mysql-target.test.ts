import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ActualAccount } from '../../provisioning/target.ts';
import { MysqlTarget } from './mysql-target.ts';

const account = (grantedVia: ActualAccount['grantedVia']): ActualAccount => ({
  login: 'ada', exists: true, managed: true, canLogin: true, roles: ['reader', 'writer'], sessions: 0, ...(grantedVia ? { grantedVia } : {}),
});

test('a dry-run REVOKE names where the grant actually sits, as apply() revokes it', async () => {
  const target = new MysqlTarget('shop', { url: 'mysql://rolecall@127.0.0.1:1/mysql', flavor: 'mariadb', offboarding: 'lock' });
  try {
    const step = { op: 'revoke', login: 'ada', role: 'writer' } as const;
    const setDefault = "SET DEFAULT ROLE `rc$ada` FOR 'ada'@'%'";
    assert.deepEqual(target.statements(step), ['REVOKE `writer` FROM `rc$ada`', setDefault], 'no state read: the usual place');
    assert.deepEqual(target.statements(step, account({ direct: ['writer'], perUserRole: ['reader'], perUserRoleActive: true })), ["REVOKE `writer` FROM 'ada'@'%'", setDefault]);
    assert.deepEqual(target.statements(step, account({ direct: ['writer'], perUserRole: ['writer'], perUserRoleActive: true })), ['REVOKE `writer` FROM `rc$ada`', "REVOKE `writer` FROM 'ada'@'%'", setDefault]);
    assert.deepEqual(target.statements(step, account({ direct: [], perUserRole: ['reader'], perUserRoleActive: true })), [], 'not held: apply skips it');
  } finally {
    await target.close();
  }
});
