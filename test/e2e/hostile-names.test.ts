import assert from 'node:assert/strict';
import { test } from 'node:test';
import { needMariadb, needPostgres } from '../support/services.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { Directory, eventually, mariaAdmin, maccount, perUserRole, pgAdmin, World } from './e2e-world.ts';

/**
 * SQL injection through every name that reaches a statement: userName (-> login), group
 * displayName (-> policy mapping) and role names in the policy. The catalogs are snapshotted
 * before and after: exactly the intended identifiers appear, nothing else, and sentinel tables
 * survive. Every injected statement would create or drop something named with "pwn".
 */
test('e2e: hostile userNames, group names and role names create exactly the intended identifiers', { timeout: 180_000 }, async (t) => {
  if (!(await needPostgres(t)) || !(await needMariadb(t))) return;
  const world = new World({ pgOffboarding: 'drop', mariaOffboarding: 'lock' });
  let server: TestServer | undefined;
  try {
    await world.setup();
    const k = world.token;
    const sentinelPg = `public."${world.sentinel}"`;
    const sentinelMaria = `test.\`${world.sentinel}\``;
    const userNames = [
      `o'brien"; DROP TABLE ${sentinelPg}; CREATE ROLE pwn_a SUPERUSER; --@contoso.com`,
      `back\`tick\`; DROP TABLE ${sentinelMaria}; CREATE USER \`pwn_b\`@'%'; --`,
      `semi;colon'); CREATE ROLE pwn_c; GRANT ALL ON *.* TO 'pwn_c'@'%'; -- "x"`,
      `back\\slash\\'); DROP USER root@localhost; -- \\`,
      `at@@sign@example.com`,
      `Zoë.Ñandú-日本語@例え.jp`,
      `emoji🙂'user@contoso.com`,
      // 200 characters: both engines need the deterministic short name (prefix + hash).
      `L'${'ä'.repeat(60)}"\`${'x'.repeat(100)};${'ß'.repeat(35)}`,
    ];
    assert.equal([...userNames.at(-1)!].length, 200);
    const groups = {
      quotes: `${k} G'"; DROP ROLE pwn_d; --`,
      ticks: `${k} \`G\`; DROP USER pwn_e; -- ü`,
    };
    const roles = {
      reporting: world.role("rep'orting"),
      writer: world.role('wr"iter; DROP ROLE pwn_f'),
      ticks: world.role('a`b; DROP USER pwn_g'),
      unicode: world.role('Ünïcödé✓'),
    };
    world.writePolicy([
      { group: groups.quotes, pg: [roles.reporting, roles.writer], maria: [roles.reporting, roles.ticks] },
      { group: groups.ticks, pg: [roles.unicode], maria: [roles.unicode, roles.writer] },
    ]);

    const pgBefore = new Set(await world.pgRoleNames());
    const mariaBefore = new Set(await world.mariaNames());

    server = await startTestServer({ policy: world.policyFile, adminToken: world.adminToken, reconcileInterval: 0, dataDir: world.dataDir });
    const dir = new Directory(server.scim);
    const ids: string[] = [];
    for (const userName of userNames) {
      const id = await dir.createUser(userName);
      const read = await server.scim(`/Users/${id}`);
      assert.equal(read.json.userName, userName, 'the userName is stored and served verbatim');
      ids.push(id);
    }
    const quotesId = await dir.createGroup(groups.quotes, ids);
    const ticksId = await dir.createGroup(groups.ticks);
    await dir.addMembers(ticksId, ids);
    assert.equal((await server.scim(`/Groups/${quotesId}`)).json.displayName, groups.quotes);

    const pgRoles = [roles.reporting, roles.writer, roles.unicode].sort();
    const mariaRoles = [roles.reporting, roles.ticks, roles.unicode, roles.writer].sort();
    const pgLogins = userNames.map((u) => world.pgLogin(u));
    const mariaLogins = userNames.map((u) => world.mariaLogin(u));
    t.diagnostic(`PostgreSQL logins: ${JSON.stringify(pgLogins)}`);
    t.diagnostic(`MariaDB logins: ${JSON.stringify(mariaLogins)}`);
    assert.equal(new Set(pgLogins).size, userNames.length);
    assert.equal(new Set(mariaLogins).size, userNames.length);
    assert.ok(pgLogins.every((l) => l.startsWith(k)) && mariaLogins.every((l) => l.startsWith(k)), 'short names keep the run prefix');

    await eventually('every hostile login provisioned with exactly the mapped roles', async () => {
      for (const [i, login] of pgLogins.entries()) {
        assert.deepEqual(await world.pgAccount(login), { exists: true, canLogin: true, managed: true, roles: pgRoles }, `pg ${userNames[i]}`);
      }
      for (const [i, login] of mariaLogins.entries()) {
        assert.deepEqual(await world.mariaAccount(login), { exists: true, locked: false, managed: true, roles: mariaRoles, defaultRole: perUserRole(login) }, `maria ${userNames[i]}`);
      }
    }, 30_000);

    const expectedPg = [world.marker, world.graveyard, ...pgRoles, ...pgLogins];
    const expectedMaria = [`${world.marker}@`, ...mariaRoles.map((r) => `${r}@`), ...mariaLogins.flatMap((l) => [`${l}@%`, `${perUserRole(l)}@`])];
    const checkCatalogs = async (pgExpected: string[], mariaExpected: string[]) => {
      const pgNew = (await world.pgRoleNames()).filter((n) => !pgBefore.has(n));
      const mariaNew = (await world.mariaNames()).filter((n) => !mariaBefore.has(n));
      // Other test files may create their own names concurrently: names without this run's token
      // are only checked for the injected ones.
      assert.deepEqual(pgNew.filter((n) => n.includes(k)).sort(), [...pgExpected].sort(), 'PostgreSQL: exactly the intended roles');
      assert.deepEqual(mariaNew.filter((n) => n.includes(k)).sort(), [...mariaExpected].sort(), 'MariaDB: exactly the intended users and roles');
      assert.deepEqual(pgNew.filter((n) => !n.includes(k) && n.includes('pwn')), [], 'no injected PostgreSQL role');
      assert.deepEqual(mariaNew.filter((n) => !n.includes(k) && n.includes('pwn')), [], 'no injected MariaDB account');
      assert.ok(await world.sentinelsIntact(), 'sentinel tables survive');
      assert.ok((await world.pgRoleNames()).includes('postgres'));
      assert.ok((await world.mariaNames()).some((n) => n.startsWith('root@')), 'root survives');
    };
    await checkCatalogs(expectedPg, expectedMaria);

    await t.test('deleting hostile users drops them on PostgreSQL and locks them on MariaDB, touching nothing else', async () => {
      for (const id of ids.slice(0, 4)) await dir.deleteUser(id);
      await eventually('offboarded', async () => {
        for (const login of pgLogins.slice(0, 4)) assert.equal((await world.pgAccount(login)).exists, false, login);
        for (const login of mariaLogins.slice(0, 4)) {
          const maria = await world.mariaAccount(login);
          assert.deepEqual({ locked: maria.locked, roles: maria.roles, managed: maria.managed }, { locked: true, roles: [], managed: true }, login);
        }
      }, 30_000);
      for (const login of pgLogins.slice(4)) assert.deepEqual((await world.pgAccount(login)).roles, pgRoles, 'the other users keep their roles');
      await checkCatalogs(expectedPg.filter((n) => !pgLogins.slice(0, 4).includes(n)), expectedMaria);
    });

    await t.test('the provisioners are still not superusers and hold no new global privileges', async () => {
      const su = await pgAdmin(async (c) => (await c.query<{ rolsuper: boolean }>('SELECT rolsuper FROM pg_roles WHERE rolname = $1', [world.provisioner])).rows[0]!.rolsuper);
      assert.equal(su, false);
      const grants = await mariaAdmin(async (c) => ((await c.query(`SHOW GRANTS FOR ${maccount(world.provisioner)}`))[0] as Record<string, string>[]).map((r) => Object.values(r)[0]!));
      // The global privileges line; SHOW GRANTS lists it among the role grants in no fixed order
      // (the roles the provisioner created, hostile names included, come WITH ADMIN OPTION).
      const global = grants.find((line) => / ON \*\.\* TO /.test(line));
      assert.ok(global, grants.join('\n'));
      assert.ok(!/ALL PRIVILEGES|SUPER|GRANT OPTION/.test(global), global);
    });
  } finally {
    await server?.stop().catch(() => {});
    await world.cleanup();
  }
});
