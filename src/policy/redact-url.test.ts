import assert from 'node:assert/strict';
import { test } from 'node:test';
import { redactUrl } from './redact-url.ts';

test('replaces the password in a URL and keeps the rest', () => {
  assert.equal(redactUrl('postgres://rolecall:s3cr3t@db:5432/app?sslmode=require'), 'postgres://rolecall:***@db:5432/app?sslmode=require');
  assert.equal(redactUrl('mysql://u:p%40ss@wh/'), 'mysql://u:***@wh/');
});

test('a password containing an unescaped "@" is redacted whole', () => {
  assert.equal(redactUrl('postgres://u:p@ss@db/app'), 'postgres://u:***@db/app');
});

test('URLs without a password are unchanged', () => {
  assert.equal(redactUrl('postgres://rolecall@db:5432/app'), 'postgres://rolecall@db:5432/app');
  assert.equal(redactUrl('https://ws.dev.azuresynapse.net'), 'https://ws.dev.azuresynapse.net');
});

test('credential query parameters are redacted', () => {
  assert.equal(redactUrl('postgres://db/app?user=u&password=pw&sslmode=require'), 'postgres://db/app?user=u&password=***&sslmode=require');
  assert.equal(redactUrl('https://acct.blob/x?sv=1&sig=abc%3D'), 'https://acct.blob/x?sv=1&sig=***');
});

test('ADO-style connection strings are redacted too', () => {
  assert.equal(redactUrl('Server=db;User Id=u;Password=pw;Encrypt=true'), 'Server=db;User Id=u;Password=***;Encrypt=true');
  assert.equal(redactUrl('Password=pw;Server=db'), 'Password=***;Server=db');
});
