import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { needMariadb, needPostgres } from '../support/services.ts';
import { adminCall, eventually, scimClient, spawnServer, World, type ServerProcess } from './e2e-world.ts';

const USERS = 300;

/**
 * `rolecall serve` as a child process is SIGKILLed while its workers are provisioning a burst
 * of SCIM writes; a new process on the same data folder takes over the embedded store's lock,
 * recovers the interrupted jobs, and both targets converge to the directory.
 */
test('e2e: SIGKILL mid-provisioning, restart on the same data dir, everything converges', { timeout: 240_000 }, async (t) => {
  if (!(await needPostgres(t)) || !(await needMariadb(t))) return;
  const world = new World({ pgOffboarding: 'drop', mariaOffboarding: 'lock' });
  let second: ServerProcess | undefined;
  try {
    await world.setup();
    const [reader, writer] = [world.role('reader'), world.role('writer')];
    const groupName = `${world.token} Crew`;
    world.writePolicy([{ group: groupName, pg: [reader, writer], maria: [reader] }]);

    const first = await spawnServer(world, true);
    assert.ok(first.token, 'first start prints the default tenant token');
    const token = first.token!;
    const scim = scimClient(first.scimUrl, token);

    // One bulk request: 300 users and a group holding all of them -> 600 jobs queued at once.
    const userName = (i: number) => `crash${i}@contoso.com`;
    const operations = [
      ...Array.from({ length: USERS }, (_, i) => ({
        method: 'POST', path: '/Users', bulkId: `u${i}`,
        data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:User'], userName: userName(i), active: true },
      })),
      {
        method: 'POST', path: '/Groups', bulkId: 'g',
        data: { schemas: ['urn:ietf:params:scim:schemas:core:2.0:Group'], displayName: groupName, members: Array.from({ length: USERS }, (_, i) => ({ value: `bulkId:u${i}` })) },
      },
    ];
    const bulk = await scim('/Bulk', { method: 'POST', body: { schemas: ['urn:ietf:params:scim:api:messages:2.0:BulkRequest'], Operations: operations } });
    assert.equal(bulk.status, 200, bulk.text);
    const statuses = (bulk.json.Operations as { status: string }[]).map((o) => Number(o.status));
    assert.deepEqual(statuses.filter((s) => s !== 201), [], 'every bulk operation created its resource');

    // Kill as soon as provisioning is visibly under way but not finished, counting both targets:
    // PostgreSQL takes a batch of jobs in one transaction, so its logins appear a batch at a time.
    const pgLogins = Array.from({ length: USERS }, (_, i) => world.pgLogin(userName(i)));
    const mariaLogins = Array.from({ length: USERS }, (_, i) => world.mariaLogin(userName(i)));
    const progress = async () => {
      const [pg, maria] = [await world.pgAccounts(), await world.mariaAccounts()];
      return { pg: pgLogins.filter((l) => pg.get(l)?.roles.length === 2).length, maria: mariaLogins.filter((l) => maria.get(l)?.roles.length === 1).length };
    };
    const atKill = await eventually('provisioning under way', async () => {
      const done = await progress();
      assert.ok(done.pg + done.maria >= 25, `only ${JSON.stringify(done)} logins provisioned so far`);
      return done;
    }, 30_000, 5);
    first.child.kill('SIGKILL');
    const exit = await first.exited;
    assert.equal(exit.signal, 'SIGKILL');
    t.diagnostic(`killed with ${atKill.pg} PostgreSQL and ${atKill.maria} MariaDB logins of ${USERS} fully provisioned`);
    assert.ok(atKill.pg + atKill.maria < 2 * USERS, 'the kill happened mid-provisioning');
    assert.ok(existsSync(join(world.dataDir, 'rolecall.lock')), 'the dead process left its lock file behind');

    second = await spawnServer(world, false);
    await new Promise((r) => setTimeout(r, 200));
    assert.doesNotMatch(second.stdout(), /First start/, 'the restart opened the same store (no new first-start tenant)');
    const admin = (method: string, path: string) => adminCall(second!.url, world.adminToken, method, path);
    // The store survived: the same token works and the directory holds every user.
    const list = await scimClient(second.scimUrl, token)('/Users?count=1');
    assert.equal(list.status, 200, list.text);
    assert.equal(list.json.totalResults, USERS);

    await eventually('both targets converged after the restart', async () => {
      const pg = await world.pgAccounts();
      const maria = await world.mariaAccounts();
      for (let i = 0; i < USERS; i++) {
        assert.deepEqual(pg.get(pgLogins[i]!), { canLogin: true, roles: [reader, writer].sort() }, pgLogins[i]);
        assert.deepEqual(maria.get(world.mariaLogin(userName(i))), { locked: false, roles: [reader] }, userName(i));
      }
      assert.equal(pg.size, USERS, 'no extra managed PostgreSQL login');
      assert.equal(maria.size, USERS, 'no extra managed MariaDB account');
    }, 60_000, 250);
    await eventually('queue drained', async () => {
      const jobs = (await admin('GET', '/jobs?limit=5000')) as { state: string }[];
      assert.deepEqual(jobs.filter((j) => j.state !== 'done'), []);
    }, 30_000, 250);
    const plans = (await admin('GET', '/plan')) as { finding: string }[];
    assert.equal(plans.length, 2 * USERS);
    assert.deepEqual(plans.filter((p) => p.finding !== 'in-sync'), [], 'no drift after recovery');
  } finally {
    second?.child.kill('SIGTERM');
    if (second) await Promise.race([second.exited, new Promise((r) => setTimeout(r, 5000))]);
    await world.cleanup();
  }
});
