import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { RolecallError } from '../domain/errors.ts';
import { loadPolicy, parsePolicy, PolicyError } from './load-policy.ts';
import type { Policy } from './policy.ts';

const VALID_YAML = `version: 1
targets:
  - name: analytics-db
    kind: postgres
    connection:
      url: postgres://rolecall@db:5432/app
  - name: warehouse
    kind: mysql
    connection:
      urlEnv: WAREHOUSE_URL
    offboarding: drop
    login: "{localPart}"
    tenant: contoso
    concurrency: 2
mappings:
  - group: Analysts
    grants:
      analytics-db: [reader]
  - groupExternalId: 0f3c-ext
    grants:
      analytics-db: [writer]
      warehouse: [contributor]
  - groupId: g-42
    grants:
      warehouse: [contributor, reader]
`;

const ENV = { WAREHOUSE_URL: 'mysql://rolecall:s3cr3t-pw@wh:3306/' };

const EXPECTED: Policy = {
  version: 1,
  targets: [
    {
      name: 'analytics-db',
      kind: 'postgres',
      connection: { url: 'postgres://rolecall@db:5432/app', source: 'inline' },
      offboarding: 'lock',
      login: '{userName}',
      tenant: 'default',
      concurrency: 4,
    },
    {
      name: 'warehouse',
      kind: 'mysql',
      flavor: 'mariadb',
      connection: { url: 'mysql://rolecall:s3cr3t-pw@wh:3306/', source: 'env WAREHOUSE_URL' },
      offboarding: 'drop',
      login: '{localPart}',
      tenant: 'contoso',
      concurrency: 2,
    },
  ],
  mappings: [
    { group: { by: 'displayName', value: 'Analysts' }, grants: { 'analytics-db': ['reader'] } },
    { group: { by: 'externalId', value: '0f3c-ext' }, grants: { 'analytics-db': ['writer'], warehouse: ['contributor'] } },
    { group: { by: 'id', value: 'g-42' }, grants: { warehouse: ['contributor', 'reader'] } },
  ],
};

/** A minimal valid policy with `extra` lines appended under the first target (6 lines before them). */
function withTargetLines(...extra: string[]): string {
  return ['version: 1', 'targets:', '  - name: db', '    kind: postgres', '    connection:', '      url: postgres://db/app', ...extra].join('\n');
}

