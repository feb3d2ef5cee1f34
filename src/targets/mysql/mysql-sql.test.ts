import assert from 'node:assert/strict';
import { test } from 'node:test';
import mysql from 'mysql2/promise';
import { MARIADB_URL, needMariadb } from '../../../test/support/services.ts';
import { account, checkName, maxLoginChars, mysqlSql, quoteIdentifier, quoteString } from './mysql-sql.ts';
import { toActualAccount } from './mysql-state.ts';
import { classifyMysqlError, missingMysqlPrivileges, MysqlTarget } from './mysql-target.ts';

const tricky = [`q'uote`, `d"ouble`, 'b`ack``tick', 'semi;colon', 'at@sign', 'with space', 'Zoë.Ångström@例え.jp', `x'; DROP TABLE t; --`, `back\\slash'`, 'dot.ted', '?', "'", '\\', ''];

test('MySQL 8 statement text: roles as strings, SET DEFAULT ROLE ALL, unusable initial credential', () => {
  const s = mysqlSql('mysql');
  assert.equal(s.createRole('reader').text, "CREATE ROLE IF NOT EXISTS 'reader'");
  assert.equal(s.grantToRole('reader', 'rc$alice').text, "GRANT 'reader' TO 'rc$alice'");
  assert.equal(s.revokeFromRole('reader', 'rc$alice').text, "REVOKE 'reader' FROM 'rc$alice'");
  assert.equal(s.grantToUser('rc$alice', 'alice').text, "GRANT 'rc$alice' TO 'alice'@'%'");
  assert.equal(s.setDefaultRole('alice').text, "SET DEFAULT ROLE ALL TO 'alice'@'%'");
  assert.equal(
    s.createUser('alice').text,
    "CREATE USER IF NOT EXISTS 'alice'@'%' IDENTIFIED WITH caching_sha2_password AS '$A$005$THISISACOMBINATIONOFINVALIDSALTANDPASSWORDTHATMUSTNEVERBRBEUSED'",
  );
  assert.equal(s.setLocked('alice', true).text, "ALTER USER 'alice'@'%' ACCOUNT LOCK");
  assert.equal(s.setLocked('alice', false).text, "ALTER USER 'alice'@'%' ACCOUNT UNLOCK");
  assert.equal(s.dropUser("o'neil").text, "DROP USER IF EXISTS 'o\\'neil'@'%'");
  assert.equal(s.dropRole('rc$alice').text, "DROP ROLE IF EXISTS 'rc$alice'");
  assert.equal(s.killConnection(42).text, 'KILL CONNECTION 42');
});

test('MySQL 8: 32-character names, per-user role prefix included', () => {
  assert.equal(maxLoginChars('mysql'), 29);
  assert.equal(maxLoginChars('mariadb'), 125);
  const s = mysqlSql('mysql');
  assert.throws(() => s.createUser('a'.repeat(30)), /longer than 29/);
  assert.throws(() => s.createRole('r'.repeat(33)), /longer than 32/);
  assert.throws(() => checkName('smile 🙂', 128), /utf8mb3/);
});

test('MySQL 8 target: statements per step and mapped names', async () => {
  const target = new MysqlTarget('mysql8', { url: 'mysql://nobody@127.0.0.1:1/', flavor: 'mysql', offboarding: 'drop', markerRole: 'rolecall_managed' });
  try {
    assert.equal(target.capabilities.maxLoginBytes, 29);
    assert.deepEqual(target.statements({ op: 'createLogin', login: 'alice' }), [
      "CREATE ROLE IF NOT EXISTS 'rc$alice'",
      "GRANT 'rolecall_managed' TO 'rc$alice'",
      "CREATE USER IF NOT EXISTS 'alice'@'%' IDENTIFIED WITH caching_sha2_password AS '$A$005$THISISACOMBINATIONOFINVALIDSALTANDPASSWORDTHATMUSTNEVERBRBEUSED'",
      "GRANT 'rc$alice' TO 'alice'@'%'",
      "SET DEFAULT ROLE ALL TO 'alice'@'%'",
    ]);
    assert.deepEqual(target.statements({ op: 'grant', login: 'alice', role: 'reader' }), ["GRANT 'reader' TO 'rc$alice'", "SET DEFAULT ROLE ALL TO 'alice'@'%'"]);
    assert.deepEqual(target.statements({ op: 'revoke', login: 'alice', role: 'reader' }), ["REVOKE 'reader' FROM 'rc$alice'", "SET DEFAULT ROLE ALL TO 'alice'@'%'"]);
    assert.deepEqual(target.statements({ op: 'drop', login: 'alice' }), ["REVOKE 'rc$alice' FROM 'alice'@'%'", "DROP USER IF EXISTS 'alice'@'%'", "DROP ROLE IF EXISTS 'rc$alice'"]);
    const long = target.loginName('alice.smith@contoso.example.com');
    assert.equal([...long].length, 29);
    assert.match(long, /^alice\.smith@_[0-9a-f]{16}$/);
  } finally {
    await target.close();
  }
});

