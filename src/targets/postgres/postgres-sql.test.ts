import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { needPostgres, POSTGRES_URL } from '../../../test/support/services.ts';
import { postgresSql, quoteIdent } from './postgres-sql.ts';
import { classifyPostgresError, PostgresTarget } from './postgres-target.ts';

const tricky = [`q'uote`, `d"ouble`, '""', 'b`acktick', 'semi;colon', 'at@sign', 'with space', 'MixedCase', 'Zoë.Ångström@例え.jp', `x'; DROP TABLE t; --`, `x"; DROP TABLE t; --`, 'back\\slash', 'select', '🙂'];

test('quoteIdent agrees with quote_ident / format(%I) and survives the round trip', async (t) => {
  if (!(await needPostgres(t))) return;
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    for (const name of tricky) {
      const { rows } = await client.query<{ qi: string; fi: string }>("SELECT quote_ident($1) AS qi, format('%I', $1) AS fi", [name]);
      const ours = quoteIdent(name);
      // The server leaves simple lower-case names bare; whenever it quotes, it quotes exactly like us.
      for (const theirs of [rows[0]?.qi, rows[0]?.fi]) assert.ok(theirs === ours || theirs === name, `${name}: ${theirs} vs ${ours}`);
      const result = await client.query(`SELECT 1 AS ${ours}`);
      assert.equal(result.fields[0]?.name, name);
    }
  } finally {
    await client.end();
  }
});

test('quoteIdent refuses names PostgreSQL would truncate or cannot hold', () => {
  assert.equal(quoteIdent('a'.repeat(63)), `"${'a'.repeat(63)}"`);
  assert.throws(() => quoteIdent('a'.repeat(64)), /63 bytes/);
  assert.throws(() => quoteIdent('é'.repeat(32)), /63 bytes/);
  assert.throws(() => quoteIdent('a\u0000b'), /NUL/);
  assert.throws(() => quoteIdent(''), /empty/);
});

test('statement text (targets.md)', () => {
  assert.equal(postgresSql.createLogin('alice.smith@contoso.com', 'rolecall_managed').text, 'CREATE ROLE "alice.smith@contoso.com" LOGIN IN ROLE "rolecall_managed"');
  assert.equal(postgresSql.createGroupRole('reader').text, 'CREATE ROLE "reader" NOLOGIN');
  assert.equal(postgresSql.grant('reader', 'u').text, 'GRANT "reader" TO "u"');
  assert.equal(postgresSql.revoke('reader', 'u').text, 'REVOKE "reader" FROM "u"');
  assert.equal(postgresSql.setLogin('u', false).text, 'ALTER ROLE "u" NOLOGIN');
  assert.equal(postgresSql.reassignOwned('u', 'rolecall_graveyard').text, 'REASSIGN OWNED BY "u" TO "rolecall_graveyard"');
  assert.equal(postgresSql.dropRole('u').text, 'DROP ROLE IF EXISTS "u"');
  assert.deepEqual(postgresSql.terminateSessions(`o'neil`), {
    text: 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
    values: [`o'neil`],
  });
});

test('loginName: 63 bytes, UTF-8 aware, deterministic', async () => {
  const target = new PostgresTarget('pg', { url: 'postgres://nobody@127.0.0.1:1/postgres', offboarding: 'drop' });
  try {
    assert.equal(target.loginName('alice'), 'alice');
    const fits = 'a'.repeat(63);
    assert.equal(target.loginName(fits), fits);
    const long = target.loginName('é'.repeat(40));
    assert.ok(Buffer.byteLength(long) <= 63);
    assert.match(long, /^(é)+_[0-9a-f]{16}$/);
    assert.equal(Buffer.from(long).toString('utf8'), long, 'no cut character');
    assert.equal(target.loginName('é'.repeat(40)), long);
    assert.notEqual(target.loginName('é'.repeat(41)), long);
  } finally {
    await target.close();
  }
});

test('error dispositions', () => {
  const err = (code: string) => Object.assign(new Error(code), { code });
  assert.equal(classifyPostgresError(err('40P01')), 'retry');
  assert.equal(classifyPostgresError(err('40001')), 'retry');
  assert.equal(classifyPostgresError(err('08006')), 'retry');
  assert.equal(classifyPostgresError(err('ECONNREFUSED')), 'retry');
  assert.equal(classifyPostgresError(new Error('timeout expired')), 'retry');
  assert.equal(classifyPostgresError(err('42704')), 'conflict');
  assert.equal(classifyPostgresError(err('42501')), 'fatal');
  assert.equal(classifyPostgresError(err('42601')), 'reject');
});