function policyError(text: string, env: NodeJS.ProcessEnv = {}): PolicyError {
  try {
    parsePolicy(text, 'policy.yaml', env);
  } catch (error) {
    assert.ok(error instanceof PolicyError, `expected PolicyError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the policy to be rejected');
}

describe('parsePolicy: valid input', () => {
  test('YAML with defaults applied and secrets resolved', () => {
    assert.deepEqual(parsePolicy(VALID_YAML, 'policy.yaml', ENV), EXPECTED);
  });

  test('JSON is accepted (JSON is YAML)', () => {
    const json = JSON.stringify({
      version: 1,
      targets: [
        { name: 'analytics-db', kind: 'postgres', connection: { url: 'postgres://rolecall@db:5432/app' } },
        { name: 'warehouse', kind: 'mysql', connection: { urlEnv: 'WAREHOUSE_URL' }, offboarding: 'drop', login: '{localPart}', tenant: 'contoso', concurrency: 2 },
      ],
      mappings: [
        { group: 'Analysts', grants: { 'analytics-db': ['reader'] } },
        { groupExternalId: '0f3c-ext', grants: { 'analytics-db': ['writer'], warehouse: ['contributor'] } },
        { groupId: 'g-42', grants: { warehouse: ['contributor', 'reader'] } },
      ],
    }, null, 2);
    assert.deepEqual(parsePolicy(json, 'policy.json', ENV), EXPECTED);
  });

  test('mappings may be omitted; flavor is kept for mysql only', () => {
    const policy = parsePolicy(withTargetLines(), 'policy.yaml', {});
    assert.deepEqual(policy.mappings, []);
    assert.equal('flavor' in (policy.targets[0] ?? {}), false);
    const mysql = parsePolicy(
      ['version: 1', 'targets:', '  - name: db', '    kind: mysql', '    flavor: mysql', '    connection: { url: "mysql://db/" }'].join('\n'),
      'policy.yaml',
      {},
    );
    assert.equal(mysql.targets[0]?.flavor, 'mysql');
  });
});

describe('parsePolicy: errors name file, line and field', () => {
  const cases: Array<{ name: string; text: string; message: string }> = [
    {
      name: 'unknown kind',
      text: ['version: 1', 'targets:', '  - name: db', '    kind: postgress', '    connection: { url: "postgres://db/app" }'].join('\n'),
      message: 'policy.yaml:4: targets[0].kind: expected one of postgres, mysql, mssql, azure-postgres, azure-mysql, cosmos, synapse, app-service (got "postgress")',
    },
    { name: 'unknown key in a target', text: withTargetLines('    offbording: drop'), message: 'policy.yaml:7: targets[0].offbording: unknown key' },
    { name: 'unknown key in a connection', text: withTargetLines('    login: "{id}"').replace('      url: postgres://db/app', '      url: postgres://db/app\n      password: x'), message: 'policy.yaml:7: targets[0].connection.password: unknown key' },
    { name: 'unknown top-level key', text: withTargetLines('tenants: []'), message: 'policy.yaml:7: tenants: unknown key' },
    { name: 'wrong version', text: withTargetLines().replace('version: 1', 'version: 2'), message: 'policy.yaml:1: version: expected 1' },
    { name: 'missing version', text: withTargetLines().replace('version: 1', '# no version'), message: 'policy.yaml:2: version: required' },
    {
      name: 'missing kind points at the target',
      text: ['version: 1', 'targets:', '  - name: db', '    connection: { url: "postgres://db/app" }'].join('\n'),
      message: 'policy.yaml:3: targets[0].kind: required',
    },
    { name: 'wrong type', text: withTargetLines('    concurrency: many'), message: 'policy.yaml:7: targets[0].concurrency: expected number, got string' },
    { name: 'out of range', text: withTargetLines('    concurrency: 0'), message: 'policy.yaml:7: targets[0].concurrency: Number must be greater than or equal to 1' },
    { name: 'bad target name', text: withTargetLines().replace('name: db', 'name: Analytics DB'), message: 'policy.yaml:3: targets[0].name: expected lowercase letters, digits, "_" or "-"' },
    { name: 'flavor on a non-mysql target', text: withTargetLines('    flavor: mariadb'), message: 'policy.yaml:7: targets[0].flavor: only allowed when kind is mysql' },
    {
      name: 'unknown login placeholder',
      text: withTargetLines('    login: "{upn}_ro"'),
      message: 'policy.yaml:7: targets[0].login: unknown placeholder {upn}; expected {userName}, {externalId}, {id}, {localPart}',
    },
    {
      name: 'no connection source',
      text: ['version: 1', 'targets:', '  - name: db', '    kind: postgres', '    connection: {}'].join('\n'),
      message: 'policy.yaml:5: targets[0].connection: expected one of url, urlEnv, urlFile',
    },
    {
      name: 'two connection sources',
      text: withTargetLines().replace('      url: postgres://db/app', '      url: postgres://db/app\n      urlEnv: DB_URL'),
      message: 'policy.yaml:5: targets[0].connection: expected only one of url, urlEnv',
    },
    {
      name: 'inline url that is not a URL',
      text: withTargetLines().replace('url: postgres://db/app', 'url: "db host"'),
      message: 'policy.yaml:6: targets[0].connection.url: not a valid URL',
    },
    {
      name: 'duplicate target name',
      text: withTargetLines('  - name: db', '    kind: mysql', '    connection: { url: "mysql://db/" }'),
      message: 'policy.yaml:7: targets[1].name: duplicate target name "db" (first at targets[0])',
    },
    {
      name: 'mapping naming an unknown target',
      text: withTargetLines('mappings:', '  - group: Analysts', '    grants:', '      db: [reader]', '      warehouse: [contributor]'),
      message: 'policy.yaml:11: mappings[0].grants.warehouse: unknown target "warehouse"; expected one of db',
    },
    {
      name: 'mapping with two group selectors',
      text: withTargetLines('mappings:', '  - group: Analysts', '    groupId: g-1', '    grants: { db: [reader] }'),
      message: 'policy.yaml:8: mappings[0]: expected only one of group, groupId',
    },
    {
      name: 'mapping without a group',
      text: withTargetLines('mappings:', '  - grants: { db: [reader] }'),
      message: 'policy.yaml:8: mappings[0]: expected one of group, groupExternalId, groupId',
    },
    {
      name: 'mapping with an empty role list',
      text: withTargetLines('mappings:', '  - group: Analysts', '    grants:', '      db: []'),
      message: 'policy.yaml:10: mappings[0].grants.db: expected at least one role',
    },
    { name: 'invalid YAML', text: withTargetLines('  - name: [unclosed'), message: 'policy.yaml:7: invalid YAML:' },
    { name: 'duplicate YAML key', text: withTargetLines('    kind: mysql'), message: 'policy.yaml:7: invalid YAML: Map keys must be unique' },
    { name: 'not a mapping', text: '- a\n- b\n', message: 'policy.yaml:1: expected object, got array' },
  ];
  for (const { name, text, message } of cases) {
    test(name, () => {
      const error = policyError(text);
      assert.ok(error.message.startsWith(message), `message was:\n${error.message}`);
    });
  }

  test('JSON errors carry line numbers too', () => {
    const json = '{\n  "version": 1,\n  "targets": [\n    {\n      "name": "db",\n      "kind": "oracle",\n      "connection": { "url": "postgres://db/app" }\n    }\n  ]\n}\n';
    assert.match(policyError(json).message, /^policy\.yaml:6: targets\[0\]\.kind: expected one of postgres/);
  });

  test('every issue is reported, in line order, each with its own line', () => {
    const error = policyError(withTargetLines('    concurrency: 0', '    offbording: drop').replace('kind: postgres', 'kind: oracle'));
    assert.deepEqual(
      error.issues.map((issue) => `${issue.line} ${issue.path}`),
      ['4 targets[0].kind', '7 targets[0].concurrency', '8 targets[0].offbording'],
    );
    assert.equal(error.message.split('\n').length, 3);
  });

  test('PolicyError is a fatal RolecallError', () => {
    const error = policyError('version: 1\n');
    assert.ok(error instanceof RolecallError);
    assert.equal(error.disposition, 'fatal');
    assert.equal(error.file, 'policy.yaml');
  });
});

describe('parsePolicy: connection secrets', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rolecall-policy-'));
    await writeFile(join(dir, 'db-url'), 'postgres://rolecall:from-file-pw@db/app\n');
    await writeFile(join(dir, 'garbage'), 'not a url but a secret-value');
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const fileTarget = (path: string) => withTargetLines().replace('url: postgres://db/app', `urlFile: ${path}`);

  test('a missing environment variable is named, with its line', () => {
    const error = policyError(withTargetLines().replace('url: postgres://db/app', 'urlEnv: ANALYTICS_DB_URL'));
    assert.equal(error.message, 'policy.yaml:6: targets[0].connection.urlEnv: environment variable ANALYTICS_DB_URL is not set');
  });

  test('an environment variable that is not a URL is rejected without echoing it', () => {
    const error = policyError(withTargetLines().replace('url: postgres://db/app', 'urlEnv: DB_URL'), { DB_URL: 'hunter2 is my password' });
    assert.equal(error.message, 'policy.yaml:6: targets[0].connection.urlEnv: environment variable DB_URL does not hold a valid URL');
  });

  test('urlFile is read, trimmed, and resolved relative to the policy file', () => {
    const policy = parsePolicy(fileTarget('db-url'), join(dir, 'policy.yaml'), {});
    assert.deepEqual(policy.targets[0]?.connection, { url: 'postgres://rolecall:from-file-pw@db/app', source: `file ${join(dir, 'db-url')}` });
  });

  test('a missing secret file is named; a bad one is not echoed', () => {
    assert.equal(
      policyError(fileTarget('/nonexistent/secret')).message,
      'policy.yaml:6: targets[0].connection.urlFile: cannot read /nonexistent/secret (ENOENT)',
    );
    const error = policyError(fileTarget(join(dir, 'garbage')));
    assert.match(error.message, /does not hold a valid URL$/);
    assert.doesNotMatch(error.message, /secret-value/);
  });

  test('an inline password never appears in an error message', () => {
    const error = policyError(withTargetLines('    concurrency: -1').replace('postgres://db/app', 'postgres://rolecall:inline-pw@db/app'));
    assert.doesNotMatch(error.message, /inline-pw/);
  });
});

describe('loadPolicy', () => {
  test('reads and parses a file; an unreadable file is a PolicyError', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'rolecall-policy-'));
    try {
      const file = join(dir, 'policy.yaml');
      await writeFile(file, withTargetLines());
      assert.equal((await loadPolicy(file)).targets[0]?.name, 'db');
      await assert.rejects(loadPolicy(join(dir, 'missing.yaml')), (error: unknown) => error instanceof PolicyError && /missing\.yaml:1: cannot read the policy file \(ENOENT\)/.test(error.message));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

test('a YAML alias bomb is a PolicyError, not a crash', () => {
  const bomb = ['a: &a [x, x, x, x, x, x, x, x, x, x]', 'b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]', 'c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]', 'd: [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]'].join('\n');
  assert.match(policyError(bomb).message, /^policy\.yaml:1: invalid YAML: /);
});