test('MariaDB statement text: roles as identifiers, one default role (the per-user role)', () => {
  const s = mysqlSql('mariadb');
  assert.equal(s.createRole('reader').text, 'CREATE ROLE IF NOT EXISTS `reader`');
  assert.equal(s.grantToRole('reader', 'rc$alice').text, 'GRANT `reader` TO `rc$alice`');
  assert.equal(s.setDefaultRole('alice').text, "SET DEFAULT ROLE `rc$alice` FOR 'alice'@'%'");
  assert.equal(s.createUser('alice').text, "CREATE USER IF NOT EXISTS 'alice'@'%' IDENTIFIED VIA mysql_native_password USING 'invalid'");
  assert.equal(s.grantToRole('a`b', 'rc$x').text, 'GRANT `a``b` TO `rc$x`');
});

test('MySQL 8 state: role_edges rows judged like MariaDB roles_mapping rows', () => {
  const grants = { exists: true, locked: false, direct: ['rc$alice'], viaPerUser: ['rolecall_managed', 'reader'], perUserRoleIsDefault: true };
  assert.deepEqual(toActualAccount('alice', grants, 'rolecall_managed', 2), {
    login: 'alice', exists: true, managed: true, canLogin: true, roles: ['reader'], sessions: 2, grantedVia: { direct: [], perUserRole: ['reader'], perUserRoleActive: true },
  });
  assert.deepEqual(toActualAccount('alice', { ...grants, perUserRoleIsDefault: false }, 'rolecall_managed', 0).roles, []);
  assert.equal(toActualAccount('alice', { ...grants, viaPerUser: ['reader'] }, 'rolecall_managed', 0).managed, false);
});

test('missing privileges per flavor', () => {
  assert.deepEqual(missingMysqlPrivileges('mysql', { global: ['CREATE USER', 'PROCESS'], onMysqlSchema: ['SELECT'] }), ['ROLE_ADMIN', 'CONNECTION_ADMIN']);
  assert.deepEqual(missingMysqlPrivileges('mariadb', { global: ['CREATE USER', 'SUPER', 'PROCESS'], onMysqlSchema: ['SELECT'] }), ['UPDATE ON mysql.*']);
});

test('error dispositions', () => {
  const err = (errno: number, code = 'X') => Object.assign(new Error('e'), { errno, code });
  assert.equal(classifyMysqlError(err(1213)), 'retry');
  assert.equal(classifyMysqlError(Object.assign(new Error('e'), { code: 'ECONNREFUSED' })), 'retry');
  assert.equal(classifyMysqlError(err(1959)), 'conflict');
  assert.equal(classifyMysqlError(err(1227)), 'fatal');
  assert.equal(classifyMysqlError(err(1470)), 'reject');
});

test('quoting round-trips through MariaDB: identifiers and account strings mean exactly the input', async (t) => {
  if (!(await needMariadb(t))) return;
  const conn = await mysql.createConnection({ uri: MARIADB_URL });
  try {
    for (const name of tricky) {
      const [rows] = await conn.query(`SELECT ${quoteString(name)} AS s`);
      assert.equal((rows as { s: string }[])[0]?.s, name, `string ${name}`);
      if (name === '') continue;
      const [, fields] = await conn.query(`SELECT 1 AS ${quoteIdentifier(name)}`);
      assert.equal(fields[0]?.name, name, `identifier ${name}`);
    }
    // The target strips NO_BACKSLASH_ESCAPES from its sessions; this is why.
    await conn.query("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'");
    const [rows] = await conn.query(`SELECT ${quoteString("a\\'b")} AS s`).catch((error: Error) => [[{ s: error.message }]]);
    assert.notEqual((rows as { s: string }[])[0]?.s, "a\\'b");
    assert.equal(account("o'neil@x"), "'o\\'neil@x'@'%'");
  } finally {
    await conn.end();
  }
});
