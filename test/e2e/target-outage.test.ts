import assert from 'node:assert/strict';
import { test } from 'node:test';
import { needMariadb, needPostgres, POSTGRES_URL } from '../support/services.ts';
import { TcpProxy } from '../support/tcp-proxy.ts';
import { startTestServer, type TestServer } from '../support/test-server.ts';
import { adminCall, Directory, eventually, World } from './e2e-world.ts';

const USERS = 200;

/** Runs `work` over `items` with at most `limit` in flight. */
async function inParallel<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await work(items[next++]!);
  }));
}

/**
 * The PostgreSQL target is reached through a TCP proxy that the test stops: 500 SCIM writes
 * during the outage all answer 2xx (a target being down never fails a SCIM request), the MariaDB
 * target keeps up meanwhile, and after the proxy comes back on the same port the job retries
 * alone (no operator action) bring PostgreSQL to the same state: nothing is lost.
 */
test('e2e: PostgreSQL down during a burst of 500 SCIM writes; retries converge once it is back', { timeout: 240_000 }, async (t) => {
  if (!(await needPostgres(t)) || !(await needMariadb(t))) return;
  const world = new World({ pgOffboarding: 'drop', mariaOffboarding: 'lock' });
  const proxy = new TcpProxy(Number(new URL(POSTGRES_URL).port || 5432), new URL(POSTGRES_URL).hostname);
  let server: TestServer | undefined;
  try {
    await world.setup();
    const port = await proxy.start();
    const [reader, writer] = [world.role('reader'), world.role('writer')];
    const groupA = `${world.token} A`;
    const groupB = `${world.token} B`;
    world.writePolicy([
      { group: groupA, pg: [reader], maria: [reader] },
      { group: groupB, pg: [writer], maria: [writer] },
    ], port);
    server = await startTestServer({ policy: world.policyFile, adminToken: world.adminToken, reconcileInterval: 0, dataDir: world.dataDir });
    const admin = (method: string, path: string) => adminCall(server!.server.url, world.adminToken, method, path);
    const dir = new Directory(server.scim);
    const a = await dir.createGroup(groupA);
    const b = await dir.createGroup(groupB);
    // Prove the target is reached through the proxy: one user provisioned before the outage.
    const canary = await dir.createUser('canary@contoso.com');
    await dir.addMembers(a, [canary]);
    await eventually('canary provisioned through the proxy', async () => assert.deepEqual((await world.pgAccount(world.pgLogin('canary@contoso.com'))).roles, [reader]));
    assert.ok(proxy.accepted > 0, 'the PostgreSQL target connected through the proxy');

    await proxy.stop();
    const started = Date.now();
    const statuses: number[] = [];
    const record = (status: number) => void statuses.push(status);
    const userIds: string[] = new Array(USERS);
    const userName = (i: number) => `burst${i}@contoso.com`;
    // 200 creates
    await inParallel([...Array(USERS).keys()], 8, async (i) => {
      userIds[i] = await dir.createUser(userName(i));
      record(201);
    });
    // 150 adds to A (users 0..149), 100 adds to B (users 100..199), 25 profile patches, 25 deactivations (users 0..24)
    const writes: (() => Promise<void>)[] = [
      ...[...Array(150).keys()].map((i) => () => dir.addMembers(a, [userIds[i]!])),
      ...[...Array(100).keys()].map((i) => () => dir.addMembers(b, [userIds[100 + i]!])),
      ...[...Array(25).keys()].map((i) => () => dir.patchUser(userIds[150 + i]!, [{ op: 'Replace', path: 'title', value: `Analyst ${i}` }])),
      ...[...Array(25).keys()].map((i) => () => dir.setActive(userIds[i]!, false)),
    ];
    // Deactivations after the adds they follow (users 0..24 are added to A first).
    await inParallel(writes.slice(0, 275), 8, async (write) => {
      await write();
      record(204);
    });
    await inParallel(writes.slice(275), 8, async (write) => {
      await write();
      record(204);
    });
    assert.equal(statuses.length, 500, 'every one of the 500 writes answered 2xx (Directory asserts each status)');
    t.diagnostic(`500 SCIM writes with PostgreSQL down took ${Date.now() - started} ms`);

    const expected = (i: number): { pg: string[] | null; maria: string[] | null } => {
      if (i < 25) return { pg: null, maria: null }; // inactive: no usable access
      const roles = [...(i < 150 ? [reader] : []), ...(i >= 100 ? [writer] : [])].sort();
      return { pg: roles, maria: roles };
    };

    // MariaDB is up: it converges during the outage; PostgreSQL has none of the burst's logins.
    await eventually('MariaDB converged while PostgreSQL is down', async () => {
      const maria = await world.mariaAccounts();
      for (let i = 0; i < USERS; i++) {
        const login = world.mariaLogin(userName(i));
        const want = expected(i).maria;
        const got = maria.get(login);
        if (want === null) assert.ok(got === undefined || (got.locked && got.roles.length === 0), `${login} has no usable access: ${JSON.stringify(got)}`);
        else assert.deepEqual(got, { locked: false, roles: want }, login);
      }
    }, 60_000, 250);
    const pgDuring = await world.pgAccounts();
    assert.deepEqual([...pgDuring.keys()].filter((l) => l.includes('burst')), [], 'nothing reached PostgreSQL while the proxy was down');
    const failing = (await admin('GET', '/jobs?failed=true&target=pg&limit=1000')) as { target: string; state: string; lastError: string | null }[];
    assert.ok(failing.some((j) => j.state === 'queued' && /ECONNREFUSED|ECONNRESET|terminated|not ready/.test(j.lastError ?? '')), 'PostgreSQL jobs wait for a retry');
    assert.deepEqual(failing.filter((j) => j.state === 'dead'), [], 'no PostgreSQL job is dead-lettered');

    await proxy.start();
    assert.equal(proxy.port, port, 'the proxy is back on the same port');
    const back = Date.now();
    // No retry-all, no reconcile: the jobs' own retries (with backoff) must bring PostgreSQL up to date.
    await eventually('PostgreSQL converged by retries alone', async () => {
      const pg = await world.pgAccounts();
      for (let i = 0; i < USERS; i++) {
        const login = world.pgLogin(userName(i));
        const want = expected(i).pg;
        const got = pg.get(login);
        if (want === null) assert.ok(got === undefined || (!got.canLogin && got.roles.length === 0), `${login} has no usable access: ${JSON.stringify(got)}`);
        else assert.deepEqual(got, { canLogin: true, roles: want }, login);
      }
    }, 90_000, 250).catch(async (error: unknown) => {
      const jobs = (await admin('GET', '/jobs?target=pg&limit=5000')) as { state: string; attempts: number; lastError: string | null; runAfter: string }[];
      const byState = jobs.reduce<Record<string, number>>((acc, j) => ({ ...acc, [j.state]: (acc[j.state] ?? 0) + 1 }), {});
      t.diagnostic(`PostgreSQL jobs by state at the deadline: ${JSON.stringify(byState)}; not done: ${JSON.stringify(jobs.filter((j) => j.state !== 'done').slice(0, 5))}`);
      throw error;
    });
    t.diagnostic(`PostgreSQL converged ${Date.now() - back} ms after the proxy came back`);
    await eventually('queue drained', async () => {
      const jobs = (await admin('GET', '/jobs?limit=5000')) as { state: string }[];
      assert.deepEqual(jobs.filter((j) => j.state !== 'done').map((j) => j.state), []);
    }, 30_000, 250);
    assert.deepEqual(await admin('GET', '/jobs?state=dead'), [], 'no job was dead-lettered');
    // The MariaDB side still holds (nothing undone by the PostgreSQL retries).
    const maria = await world.mariaAccounts();
    assert.deepEqual(maria.get(world.mariaLogin(userName(120))), { locked: false, roles: [reader, writer].sort() });
    // A plan now shows no drift on either target.
    const plans = (await admin('GET', '/plan')) as { finding: string; target: string; login: string }[];
    assert.deepEqual(plans.filter((p) => p.finding !== 'in-sync'), []);
  } finally {
    await server?.stop().catch(() => {});
    await proxy.stop();
    await world.cleanup();
  }
});
