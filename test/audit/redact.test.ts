import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { test } from 'node:test';
import { digestBody, redactStatement, secretFreeJson } from '../../src/audit/redact.ts';

const sha = (text: string) => createHash('sha256').update(text).digest('hex');

test('digestBody removes password keys at any depth, case-insensitively, before hashing', () => {
  const withSecret = {
    userName: 'ada',
    Password: 'hunter2',
    emails: [{ value: 'ada@example.com', password: 'x' }],
    'urn:ietf:params:scim:schemas:extension:custom:2.0:User': { PASSWORD: 'y', clientSecret: 'z' },
  };
  const without = { userName: 'ada', emails: [{ value: 'ada@example.com' }], 'urn:ietf:params:scim:schemas:extension:custom:2.0:User': {} };
  assert.equal(digestBody(withSecret), digestBody(without));
  assert.equal(digestBody(without), sha('{"emails":[{"value":"ada@example.com"}],"urn:ietf:params:scim:schemas:extension:custom:2.0:User":{},"userName":"ada"}'));
  // Key order and a JSON string body give the same digest as the parsed object.
  assert.equal(digestBody(JSON.stringify({ b: 1, a: 2, password: 'p' })), digestBody({ a: 2, b: 1 }));
  assert.equal(digestBody(undefined), sha('null'));
  assert.notEqual(digestBody({ userName: 'ada' }), digestBody({ userName: 'bob' }));
});

test('digestBody drops the value of a PATCH operation whose path is the password', () => {
  const patch = (value: string, path = 'password') => ({
    schemas: ['urn:ietf:params:scim:api:messages:2.0:PatchOp'],
    Operations: [
      { op: 'replace', path, value },
      { op: 'replace', path: 'active', value: false },
    ],
  });
  assert.equal(digestBody(patch('secret-1')), digestBody(patch('secret-2')));
  assert.equal(digestBody(patch('a', 'urn:ietf:params:scim:schemas:core:2.0:User:password')), digestBody(patch('b', 'urn:ietf:params:scim:schemas:core:2.0:User:password')));
  assert.notEqual(digestBody(patch('a', 'displayName')), digestBody(patch('b', 'displayName')));
  assert.equal(secretFreeJson({ Operations: [{ op: 'add', value: { password: 'p', active: true } }] }), '{"Operations":[{"op":"add","value":{"active":true}}]}');
  assert.equal(secretFreeJson({ op: 'replace', path: 'password', value: 'hunter2', other: { clientSecret: 's', kept: 1 } }), '{"op":"replace","other":{"kept":1},"path":"password"}');
});

test('redactStatement masks passwords in SQL, URLs, connection strings and JSON', () => {
  const cases: Array<[string, string]> = [
    [`CREATE ROLE "ada" LOGIN PASSWORD 'hunter2'`, `CREATE ROLE "ada" LOGIN PASSWORD '***'`],
    [`ALTER ROLE "ada" WITH ENCRYPTED PASSWORD 'it''s secret'`, `ALTER ROLE "ada" WITH ENCRYPTED PASSWORD '***'`],
    [`ALTER ROLE x PASSWORD E'a\\'b'`, `ALTER ROLE x PASSWORD '***'`],
    [`ALTER ROLE x PASSWORD $pw$s3cr'et$pw$ VALID UNTIL 'infinity'`, `ALTER ROLE x PASSWORD '***' VALID UNTIL 'infinity'`],
    [`ALTER ROLE x PASSWORD NULL`, `ALTER ROLE x PASSWORD NULL`],
    [`CREATE USER 'ada'@'%' IDENTIFIED BY 'hunter2'`, `CREATE USER 'ada'@'%' IDENTIFIED BY '***'`],
    [`ALTER USER 'ada'@'%' IDENTIFIED WITH mysql_native_password BY 'p\\'w'`, `ALTER USER 'ada'@'%' IDENTIFIED WITH mysql_native_password BY '***'`],
    [`CREATE LOGIN [ada] WITH PASSWORD = N'hunter2', CHECK_POLICY = ON`, `CREATE LOGIN [ada] WITH PASSWORD = '***', CHECK_POLICY = ON`],
    [`connect postgres://admin:hunter2@db.internal:5432/app failed`, `connect postgres://admin:***@db.internal:5432/app failed`],
    [`Server=db;User Id=sa;Password=hunter2;Encrypt=true`, `Server=db;User Id=sa;Password=***;Encrypt=true`],
    [`POST /users {"name":"ada","password":"hunter2","clientSecret":"s"}`, `POST /users {"name":"ada","password":"***","clientSecret":"***"}`],
    [`GRANT "reader" TO "ada"`, `GRANT "reader" TO "ada"`],
  ];
  for (const [input, expected] of cases) {
    assert.equal(redactStatement(input), expected, input);
    assert.equal(redactStatement(expected), expected, `idempotent: ${expected}`);
  }
});
